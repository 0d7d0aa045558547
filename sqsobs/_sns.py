"""The SNS notification envelope: what an SQS body holds when SNS delivers without raw delivery.

A topic subscribed by a queue without ``RawMessageDelivery`` wraps every message in a JSON
envelope (``Type``, ``MessageId``, ``TopicArn``, ``Message``, ``MessageAttributes`` ...). The
publisher's message is its ``Message``; the publisher's message attributes, trace context
included, are its ``MessageAttributes`` as ``{"Type": ..., "Value": ...}``.

Example::

    >>> envelope = sns_envelope('{"Type": "Notification", "TopicArn": "arn:aws:sns:x", '
    ...                         '"Message": "hello"}')
    >>> envelope["Message"]
    'hello'
    >>> sns_envelope("hello") is None
    True
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

__all__ = ["sns_envelope", "sns_message_attributes"]


def sns_envelope(body: object) -> Mapping[str, Any] | None:
    """The SNS notification ``body`` is, or None (anything else, never an exception)."""
    if not isinstance(body, str) or '"TopicArn"' not in body or '"Notification"' not in body:
        return None  # cheap checks first: most bodies are not envelopes
    try:
        data = json.loads(body)
    except ValueError:
        return None
    if (
        not isinstance(data, dict)
        or data.get("Type") != "Notification"
        or not isinstance(data.get("TopicArn"), str)
        or not isinstance(data.get("Message"), str)
    ):
        return None
    return data


def sns_message_attributes(envelope: Mapping[str, Any]) -> dict[str, dict[str, str]]:
    """The envelope's String attributes in SQS's shape (``DataType`` / ``StringValue``)."""
    found: dict[str, dict[str, str]] = {}
    attributes = envelope.get("MessageAttributes")
    if not isinstance(attributes, Mapping):
        return found
    for name, attribute in attributes.items():
        if not isinstance(name, str) or not isinstance(attribute, Mapping):
            continue
        kind, value = attribute.get("Type"), attribute.get("Value")
        if isinstance(kind, str) and kind.startswith("String") and isinstance(value, str):
            found[name] = {"DataType": kind, "StringValue": value}
    return found

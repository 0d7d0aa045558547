"""How sqsobs talks to SQS: the boto3 client as it is, or the lean transport around it.

``transport="boto3"`` (the default) sends every call through the boto3 client.
``transport="lean"`` (or ``SQSOBS_TRANSPORT=lean``) wraps that client in a
:class:`LeanSQSClient`: ``SendMessageBatch``, ``ReceiveMessage``, ``DeleteMessageBatch`` and
``ChangeMessageVisibilityBatch`` are signed and sent without botocore's request pipeline (the
AWS JSON 1.0 protocol written directly, botocore's or awscrt's SigV4 signer, the client's own
urllib3 pool); everything else is the boto3 client's. The producer, the listener and the broker
hold whichever client this returns and run the same code, spans and metrics either way.

Example::

    client = with_transport(build_sqs_client(), "lean")
    client.receive_message(QueueUrl=url, MaxNumberOfMessages=10)
"""

from __future__ import annotations

import logging
from typing import Any

from sqsobs._transport._client import HOT_OPERATIONS, LeanSQSClient
from sqsobs._transport._signing import SIGNERS

__all__ = [
    "HOT_OPERATIONS",
    "SIGNERS",
    "TRANSPORTS",
    "TRANSPORT_DOC",
    "LeanSQSClient",
    "with_transport",
]

logger = logging.getLogger(__name__)

#: The values of the ``transport`` setting.
TRANSPORTS = ("boto3", "lean")
#: The ``transport`` setting's line in the settings tables.
TRANSPORT_DOC = (
    '`"boto3"`, or `"lean"`: SendMessageBatch, ReceiveMessage, DeleteMessageBatch and '
    "ChangeMessageVisibilityBatch without botocore's request pipeline, same answers and errors "
    "([the lean transport](performance.md#the-lean-transport))"
)


def with_transport(client: Any, transport: str) -> Any:
    """``client`` as ``transport`` needs it: wrapped for ``"lean"``, as it is otherwise.

    A client that is already a :class:`LeanSQSClient` is returned as it is, whatever the
    transport (the caller chose it). So is a client that is not botocore's (the testing kit's
    ``FakeSQS``, an application's own stand-in): the lean transport replaces botocore's request
    pipeline, which such a client does not have; ``SQSOBS_TRANSPORT=lean`` set for a whole
    deployment must not break it.
    """
    if transport != "lean" or isinstance(client, LeanSQSClient):
        return client
    from botocore.client import BaseClient

    if not isinstance(client, BaseClient):
        logger.info(
            "transport 'lean': %s is not a botocore client; it is used as it is",
            type(client).__name__,
        )
        return client
    return LeanSQSClient(client)

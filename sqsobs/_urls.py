"""Queue URLs and names: telling them apart, and a queue's name from its URL.

Example::

    >>> is_queue_url("https://sqs.us-east-1.amazonaws.com/123456789012/orders")
    True
    >>> queue_name("https://sqs.us-east-1.amazonaws.com/123456789012/orders.fifo")
    'orders.fifo'
    >>> is_queue_name("orders.fifo"), is_queue_name("orders queue")
    (True, False)
"""

from __future__ import annotations

import re

__all__ = ["is_queue_name", "is_queue_url", "queue_name"]

#: SQS's rule for a queue name: up to 80 letters, digits, ``-`` and ``_``; ``.fifo`` at the end
#: of a FIFO queue's (counted in the 80).
_QUEUE_NAME = re.compile(r"(?=.{1,80}$)[A-Za-z0-9_-]+(?:\.fifo)?")


def is_queue_name(name: str) -> bool:
    """True when ``name`` follows SQS's rule for queue names."""
    return _QUEUE_NAME.fullmatch(name) is not None


def is_queue_url(queue: str) -> bool:
    """True when ``queue`` is a queue URL rather than a name."""
    return queue.startswith(("https://", "http://"))


def queue_name(url: str) -> str:
    """The queue's name: the last path segment of its URL (a name is returned as it is)."""
    return url.rstrip("/").rsplit("/", 1)[-1]

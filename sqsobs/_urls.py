"""Queue URLs and names: telling them apart, and a queue's name from its URL.

Example::

    >>> is_queue_url("https://sqs.us-east-1.amazonaws.com/123456789012/orders")
    True
    >>> queue_name("https://sqs.us-east-1.amazonaws.com/123456789012/orders.fifo")
    'orders.fifo'
"""

from __future__ import annotations

__all__ = ["is_queue_url", "queue_name"]


def is_queue_url(queue: str) -> bool:
    """True when ``queue`` is a queue URL rather than a name."""
    return queue.startswith(("https://", "http://"))


def queue_name(url: str) -> str:
    """The queue's name: the last path segment of its URL (a name is returned as it is)."""
    return url.rstrip("/").rsplit("/", 1)[-1]

"""Byte-aware packing of buffered messages into SendMessageBatch requests.

Greedy and order preserving: a batch closes when it holds ``max_entries`` messages or when the
next message would push its payload (summed as SQS sums it) past ``max_bytes``. A batch closed by
the byte limit while more messages followed is a *split*.

Example::

    >>> batches, splits = pack([600_000, 600_000, 10], max_entries=10, max_bytes=1_048_576,
    ...                        size=lambda n: n)
    >>> [len(b) for b in batches], splits
    ([1, 2], 1)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

__all__ = ["pack"]

T = TypeVar("T")


def pack(
    items: Sequence[T], *, max_entries: int, max_bytes: int, size: Callable[[T], int]
) -> tuple[list[list[T]], int]:
    """Split ``items`` into batches within both limits; return (batches, splits)."""
    batches: list[list[T]] = []
    splits = 0
    current: list[T] = []
    current_bytes = 0
    for item in items:
        item_bytes = size(item)
        if current and (len(current) >= max_entries or current_bytes + item_bytes > max_bytes):
            if len(current) < max_entries:
                splits += 1
            batches.append(current)
            current, current_bytes = [], 0
        current.append(item)
        current_bytes += item_bytes
    if current:
        batches.append(current)
    return batches, splits

"""The batching producer: per-queue buffers, SendMessageBatch, futures, spans and metrics.

Example::

    from sqsobs.producer import BatchProducer

    with BatchProducer() as producer:
        producer.send("orders", "hello").result(timeout=10)
"""

from __future__ import annotations

from sqsobs.producer._messages import FailedMessage, FlushReason
from sqsobs.producer._producer import BatchProducer
from sqsobs.producer._settings import ProducerSettings

__all__ = ["BatchProducer", "FailedMessage", "FlushReason", "ProducerSettings"]

"""The batching producer: per-queue buffers, SendMessageBatch, futures, spans and metrics.

Example::

    from sqsobs.producer import BatchProducer

    with BatchProducer() as producer:
        producer.send("orders", "hello").result(timeout=10)
"""

from __future__ import annotations

from sqsobs.producer.client import build_sqs_client
from sqsobs.producer.messages import FailedMessage, FlushReason
from sqsobs.producer.producer import BatchProducer
from sqsobs.producer.settings import ProducerSettings

__all__ = ["BatchProducer", "FailedMessage", "FlushReason", "ProducerSettings", "build_sqs_client"]

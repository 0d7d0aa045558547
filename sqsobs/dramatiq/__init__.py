"""dramatiq integration (install the ``dramatiq`` extra): a batching broker and worker tracing.

Example::

    import dramatiq
    from sqsobs.dramatiq import BatchSQSBroker

    broker = BatchSQSBroker(namespace="my-app", default_batch_interval=1.0)
    dramatiq.set_broker(broker)
"""

from __future__ import annotations

from sqsobs.dramatiq._broker import BatchSQSBroker, DramatiqMessageTooLarge
from sqsobs.dramatiq._consumer import TracingSQSConsumer
from sqsobs.dramatiq._middleware import TracingMiddleware
from sqsobs.producer import FailedMessage

__all__ = [
    "BatchSQSBroker",
    "DramatiqMessageTooLarge",
    "FailedMessage",
    "TracingMiddleware",
    "TracingSQSConsumer",
]

"""An in-memory SQS that is also a boto3 SQS client: :class:`FakeSQS`.

Pass it wherever a boto3 SQS client goes (``BatchProducer(client=sqs)``,
``Listener(handler, queue_url=url, client=sqs)``): the code under test runs unchanged, with no
server and no network. The message calls are in :mod:`sqsobs.testing._fake_messages`; this
module adds the queue calls and the test helpers.

Example::

    sqs = FakeSQS()
    url = sqs.create_queue(QueueName="orders")["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="hello")
    sqs.receive_message(QueueUrl=url)["Messages"][0]["Body"]   # 'hello'
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

from sqsobs.testing._fake_messages import MessageCalls
from sqsobs.testing._fake_service import FakeService
from sqsobs.testing._fake_wire import SqsFault, client_exceptions, ok

if TYPE_CHECKING:
    import collections

    from sqsobs.testing._fake_queue import FakeSQSQueue

__all__ = ["FakeSQS"]

#: Attributes GetQueueAttributes computes rather than stores.
_COMPUTED = (
    "ApproximateNumberOfMessages",
    "ApproximateNumberOfMessagesNotVisible",
    "ApproximateNumberOfMessagesDelayed",
    "CreatedTimestamp",
    "LastModifiedTimestamp",
    "QueueArn",
)


class FakeSQS(MessageCalls):
    """In-memory SQS with a boto3 SQS client's methods; thread-safe.

    Queue calls: ``create_queue``, ``get_queue_url``, ``get_queue_attributes``,
    ``set_queue_attributes``, ``list_queues``, ``purge_queue``, ``delete_queue``. Message calls:
    ``send_message(_batch)``, ``receive_message`` (long polls, ``MaxNumberOfMessages``,
    ``VisibilityTimeout``, attribute selection), ``delete_message(_batch)``,
    ``change_message_visibility(_batch)``; batch calls answer per entry (``Successful`` /
    ``Failed``). Errors are botocore's ``ClientError`` with the codes SQS sends (also as
    ``sqs.exceptions.QueueDoesNotExist`` ...). Visibility timeouts, delays and long polls run on
    ``clock`` (default ``time.monotonic``), which :meth:`advance` moves forward.

    Example::

        sqs = FakeSQS()
        orders = sqs.queue("orders")       # a FakeSQSQueue: send(), run_handler(), counts
        with BatchProducer(client=sqs) as producer:
            producer.send("orders", "hello")
        assert orders.pending_count == 1 and sqs.calls["SendMessageBatch"] == 1
    """

    def __init__(
        self,
        *,
        region_name: str = "us-east-1",
        account_id: str = "123456789012",
        endpoint_url: str | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        endpoint = endpoint_url or f"https://sqs.{region_name}.amazonaws.com"
        self._service = FakeService(
            region_name=region_name, account_id=account_id, endpoint_url=endpoint, clock=clock
        )
        #: What boto3 clients carry as ``client.meta`` (region and endpoint).
        self.meta = SimpleNamespace(region_name=region_name, endpoint_url=endpoint)

    # --- test helpers --------------------------------------------------------------------------
    @property
    def calls(self) -> collections.Counter[str]:
        """How many times each operation was called: ``sqs.calls["SendMessageBatch"]``."""
        return self._service.calls

    @property
    def exceptions(self) -> Any:
        """botocore's SQS exception classes, as ``client.exceptions`` offers them."""
        return client_exceptions()

    def queue(self, name_or_url: str, **attributes: str) -> FakeSQSQueue:
        """A :class:`~sqsobs.testing.FakeSQSQueue` on that queue, created if it does not exist.

        A URL keeps its exact form (``get_queue_url`` returns it); a name gets this service's.
        """
        from sqsobs.testing._fake_queue import FakeSQSQueue

        return FakeSQSQueue(name_or_url, sqs=self, attributes=attributes)

    def advance(self, seconds: float) -> None:
        """Move the clock forward: visibility timeouts and delays run out without sleeping."""
        self._service.advance(seconds)

    def fail_next(
        self, operation: str, error: str | BaseException = "InternalError", *, times: int = 1
    ) -> None:
        """Make the next ``times`` calls of ``operation`` (``"SendMessageBatch"`` ...) fail.

        ``error`` is an SQS error code (``"RequestThrottled"``, ``"InternalError"``,
        ``"ServiceUnavailable"`` ...), raised as boto3 raises it, or an exception raised as it
        is (``ConnectionResetError()``, botocore's ``EndpointConnectionError`` ...).
        """
        fault: SqsFault | BaseException = error if isinstance(error, BaseException) else (
            SqsFault(error, f"injected by fail_next({operation!r})", sender_fault=False)
        )  # fmt: skip
        self._service.fail_next(operation, fault, times)

    def close(self) -> None:
        """Nothing to close (boto3 clients have the method)."""

    # --- queue calls ---------------------------------------------------------------------------
    def create_queue(
        self,
        *,
        QueueName: str,
        Attributes: Mapping[str, str] | None = None,
        tags: Mapping[str, str] | None = None,
    ) -> dict[str, Any]:
        """CreateQueue: the existing queue's URL if its attributes match."""
        with self._service.call("CreateQueue"):
            queue = self._service.create(QueueName, dict(Attributes or {}))
        return ok({"QueueUrl": queue.url})

    def get_queue_url(
        self, *, QueueName: str, QueueOwnerAWSAccountId: str | None = None
    ) -> dict[str, Any]:
        """GetQueueUrl."""
        with self._service.call("GetQueueUrl"):
            queue = self._service.queue(QueueName)
        return ok({"QueueUrl": queue.url})

    def get_queue_attributes(
        self, *, QueueUrl: str, AttributeNames: Sequence[str] | None = None
    ) -> dict[str, Any]:
        """GetQueueAttributes: ``All`` or the names asked for, stored and computed."""
        service = self._service
        with service.call("GetQueueAttributes"):
            queue = service.queue(QueueUrl)
            computed = {
                **queue.counts(service.now()),
                "CreatedTimestamp": str(queue.created_epoch_seconds),
                "LastModifiedTimestamp": str(queue.created_epoch_seconds),
                "QueueArn": queue.arn,
            }
            every = {**queue.attributes, **computed}
            names = list(AttributeNames or ())
            if "All" in names:
                return ok({"Attributes": every})
            unknown = [n for n in names if n not in every and n not in _KNOWN_ATTRIBUTES]
            if unknown:
                raise SqsFault("InvalidAttributeName", f"Unknown Attribute {unknown[0]}.")
            chosen = {name: every[name] for name in names if name in every}
        return ok({"Attributes": chosen} if chosen else {})

    def set_queue_attributes(
        self, *, QueueUrl: str, Attributes: Mapping[str, str]
    ) -> dict[str, Any]:
        """SetQueueAttributes."""
        with self._service.call("SetQueueAttributes"):
            queue = self._service.queue(QueueUrl)
            for name in Attributes:
                if name in _COMPUTED or name not in _KNOWN_ATTRIBUTES:
                    raise SqsFault("InvalidAttributeName", f"Unknown Attribute {name}.")
            queue.attributes.update({key: str(value) for key, value in Attributes.items()})
        return ok({})

    def list_queues(
        self,
        *,
        QueueNamePrefix: str = "",
        MaxResults: int | None = None,
        NextToken: str | None = None,
    ) -> dict[str, Any]:
        """ListQueues (one page)."""
        with self._service.call("ListQueues"):
            urls = [
                q.url for q in self._service.queues.values() if q.name.startswith(QueueNamePrefix)
            ]
        return ok({"QueueUrls": urls[:MaxResults]} if urls else {})

    def purge_queue(self, *, QueueUrl: str) -> dict[str, Any]:
        """PurgeQueue: every message goes, at once."""
        with self._service.call("PurgeQueue"):
            self._service.queue(QueueUrl).purge()
        return ok({})

    def delete_queue(self, *, QueueUrl: str) -> dict[str, Any]:
        """DeleteQueue."""
        with self._service.call("DeleteQueue"):
            queue = self._service.queue(QueueUrl)
            del self._service.queues[queue.name]
        return ok({})


#: Every attribute a queue may have (SetQueueAttributes refuses others).
_KNOWN_ATTRIBUTES = frozenset(
    {
        *_COMPUTED,
        "DelaySeconds",
        "MaximumMessageSize",
        "MessageRetentionPeriod",
        "Policy",
        "ReceiveMessageWaitTimeSeconds",
        "RedrivePolicy",
        "RedriveAllowPolicy",
        "VisibilityTimeout",
        "KmsMasterKeyId",
        "KmsDataKeyReusePeriodSeconds",
        "SqsManagedSseEnabled",
        "FifoQueue",
        "ContentBasedDeduplication",
        "DeduplicationScope",
        "FifoThroughputLimit",
    }
)

"""The message calls of the in-memory SQS, with boto3's names, parameters and answers.

``send_message(_batch)``, ``receive_message``, ``delete_message(_batch)`` and
``change_message_visibility(_batch)``, as :class:`~sqsobs.testing.FakeSQS` offers them. Batch
calls check the whole request as SQS does (:mod:`sqsobs.testing._fake_checks`; at most 1 MiB in
all for a send) and answer each entry in ``Successful`` or ``Failed``.

Example::

    answer = sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": "1", "MessageBody": "a"}])
    answer["Successful"][0]["MessageId"]
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from sqsobs.limits import (
    MAX_BATCH_PAYLOAD_BYTES,
    MAX_RECEIVE_MESSAGES,
    MAX_VISIBILITY_TIMEOUT_SECONDS,
    MAX_WAIT_TIME_SECONDS,
    message_size,
)
from sqsobs.testing._fake_checks import check_batch, check_message, check_range, system_attributes
from sqsobs.testing._fake_service import FakeService
from sqsobs.testing._fake_store import StoredMessage, StoredQueue
from sqsobs.testing._fake_wire import SqsFault, attributes_md5, body_md5, ok, received

__all__ = ["MessageCalls"]


def _per_entry(
    entries: Sequence[Mapping[str, Any]], settle: Callable[[Mapping[str, Any]], dict[str, Any]]
) -> dict[str, Any]:
    """``Successful`` and ``Failed`` of a batch call: ``settle(entry)`` or its fault."""
    successful: list[dict[str, Any]] = []
    failed: list[dict[str, Any]] = []
    for entry in entries:
        try:
            successful.append({"Id": entry["Id"], **settle(entry)})
        except SqsFault as fault:
            failed.append(fault.entry(entry["Id"]))
    return ok({"Successful": successful, "Failed": failed})


class MessageCalls:
    """The message operations; the queue operations and helpers are :class:`FakeSQS`'s."""

    _service: FakeService

    # --- sending -------------------------------------------------------------------------------
    def send_message(
        self,
        *,
        QueueUrl: str,
        MessageBody: str,
        DelaySeconds: int | None = None,
        MessageAttributes: Mapping[str, Mapping[str, Any]] | None = None,
        MessageSystemAttributes: Mapping[str, Mapping[str, Any]] | None = None,
        MessageDeduplicationId: str | None = None,
        MessageGroupId: str | None = None,
    ) -> dict[str, Any]:
        """SendMessage."""
        entry = {key: value for key, value in locals().items() if key[0].isupper()}
        with self._service.call("SendMessage"):
            answer = self._send(self._service.queue(QueueUrl), entry)
            self._service.lock.notify_all()
        return ok(answer)

    def send_message_batch(
        self, *, QueueUrl: str, Entries: Sequence[Mapping[str, Any]]
    ) -> dict[str, Any]:
        """SendMessageBatch: each entry stored or failed on its own."""
        with self._service.call("SendMessageBatch"):
            queue = self._service.queue(QueueUrl)
            check_batch(Entries, "SendMessageBatchRequestEntry")
            total = sum(
                message_size(str(e.get("MessageBody", "")), e.get("MessageAttributes"))
                for e in Entries
            )
            if total > MAX_BATCH_PAYLOAD_BYTES:
                raise SqsFault(
                    "BatchRequestTooLong",
                    f"Batch requests cannot be longer than {MAX_BATCH_PAYLOAD_BYTES} bytes. "
                    f"You have sent {total} bytes.",
                )
            answer = _per_entry(Entries, lambda entry: self._send(queue, entry))
            self._service.lock.notify_all()
        return answer

    def _send(self, queue: StoredQueue, entry: Mapping[str, Any]) -> dict[str, Any]:
        body = entry.get("MessageBody")
        attributes = dict(entry.get("MessageAttributes") or {})
        group = entry.get("MessageGroupId")
        delay = entry.get("DelaySeconds")
        check_message(queue, entry)
        text = str(body)
        deduplication = queue.deduplication_id(text, entry.get("MessageDeduplicationId"))
        service = self._service
        now = service.now()
        number = service.next_number()
        answer: dict[str, Any] = {"MD5OfMessageBody": body_md5(text)}
        if attributes:
            answer["MD5OfMessageAttributes"] = attributes_md5(attributes)
        if queue.fifo:
            answer["SequenceNumber"] = f"{number:020d}"
        duplicate = queue.duplicate_of(deduplication, now)
        if duplicate is not None:  # accepted, and not delivered again
            return {"MessageId": duplicate, **answer}
        message = StoredMessage(
            message_id=f"fake-msg-{number}",
            number=number,
            body=text,
            attributes={name: dict(value) for name, value in attributes.items()},
            system_attributes=system_attributes(entry.get("MessageSystemAttributes")),
            sent_at=now,
            sent_epoch_ms=service.epoch_ms(),
            group_id=group,
            deduplication_id=deduplication,
            sequence_number=answer.get("SequenceNumber"),
        )
        queue.add(message, queue.number("DelaySeconds") if delay is None else delay)
        return {"MessageId": message.message_id, **answer}

    # --- receiving -----------------------------------------------------------------------------
    def receive_message(
        self,
        *,
        QueueUrl: str,
        MaxNumberOfMessages: int = 1,
        WaitTimeSeconds: int | None = None,
        VisibilityTimeout: int | None = None,
        AttributeNames: Sequence[str] | None = None,
        MessageSystemAttributeNames: Sequence[str] | None = None,
        MessageAttributeNames: Sequence[str] | None = None,
        ReceiveRequestAttemptId: str | None = None,
    ) -> dict[str, Any]:
        """ReceiveMessage; with a wait, returns as soon as a message is there (long poll)."""
        service = self._service
        with service.call("ReceiveMessage"):
            queue = service.queue(QueueUrl)
            count = check_range("MaxNumberOfMessages", MaxNumberOfMessages, 1, MAX_RECEIVE_MESSAGES)
            wait = queue.number("ReceiveMessageWaitTimeSeconds")
            if WaitTimeSeconds is not None:
                wait = check_range("WaitTimeSeconds", WaitTimeSeconds, 0, MAX_WAIT_TIME_SECONDS)
            visibility = queue.number("VisibilityTimeout")
            if VisibilityTimeout is not None:
                visibility = check_range(
                    "VisibilityTimeout", VisibilityTimeout, 0, MAX_VISIBILITY_TIMEOUT_SECONDS
                )
            taken = self._take(queue, count, visibility, wait)
            system = {*(AttributeNames or ()), *(MessageSystemAttributeNames or ())}
            messages = [received(m, system, MessageAttributeNames) for m in taken]
        return ok({"Messages": messages} if messages else {})

    def _take(
        self, queue: StoredQueue, count: int, visibility: int, wait: int
    ) -> list[StoredMessage]:
        service = self._service
        deadline = service.now() + wait
        while True:
            now = service.now()
            taken = queue.take(
                count, visibility, now, service.epoch_ms(), service.redrive(queue, now)
            )
            if taken or now >= deadline:
                break
            upcoming = queue.next_change(now)
            pause = deadline - now if upcoming is None else min(deadline, upcoming) - now
            service.lock.wait(max(pause, 0.001))
        for message in taken:
            service.handles[message.receipt_handle or ""] = (queue, message)
        return taken

    # --- settling ------------------------------------------------------------------------------
    def delete_message(self, *, QueueUrl: str, ReceiptHandle: str) -> dict[str, Any]:
        """DeleteMessage: the newest receipt handle deletes; an older one is accepted."""
        with self._service.call("DeleteMessage"):
            self._delete(self._service.queue(QueueUrl), ReceiptHandle)
        return ok({})

    def delete_message_batch(
        self, *, QueueUrl: str, Entries: Sequence[Mapping[str, Any]]
    ) -> dict[str, Any]:
        """DeleteMessageBatch, answered per entry."""
        with self._service.call("DeleteMessageBatch"):
            queue = self._service.queue(QueueUrl)
            check_batch(Entries, "DeleteMessageBatchRequestEntry")
            return _per_entry(Entries, lambda e: self._delete(queue, e.get("ReceiptHandle", "")))

    def _delete(self, queue: StoredQueue, receipt_handle: str) -> dict[str, Any]:
        owner, message = self._service.message(receipt_handle)
        if owner is not queue:
            raise SqsFault("ReceiptHandleIsInvalid", "The input receipt handle is invalid.")
        queue.delete(message, receipt_handle)
        return {}

    def change_message_visibility(
        self, *, QueueUrl: str, ReceiptHandle: str, VisibilityTimeout: int
    ) -> dict[str, Any]:
        """ChangeMessageVisibility of an in-flight message (0: visible now)."""
        with self._service.call("ChangeMessageVisibility"):
            self._change(self._service.queue(QueueUrl), ReceiptHandle, VisibilityTimeout)
        return ok({})

    def change_message_visibility_batch(
        self, *, QueueUrl: str, Entries: Sequence[Mapping[str, Any]]
    ) -> dict[str, Any]:
        """ChangeMessageVisibilityBatch, answered per entry."""
        with self._service.call("ChangeMessageVisibilityBatch"):
            queue = self._service.queue(QueueUrl)
            check_batch(Entries, "ChangeMessageVisibilityBatchRequestEntry")
            return _per_entry(
                Entries,
                lambda e: self._change(
                    queue, e.get("ReceiptHandle", ""), e.get("VisibilityTimeout")
                ),
            )

    def _change(self, queue: StoredQueue, receipt_handle: str, seconds: Any) -> dict[str, Any]:
        seconds = check_range("VisibilityTimeout", seconds, 0, MAX_VISIBILITY_TIMEOUT_SECONDS)
        owner, message = self._service.message(receipt_handle)
        if owner is not queue:
            raise SqsFault("ReceiptHandleIsInvalid", "The input receipt handle is invalid.")
        queue.change_visibility(message, receipt_handle, seconds, self._service.now())
        self._service.lock.notify_all()  # a message made visible wakes long polls
        return {}

"""The message calls of the in-memory SQS, with boto3's names, parameters and answers.

``send_message(_batch)``, ``receive_message``, ``delete_message(_batch)`` and
``change_message_visibility(_batch)``, as :class:`~sqsobs.testing.FakeSQS` offers them. Batch
calls check the request as SQS does (1 to 10 entries, distinct ids of letters, digits, ``-``
and ``_``, at most 1 MiB in all) and answer each entry in ``Successful`` or ``Failed``. A
message is checked with :func:`sqsobs.limits.validate_message`, the rules SQS applies.

Example::

    answer = sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": "1", "MessageBody": "a"}])
    answer["Successful"][0]["MessageId"]
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from sqsobs.errors import InvalidMessage, MessageTooLarge
from sqsobs.limits import (
    MAX_BATCH_ENTRIES,
    MAX_BATCH_PAYLOAD_BYTES,
    MAX_RECEIVE_MESSAGES,
    MAX_VISIBILITY_TIMEOUT_SECONDS,
    MAX_WAIT_TIME_SECONDS,
    message_size,
    validate_body,
    validate_message,
)
from sqsobs.testing._fake_service import FakeService
from sqsobs.testing._fake_store import StoredMessage, StoredQueue
from sqsobs.testing._fake_wire import (
    SqsFault,
    attributes_md5,
    body_md5,
    select_message_attributes,
)

__all__ = ["MessageCalls", "ok"]

_ENTRY_ID = re.compile(r"[A-Za-z0-9_-]{1,80}")
#: What ``SenderId`` says on every message.
SENDER_ID = "AIDAFAKESQSSENDER"


def ok(answer: dict[str, Any]) -> dict[str, Any]:
    """``answer`` with the ``ResponseMetadata`` boto3 adds to every successful call."""
    answer["ResponseMetadata"] = {"HTTPStatusCode": 200, "RetryAttempts": 0}
    return answer


def _invalid(parameter: str, value: Any, reason: str) -> SqsFault:
    return SqsFault(
        "InvalidParameterValue",
        f"Value {value} for parameter {parameter} is invalid. Reason: {reason}",
    )


def _check_range(parameter: str, value: Any, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise _invalid(parameter, value, f"Must be between {low} and {high}, if provided.")
    return value


def _check_batch(entries: Sequence[Mapping[str, Any]], kind: str) -> None:
    """SQS's checks of a whole batch request; each raises for the call, not an entry."""
    if not entries:
        raise SqsFault("EmptyBatchRequest", f"There should be at least one {kind} in the request.")
    if len(entries) > MAX_BATCH_ENTRIES:
        raise SqsFault(
            "TooManyEntriesInBatchRequest",
            f"Maximum number of entries per request are {MAX_BATCH_ENTRIES}. "
            f"You have sent {len(entries)}.",
        )
    seen: set[str] = set()
    for entry in entries:
        entry_id = entry.get("Id")
        if not isinstance(entry_id, str) or not _ENTRY_ID.fullmatch(entry_id):
            raise SqsFault(
                "InvalidBatchEntryId",
                "A batch entry id can only contain alphanumeric characters, hyphens and "
                "underscores. It can be at most 80 letters long.",
            )
        if entry_id in seen:
            raise SqsFault("BatchEntryIdsNotDistinct", f"Id {entry_id} repeated.")
        seen.add(entry_id)


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
            _check_batch(Entries, "SendMessageBatchRequestEntry")
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
        _check_message(queue, entry)
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
            system_attributes=_system_attributes(entry.get("MessageSystemAttributes")),
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
            count = _check_range(
                "MaxNumberOfMessages", MaxNumberOfMessages, 1, MAX_RECEIVE_MESSAGES
            )
            wait = queue.number("ReceiveMessageWaitTimeSeconds")
            if WaitTimeSeconds is not None:
                wait = _check_range("WaitTimeSeconds", WaitTimeSeconds, 0, MAX_WAIT_TIME_SECONDS)
            visibility = queue.number("VisibilityTimeout")
            if VisibilityTimeout is not None:
                visibility = _check_range(
                    "VisibilityTimeout", VisibilityTimeout, 0, MAX_VISIBILITY_TIMEOUT_SECONDS
                )
            taken = self._take(queue, count, visibility, wait)
            system = {*(AttributeNames or ()), *(MessageSystemAttributeNames or ())}
            messages = [_received(m, system, MessageAttributeNames) for m in taken]
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
            _check_batch(Entries, "DeleteMessageBatchRequestEntry")
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
            _check_batch(Entries, "ChangeMessageVisibilityBatchRequestEntry")
            return _per_entry(
                Entries,
                lambda e: self._change(
                    queue, e.get("ReceiptHandle", ""), e.get("VisibilityTimeout")
                ),
            )

    def _change(self, queue: StoredQueue, receipt_handle: str, seconds: Any) -> dict[str, Any]:
        seconds = _check_range("VisibilityTimeout", seconds, 0, MAX_VISIBILITY_TIMEOUT_SECONDS)
        owner, message = self._service.message(receipt_handle)
        if owner is not queue:
            raise SqsFault("ReceiptHandleIsInvalid", "The input receipt handle is invalid.")
        queue.change_visibility(message, receipt_handle, seconds, self._service.now())
        self._service.lock.notify_all()  # a message made visible wakes long polls
        return {}


def _check_message(queue: StoredQueue, entry: Mapping[str, Any]) -> None:
    """SQS's checks of one message, answered with the code SQS gives."""
    body, group = entry.get("MessageBody"), entry.get("MessageGroupId")
    if queue.fifo and group is None:
        raise SqsFault("MissingParameter", "The request must contain the parameter MessageGroupId.")
    try:
        validate_body(body)
    except InvalidMessage as error:
        raise SqsFault("InvalidMessageContents", str(error)) from None
    limit = queue.number("MaximumMessageSize")
    try:
        validate_message(
            body,
            entry.get("MessageAttributes"),
            max_size_bytes=limit,
            delay_seconds=entry.get("DelaySeconds"),
            group_id=group,
            deduplication_id=entry.get("MessageDeduplicationId"),
            fifo=queue.fifo,
        )
    except MessageTooLarge:
        raise SqsFault(
            "InvalidParameterValue",
            f"One or more parameters are invalid. Reason: Message must be shorter than {limit} "
            "bytes.",
        ) from None
    except InvalidMessage as error:
        raise SqsFault("InvalidParameterValue", str(error)) from None


def _system_attributes(given: Mapping[str, Mapping[str, Any]] | None) -> dict[str, dict[str, Any]]:
    """MessageSystemAttributes: only ``AWSTraceHeader`` (a String) exists."""
    attributes = {name: dict(value) for name, value in (given or {}).items()}
    for name, value in attributes.items():
        if name != "AWSTraceHeader" or value.get("DataType") != "String":
            raise SqsFault(
                "InvalidParameterValue",
                f"Message system attribute {name!r} is not supported; only AWSTraceHeader "
                "(String) is",
            )
        if not value.get("StringValue"):
            raise SqsFault("InvalidParameterValue", "AWSTraceHeader needs a StringValue")
    return attributes


def _received(
    message: StoredMessage, system: set[str], attribute_names: Sequence[str] | None
) -> dict[str, Any]:
    """One entry of ReceiveMessage's ``Messages``, with the attributes asked for."""
    out: dict[str, Any] = {
        "MessageId": message.message_id,
        "ReceiptHandle": message.receipt_handle,
        "MD5OfBody": body_md5(message.body),
        "Body": message.body,
    }
    if system:
        available = {
            "SenderId": SENDER_ID,
            "SentTimestamp": str(message.sent_epoch_ms),
            "ApproximateReceiveCount": str(message.receive_count),
            "ApproximateFirstReceiveTimestamp": str(message.first_receive_epoch_ms),
            "MessageGroupId": message.group_id,
            "MessageDeduplicationId": message.deduplication_id,
            "SequenceNumber": message.sequence_number,
            "AWSTraceHeader": message.system_attributes.get("AWSTraceHeader", {}).get(
                "StringValue"
            ),
            "DeadLetterQueueSourceArn": message.dead_letter_source_arn,
        }
        out["Attributes"] = {
            name: value
            for name, value in available.items()
            if value is not None and ("All" in system or name in system)
        }
    selected = select_message_attributes(message.attributes, attribute_names)
    if selected:
        out["MessageAttributes"] = selected
        out["MD5OfMessageAttributes"] = attributes_md5(selected)
    return out

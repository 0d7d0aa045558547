"""The queue's backlog as gauges: GetQueueAttributes at a low rate (``backlog_metrics``).

One :class:`BacklogReader` per process and queue, shared by every listener on that queue
(:func:`join_backlog` / :func:`leave_backlog`), reads ``ApproximateNumberOfMessages``,
``...NotVisible`` and ``...Delayed`` every ``backlog_interval_seconds``, and the same of the
queue's dead-letter queue, found from its ``RedrivePolicy`` (read in the same call, so a policy
added later is picked up). The gauges ``sqsobs.queue.messages`` and
``sqsobs.queue.dead_letter.messages`` report the last reading until it is older than
``_STALE_INTERVALS`` intervals (a reader that cannot read reports nothing rather than an old
number). Each call is a CLIENT span ``get_queue_attributes {queue}`` with its duration in
``messaging.client.operation.duration``, and other instrumentation is suppressed inside it, as
for every SQS call sqsobs makes. A failure is logged and counted there, never raised. The dead
letter queue's URL is looked up once with GetQueueUrl.

Example::

    join_backlog(queue_url, client=client, interval_seconds=60.0, owner=listener)
    ...
    leave_backlog(queue_url, owner=listener)
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from opentelemetry.trace import SpanKind

from sqsobs._suppress import suppress_other_instrumentation
from sqsobs._urls import queue_name
from sqsobs.errors import translate_client_error
from sqsobs.telemetry import (
    error_type,
    get_instruments,
    get_tracer,
    messaging_attributes,
    metric_attributes,
    record_error,
    set_request_id,
    span_name,
)
from sqsobs.telemetry.catalog import (
    ATTR_DESTINATION,
    ATTR_DLQ_NAME,
    ATTR_QUEUE_STATE,
    ATTR_SYSTEM,
    DEAD_LETTER_MESSAGES,
    OPERATION_DURATION,
    QUEUE_MESSAGES,
    SYSTEM,
)

__all__ = ["OP_QUEUE_ATTRIBUTES", "BacklogReader", "join_backlog", "leave_backlog"]

logger = logging.getLogger(__name__)

#: The operation name of the reader's spans and duration points.
OP_QUEUE_ATTRIBUTES = "get_queue_attributes"
#: SQS attribute -> ``sqsobs.queue.state``.
COUNTS = {
    "ApproximateNumberOfMessages": "visible",
    "ApproximateNumberOfMessagesNotVisible": "not_visible",
    "ApproximateNumberOfMessagesDelayed": "delayed",
}
_REDRIVE = "RedrivePolicy"
#: A reading older than this many intervals is no longer reported.
_STALE_INTERVALS = 2.5
#: How long stop() waits for a read on its way.
_STOP_SECONDS = 1.0


@dataclass(frozen=True)
class _Reading:
    at: float  # time.monotonic()
    counts: dict[str, int]  # state -> messages


class BacklogReader:
    """Reads ``queue_url``'s counts (and its dead-letter queue's) every ``interval_seconds``."""

    def __init__(
        self,
        *,
        client: Any,
        queue_url: str,
        interval_seconds: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.queue = queue_name(queue_url)
        self.interval_seconds = interval_seconds
        self._client = client
        self._url = queue_url
        self._clock = clock
        self._lock = threading.Lock()
        self._queue: _Reading | None = None
        self._dlq: tuple[str, _Reading] | None = None
        self._dlq_urls: dict[str, str] = {}  # ARN -> URL
        self._failing: set[str] = set()  # what a warning was logged for (until it works again)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # --- the thread ----------------------------------------------------------------------
    def start(self) -> BacklogReader:
        """Read now, then every interval, on a daemon thread ``sqsobs-{queue}-backlog``."""
        self._thread = threading.Thread(
            target=self._run, name=f"sqsobs-{self.queue}-backlog", daemon=True
        )
        self._thread.start()
        return self

    def stop(self, timeout_seconds: float = _STOP_SECONDS) -> None:
        """Stop reading (a read on its way is waited for, at most the timeout)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(min(_STOP_SECONDS, timeout_seconds))

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.read()
            except Exception:  # the reader outlives any surprise; the gauges go stale
                logger.exception("backlog reader for %s failed", self.queue)
            self._stop.wait(self.interval_seconds)

    # --- one round -----------------------------------------------------------------------
    def read(self) -> None:
        """Read the queue's counts and policy, then the dead-letter queue's counts."""
        names = [*COUNTS, _REDRIVE]
        attributes = self._get(self.queue, self._url, names, f"reading the backlog of {self.queue}")
        if attributes is None:
            return
        reading = _Reading(self._clock(), _counts(attributes))
        arn = _dead_letter_arn(attributes.get(_REDRIVE))
        dlq = None
        if arn is not None:
            dlq_name, dlq_url = arn.rsplit(":", 1)[-1], self._dlq_url(arn)
            what = f"reading the dead-letter queue {dlq_name} of {self.queue}"
            found = self._get(dlq_name, dlq_url, list(COUNTS), what) if dlq_url else None
            if found is not None:
                dlq = (dlq_name, _Reading(self._clock(), _counts(found)))
        with self._lock:
            self._queue = reading
            if dlq is not None or arn is None:
                self._dlq = dlq

    def _get(
        self, name: str, url: str, attribute_names: list[str], what: str
    ) -> dict[str, str] | None:
        """One GetQueueAttributes in its CLIENT span; None (logged, counted) if it failed."""
        attrs = metric_attributes(
            OPERATION_DURATION, name, operation=OP_QUEUE_ATTRIBUTES, queue_url=url
        )
        started = time.perf_counter()
        with get_tracer().start_as_current_span(
            span_name(OP_QUEUE_ATTRIBUTES, name),
            context=None,
            kind=SpanKind.CLIENT,
            attributes=messaging_attributes(OP_QUEUE_ATTRIBUTES, name, queue_url=url),
            record_exception=False,
            set_status_on_exception=False,
        ) as span:
            try:
                with suppress_other_instrumentation():  # this span is the call's one span
                    response = self._client.get_queue_attributes(
                        QueueUrl=url, AttributeNames=attribute_names
                    )
            except Exception as error:
                failure = translate_client_error(error, operation="GetQueueAttributes")
                failure.__cause__ = error  # the span reads the request id through it
                record_error(span, failure)
                set_request_id(span, failure)
                attrs = metric_attributes(
                    OPERATION_DURATION,
                    name,
                    operation=OP_QUEUE_ATTRIBUTES,
                    error_type=error_type(failure),
                    queue_url=url,
                )
                self._failed(name, what, failure)
                return None
            finally:
                get_instruments().histogram(OPERATION_DURATION).record(
                    time.perf_counter() - started, attrs
                )
            set_request_id(span, response)
        self._recovered(name)
        found: dict[str, str] = response.get("Attributes") or {}
        return found

    def _dlq_url(self, arn: str) -> str | None:
        """The dead-letter queue's URL, looked up once (None while it cannot be)."""
        url = self._dlq_urls.get(arn)
        if url is not None:
            return url
        parts = arn.split(":")
        if len(parts) != 6:
            self._failed(arn, f"the dead-letter queue of {self.queue}", ValueError(arn))
            return None
        try:
            url = str(
                self._client.get_queue_url(QueueName=parts[5], QueueOwnerAWSAccountId=parts[4])[
                    "QueueUrl"
                ]
            )
        except Exception as error:
            failure = translate_client_error(error, operation="GetQueueUrl")
            self._failed(arn, f"finding the dead-letter queue {arn} of {self.queue}", failure)
            return None
        self._recovered(arn)
        self._dlq_urls[arn] = url
        return url

    def _failed(self, key: str, what: str, error: BaseException) -> None:
        """Log a warning the first time ``key`` fails in a row, then at debug level."""
        first = key not in self._failing
        self._failing.add(key)
        level = logging.WARNING if first else logging.DEBUG
        logger.log(level, "backlog metrics: %s failed (%s: %s)", what, error_type(error), error)

    def _recovered(self, key: str) -> None:
        if key in self._failing:
            self._failing.discard(key)
            logger.info("backlog metrics: %s can be read again", key)

    # --- what the gauges report ----------------------------------------------------------
    def _fresh(self, reading: _Reading | None) -> bool:
        limit = _STALE_INTERVALS * self.interval_seconds
        return reading is not None and self._clock() - reading.at <= limit

    def queue_readings(self) -> list[tuple[float, Mapping[str, Any]]]:
        """``sqsobs.queue.messages``: one point per state (none once stale)."""
        with self._lock:
            reading = self._queue
        if reading is None or not self._fresh(reading):
            return []
        base = {ATTR_SYSTEM: SYSTEM, ATTR_DESTINATION: self.queue}
        return [(n, {**base, ATTR_QUEUE_STATE: s}) for s, n in reading.counts.items()]

    def dead_letter_readings(self) -> list[tuple[float, Mapping[str, Any]]]:
        """``sqsobs.queue.dead_letter.messages``: one point per state (none once stale)."""
        with self._lock:
            found = self._dlq
        if found is None or not self._fresh(found[1]):
            return []
        name, reading = found
        base = {ATTR_SYSTEM: SYSTEM, ATTR_DESTINATION: self.queue, ATTR_DLQ_NAME: name}
        return [(n, {**base, ATTR_QUEUE_STATE: s}) for s, n in reading.counts.items()]


def _counts(attributes: Mapping[str, str]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for attribute, state in COUNTS.items():
        try:
            counts[state] = int(attributes[attribute])
        except (KeyError, TypeError, ValueError):  # a server that lacks one: leave it out
            continue
    return counts


def _dead_letter_arn(policy: str | None) -> str | None:
    """``deadLetterTargetArn`` of a RedrivePolicy (JSON text), or None."""
    if not policy:
        return None
    try:
        arn = json.loads(policy).get("deadLetterTargetArn")
    except (ValueError, AttributeError):
        logger.debug("unreadable RedrivePolicy: %r", policy)
        return None
    return arn if isinstance(arn, str) and arn else None


# --- one reader per process and queue ----------------------------------------------------
_readers: dict[str, tuple[BacklogReader, set[int]]] = {}
_readers_lock = threading.Lock()


def join_backlog(queue_url: str, *, client: Any, interval_seconds: float, owner: object) -> None:
    """Report ``queue_url``'s backlog for ``owner``; the first owner starts the reader."""
    with _readers_lock:
        found = _readers.get(queue_url)
        if found is None:
            reader = BacklogReader(
                client=client, queue_url=queue_url, interval_seconds=interval_seconds
            )
            instruments = get_instruments()
            instruments.observe(QUEUE_MESSAGES, reader, BacklogReader.queue_readings)
            instruments.observe(DEAD_LETTER_MESSAGES, reader, BacklogReader.dead_letter_readings)
            found = _readers[queue_url] = (reader.start(), set())
        found[1].add(id(owner))


def leave_backlog(queue_url: str, *, owner: object, timeout_seconds: float = _STOP_SECONDS) -> None:
    """``owner`` no longer needs the backlog; the last one stops the reader."""
    with _readers_lock:
        found = _readers.get(queue_url)
        if found is None:
            return
        reader, owners = found
        owners.discard(id(owner))
        if owners:
            return
        del _readers[queue_url]
    instruments = get_instruments()
    instruments.forget(QUEUE_MESSAGES, reader)
    instruments.forget(DEAD_LETTER_MESSAGES, reader)
    reader.stop(timeout_seconds)

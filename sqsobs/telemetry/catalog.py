"""The metric catalog: every instrument sqsobs records, as data.

Instruments (:mod:`sqsobs.telemetry._instruments`), the docs' metric table and the Grafana
dashboards are all generated from :data:`CATALOG`. Names follow the OpenTelemetry messaging
semantic conventions where they cover the thing, and ``sqsobs.*`` for the rest.

Example::

    >>> SENT_MESSAGES.prometheus_name
    'messaging_client_sent_messages_total'
"""

from __future__ import annotations

from sqsobs.telemetry._metric_spec import MetricSpec, prometheus_label

__all__ = [
    "ATTR_DESTINATION",
    "ATTR_DLQ_NAME",
    "ATTR_ERROR_TYPE",
    "ATTR_FLUSH_REASON",
    "ATTR_OPERATION_NAME",
    "ATTR_OPERATION_TYPE",
    "ATTR_PROPAGATION_FIELD",
    "ATTR_PROPAGATION_REASON",
    "ATTR_PROTECTION_REQUEST",
    "ATTR_QUEUE_STATE",
    "ATTR_SERVER_ADDRESS",
    "ATTR_SERVER_PORT",
    "ATTR_SYSTEM",
    "BATCH_BYTES",
    "BATCH_MESSAGES",
    "BATCH_SPLITS",
    "BUFFER_DEPTH",
    "BUFFER_TIME",
    "CATALOG",
    "CONSUMED_MESSAGES",
    "DEAD_LETTER_MESSAGES",
    "DELETES",
    "DURATION_BUCKETS_SECONDS",
    "EMPTY_RECEIVES",
    "FLUSHES",
    "HANDLER_FAILURES",
    "HEARTBEATS",
    "INFLIGHT",
    "MAX_EXTEND_EXCEEDED",
    "MESSAGE_AGE",
    "MESSAGES_FAILED",
    "MESSAGES_REJECTED",
    "MetricSpec",
    "OPERATION_DURATION",
    "PAYLOADS_DELETED",
    "PAYLOADS_FETCHED",
    "PAYLOADS_FETCHED_BYTES",
    "PAYLOADS_OFFLOADED",
    "PAYLOADS_OFFLOADED_BYTES",
    "POLL_ERRORS",
    "PROCESS_DURATION",
    "POLL_DURATION",
    "PREFETCHED",
    "PROPAGATION_SKIPPED",
    "QUEUE_MESSAGES",
    "QUEUE_STATES",
    "RECEIVE_COUNT",
    "RETRIES",
    "SENT_MESSAGES",
    "SYSTEM",
    "TASK_PROTECTION_UPDATES",
    "UNDECODABLE",
    "WORKERS_BUSY",
    "WORKERS_SLOTS",
    "WORKERS_UTILIZATION",
    "by_name",
    "markdown_table",
    "prometheus_label",
]

#: ``messaging.system`` for every sqsobs metric and span.
SYSTEM = "aws_sqs"

ATTR_SYSTEM = "messaging.system"
ATTR_DESTINATION = "messaging.destination.name"
ATTR_OPERATION_NAME = "messaging.operation.name"
#: ``create`` / ``send`` / ``receive`` / ``process`` / ``settle`` (semconv: "if applicable").
ATTR_OPERATION_TYPE = "messaging.operation.type"
ATTR_ERROR_TYPE = "error.type"
#: The queue's host and port (from its URL) on the messaging metrics: the same queue name in two
#: regions is two series.
ATTR_SERVER_ADDRESS = "server.address"
ATTR_SERVER_PORT = "server.port"
ATTR_FLUSH_REASON = "sqsobs.flush.reason"
ATTR_PROPAGATION_REASON = "sqsobs.propagation.reason"
#: The propagator field left out (``traceparent``, ``tracestate``, ``baggage`` ...; ``all`` when
#: the propagator failed), or the one found malformed (``AWSTraceHeader`` too).
ATTR_PROPAGATION_FIELD = "sqsobs.propagation.field"
#: Which of a queue's messages a backlog gauge counts: one of :data:`QUEUE_STATES`.
ATTR_QUEUE_STATE = "sqsobs.queue.state"
#: The dead-letter queue (from the listened queue's ``RedrivePolicy``) a gauge reads.
ATTR_DLQ_NAME = "sqsobs.dlq.name"
#: ``protect`` or ``unprotect``: what a call to the ECS agent's task-protection endpoint asked.
ATTR_PROTECTION_REQUEST = "sqsobs.protection.request"

#: ``sqsobs.queue.state`` values: SQS's ``ApproximateNumberOfMessages`` (visible, waiting to be
#: received), ``...NotVisible`` (received, not yet deleted) and ``...Delayed``.
QUEUE_STATES = ("visible", "not_visible", "delayed")

#: Bucket boundaries the messaging semantic conventions advise for durations, in seconds.
DURATION_BUCKETS_SECONDS: tuple[float, ...] = (
    0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
)  # fmt: skip
_BUFFER_TIME_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
_AGE_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0)
_COUNT_BUCKETS = (1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0)
_BYTES_BUCKETS = (256.0, 1024.0, 4096.0, 16384.0, 65536.0, 262144.0, 524288.0, 1048576.0)
_RECEIVE_COUNT_BUCKETS = (1.0, 2.0, 3.0, 5.0, 10.0, 20.0)
# A long poll waits up to 20 s for a message; the advised buckets stop at 10 s.
_POLL_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 15.0, 20.0, 25.0, 30.0)

_SERVER = (ATTR_SERVER_ADDRESS, ATTR_SERVER_PORT)
_MSG = (ATTR_SYSTEM, ATTR_DESTINATION, ATTR_OPERATION_NAME, ATTR_ERROR_TYPE, *_SERVER)
# messaging.client.operation.duration also carries messaging.operation.type ("if applicable").
_OPERATION = (*_MSG[:3], ATTR_OPERATION_TYPE, ATTR_ERROR_TYPE, *_SERVER)
_QUEUE = (ATTR_SYSTEM, ATTR_DESTINATION)
_QUEUE_ERR = (ATTR_SYSTEM, ATTR_DESTINATION, ATTR_ERROR_TYPE)

# --- messaging semantic conventions --------------------------------------------------------
SENT_MESSAGES = MetricSpec(
    "messaging.client.sent.messages", "counter", "{message}",
    "Messages the producer attempted to send in SendMessageBatch calls (error.type on failure).",
    _MSG, "producer",
)  # fmt: skip
CONSUMED_MESSAGES = MetricSpec(
    "messaging.client.consumed.messages", "counter", "{message}",
    "Messages the listener received from SQS and delivered to its workers.",
    _MSG, "listener",
)  # fmt: skip
OPERATION_DURATION = MetricSpec(
    "messaging.client.operation.duration", "histogram", "s",
    "Duration of each SQS call, by operation (send, receive, delete, heartbeat, release);"
    " receives that returned no message are left out (see sqsobs.listener.poll.duration).",
    _OPERATION, "both", DURATION_BUCKETS_SECONDS,
)  # fmt: skip
PROCESS_DURATION = MetricSpec(
    "messaging.process.duration", "histogram", "s",
    "Duration of the handler call, per message or per batch (error.type when it failed).",
    _MSG, "listener", DURATION_BUCKETS_SECONDS,
)  # fmt: skip

# --- producer --------------------------------------------------------------------------------
BUFFER_DEPTH = MetricSpec(
    "sqsobs.producer.buffer.depth", "observable_updown_counter", "{message}",
    "Messages waiting in the producer's buffer, per queue (retries included), read at each"
    " collection.",
    _QUEUE, "producer",
)  # fmt: skip
BATCH_SPLITS = MetricSpec(
    "sqsobs.producer.batch.splits", "counter", "{split}",
    "Batches split because they would exceed the batch payload limit.",
    _QUEUE, "producer",
)  # fmt: skip
FLUSHES = MetricSpec(
    "sqsobs.producer.flushes", "counter", "{flush}",
    "Buffer flushes by reason (size, interval, idle, manual, close).",
    (*_QUEUE, ATTR_FLUSH_REASON), "producer",
)  # fmt: skip
BATCH_MESSAGES = MetricSpec(
    "sqsobs.producer.batch.messages", "histogram", "{message}",
    "Messages per SendMessageBatch call.",
    _QUEUE, "producer", _COUNT_BUCKETS,
)  # fmt: skip
BATCH_BYTES = MetricSpec(
    "sqsobs.producer.batch.size", "histogram", "By",
    "Payload bytes per SendMessageBatch call, counted as SQS counts them.",
    _QUEUE, "producer", _BYTES_BUCKETS,
)  # fmt: skip
BUFFER_TIME = MetricSpec(
    "sqsobs.producer.buffer.time", "histogram", "s",
    "Time from send() to the message's SendMessageBatch call.",
    _QUEUE, "producer", _BUFFER_TIME_BUCKETS,
)  # fmt: skip
RETRIES = MetricSpec(
    "sqsobs.producer.retries", "counter", "{message}",
    "Messages sent again after a retryable failure.",
    _QUEUE_ERR, "producer",
)  # fmt: skip
MESSAGES_FAILED = MetricSpec(
    "sqsobs.producer.messages.failed", "counter", "{message}",
    "Accepted messages that were never delivered (retries exhausted, rejected, cleared).",
    _QUEUE_ERR, "producer",
)  # fmt: skip
MESSAGES_REJECTED = MetricSpec(
    "sqsobs.producer.messages.rejected", "counter", "{message}",
    "Messages refused at send() (invalid, too large, buffer full, closed).",
    _QUEUE_ERR, "producer",
)  # fmt: skip

# --- listener --------------------------------------------------------------------------------
INFLIGHT = MetricSpec(
    "sqsobs.listener.inflight", "observable_updown_counter", "{message}",
    "Messages the listener holds invisible (handler running, or its delete not yet sent), read at"
    " each collection.",
    _QUEUE, "listener",
)  # fmt: skip
HEARTBEATS = MetricSpec(
    "sqsobs.listener.heartbeats", "counter", "{message}",
    "Visibility extensions of in-flight messages (failed ones carry error.type).",
    _QUEUE_ERR, "listener",
)  # fmt: skip
DELETES = MetricSpec(
    "sqsobs.listener.deletes", "counter", "{message}",
    "Messages deleted after their handler succeeded (failed ones carry error.type).",
    _QUEUE_ERR, "listener",
)  # fmt: skip
HANDLER_FAILURES = MetricSpec(
    "sqsobs.listener.handler.failures", "counter", "{message}",
    "Messages whose handler failed (returned failure or raised), by error.type.",
    _QUEUE_ERR, "listener",
)  # fmt: skip
MESSAGE_AGE = MetricSpec(
    "sqsobs.listener.message.age", "histogram", "s",
    "Age of a message when received: now minus its SentTimestamp.",
    _QUEUE, "listener", _AGE_BUCKETS,
)  # fmt: skip
RECEIVE_COUNT = MetricSpec(
    "sqsobs.listener.message.receives", "histogram", "{receive}",
    "ApproximateReceiveCount of each received message (1 = first delivery).",
    _QUEUE, "listener", _RECEIVE_COUNT_BUCKETS,
)  # fmt: skip
EMPTY_RECEIVES = MetricSpec(
    "sqsobs.listener.empty.receives", "counter", "{receive}",
    "ReceiveMessage calls that returned no message.",
    _QUEUE, "listener",
)  # fmt: skip
POLL_DURATION = MetricSpec(
    "sqsobs.listener.poll.duration", "histogram", "s",
    "Duration of every ReceiveMessage call, the long-poll wait included (empty and failed ones"
    " too; error.type on failure).",
    _QUEUE_ERR, "listener", _POLL_BUCKETS,
)  # fmt: skip
POLL_ERRORS = MetricSpec(
    "sqsobs.listener.poll.errors", "counter", "{error}",
    "ReceiveMessage calls that failed (throttling, network, 5xx), by error.type.",
    _QUEUE_ERR, "listener",
)  # fmt: skip
MAX_EXTEND_EXCEEDED = MetricSpec(
    "sqsobs.listener.max_extend.exceeded", "counter", "{message}",
    "Handlers still running when max_extend ran out; their message may come back.",
    _QUEUE, "listener",
)  # fmt: skip

TASK_PROTECTION_UPDATES = MetricSpec(
    "sqsobs.listener.task_protection.updates", "counter", "{update}",
    "Calls to the ECS agent's task scale-in protection endpoint (ecs_task_protection), by"
    " sqsobs.protection.request; failed ones carry error.type (the agent's error code or failure"
    " reason, http_<status>, or the exception).",
    (*_QUEUE, ATTR_PROTECTION_REQUEST, ATTR_ERROR_TYPE), "listener",
)  # fmt: skip

# --- listener capacity: read from the worker pool at each collection ---------------------------
WORKERS_BUSY = MetricSpec(
    "sqsobs.listener.workers.busy", "observable_gauge", "{worker}",
    "Workers running a handler now, per listener.",
    _QUEUE, "listener",
)  # fmt: skip
WORKERS_SLOTS = MetricSpec(
    "sqsobs.listener.workers.slots", "observable_gauge", "{worker}",
    "Handlers a listener can run at once (its worker_threads); summed over instances, the"
    " fleet's capacity.",
    _QUEUE, "listener",
)  # fmt: skip
PREFETCHED = MetricSpec(
    "sqsobs.listener.prefetched", "observable_gauge", "{message}",
    "Received messages waiting for a free worker (the per-message prefetch; in batch mode a"
    " batch between its receive and its worker).",
    _QUEUE, "listener",
)  # fmt: skip
WORKERS_UTILIZATION = MetricSpec(
    "sqsobs.listener.workers.utilization", "observable_gauge", "%",
    "Share of the listener's worker time spent in handlers over the last minute (0-100), the"
    " per-instance number for target tracking.",
    _QUEUE, "listener",
)  # fmt: skip

# --- queue backlog: GetQueueAttributes every backlog_interval_seconds (backlog_metrics) --------
QUEUE_MESSAGES = MetricSpec(
    "sqsobs.queue.messages", "observable_gauge", "{message}",
    "Messages on the listened queue as SQS counts them (approximately), by sqsobs.queue.state:"
    " visible (the backlog), not_visible (in flight), delayed; every instance reports the same"
    " queue, so aggregate with max.",
    (*_QUEUE, ATTR_QUEUE_STATE), "listener",
)  # fmt: skip
DEAD_LETTER_MESSAGES = MetricSpec(
    "sqsobs.queue.dead_letter.messages", "observable_gauge", "{message}",
    "Messages on the listened queue's dead-letter queue (its RedrivePolicy), by"
    " sqsobs.queue.state; messaging.destination.name is the listened queue, sqsobs.dlq.name the"
    " dead-letter queue.",
    (*_QUEUE, ATTR_DLQ_NAME, ATTR_QUEUE_STATE), "listener",
)  # fmt: skip

# --- both ------------------------------------------------------------------------------------
PROPAGATION_SKIPPED = MetricSpec(
    "sqsobs.propagation.skipped", "counter", "{field}",
    "Trace-context fields left out of a message (no room, attribute taken, invalid) or ignored"
    " on receipt (malformed), by sqsobs.propagation.reason and sqsobs.propagation.field.",
    (*_QUEUE, ATTR_PROPAGATION_REASON, ATTR_PROPAGATION_FIELD), "both",
)  # fmt: skip

# --- large payloads (S3) ----------------------------------------------------------------------
PAYLOADS_OFFLOADED = MetricSpec(
    "sqsobs.producer.payload.offloaded", "counter", "{message}",
    "Messages whose payload the producer stored in S3, a pointer sent in its place (error.type:"
    " the upload failed and the message was not sent).",
    _QUEUE_ERR, "producer",
)  # fmt: skip
PAYLOADS_OFFLOADED_BYTES = MetricSpec(
    "sqsobs.producer.payload.offloaded.size", "counter", "By",
    "Payload bytes the producer stored in S3.",
    _QUEUE, "producer",
)  # fmt: skip
PAYLOADS_FETCHED = MetricSpec(
    "sqsobs.listener.payload.fetched", "counter", "{message}",
    "Offloaded payloads the listener fetched from S3 before the handler ran (error.type: the"
    " object was missing or unreadable, and the message failed).",
    _QUEUE_ERR, "listener",
)  # fmt: skip
PAYLOADS_FETCHED_BYTES = MetricSpec(
    "sqsobs.listener.payload.fetched.size", "counter", "By",
    "Payload bytes the listener fetched from S3.",
    _QUEUE, "listener",
)  # fmt: skip
PAYLOADS_DELETED = MetricSpec(
    "sqsobs.listener.payload.deletes", "counter", "{object}",
    "S3 payload objects deleted after their message was deleted from SQS (error.type: the"
    " delete failed and the object stays).",
    _QUEUE_ERR, "listener",
)  # fmt: skip
UNDECODABLE = MetricSpec(
    "sqsobs.dramatiq.messages.undecodable", "counter", "{message}",
    "Messages a dramatiq worker received that are not dramatiq messages; each stays on the queue"
    " until its redrive policy moves it (error.type: why it did not decode).",
    _QUEUE_ERR, "listener",
)  # fmt: skip

#: Every instrument, in the order of the docs' metric table (docs/telemetry.md).
CATALOG: tuple[MetricSpec, ...] = (
    SENT_MESSAGES,
    CONSUMED_MESSAGES,
    OPERATION_DURATION,
    PROCESS_DURATION,
    BUFFER_DEPTH,
    BATCH_SPLITS,
    FLUSHES,
    BATCH_MESSAGES,
    BATCH_BYTES,
    BUFFER_TIME,
    RETRIES,
    MESSAGES_FAILED,
    MESSAGES_REJECTED,
    INFLIGHT,
    HEARTBEATS,
    DELETES,
    HANDLER_FAILURES,
    MESSAGE_AGE,
    RECEIVE_COUNT,
    EMPTY_RECEIVES,
    POLL_DURATION,
    POLL_ERRORS,
    MAX_EXTEND_EXCEEDED,
    TASK_PROTECTION_UPDATES,
    WORKERS_BUSY,
    WORKERS_SLOTS,
    PREFETCHED,
    WORKERS_UTILIZATION,
    QUEUE_MESSAGES,
    DEAD_LETTER_MESSAGES,
    PROPAGATION_SKIPPED,
    PAYLOADS_OFFLOADED,
    PAYLOADS_OFFLOADED_BYTES,
    PAYLOADS_FETCHED,
    PAYLOADS_FETCHED_BYTES,
    PAYLOADS_DELETED,
    UNDECODABLE,
)


def by_name(name: str) -> MetricSpec:
    """The catalog entry called ``name`` (KeyError if there is none).

    Example::

        >>> by_name("messaging.client.sent.messages") is SENT_MESSAGES
        True
    """
    for spec in CATALOG:
        if spec.name == name:
            return spec
    raise KeyError(name)


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def markdown_table(specs: tuple[MetricSpec, ...] = CATALOG) -> str:
    """The docs' metric table: one row per catalog entry, generated, never edited by hand."""
    lines = [
        "| Metric | Kind | Unit | Prometheus name | Attributes | Description |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for spec in specs:
        attributes = ", ".join(f"`{name}`" for name in spec.attributes)
        lines.append(
            f"| `{spec.name}` | {spec.kind} | `{spec.unit}` | `{spec.prometheus_name}` "
            f"| {attributes} | {_cell(spec.description)} |"
        )
    return "\n".join(lines) + "\n"

"""A listener on one queue: a poller, a worker pool, a heartbeat and an acker.

The poller receives only as many messages as there are free workers (one batch per free worker in
batch mode), so no message waits in a local buffer while its visibility timeout runs down.
Workers run the handler (:mod:`sqsobs.listener._runner`); the heartbeat keeps in-flight messages
invisible; the acker deletes successes in batches.

Example::

    def handle(msg: SqsMessage) -> bool:
        return True

    listener = Listener(handle, queue_url="orders", mode="per_message").start()
    ...
    listener.stop()   # drains: in-flight handlers finish, deletes are flushed
"""

from __future__ import annotations

import logging
import queue as queue_module
import random
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from types import TracebackType
from typing import Any

from opentelemetry.trace import SpanContext

from sqsobs._backoff import Backoff
from sqsobs._client import build_sqs_client
from sqsobs._config import bool_setting, float_setting
from sqsobs._urls import queue_name as queue_name_of
from sqsobs.errors import ConfigError, ListenerClosed, SqsError, translate_client_error
from sqsobs.listener._acker import Acker
from sqsobs.listener._heartbeat import Heartbeat
from sqsobs.listener._message import SqsMessage
from sqsobs.listener._resolve import resolve_queue_url
from sqsobs.listener._runner import HandlerRunner, ListenerStats
from sqsobs.listener._settings import ListenerSettings
from sqsobs.listener._telemetry import ListenerTelemetry
from sqsobs.telemetry import error_type, extract_context

__all__ = ["Listener"]

logger = logging.getLogger(__name__)

#: System attributes the listener asks for: tracing, age, receive count and FIFO group.
SYSTEM_ATTRIBUTES = ["AWSTraceHeader", "SentTimestamp", "ApproximateReceiveCount", "MessageGroupId"]

#: After the n-th failed ReceiveMessage in a row: full jitter up to 0.4 s * 2**(n-1), at most 20 s.
POLL_BACKOFF = Backoff(base_seconds=0.4, max_seconds=20.0)

_Task = tuple[Callable[[Sequence[SqsMessage], Any], None], Sequence[SqsMessage], Any]


class Listener:
    """Polls one queue and runs ``handler`` on what arrives, until :meth:`stop`.

    Settings come from the arguments, then the environment (``QUEUE_URL``, ``WAIT_TIME``,
    ``BATCH_SIZE``, ``VISIBILITY_SECS``, ``MAX_EXTEND``, ``WORKER_THREADS``, ``POLLER_THREADS``,
    ``IDLE_SLEEP_MAX``, ``SHUTDOWN_TIMEOUT``), then the defaults; see
    :class:`~sqsobs.listener._settings.ListenerSettings`. ``delete_linger_seconds`` bounds how
    long a per-message delete waits for its batch to fill; ``trace_empty_receives`` also traces
    receives that returned nothing (they are always counted).

    Example::

        with Listener(handle, queue_url=url, mode="batch", visibility_secs=30):
            time.sleep(60)
    """

    def __init__(
        self,
        handler: Callable[..., Any],
        *,
        queue_url: str | None = None,
        mode: str | None = None,
        wait_time: int | None = None,
        batch_size: int | None = None,
        visibility_secs: int | None = None,
        max_extend: int | None = None,
        worker_threads: int | None = None,
        poller_threads: int | None = None,
        idle_sleep_max: float | None = None,
        shutdown_timeout_seconds: float | None = None,
        filter_fn: Callable[[SqsMessage], bool] | None = None,
        retry_backoff: bool | None = None,
        retry_backoff_base: int | None = None,
        retry_backoff_max: int | None = None,
        on_success: Callable[[SqsMessage], Any] | None = None,
        on_failure: Callable[[SqsMessage, BaseException | None], Any] | None = None,
        client: Any = None,
        delete_linger_seconds: float = 0.05,
        trace_empty_receives: bool = False,
        name: str | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        self.settings = ListenerSettings.resolve(
            queue=queue_url, mode=mode, wait_time=wait_time, batch_size=batch_size,
            visibility_secs=visibility_secs, max_extend=max_extend,
            worker_threads=worker_threads, poller_threads=poller_threads,
            idle_sleep_max=idle_sleep_max,
            shutdown_timeout_seconds=shutdown_timeout_seconds, retry_backoff=retry_backoff,
            retry_backoff_base=retry_backoff_base, retry_backoff_max=retry_backoff_max,
            environ=environ,
        )  # fmt: skip
        if not callable(handler):
            raise TypeError("handler must be callable")
        hooks = {"filter_fn": filter_fn, "on_success": on_success, "on_failure": on_failure}
        for setting, hook in hooks.items():
            if hook is not None and not callable(hook):
                # Caught later, a non-callable filter would silently filter out every message.
                raise ConfigError(setting, f"must be callable, got {type(hook).__name__}")
        self.handler = handler
        self.name = name or getattr(handler, "__name__", "listener")
        self._client = client
        self._filter_fn = filter_fn
        self._on_success = on_success
        self._on_failure = on_failure
        self._linger = float_setting(
            "delete_linger_seconds", delete_linger_seconds, default=0.05, minimum=0, maximum=60
        )
        self._trace_empty = bool_setting(
            "trace_empty_receives", trace_empty_receives, default=False, environ={}
        )
        self.stats = ListenerStats()
        self.queue_url = ""
        self._state = "new"
        self._stop = threading.Event()
        self._slots = threading.Condition()
        self._free = self.settings.worker_threads
        self._tasks: queue_module.SimpleQueue[_Task | None] = queue_module.SimpleQueue()
        self._threads: list[threading.Thread] = []
        self._pollers: list[threading.Thread] = []
        self._count_lock = threading.Lock()
        #: ReceiveMessage calls made.
        self.receive_calls = 0

    # --- lifecycle -------------------------------------------------------------------------
    def start(self) -> Listener:
        """Check the queue (a missing queue or denied access raises here) and start polling."""
        if self._state != "new":
            raise ListenerClosed(f"listener {self.name!r} was already started")
        self._state = "starting"
        client = self._client or _default_client(self.settings.worker_threads)
        self._client = client
        try:
            self.queue_url = resolve_queue_url(client, self.settings.queue)
        except BaseException:
            self._state = "stopped"  # nothing was started: stop() has nothing to drain
            raise
        queue_name = queue_name_of(self.queue_url)
        self.telemetry = ListenerTelemetry(queue_name, self.queue_url)
        self.heartbeat = Heartbeat(
            client=client, queue_url=self.queue_url, telemetry=self.telemetry,
            visibility_secs=self.settings.visibility_secs, max_extend=self.settings.max_extend,
        )  # fmt: skip
        self.acker = Acker(
            client=client, queue_url=self.queue_url, telemetry=self.telemetry,
            linger_seconds=self._linger, before_send=self.heartbeat.untrack_handles,
        )  # fmt: skip
        self.runner = HandlerRunner(
            self.handler, settings=self.settings, telemetry=self.telemetry,
            heartbeat=self.heartbeat, acker=self.acker, stopping=self._stop.is_set,
            filter_fn=self._filter_fn, on_success=self._on_success, on_failure=self._on_failure,
            stats=self.stats,
        )  # fmt: skip
        tag = f"sqsobs-{queue_name}"
        self.heartbeat.start(f"{tag}-heartbeat")
        self.acker.start(f"{tag}-acker")
        self.runner.start(f"{tag}-loop")
        for index in range(self.settings.worker_threads):
            worker = threading.Thread(target=self._work, name=f"{tag}-worker-{index}", daemon=True)
            worker.start()
            self._threads.append(worker)
        for index in range(self.settings.poller_threads):
            poller = threading.Thread(target=self._poll, name=f"{tag}-poller-{index}", daemon=True)
            poller.start()
            self._pollers.append(poller)
        self._state = "running"
        logger.info(
            "listening on %s: mode=%s batch_size=%d workers=%d visibility=%ds wait=%ds",
            queue_name, self.settings.mode, self.settings.batch_size,
            self.settings.worker_threads, self.settings.visibility_secs, self.settings.wait_time,
        )  # fmt: skip
        return self

    @property
    def running(self) -> bool:
        """True between start() and the beginning of stop()."""
        return self._state == "running" and not self._stop.is_set()

    def request_stop(self) -> None:
        """Stop receiving at once; in-flight handlers go on (see :meth:`join`)."""
        self._stop.set()
        with self._slots:
            self._slots.notify_all()

    def stop(self, timeout_seconds: float | None = None) -> bool:
        """Stop receiving and drain; return True if everything finished within the timeout."""
        self.request_stop()
        return self.join(timeout_seconds)

    def join(self, timeout_seconds: float | None = None) -> bool:
        """Drain after :meth:`request_stop`: handlers finish, deletes flush, threads end.

        ``timeout_seconds`` defaults to the ``shutdown_timeout_seconds`` setting. Returns False
        if handlers were still running when it ran out (their messages come back later).
        """
        if self._state in ("new", "stopped"):
            self._state = "stopped"
            return True
        timeout = (
            self.settings.shutdown_timeout_seconds if timeout_seconds is None else timeout_seconds
        )
        deadline = time.monotonic() + timeout
        for poller in self._pollers:
            poller.join(max(0.0, deadline - time.monotonic()))
        for _ in self._threads:
            self._tasks.put(None)
        finished = all(self._join(t, deadline) for t in self._threads)
        if not finished:
            logger.warning(
                "listener %s: handlers still running after %.1f s; their messages come back "
                "after their visibility timeout", self.name, timeout,
            )  # fmt: skip
        flushed = self.acker.stop(max(0.1, deadline - time.monotonic()))
        self.heartbeat.stop(1.0)
        self.runner.stop()
        self._state = "stopped"
        logger.info("listener %s stopped (%s)", self.name, self.stats.snapshot())
        return finished and flushed

    @staticmethod
    def _join(thread: threading.Thread, deadline: float) -> bool:
        thread.join(max(0.0, deadline - time.monotonic()))
        return not thread.is_alive()

    def __enter__(self) -> Listener:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # --- workers ---------------------------------------------------------------------------
    def _work(self) -> None:
        while True:
            task = self._tasks.get()
            if task is None:
                return
            run, messages, receive = task
            try:
                run(messages, receive)
            except Exception:  # a bug of ours must not kill the worker
                logger.exception("listener %s: unexpected error in a worker", self.name)
            finally:
                with self._slots:
                    self._free += 1
                    self._slots.notify_all()

    # --- poller ----------------------------------------------------------------------------
    def _poll(self) -> None:
        failures = 0
        while not self._stop.is_set():
            slots = self._reserve()
            if slots == 0:
                break
            try:
                received, receive = self._receive(slots)
            except SqsError as error:
                self._give_back(slots)
                failures += 1
                self._poll_failed(error, failures)
                continue
            failures = 0
            used = self._dispatch(received, receive) if received else 0
            self._give_back(slots - used)
            if not received and self.settings.idle_sleep_max > 0:
                self._stop.wait(random.random() * self.settings.idle_sleep_max)

    def _reserve(self) -> int:
        """Wait for a free worker; return how many workers this receive may use (0: stopping)."""
        with self._slots:
            while self._free == 0 and not self._stop.is_set():
                self._slots.wait()
            if self._stop.is_set():
                return 0
            # A batch takes one worker; per message, one worker per message.
            wanted = 1 if self.settings.mode == "batch" else self.settings.batch_size
            slots = min(self._free, wanted)
            self._free -= slots
            return slots

    def _give_back(self, slots: int) -> None:
        if slots:
            with self._slots:
                self._free += slots
                self._slots.notify_all()

    def _receive(self, slots: int) -> tuple[list[SqsMessage], SpanContext | None]:
        count = self.settings.batch_size if self.settings.mode == "batch" else slots
        started_ns = time.time_ns()
        started = time.perf_counter()
        with self._count_lock:
            self.receive_calls += 1
        try:
            response = self._client.receive_message(
                QueueUrl=self.queue_url,
                MaxNumberOfMessages=count,
                WaitTimeSeconds=self.settings.wait_time,
                VisibilityTimeout=self.settings.visibility_secs,
                MessageAttributeNames=["All"],
                MessageSystemAttributeNames=SYSTEM_ATTRIBUTES,
            )
        except Exception as error:
            translated = translate_client_error(error, operation="ReceiveMessage")
            self.telemetry.poll_error(error_type(translated), time.perf_counter() - started)
            raise translated from error
        duration = time.perf_counter() - started
        raw = response.get("Messages") or []
        if not raw:
            self.telemetry.empty_receive(duration, started_ns, traced=self._trace_empty)
            return [], None
        now = time.monotonic()
        queue = self.telemetry.queue
        messages = [
            SqsMessage.from_boto(m, received_at=now, context=extract_context(m, destination=queue))
            for m in raw
        ]
        receive = self.telemetry.received(messages, started_ns, duration)
        self.heartbeat.track(messages)
        self.stats.add(received=len(messages))
        return messages, receive

    def _dispatch(self, messages: list[SqsMessage], receive: SpanContext | None) -> int:
        """Queue the work for ``messages``; return how many workers it takes."""
        if self._stop.is_set():
            self.heartbeat.untrack(messages)
            self.acker.release(messages, visibility_seconds=0)
            self.stats.add(released=len(messages))
            return 0
        if self.settings.mode == "batch":
            self._tasks.put((self.runner.run_batch, messages, receive))
            return 1
        groups = _fifo_groups(messages) if self.settings.fifo else [[m] for m in messages]
        for group in groups:
            self._tasks.put((self.runner.run_messages, group, receive))
        return len(groups)

    def _poll_failed(self, error: SqsError, failures: int) -> None:
        # Full jitter, capped: throttling and outages back off without synchronised retries.
        delay = POLL_BACKOFF.delay(failures)
        logger.warning(
            "receive on %s failed (%s: %s); retrying in %.1f s",
            self.queue_url, error_type(error), error, delay,
        )  # fmt: skip
        self._stop.wait(delay)


def _default_client(worker_threads: int) -> Any:
    """A client whose pool fits the pollers, every worker, the heartbeat and the acker."""
    # The read timeout outlasts the longest long poll (20 s), so a quiet queue is no timeout.
    return build_sqs_client(max_pool_connections=worker_threads + 4, read_timeout_seconds=40)


def _fifo_groups(messages: list[SqsMessage]) -> list[list[SqsMessage]]:
    """Messages split by MessageGroupId, each group in receive order."""
    groups: dict[str | None, list[SqsMessage]] = {}
    for message in messages:
        groups.setdefault(message.group_id, []).append(message)
    return list(groups.values())

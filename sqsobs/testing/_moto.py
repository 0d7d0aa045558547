"""moto's SQS server with its known faults fixed: the child process :class:`EmbeddedSQS` runs.

The server runs as a separate process (``python -m sqsobs.testing._moto --port N``), started
and stopped by :class:`sqsobs.testing.EmbeddedSQS`.

moto's SQS server (measured with moto 5.2.5) has faults that are not ours, so the child process
patches them before it serves, openly and only there:

1. Lost deletes: ``Queue.delete_message`` rebuilds the message list without a lock, so concurrent
   DeleteMessage(Batch) calls answer Successful yet the message comes back. Patched to run under
   the queue's ``_messages_lock``.
2. Double delivery: concurrent ReceiveMessage calls on one queue can hand one message to two
   receivers. ``SQSBackend.receive_message`` is patched to make one pass at a time under the
   queue's ``_messages_lock``; the long poll waits between passes with the lock released
   (moto's own wait loop spins, lock held, when a FIFO queue's visible messages are all blocked
   behind in-flight groups, which would stall every delete on that queue).
3. Quadratic cost: each send, and each message received (its retention check reads all queue
   attributes), recomputes the ApproximateNumberOf* counters by scanning the queue, and the clock
   goes through datetime per message. Inside send and receive the counters read 0 (neither uses
   them; GetQueueAttributes still counts), the retention check reads the one attribute it needs,
   and the no-argument clock uses ``time.time()``.
4. Lost trace headers: SendMessageBatch drops each entry's ``MessageSystemAttributes`` (real SQS
   keeps them, and single SendMessage calls keep them in moto too), so ``AWSTraceHeader`` never
   reached a consumer. Each entry's system attributes are handed to the send it makes.
5. Counters read at different instants: GetQueueAttributes computes every attribute several
   times and reads each message's visibility on the clock each time, so a message whose
   visibility timeout runs out during the call is counted in neither ApproximateNumberOfMessages
   nor ...NotVisible (a test waiting for (0, 0) went on while the message was on the queue).
   One call reads the clock once: every counter it answers describes the same instant.
"""

from __future__ import annotations

import argparse
import importlib
import signal
import threading
import time
from typing import Any

__all__ = ["apply_moto_patches", "main"]


def apply_moto_patches() -> None:
    """Fix moto's SQS faults described in the module docstring. Runs only in the server child."""
    # Typed as Any: this function rewrites moto's internals on purpose.
    core_utils: Any = importlib.import_module("moto.core.utils")
    models: Any = importlib.import_module("moto.sqs.models")

    # Set while a GetQueueAttributes call runs on this thread: the one instant it describes.
    instant = threading.local()

    def now() -> float:
        frozen: float | None = getattr(instant, "seconds", None)
        return time.time() if frozen is None else frozen

    def fast_unix_time(dt: Any = None) -> float:
        return now() if dt is None else core_utils.unix_time(dt)

    def fast_unix_time_millis(dt: Any = None) -> float:
        return now() * 1000.0 if dt is None else core_utils.unix_time_millis(dt)

    models.unix_time = fast_unix_time
    models.unix_time_millis = fast_unix_time_millis

    original_attributes = models.SQSBackend.get_queue_attributes

    def attributes_at_one_instant(self: Any, *args: Any, **kwargs: Any) -> Any:
        instant.seconds = time.time()
        try:
            return original_attributes(self, *args, **kwargs)
        finally:
            instant.seconds = None

    models.SQSBackend.get_queue_attributes = attributes_at_one_instant

    original_delete = models.Queue.delete_message

    def locked_delete(self: Any, receipt_handle: str) -> None:
        with self._messages_lock:
            original_delete(self, receipt_handle)

    models.Queue.delete_message = locked_delete

    original_receive = models.SQSBackend.receive_message

    def locked_receive(  # noqa: PLR0917 - moto's own signature
        self: Any,
        queue_name: str,
        count: int,
        wait_seconds_timeout: int,
        visibility_timeout: int,
        message_attribute_names: list[str] | None = None,
    ) -> Any:
        queue = self.get_queue(queue_name)
        deadline = time.time() + (wait_seconds_timeout or 0)
        while True:
            with queue._messages_lock:
                # One pass (no wait) under the lock; the long poll waits here with the lock
                # released, instead of moto spinning with it held while visible FIFO messages
                # are blocked behind an in-flight group.
                result = original_receive(
                    self, queue_name, count, 0, visibility_timeout, message_attribute_names
                )
                remaining = deadline - time.time()
                if result or remaining <= 0:
                    return result
                queue._messages_lock.wait(min(0.05, remaining))

    models.SQSBackend.receive_message = locked_receive

    def retention_ok(self: Any, queue_name: str, message: Any) -> bool:
        period = int(self.get_queue(queue_name).message_retention_period)
        return bool(period + message.sent_timestamp / 1000 > time.time())

    models.SQSBackend.is_message_valid_based_on_retention_period = retention_ok
    _patch_batch_system_attributes(models)
    # After the lock patch, so the counters are skipped inside the locked call as well.
    _patch_counters(models)


def _patch_batch_system_attributes(models: Any) -> None:
    # The batch call passes each entry's MessageAttributes dict on to send_message: that object
    # identifies the entry whose MessageSystemAttributes the send should keep.
    pending = threading.local()
    original_batch = models.SQSBackend.send_message_batch
    original_send = models.SQSBackend.send_message

    def batch(self: Any, queue_name: str, entries: dict[str, dict[str, Any]]) -> Any:
        pending.system = {
            id(entry.get("MessageAttributes")): entry["MessageSystemAttributes"]
            for entry in entries.values()
            if entry.get("MessageSystemAttributes")
        }
        try:
            return original_batch(self, queue_name, entries)
        finally:
            pending.system = {}

    def send(self: Any, queue_name: str, *args: Any, **kwargs: Any) -> Any:
        system = getattr(pending, "system", None)
        if system and kwargs.get("system_attributes") is None:
            kwargs["system_attributes"] = system.get(id(kwargs.get("message_attributes")))
        return original_send(self, queue_name, *args, **kwargs)

    models.SQSBackend.send_message_batch = batch
    models.SQSBackend.send_message = send


def _patch_counters(models: Any) -> None:
    in_hot_path = threading.local()
    for prop in (
        "approximate_number_of_messages_delayed",
        "approximate_number_of_messages_not_visible",
        "approximate_number_of_messages",
    ):
        original = getattr(models.Queue, prop)

        def counter(self: Any, _original: Any = original) -> int:
            if getattr(in_hot_path, "active", False):
                return 0
            value: int = _original.fget(self)
            return value

        setattr(models.Queue, prop, property(counter))

    for name in ("send_message", "send_message_batch", "receive_message"):
        original_call = getattr(models.SQSBackend, name)

        def hot(self: Any, *args: Any, _original: Any = original_call, **kwargs: Any) -> Any:
            outer = getattr(in_hot_path, "active", False)
            in_hot_path.active = True
            try:
                return _original(self, *args, **kwargs)
            finally:
                in_hot_path.active = outer

        setattr(models.SQSBackend, name, hot)


def main(argv: list[str] | None = None) -> None:
    """Entry point of the server child process."""
    parser = argparse.ArgumentParser(description="moto's SQS server with sqsobs' fault patches")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5000)
    args = parser.parse_args(argv)
    apply_moto_patches()
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address=args.host, port=args.port, verbose=False)
    server.start()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    while not stop.wait(0.5):
        pass
    server.stop()


if __name__ == "__main__":
    main()

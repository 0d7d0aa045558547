"""sqsobs' :class:`~sqsobs.listener.Listener` draining a pre-loaded queue with a no-op handler."""

from __future__ import annotations

import threading
from typing import Any

from benchmarks.clients import sqsobs_setup
from benchmarks.clients.common import start_run, wait_until


def main() -> None:
    """Run the listener until every message was handled and deleted, then stop it."""
    run = start_run()
    telemetry = sqsobs_setup.configure(run)
    from sqsobs.listener import BatchResult, Listener

    client = sqsobs_setup.sqs_client(run)
    deleted = [0]
    lock = threading.Lock()

    def count_deletes(parsed: Any, **_: Any) -> None:
        # The run ends when the last delete is answered, not when the last handler returns.
        with lock:
            deleted[0] += len(parsed.get("Successful", []))

    client.meta.events.register("after-call.sqs.DeleteMessageBatch", count_deletes)

    def batch_handler(messages: list[Any]) -> BatchResult:
        return BatchResult(failed_receipt_handles=[])

    def message_handler(message: Any) -> bool:
        return True

    batch = run.config["mode"] == "batch"
    listener = Listener(
        batch_handler if batch else message_handler,
        queue_url=run.queues[0],
        mode="batch" if batch else "per_message",
        wait_time=1,
        batch_size=10,
        client=client,
        transport=sqsobs_setup.transport(run),
    )
    with run.measure():
        listener.start()
        wait_until(lambda: deleted[0] >= run.messages, run.config["timeout_seconds"])
        sqsobs_setup.flush(telemetry)
    listener.stop(timeout_seconds=10)
    run.processed = listener.stats.succeeded
    run.extra["deleted"] = deleted[0]
    run.extra["stats"] = listener.stats.snapshot()
    run.finish()


if __name__ == "__main__":
    main()

"""The seed listener, sqs-fargate-listener 0.1.1, draining a pre-loaded queue (no-op handler)."""

from __future__ import annotations

import importlib
import threading
from typing import Any

from benchmarks.clients.common import start_run, wait_until


def main() -> None:
    """Run ``SqsListenerEngine`` until ``messages`` were handled, then stop it."""
    run = start_run()
    import boto3

    # Imported by name: the seed lives in its own environment, untyped.
    SqsListenerEngine = importlib.import_module("sqs_fargate_listener.core").SqsListenerEngine
    BatchResult = importlib.import_module("sqs_fargate_listener.types").BatchResult

    url = boto3.client("sqs", **run.client_kwargs()).get_queue_url(QueueName=run.queues[0])
    lock = threading.Lock()
    done = [0]

    def batch_handler(messages: list[Any]) -> Any:
        with lock:
            done[0] += len(messages)
        return BatchResult(failed_receipt_handles=[])

    def message_handler(message: Any) -> bool:
        with lock:
            done[0] += 1
        return True

    mode = run.config["mode"]
    engine = SqsListenerEngine(
        queue_url=url["QueueUrl"],
        handler=batch_handler if mode == "batch" else message_handler,
        mode="batch" if mode == "batch" else "per_message",
        wait_time=1,
        batch_size=10,
        client_kwargs=run.client_kwargs(),
    )
    deleted = [0]
    delete_batch = engine._delete_batch

    def counting_delete(handles: Any) -> None:
        # The run ends when the last delete is done, not when the last handler returns.
        handles = list(handles)
        delete_batch(handles)
        with lock:
            deleted[0] += len(handles)

    engine._delete_batch = counting_delete
    with run.measure():
        engine.start()
        wait_until(lambda: deleted[0] >= run.messages, run.config["timeout_seconds"])
    engine.stop_event.set()
    for thread in engine._threads:
        thread.join(timeout=5)
    run.processed = done[0]
    run.extra["deleted"] = deleted[0]
    run.finish()


if __name__ == "__main__":
    main()

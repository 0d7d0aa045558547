"""A producer process for tests/test_delivery_producer.py: plain scripts as deployments run them.

Usage: ``python tests/producer_child.py MODE QUEUE_URL [OTHER_QUEUE_URL]`` with the endpoint in
``AWS_ENDPOINT_URL_SQS``. Modes:

- ``stream``: a producer made in the main thread sends ``m0``, ``m1`` ... (batch interval 60 s,
  so up to 9 wait in the buffer) until the process is stopped;
- ``stream_app_handler``: the same, but the application installs its own SIGTERM handler after
  making the producer; the handler ends the loop and the script returns normally;
- ``listeners``: a producer made at start buffers ``m0`` .. ``m4``, then ``run_listeners()``
  polls OTHER_QUEUE_URL until SIGTERM; the script then returns normally;
- ``sigterm_in_close``: a producer buffers ``m0`` .. ``m4`` and ``close()`` sends them slowly
  (each SendMessageBatch waits 1.5 s): SIGTERM arrives during that ``close()``;
- ``unreferenced``: a function makes a producer, sends 45 messages and returns without
  ``close()``; the producer is garbage-collected before the script ends.

Lines on stdout: ``accepted N`` after each ``send()`` returned, ``failed N`` for each
``on_failure`` call, and last (from an ``atexit`` hook that runs after the producer's) ``report
{json}``: futures left unresolved, sqsobs threads still alive, the SIGTERM handler in place
(``listeners`` also prints ``after_listeners HANDLER`` when ``run_listeners()`` returned).
"""

from __future__ import annotations

import atexit
import gc
import json
import signal
import sys
import threading
import time
from concurrent.futures import Future
from typing import Any

futures: list[Future[str]] = []
stop = threading.Event()


def say(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def sigterm_handler() -> str:
    """Where SIGTERM's handler comes from: a module name, or ``signal`` for the default."""
    handler = signal.getsignal(signal.SIGTERM)
    return str(getattr(handler, "__module__", handler))


def report() -> None:
    """Runs after the producer's exit hook (registered before it: atexit is last-in first-out)."""
    state = {
        "unresolved": sum(not future.done() for future in futures),
        "threads": sorted(t.name for t in threading.enumerate() if t.name.startswith("sqsobs")),
        "sigterm_handler": sigterm_handler(),
    }
    say(f"report {json.dumps(state)}")


atexit.register(report)

from sqsobs import BatchProducer, FailedMessage  # noqa: E402 - after report() is registered


def on_failure(failed: FailedMessage) -> None:
    say(f"failed {failed.entry['MessageBody'][1:]}")


def make_producer() -> BatchProducer:
    return BatchProducer(default_batch_interval=60, default_idle_timeout=0, on_failure=on_failure)


def stream(queue_url: str, producer: BatchProducer) -> None:
    index = 0
    while not stop.is_set():
        futures.append(producer.send(queue_url, f"m{index}"))
        say(f"accepted {index}")
        index += 1
        time.sleep(0.01)


def unreferenced(queue_url: str) -> None:
    producer = make_producer()
    for index in range(45):
        futures.append(producer.send(queue_url, f"m{index}"))
        say(f"accepted {index}")


def listeners(queue_url: str, other_queue_url: str) -> None:
    from sqsobs import run_listeners, sqs_listener

    producer = make_producer()
    for index in range(5):
        futures.append(producer.send(queue_url, f"m{index}"))
        say(f"accepted {index}")

    @sqs_listener(queue_url=other_queue_url, wait_time=1, shutdown_timeout_seconds=5)
    def handle(message: Any) -> bool:
        return True

    threading.Timer(0.5, say, args=("listening",)).start()
    run_listeners(configure_logs=False)
    say(f"after_listeners {sigterm_handler()}")


def main() -> None:
    mode, queue_url = sys.argv[1], sys.argv[2]
    if mode == "stream":
        stream(queue_url, make_producer())
    elif mode == "stream_app_handler":
        producer = make_producer()
        signal.signal(signal.SIGTERM, lambda signum, frame: stop.set())
        stream(queue_url, producer)
    elif mode == "listeners":
        listeners(queue_url, sys.argv[3])
    elif mode == "sigterm_in_close":
        producer = make_producer()
        producer.client.meta.events.register(
            "before-send.sqs.SendMessageBatch", lambda **_: time.sleep(1.5)
        )
        for index in range(5):
            futures.append(producer.send(queue_url, f"m{index}"))
            say(f"accepted {index}")
        say("closing")
        producer.close()
        say("closed")  # not reached: the SIGTERM's exit comes right after close()
        time.sleep(30)
    elif mode == "unreferenced":
        unreferenced(queue_url)
        gc.collect()  # as a long-running application's collector would, sooner or later
        time.sleep(0.2)
    else:
        raise SystemExit(f"unknown mode {mode}")


if __name__ == "__main__":
    main()

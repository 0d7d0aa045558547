"""Producer through a dramatiq broker: ``actor.send()`` round-robin over the queues.

Brokers: dramatiq-sqs's ``SQSBroker`` (one SendMessage per message), the seed package
dramatiq-sqs-batch's ``BatchSQSBroker`` (run from its own virtual environment), and sqsobs'
``BatchSQSBroker`` (see :mod:`benchmarks.clients.sqsobs_setup` for its telemetry).
"""

from __future__ import annotations

import importlib
from typing import Any

from benchmarks.clients.common import Run, small_body, start_run


def make_broker(run: Run) -> tuple[Any, Any]:
    """The broker under test and the callable that delivers whatever it still buffers."""
    kind = run.config["broker"]
    options = run.client_kwargs()
    if kind == "dramatiq-sqs":
        from dramatiq_sqs import SQSBroker

        return SQSBroker(**options), lambda: None
    if kind == "seed-batch":
        # Imported by name: the seed lives in its own environment, untyped.
        seed = importlib.import_module("batch_sqs_broker").BatchSQSBroker(**options)
        return seed, seed.close
    if kind == "sqsobs":
        setup = importlib.import_module("benchmarks.clients.sqsobs_setup")
        made: tuple[Any, Any] = setup.make_sqsobs_broker(run)
        return made
    raise ValueError(f"unknown broker {kind!r}")


def main() -> None:
    """Send ``messages`` messages through the configured broker; include the final flush."""
    run = start_run()
    import dramatiq

    broker, deliver = make_broker(run)
    dramatiq.set_broker(broker)

    def task(payload: str) -> None:
        """Never runs here: only enqueued."""

    actors = [
        dramatiq.actor(actor_name=f"task_{i}", queue_name=name, broker=broker)(task)
        for i, name in enumerate(run.queues)
    ]
    payloads = [small_body(i) for i in range(run.messages)]
    count = len(actors)
    with run.measure():
        for i, payload in enumerate(payloads):
            actors[i % count].send(payload)
        deliver()
    run.processed = run.messages
    run.finish()


if __name__ == "__main__":
    main()

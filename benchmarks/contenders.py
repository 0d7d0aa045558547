"""Who runs in scenarios 1 and 2, and how.

sqsobs runs with each telemetry profile ("on": every span sampled; "off": no SDK;
"production": 10 % parent-based sampling, metrics on) on each transport ("boto3", "lean"), so
every figure of issue 15's targets table has its contenders in one run.
"""

from __future__ import annotations

import importlib

from benchmarks.harness import Contender
from benchmarks.throughput import Throughput

RAW = "benchmarks.clients.raw"
DRAMATIQ = "benchmarks.clients.dramatiq_producer"
FARGATE = "benchmarks.clients.fargate"
SQSOBS_LISTENER = "benchmarks.clients.sqsobs_listener"

RAW_PRODUCER = "raw boto3 loop (pre-built 10-entry batches)"
SQSOBS_PRODUCER_ON = "sqsobs BatchSQSBroker, telemetry on"
SQSOBS_PRODUCER_OFF = "sqsobs BatchSQSBroker, telemetry off"
SQSOBS_PRODUCER_LEAN_ON = "sqsobs BatchSQSBroker, lean transport, telemetry on"
SQSOBS_BATCH_PRODUCER = "sqsobs BatchProducer (no dramatiq), telemetry on"
SQSOBS_PRODUCER = "benchmarks.clients.sqsobs_producer"
SEED_PRODUCER = "dramatiq-sqs-batch 1.0.0 BatchSQSBroker"
DRAMATIQ_SQS = "dramatiq-sqs SQSBroker (1 call per message)"
RAW_LISTENER = "raw boto3 receive + delete_message_batch"
SEED_LISTENER = "sqs-fargate-listener 0.1.1"


#: The telemetry profiles of sqsobs contenders (benchmarks.clients.sqsobs_setup).
TELEMETRY = ("on", "off", "production")
#: The transports of sqsobs contenders.
TRANSPORTS = ("boto3", "lean")


def _label(telemetry: str, transport: str) -> str:
    profile = "production profile" if telemetry == "production" else f"telemetry {telemetry}"
    return profile if transport == "boto3" else f"lean transport, {profile}"


def broker_name(telemetry: str, transport: str = "boto3") -> str:
    """Display name of the sqsobs broker contender."""
    return f"sqsobs BatchSQSBroker, {_label(telemetry, transport)}"


def sqsobs_listener_name(mode: str, telemetry: str, transport: str = "boto3") -> str:
    """Display name of the sqsobs listener contender."""
    return f"sqsobs listener, {mode}, {_label(telemetry, transport)}"


def seed_listener_name(mode: str) -> str:
    """Display name of the seed listener contender."""
    return f"{SEED_LISTENER}, {mode}"


def _has(module: str, name: str) -> bool:
    try:
        return hasattr(importlib.import_module(module), name)
    except ImportError:
        return False


def sqsobs_ready() -> dict[str, bool]:
    """Which sqsobs contenders exist in this checkout (producer and listener land separately)."""
    return {
        "broker": _has("sqsobs.dramatiq", "BatchSQSBroker"),
        "producer": _has("sqsobs.producer", "BatchProducer"),
        "listener": _has("sqsobs.listener", "Listener"),
    }


def producer_scenario() -> Throughput:
    """Scenario 1: 4 queues, small messages, every broker and the raw limit."""
    ready = sqsobs_ready()
    contenders = [Contender(RAW_PRODUCER, RAW)]
    if ready["broker"]:
        contenders += [
            Contender(
                broker_name(telemetry, transport),
                DRAMATIQ,
                {"broker": "sqsobs", "telemetry": telemetry, "transport": transport},
            )
            for transport in TRANSPORTS
            for telemetry in TELEMETRY
        ]
    if ready["producer"]:
        contenders.append(Contender(SQSOBS_BATCH_PRODUCER, SQSOBS_PRODUCER, {"telemetry": "on"}))
    contenders += [
        Contender(SEED_PRODUCER, DRAMATIQ, {"broker": "seed-batch"}, seed="dramatiq-sqs-batch"),
        # One HTTP call per message: a quarter of the messages gives the same per-message figures.
        Contender(DRAMATIQ_SQS, DRAMATIQ, {"broker": "dramatiq-sqs"}, share=0.25),
    ]
    return Throughput("1 producer", "producer", 4, contenders)


def listener_scenario() -> Throughput:
    """Scenario 2: a pre-loaded queue, no-op handler, batch and per-message modes."""
    ready = sqsobs_ready()["listener"]
    contenders = [Contender(RAW_LISTENER, RAW)]
    for mode in ("batch", "per-message"):
        # Per-message runs are the slow ones: half the messages keeps the suite under 10 min.
        share = 1.0 if mode == "batch" else 0.5
        if ready:
            for transport in TRANSPORTS:
                for telemetry in TELEMETRY:
                    config = {"mode": mode, "telemetry": telemetry, "transport": transport}
                    name = sqsobs_listener_name(mode, telemetry, transport)
                    contenders.append(Contender(name, SQSOBS_LISTENER, config, share=share))
        seed = seed_listener_name(mode)
        contenders.append(
            Contender(seed, FARGATE, {"mode": mode}, seed="sqs-fargate-listener", share=share)
        )
    return Throughput("2 listener", "listener", 1, contenders)

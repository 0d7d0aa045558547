"""Proof: every PromQL query of every dashboard panel returns data from a real Prometheus.

A producer process and a consumer process (real BatchProducer and Listener against the test
server, behind a fault-injecting proxy so failures, retries and failed heartbeats happen) expose
configure_telemetry()'s Prometheus endpoint. Debian's ``prometheus`` runs on loopback in a temp
dir with the stack's own dashboards/prometheus/prometheus.yml (targets and intervals replaced),
scrapes them, and every expression of every panel, with the Grafana variables substituted, is
evaluated through the HTTP API. A panel that would show nothing fails the test.

The workloads run in subprocesses (``python tests/test_dashboards_prometheus.py producer ...``):
global OpenTelemetry providers can be set once per process, and the test session already set
them.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import require_binary

ROOT = Path(__file__).resolve().parent.parent
CONFIG_DIR = ROOT / "dashboards" / "prometheus"
SCRAPE_SECONDS = 1
#: What Grafana's $__rate_interval becomes at a 1 s scrape interval (4 x scrape, plus margin).
RATE_INTERVAL = "5s"


# --- Prometheus ------------------------------------------------------------------------------
class Prometheus:
    """Debian's prometheus on a free loopback port, in a temp dir, stopped by its PID."""

    def __init__(self, binary: str, directory: Path, targets: dict[str, str]) -> None:
        import yaml

        from sqsobs.testing import free_port

        self.port = free_port()
        self.directory = directory
        config = yaml.safe_load((CONFIG_DIR / "prometheus.yml").read_text())
        config["global"].update(
            scrape_interval=f"{SCRAPE_SECONDS}s", evaluation_interval=f"{SCRAPE_SECONDS}s"
        )
        jobs = [job for job in config["scrape_configs"] if job["job_name"] in targets]
        assert {job["job_name"] for job in jobs} == set(targets), "jobs missing from the config"
        for job in jobs:
            job["static_configs"] = [{"targets": [targets[job["job_name"]]]}]
        config["scrape_configs"] = jobs
        (directory / "prometheus.yml").write_text(yaml.safe_dump(config))
        for rule_file in config.get("rule_files", []):
            shutil.copy(CONFIG_DIR / rule_file, directory / rule_file)
        self.command = [
            binary,
            f"--config.file={directory / 'prometheus.yml'}",
            f"--storage.tsdb.path={directory / 'data'}",
            f"--web.listen-address=127.0.0.1:{self.port}",
        ]
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout_seconds: float = 30.0) -> Prometheus:
        log = (self.directory / "prometheus.log").open("wb")
        self.process = subprocess.Popen(self.command, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout_seconds
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"prometheus exited: {self.log()}")
            with contextlib.suppress(OSError):
                with urllib.request.urlopen(f"{self.url}/-/ready", timeout=1) as answer:
                    if answer.status == 200:
                        return self
            time.sleep(0.1)
        raise TimeoutError(f"prometheus not ready: {self.log()}")

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        os.kill(process.pid, signal.SIGTERM)
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            os.kill(process.pid, signal.SIGKILL)
            process.wait(10)

    def log(self) -> str:
        path = self.directory / "prometheus.log"
        return path.read_text(errors="replace")[-3000:] if path.exists() else ""

    def api(self, path: str, **params: Any) -> Any:
        query = urllib.parse.urlencode(params, doseq=True)
        with urllib.request.urlopen(f"{self.url}/api/v1/{path}?{query}", timeout=10) as answer:
            body = json.loads(answer.read())
        assert body["status"] == "success", body
        return body["data"]

    def targets_up(self) -> bool:
        active = self.api("targets", state="active")["activeTargets"]
        return bool(active) and all(t["health"] == "up" for t in active)

    def rules_loaded(self) -> int:
        return sum(len(group["rules"]) for group in self.api("rules")["groups"])

    def query_range(self, expr: str, start: float, end: float) -> list[dict[str, Any]]:
        data = self.api("query_range", query=expr, start=start, end=end, step=SCRAPE_SECONDS)
        result: list[dict[str, Any]] = data["result"]
        return result


# --- the test ------------------------------------------------------------------------------
class Workload:
    """One workload subprocess: its metrics port, then its result line."""

    def __init__(self, role: str, endpoint: str, queue_url: str) -> None:
        env = {**os.environ, "OTEL_TRACES_EXPORTER": "none", "OTEL_METRICS_EXPORTER": "none"}
        env.pop("AWS_ENDPOINT_URL", None)
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.test_dashboards_prometheus", role, endpoint, queue_url],
            cwd=ROOT,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self.port = int(self.line()["port"])

    def line(self) -> dict[str, Any]:
        assert self.process.stdout is not None
        text = self.process.stdout.readline()
        assert text, f"workload exited with {self.process.wait(10)}"
        data: dict[str, Any] = json.loads(text)
        return data

    def go(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write("go\n")
        self.process.stdin.flush()

    def stop(self) -> None:
        with contextlib.suppress(OSError):
            assert self.process.stdin is not None
            self.process.stdin.close()
        try:
            self.process.wait(20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)


def substitute(expr: str, *, services: str, queue: str, range_seconds: int) -> str:
    """The expression as Grafana sends it, with the dashboard variables filled in."""
    return (
        expr.replace("$__rate_interval", RATE_INTERVAL)
        .replace("$__range", f"{range_seconds}s")
        .replace("$service", services)
        .replace("$queue", queue)
    )


def has_data(series: list[dict[str, Any]]) -> bool:
    """True if any series has a finite value somewhere in the range."""
    return any(math.isfinite(float(v)) for s in series for _, v in s["values"])


def wait_until(predicate: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.25)


@pytest.fixture
def workloads(
    sqs_server: Any, queue_url: str, make_queue: Any, sqs_client: Any
) -> Iterator[dict[str, Workload]]:
    # A dead-letter queue for the backlog panels (no message fails often enough to reach it).
    dlq_arn = sqs_client.get_queue_attributes(
        QueueUrl=make_queue("-dlq"), AttributeNames=["QueueArn"]
    )["Attributes"]["QueueArn"]
    policy = json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": "10"})
    sqs_client.set_queue_attributes(QueueUrl=queue_url, Attributes={"RedrivePolicy": policy})
    started: dict[str, Workload] = {}
    try:
        for role in ("producer", "consumer"):
            started[role] = Workload(role, sqs_server.endpoint_url, queue_url)
        yield started
    finally:
        for workload in started.values():
            workload.stop()


def test_every_panel_returns_data_from_a_real_prometheus(
    workloads: dict[str, Workload], queue_url: str, tmp_path: Path
) -> None:
    from sqsobs.cli._dashboards import DASHBOARDS

    binary = require_binary("prometheus")
    targets = {role: f"127.0.0.1:{w.port}" for role, w in workloads.items()}
    prometheus = Prometheus(binary, tmp_path, targets).start()
    try:
        wait_until(prometheus.targets_up, 30, "both targets to be scraped")
        started = time.time()
        for workload in workloads.values():
            workload.go()
        outcome = workloads["producer"].line()
        assert outcome["failed"] == 5 and outcome["delivered"] >= 300, outcome
        handled = 'sum(sqsobs_listener_deletes_total{error_type=""})'

        def all_handled() -> bool:
            result = prometheus.api("query", query=handled)["result"]
            return bool(result) and float(result[0]["value"][1]) >= outcome["delivered"]

        wait_until(all_handled, 60, f"{outcome['delivered']} messages handled")
        time.sleep(3 * SCRAPE_SECONDS)  # the last increments reach a scrape or two
        ended = time.time()
        queue = queue_url.rsplit("/", 1)[-1]
        span = int(ended - started) + 5
        empty = []
        checked = 0
        for definition in DASHBOARDS:
            board = json.loads((ROOT / "dashboards" / definition.filename).read_text())
            for panel in board["panels"]:
                for target in panel.get("targets", []):
                    expr = substitute(
                        target["expr"],
                        services="producer|consumer",
                        queue=queue,
                        range_seconds=span,
                    )
                    checked += 1
                    if not has_data(prometheus.query_range(expr, started - 2, ended)):
                        empty.append(f"{definition.uid} / {panel['title']} / {target['refId']}")
            check_variables(prometheus, board, queue)
        assert checked >= 51
        assert empty == [], "panels with no data:\n" + "\n".join(empty)
        # The recording rules autoscalers query (KEDA's prometheus trigger) have data too.
        from sqsobs.cli._promql import RECORDING_RULES

        for record in RECORDING_RULES:
            series = prometheus.query_range(
                f'{record}{{messaging_destination_name="{queue}"}}', started - 2, ended
            )
            assert has_data(series), record
        # The stack's rules load with the same configuration.
        assert prometheus.rules_loaded() >= 13
    finally:
        prometheus.stop()


def check_variables(prometheus: Prometheus, board: dict[str, Any], queue: str) -> None:
    """The service and queue variables list what the workload produced."""
    variables = {v["name"]: v for v in board["templating"]["list"]}
    for name, expected in (("service", {"producer", "consumer"}), ("queue", {queue})):
        query = variables[name]["query"].replace("$service", "producer|consumer")
        found = re.fullmatch(r"label_values\((.+), (\w+)\)", query)
        assert found, query
        selector, label = found.groups()
        values = set(prometheus.api(f"label/{label}/values", **{"match[]": selector}))
        assert expected <= values, (name, values)


# --- the workloads (run as `python -m tests.test_dashboards_prometheus ROLE ENDPOINT QUEUE_URL`) --
def _serve_metrics(service: str) -> None:
    """configure_telemetry() with its Prometheus endpoint on a free port; tell the parent."""
    import sqsobs

    telemetry = sqsobs.configure_telemetry(service, prometheus_port=0, logs=False)
    print(json.dumps({"port": telemetry.prometheus_port}), flush=True)
    sys.stdin.readline()  # "go": Prometheus is scraping


def _producer(endpoint: str, queue_url: str) -> None:
    import boto3

    from sqsobs import BatchProducer, MessageTooLarge
    from sqsobs._client import build_sqs_client
    from tests.faultproxy import Fault, FaultProxy

    _serve_metrics("producer")
    with FaultProxy(endpoint, seed=1) as proxy:
        client = build_sqs_client(endpoint_url=proxy.endpoint_url)
        producer = BatchProducer(
            client,
            max_retry_attempts=2,
            retry_backoff_base_seconds=0.05,
            retry_backoff_max_seconds=0.2,
            default_batch_interval=0.1,
        )
        # Some throttling: retried batches.
        proxy.add(Fault("throttle", operations={"SendMessageBatch"}, probability=0.1))
        futures = []
        for n in range(300):
            body = {"n": n, "slow": n % 60 == 5, "fail": n % 40 == 3}
            futures.append(producer.send(queue_url, json.dumps(body)))
            if n % 10 == 9:
                time.sleep(0.12)
        # Ten attributes of the user's leave no room for the trace context: propagation skipped.
        crowded = {f"a{i}": {"DataType": "String", "StringValue": "x"} for i in range(10)}
        futures.append(producer.send(queue_url, json.dumps({"n": -4}), attributes=crowded))
        # A handler that outlives visibility + max_extend on its first delivery.
        futures.append(producer.send(queue_url, json.dumps({"n": -3, "stuck": True})))
        # Five 300 KB messages in one flush: their batch passes 1 MiB and is split. A producer of
        # their own, flushed once, so that a slow machine cannot send them in smaller flushes.
        with BatchProducer(
            client, default_batch_interval=30, default_idle_timeout=30, flush_at_exit=False
        ) as splitting:
            futures += [
                splitting.send(queue_url, json.dumps({"n": -1, "pad": "x" * 300_000}))
                for _ in range(5)
            ]
        # One message over SQS's limit, its payload stored in S3 (the server serves S3 too).
        s3 = boto3.session.Session().client("s3", endpoint_url=endpoint)
        bucket = f"sqsobs-dashboards-{os.getpid()}"
        s3.create_bucket(Bucket=bucket)
        with BatchProducer(client, large_payload_bucket=bucket, s3_client=s3) as offloading:
            big = json.dumps({"n": -6, "pad": "x" * 2_000_000})
            futures.append(offloading.send(queue_url, big))
        producer.flush(timeout=30)
        proxy.clear()
        # Too large for SQS: refused at send() (rejected).
        with contextlib.suppress(MessageTooLarge):
            producer.send(queue_url, "x" * 1_100_000)
        # SQS throttles every attempt: retries run out and the messages fail.
        proxy.add(Fault("throttle", operations={"SendMessageBatch"}))
        doomed = [producer.send(queue_url, json.dumps({"n": -2})) for _ in range(5)]
        producer.flush(timeout=30)
        proxy.clear()
        delivered = sum(1 for f in futures if f.exception() is None)
        failed = sum(1 for f in doomed if f.exception() is not None)
        print(json.dumps({"delivered": delivered, "failed": failed}), flush=True)
        sys.stdin.read()  # serve the metrics until the test closes stdin
        producer.close(timeout=5)


def _consumer(endpoint: str, queue_url: str) -> None:
    import boto3
    from botocore.config import Config

    from sqsobs import Listener, SqsMessage
    from tests.ecs_agent import FakeAgent
    from tests.faultproxy import Fault, FaultProxy

    _serve_metrics("consumer")
    # The ECS agent's task-protection endpoint, for the protection panel.
    agent = FakeAgent()
    os.environ["ECS_AGENT_URI"] = agent.uri

    def handle(message: SqsMessage) -> bool:
        data = message.json
        if data.get("slow"):
            time.sleep(2.5)  # longer than half the visibility timeout: heartbeats
        if data.get("stuck") and message.receive_count == 1:
            time.sleep(8)  # past visibility_secs + max_extend (5 s): max_extend exceeded
        if data.get("fail") and message.receive_count == 1:
            raise ValueError("fails on its first delivery")
        return True

    with FaultProxy(endpoint, seed=2) as proxy:
        # The first visibility extensions are throttled: failed heartbeats, then good ones.
        proxy.add(Fault("throttle", operations={"ChangeMessageVisibilityBatch"}, count=2))
        # Two polls fail (poll errors); the first delete batch fails all its attempts (delete
        # failures: those messages come back and are handled again).
        proxy.add(Fault("throttle", operations={"ReceiveMessage"}, count=2))
        proxy.add(Fault("throttle", operations={"DeleteMessageBatch"}, count=3))
        client = boto3.session.Session().client(
            "sqs",
            endpoint_url=proxy.endpoint_url,
            config=Config(retries={"total_max_attempts": 1}, max_pool_connections=16),
        )
        with Listener(
            handle,
            queue_url=queue_url,
            mode="per_message",
            worker_threads=8,
            wait_time=1,
            visibility_secs=2,
            max_extend=3,
            client=client,
            s3_client=boto3.session.Session().client("s3", endpoint_url=endpoint),
            backlog_metrics=True,
            backlog_interval_seconds=1,
            ecs_task_protection=True,
        ):
            sys.stdin.read()


if __name__ == "__main__":
    role, endpoint_url, url = sys.argv[1:4]
    {"producer": _producer, "consumer": _consumer}[role](endpoint_url, url)

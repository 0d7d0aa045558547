"""Every Python code block of README.md and docs/ runs, as written, against the test SQS server.

Each block runs in a process of its own (``configure_telemetry()``, dramatiq's global broker and
the listener registry are per process), with ``AWS_ENDPOINT_URL`` pointing at the test server
and the queues it names created fresh. A block that cannot run here is preceded by
``<!-- not-run: the reason -->``. A block that calls ``run_listeners()`` runs until its scenario
says the messages were handled, then gets SIGTERM, as a container would, and must drain and
exit 0. Scenarios add what a block's own output cannot show: the messages it should have
produced, the trace ids it printed, the queue left behind.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import drain_queue, wait_for, with_queue_urls
from tests.listener_support import queue_counts

ROOT = Path(__file__).resolve().parent.parent
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]

_FENCE = re.compile(
    r"^(?P<indent> *)```(?P<language>[\w-]*)[^\n]*\n(?P<code>.*?)^(?P=indent)```", re.S | re.M
)
_NOT_RUN = re.compile(r"^\s*<!--\s*not-run:(?P<reason>.*?)-->\s*$")


@dataclass(frozen=True)
class Block:
    """One fenced code block of a document."""

    path: Path
    line: int  # 1-based line of the opening fence
    language: str
    code: str
    not_run: str | None  # the reason given by a not-run marker, if any

    @property
    def name(self) -> str:
        return f"{self.path.relative_to(ROOT)}:{self.line}"


def _marker_before(lines: list[str], fence_index: int) -> str | None:
    """The not-run reason on the last non-blank line above the fence, or None."""
    index = fence_index - 1
    while index >= 0 and not lines[index].strip():
        index -= 1
    match = _NOT_RUN.match(lines[index]) if index >= 0 else None
    return match["reason"].strip() if match else None


def document_blocks(path: Path) -> list[Block]:
    """The fenced code blocks of one Markdown file, in order."""
    text = path.read_text(encoding="utf-8")
    lines = text.split("\n")
    found = []
    for match in _FENCE.finditer(text):
        fence_index = text.count("\n", 0, match.start())
        indent = len(match["indent"])
        code = "\n".join(line[indent:] for line in match["code"].split("\n"))
        found.append(
            Block(
                path, fence_index + 1, match["language"], code, _marker_before(lines, fence_index)
            )
        )
    return found


BLOCKS = [block for path in DOCUMENTS for block in document_blocks(path)]
PYTHON = [block for block in BLOCKS if block.language == "python"]
RUNNABLE = [block for block in PYTHON if block.not_run is None]

# --- scenarios: what a block needs and what it must have done -----------------------------------


@dataclass
class Run:
    """A block's process: its output so far, collected while it runs."""

    process: subprocess.Popen[str]
    stdout: list[str] = field(default_factory=list)
    stderr: list[str] = field(default_factory=list)

    @property
    def out(self) -> str:
        return "".join(self.stdout)

    @property
    def err(self) -> str:
        return "".join(self.stderr)


Queues = dict[str, str]  # queue name -> URL on the test server
Check = Callable[[Run, Any, Queues], None]


@dataclass(frozen=True)
class Scenario:
    """Set-up and checks for the one block that contains ``match``."""

    match: str
    #: Messages to put on a queue before the block starts: queue name -> bodies.
    preload: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    #: For blocks that run listeners until a signal: true once everything was handled.
    handled: Callable[[Run, Any, Queues], bool] | None = None
    check: Check | None = None


def _readme_check(run: Run, client: Any, queues: Queues) -> None:
    sent = re.search(r"sent message (\S+) in trace ([0-9a-f]{32})", run.out)
    handled = re.search(r"order 42 handled in trace ([0-9a-f]{32})", run.out)
    assert sent and handled, run.out + run.err
    assert handled[1] == sent[2] != "0" * 32, "the handler did not continue the request's trace"
    assert queue_counts(client, queues["orders"]) == (0, 0), "the message was not deleted"


def _listener_check(run: Run, client: Any, queues: Queues) -> None:
    # Orders 1 and 2 were deleted, -3 failed (in flight until its visibility timeout); the
    # valid email was sent and deleted, the invalid one failed.
    assert queue_counts(client, queues["orders-queue"]) == (0, 1)
    assert queue_counts(client, queues["emails"]) == (0, 1)
    assert re.findall(r"stand-in send: (.*)", run.out) == ['{"to": "a@example.com"}']


def _producer_check(run: Run, client: Any, queues: Queues) -> None:
    message_id = run.out.strip().splitlines()[-1]
    (message,) = drain_queue(client, queues["orders"])
    assert message["MessageId"] == message_id and message["Body"] == '{"id": 42}'
    assert message["MessageAttributes"]["kind"]["StringValue"] == "new"


def _monitoring_check(run: Run, client: Any, queues: Queues) -> None:
    assert run.out.splitlines() == ["3", "{'orders': 3}"]
    assert len(drain_queue(client, queues["orders"])) == 3


def _broker_check(run: Run, client: Any, queues: Queues) -> None:
    import dramatiq

    url = client.get_queue_url(QueueName="my-app_default")["QueueUrl"]
    (message,) = drain_queue(client, url)
    assert dramatiq.Message.decode(base64.b64decode(message["Body"])).args == ("hello",)


def _listener_object_check(run: Run, client: Any, queues: Queues) -> None:
    assert "handled {'id': 7} receive 1" in run.out
    assert queue_counts(client, queues["orders"]) == (0, 0)


def _telemetry_check(run: Run, client: Any, queues: Queues) -> None:
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+/metrics\n", run.out), run.out


def _logging_check(run: Run, client: Any, queues: Queues) -> None:
    (line,) = [line for line in run.err.splitlines() if '"logger": "app"' in line]
    assert json.loads(line)["level"] == "DEBUG" and json.loads(line)["message"] == "ready"


def _by_hand_check(run: Run, client: Any, queues: Queues) -> None:
    assert queue_counts(client, queues["orders"]) == (0, 0)


def _quotas_check(run: Run, client: Any, queues: Queues) -> None:
    lines = run.out.splitlines()
    assert lines[:2] == ["23", "1048577 1048576"] and "U+0000" in lines[2]


def _errors_check(run: Run, client: Any, queues: Queues) -> None:
    assert run.out.startswith("batch_size"), run.out


SCENARIOS = [
    Scenario(
        "POST /orders",
        handled=lambda run, client, queues: "order 42 handled" in run.out,
        check=_readme_check,
    ),
    Scenario(
        "def handle_orders(messages",
        preload={
            "orders-queue": tuple(json.dumps({"id": n}) for n in (1, 2, -3)),
            "emails": (json.dumps({"to": "a@example.com"}), "not json"),
        },
        handled=lambda run, client, queues: (
            queue_counts(client, queues["orders-queue"]) == (0, 1)
            and queue_counts(client, queues["emails"]) == (0, 1)
        ),
        check=_listener_check,
    ),
    Scenario("# a queue name (GetQueueUrl once, cached)", check=_producer_check),
    Scenario("force_flush_queue(", check=_monitoring_check),
    Scenario("BatchSQSBroker(", check=_broker_check),
    Scenario("handled.wait(", check=_listener_object_check),
    Scenario("print(telemetry.prometheus_url)", check=_telemetry_check),
    Scenario("json=True", check=_logging_check),
    Scenario("enqueue by hand", check=_by_hand_check),
    Scenario("message_size(", check=_quotas_check),
    Scenario("BatchProducer(batch_size=11)", check=_errors_check),
]


def scenario_for(block: Block) -> Scenario | None:
    matching = [s for s in SCENARIOS if s.match in block.code]
    assert len(matching) <= 1, f"{block.name}: several scenarios match"
    return matching[0] if matching else None


# --- running a block ------------------------------------------------------------------------------

#: The child: application code the documents leave to the reader, then the block itself.
_CHILD = """
import json, sys

def process(data):  # the application's order processing: negative ids fail
    return data["id"] > 0

async def send(data):  # the application's e-mail sending
    print("stand-in send:", json.dumps(data), flush=True)
    return True

path, line = sys.argv[1], int(sys.argv[2])
code = "\\n" * line + sys.stdin.read()  # tracebacks show the document's line numbers
exec(compile(code, path, "exec"), {"__name__": "__main__", "process": process, "send": send})
"""

_QUEUE_NAMES = [
    re.compile(r'queue_url="(?:[^"]*/)?([\w.-]+)"'),
    re.compile(r'\.send\(\s*"([\w.-]+)"'),
    re.compile(r'QueueName="([\w.-]+)"'),
]


def queue_names(code: str) -> set[str]:
    """The queues a block uses by name (the last path segment of a queue URL)."""
    return {name for pattern in _QUEUE_NAMES for name in pattern.findall(code)}


def _fresh_queue(client: Any, name: str) -> str:
    with contextlib.suppress(client.exceptions.QueueDoesNotExist):
        client.delete_queue(QueueUrl=client.get_queue_url(QueueName=name)["QueueUrl"])
    url: str = client.create_queue(QueueName=name)["QueueUrl"]
    return url


def _all_queues(client: Any) -> set[str]:
    return set(client.list_queues().get("QueueUrls", []))


def _child_environment(endpoint_url: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "AWS_ENDPOINT_URL": endpoint_url,
            "AWS_ENDPOINT_URL_SQS": endpoint_url,
            "PYTHONUNBUFFERED": "1",
            # Listeners react fast and drain fast.
            "WAIT_TIME": "1",
            "IDLE_SLEEP_MAX": "0",
            # configure_telemetry(): no collector here; Prometheus on any free port.
            "OTEL_TRACES_EXPORTER": "none",
            "OTEL_METRICS_EXPORTER": "prometheus",
            "OTEL_EXPORTER_PROMETHEUS_PORT": "0",
            "LOG_USE_COLOR": "0",
        }
    )
    return env


def _collect(stream: Any, into: list[str]) -> None:
    for line in stream:
        into.append(line)


@contextlib.contextmanager
def running(block: Block, endpoint_url: str, code: str) -> Iterator[Run]:
    """Start the block's process running ``code``; on exit make sure it is gone."""
    process = subprocess.Popen(
        [sys.executable, "-c", _CHILD, str(block.path), str(block.line)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env=_child_environment(endpoint_url),
    )
    run = Run(process)
    readers = [
        threading.Thread(target=_collect, args=(process.stdout, run.stdout), daemon=True),
        threading.Thread(target=_collect, args=(process.stderr, run.stderr), daemon=True),
    ]
    for reader in readers:
        reader.start()
    assert process.stdin is not None
    process.stdin.write(code)
    process.stdin.close()
    try:
        yield run
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(10)
        for reader in readers:
            reader.join(5)


RAN: set[str] = set()


def run_block(block: Block, endpoint_url: str, client: Any) -> None:
    """Run one block as its scenario says; fail with its output if anything is off."""
    scenario = scenario_for(block)
    before = _all_queues(client)
    queues = {name: _fresh_queue(client, name) for name in queue_names(block.code)}
    try:
        for name, bodies in (scenario.preload if scenario else {}).items():
            for body in bodies:
                client.send_message(QueueUrl=queues[name], MessageBody=body)
        with running(block, endpoint_url, with_queue_urls(block.code, queues, every=False)) as run:
            if scenario is not None and scenario.handled is not None:
                handled = scenario.handled
                done = wait_for(
                    lambda: handled(run, client, queues) or run.process.poll() is not None,
                    timeout=60,
                )
                assert done and run.process.poll() is None, f"{block.name}\n{run.out}{run.err}"
                run.process.send_signal(signal.SIGTERM)  # as a container stop does: drain
            else:
                assert "run_listeners()" not in block.code, f"{block.name} needs a scenario"
            returncode = run.process.wait(90)
        assert returncode == 0, f"{block.name} exited {returncode}\n{run.out}{run.err}"
        if scenario is not None and scenario.check is not None:
            scenario.check(run, client, queues)
        RAN.add(block.name)
    finally:
        # Only queues the block names: other test workers create queues at the same time.
        created = {
            url for url in _all_queues(client) - before if url.rsplit("/", 1)[-1] in block.code
        }
        for url in created | set(queues.values()):
            with contextlib.suppress(Exception):
                client.delete_queue(QueueUrl=url)


@pytest.mark.parametrize("block", RUNNABLE, ids=[b.name for b in RUNNABLE])
def test_code_block_runs(block: Block, sqs_server: Any, sqs_client: Any) -> None:
    run_block(block, sqs_server.endpoint_url, sqs_client)


# --- the rules of the markers and scenarios ---------------------------------------------------


def test_blocks_were_found() -> None:
    readme = [b for b in RUNNABLE if b.path.name == "README.md"]
    assert len(readme) == 1 and "configure_telemetry(" in readme[0].code
    assert len(RUNNABLE) >= 10


def test_every_not_run_marker_gives_a_reason_and_precedes_a_block() -> None:
    marked = {b.name for b in BLOCKS if b.not_run is not None}
    for block in BLOCKS:
        assert block.not_run != "", f"{block.name}: say why it cannot run"
    for path in DOCUMENTS:
        count = sum(
            1 for line in path.read_text(encoding="utf-8").split("\n") if _NOT_RUN.match(line)
        )
        assert count == sum(1 for b in BLOCKS if b.path == path and b.not_run is not None), (
            f"{path.name}: a not-run marker is not right above a code block"
        )
    assert len(marked) <= 6, "most blocks should run: mark only what cannot run here"


def test_every_scenario_matches_exactly_one_block() -> None:
    for scenario in SCENARIOS:
        matching = [b.name for b in RUNNABLE if scenario.match in b.code]
        assert len(matching) == 1, f"scenario {scenario.match!r} matches {matching}"


def test_queue_names_are_found_in_urls_calls_and_arguments() -> None:
    code = 'sqs_listener(queue_url="https://x/123/orders-queue")\np.send(\n    "emails", b)\n'
    assert queue_names(code + 'QueueName="q.fifo"') == {"orders-queue", "emails", "q.fifo"}


def test_every_unmarked_python_block_ran(request: pytest.FixtureRequest) -> None:
    selected = {
        item.callspec.params["block"].name
        for item in request.session.items
        if getattr(item, "originalname", "") == "test_code_block_runs"
    }
    if selected != {b.name for b in RUNNABLE}:
        pytest.skip("only some blocks were selected in this session")
    if hasattr(request.config, "workerinput"):
        # pytest-xdist spreads the blocks over processes: each one's test_code_block_runs item
        # (every runnable block has one, checked above) reports whether it ran and passed.
        return
    assert {b.name for b in RUNNABLE} == RAN

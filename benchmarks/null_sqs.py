"""A "null SQS": answers the SQS JSON protocol instantly, so the client is the bottleneck.

It speaks just enough of the protocol boto3 >= 1.34 uses (``POST /`` with
``X-Amz-Target: AmazonSQS.<Operation>`` and a JSON body) for producers and listeners:
CreateQueue, GetQueueUrl, GetQueueAttributes, SendMessage(Batch), ReceiveMessage (from a
pre-generated pool), DeleteMessage(Batch), ChangeMessageVisibility(Batch). It stores no message:
a queue is a counter of available messages, raised by sends and by ``/_null/preload``. It counts
every call by kind, so "SQS calls per message" is measured here, at the server.

Control endpoints (for the harness, never for the measured client):
``GET /_null/stats``, ``POST /_null/reset``, ``POST /_null/preload`` ``{"queue", "count"}``,
``POST /_null/stall`` ``{"stalled": bool}`` (sends wait while stalled). It also accepts OTLP/HTTP
exports (``POST /v1/traces``, ``/v1/metrics``, ``/v1/logs``) and counts them, so a client with
telemetry fully on pays the real export cost.

Senders may put ``lat:<time.time()>`` at the start of a body; the server then records the time
each such message spent between ``send()`` and its arrival here (scenario 5).

Run: ``python -m benchmarks.null_sqs --port 9324``; from Python, :class:`NullSQS`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import json
import signal
import socket
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from benchmarks.server_process import ServerProcess

JSON_TYPE = b"application/x-amz-json-1.0"
POOL_SIZE = 512
LATENCY_PREFIX = "lat:"


@dataclass
class _Queue:
    available: int = 0
    #: One message in this many carries a sampled traceparent (flags 01), the rest flags 00.
    sampled_every: int = 1
    waiters: list[asyncio.Future[None]] = field(default_factory=list)

    def add(self, count: int) -> None:
        self.available += count
        waiters, self.waiters = self.waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)


class QueueMissing(Exception):
    """The request named a queue that was never created."""


class _State:
    """Counters and queues; one instance per server process."""

    def __init__(self, max_wait_seconds: float) -> None:
        self.max_wait_seconds = max_wait_seconds
        self.queues: dict[str, _Queue] = {}
        self.stall = asyncio.Event()
        self.stall.set()  # set means "not stalled"
        self.seq = 0
        self.pool = _make_pool(sampled=True)
        self.unsampled_pool = _make_pool(sampled=False)
        self.reset()

    def reset(self) -> None:
        self.calls: Counter[str] = Counter()
        self.entries: Counter[str] = Counter()
        self.sent_per_queue: Counter[str] = Counter()
        self.otlp_bytes = 0
        self.otlp_spans = 0
        self.latencies: list[float] = []

    def stats(self) -> dict[str, Any]:
        return {
            "calls": dict(self.calls),
            "entries": dict(self.entries),
            "sent_per_queue": dict(self.sent_per_queue),
            "otlp_bytes": self.otlp_bytes,
            "otlp_spans": self.otlp_spans,
            "latencies_seconds": self.latencies,
            "available": {name: q.available for name, q in self.queues.items()},
        }

    def queue(self, params: dict[str, Any]) -> tuple[str, _Queue]:
        name = str(params.get("QueueUrl", "")).rsplit("/", 1)[-1]
        try:
            return name, self.queues[name]
        except KeyError:
            raise QueueMissing(name) from None


def _make_pool(*, sampled: bool) -> list[dict[str, Any]]:
    """Distinct small messages carrying a W3C traceparent attribute, as a producer would send
    (``sampled``: with the sampled flag, as a producer that traced the message sends it)."""
    flags = "01" if sampled else "00"
    pool = []
    for i in range(POOL_SIZE):
        body = json.dumps({"order_id": i, "customer": f"c-{i % 97}", "amount": i * 3 % 1000})
        trace_id = hashlib.md5(str(i).encode()).hexdigest()
        pool.append(
            {
                "Body": body,
                "MD5OfBody": hashlib.md5(body.encode()).hexdigest(),
                "MessageAttributes": {
                    "traceparent": {
                        "DataType": "String",
                        "StringValue": f"00-{trace_id}-{trace_id[:16]}-{flags}",
                    }
                },
                "MD5OfMessageAttributes": trace_id,
            }
        )
    return pool


def _entry_results(entries: list[dict[str, Any]], with_ids: bool) -> list[dict[str, Any]]:
    if not with_ids:
        return [{"Id": e["Id"]} for e in entries]
    return [
        {
            "Id": e["Id"],
            "MessageId": f"n-{e['Id']}-{time.monotonic_ns()}",
            "MD5OfMessageBody": "0" * 32,
        }
        for e in entries
    ]


class _Handler:
    """SQS operations on :class:`_State`; each returns a JSON-ready dict."""

    def __init__(self, state: _State) -> None:
        self.state = state

    def _record_sent(self, name: str, queue: _Queue, bodies: list[str]) -> None:
        now = time.time()
        for body in bodies:
            if body.startswith(LATENCY_PREFIX):
                self.state.latencies.append(now - float(body[4:].split(" ", 1)[0]))
        self.state.sent_per_queue[name] += len(bodies)
        queue.add(len(bodies))

    async def send_message_batch(self, params: dict[str, Any]) -> dict[str, Any]:
        name, queue = self.state.queue(params)
        await self.state.stall.wait()
        entries = params.get("Entries", [])
        self._record_sent(name, queue, [e.get("MessageBody", "") for e in entries])
        return {"Successful": _entry_results(entries, True), "Failed": []}

    async def send_message(self, params: dict[str, Any]) -> dict[str, Any]:
        name, queue = self.state.queue(params)
        await self.state.stall.wait()
        self._record_sent(name, queue, [params.get("MessageBody", "")])
        return {"MessageId": f"n-{time.monotonic_ns()}", "MD5OfMessageBody": "0" * 32}

    async def receive_message(self, params: dict[str, Any]) -> dict[str, Any]:
        _, queue = self.state.queue(params)
        wait = min(float(params.get("WaitTimeSeconds", 0)), self.state.max_wait_seconds)
        if queue.available == 0 and wait > 0:
            waiter = asyncio.get_running_loop().create_future()
            queue.waiters.append(waiter)
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(waiter, wait)
        count = min(int(params.get("MaxNumberOfMessages", 1)), queue.available)
        queue.available -= count
        self.state.entries["ReceiveMessage"] += count
        return {"Messages": [self._message(params, queue) for _ in range(count)]}

    def _message(self, params: dict[str, Any], queue: _Queue) -> dict[str, Any]:
        self.state.seq += 1
        seq = self.state.seq
        pool = self.state.pool if seq % queue.sampled_every == 0 else self.state.unsampled_pool
        message = dict(pool[seq % POOL_SIZE])
        message["MessageId"] = f"00000000-0000-4000-8000-{seq:012d}"
        message["ReceiptHandle"] = f"rh-{seq}"
        if not params.get("MessageAttributeNames"):
            del message["MessageAttributes"], message["MD5OfMessageAttributes"]
        if params.get("AttributeNames") or params.get("MessageSystemAttributeNames"):
            now = str(int(time.time() * 1000))
            message["Attributes"] = {
                "ApproximateReceiveCount": "1",
                "SentTimestamp": now,
                "ApproximateFirstReceiveTimestamp": now,
                "SenderId": "AIDANULLSQS",
            }
        return message

    async def batch_ack(self, params: dict[str, Any]) -> dict[str, Any]:
        self.state.queue(params)
        return {"Successful": _entry_results(params.get("Entries", []), False), "Failed": []}

    async def empty(self, params: dict[str, Any]) -> dict[str, Any]:
        self.state.queue(params)
        return {}

    async def create_queue(self, params: dict[str, Any]) -> dict[str, Any]:
        name = str(params["QueueName"])
        self.state.queues.setdefault(name, _Queue())
        return {"QueueUrl": f"{params['_base']}/000000000000/{name}"}

    async def get_queue_url(self, params: dict[str, Any]) -> dict[str, Any]:
        name = str(params["QueueName"])
        if name not in self.state.queues:
            raise QueueMissing(name)
        return {"QueueUrl": f"{params['_base']}/000000000000/{name}"}

    async def get_queue_attributes(self, params: dict[str, Any]) -> dict[str, Any]:
        name, queue = self.state.queue(params)
        return {
            "Attributes": {
                "QueueArn": f"arn:aws:sqs:us-east-1:000000000000:{name}",
                "ApproximateNumberOfMessages": str(queue.available),
                "ApproximateNumberOfMessagesNotVisible": "0",
                "VisibilityTimeout": "30",
                "MaximumMessageSize": "1048576",
            }
        }

    def route(self, operation: str) -> Any:
        return {
            "SendMessageBatch": self.send_message_batch,
            "SendMessage": self.send_message,
            "ReceiveMessage": self.receive_message,
            "DeleteMessageBatch": self.batch_ack,
            "ChangeMessageVisibilityBatch": self.batch_ack,
            "DeleteMessage": self.empty,
            "ChangeMessageVisibility": self.empty,
            "SetQueueAttributes": self.empty,
            "TagQueue": self.empty,
            "PurgeQueue": self.empty,
            "CreateQueue": self.create_queue,
            "GetQueueUrl": self.get_queue_url,
            "GetQueueAttributes": self.get_queue_attributes,
        }.get(operation)


def _count_spans(body: bytes) -> int:
    """Spans in an OTLP/HTTP protobuf export (-1 if opentelemetry-proto is not installed)."""
    try:
        from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
            ExportTraceServiceRequest,
        )
    except ImportError:
        return -1
    request = ExportTraceServiceRequest.FromString(body)
    return sum(
        len(scope.spans) for resource in request.resource_spans for scope in resource.scope_spans
    )


def _response(
    status: int, body: bytes, content_type: bytes = JSON_TYPE, extra: bytes = b""
) -> bytes:
    reason = b"OK" if status == 200 else b"Bad Request"
    head = b"HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %d\r\n%s\r\n" % (
        status,
        reason,
        content_type,
        len(body),
        extra,
    )
    return head + body


def _error(code: str, query_code: str, message: str) -> bytes:
    body = json.dumps({"__type": f"com.amazonaws.sqs#{code}", "message": message}).encode()
    return _response(400, body, extra=b"x-amzn-query-error: %s;Sender\r\n" % query_code.encode())


class _Connection(asyncio.Protocol):
    """HTTP/1.1 keep-alive, one request at a time per connection (as urllib3 sends them)."""

    def __init__(self, server: _Server) -> None:
        self.server = server
        self.buffer = bytearray()
        self.busy = False
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        sock = transport.get_extra_info("socket")
        if sock is not None:
            # Without it, small responses wait ~40 ms for delayed ACKs.
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if not self.busy:
            self._next()

    def _next(self) -> None:
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0:
            return
        head = bytes(self.buffer[:end]).decode("latin-1").split("\r\n")
        headers = {}
        for line in head[1:]:
            key, _, value = line.partition(":")
            headers[key.strip().lower()] = value.strip()
        length = int(headers.get("content-length", "0"))
        if len(self.buffer) < end + 4 + length:
            return
        body = bytes(self.buffer[end + 4 : end + 4 + length])
        del self.buffer[: end + 4 + length]
        method, path = head[0].split(" ")[:2]
        self.busy = True
        task = asyncio.ensure_future(self.server.handle(method, path, headers, body))
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Future[bytes]) -> None:
        self.busy = False
        if self.transport is None or self.transport.is_closing():
            return
        try:
            self.transport.write(task.result())
        except Exception as exc:  # the server must answer, whatever broke
            self.transport.write(_error("InternalError", "InternalError", repr(exc)))
        self._next()

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None


class _Server:
    def __init__(self, max_wait_seconds: float) -> None:
        self.state = _State(max_wait_seconds)
        self.handler = _Handler(self.state)

    async def handle(self, method: str, path: str, headers: dict[str, str], body: bytes) -> bytes:
        target = headers.get("x-amz-target", "")
        if method == "POST" and target.startswith("AmazonSQS."):
            return await self._sqs(target[10:], headers, body)
        if path.startswith("/v1/"):
            self.state.calls[f"otlp{path[3:]}"] += 1
            self.state.otlp_bytes += len(body)
            if path == "/v1/traces":
                self.state.otlp_spans += _count_spans(body)
            return _response(200, b"", b"application/x-protobuf")
        if path.startswith("/_null/"):
            return self._control(path[7:], json.loads(body or b"{}"))
        return _response(200, b"{}")

    async def _sqs(self, operation: str, headers: dict[str, str], body: bytes) -> bytes:
        self.state.calls[operation] += 1
        route = self.handler.route(operation)
        if route is None:
            return _error("InvalidAction", "InvalidAction", f"null SQS does not do {operation}")
        params = json.loads(body or b"{}")
        entries = params.get("Entries")
        if entries is not None:
            self.state.entries[operation] += len(entries)
        params["_base"] = f"http://{headers.get('host', '127.0.0.1')}"
        try:
            result = await route(params)
        except QueueMissing as exc:
            return _error("QueueDoesNotExist", "AWS.SimpleQueueService.NonExistentQueue", str(exc))
        return _response(200, json.dumps(result, separators=(",", ":")).encode())

    def _control(self, command: str, args: dict[str, Any]) -> bytes:
        if command == "reset":
            self.state.reset()
        elif command == "preload":
            queue = self.state.queues.setdefault(args["queue"], _Queue())
            queue.sampled_every = max(1, int(args.get("sampled_every", 1)))
            queue.add(int(args["count"]))
        elif command == "stall":
            if args.get("stalled"):
                self.state.stall.clear()
            else:
                self.state.stall.set()
        elif command != "stats":
            return _error("InvalidAction", "InvalidAction", f"unknown control {command}")
        return _response(200, json.dumps(self.state.stats()).encode())


async def serve(host: str, port: int, max_wait_seconds: float) -> None:
    """Serve until SIGTERM or SIGINT."""
    loop = asyncio.get_running_loop()
    server_state = _Server(max_wait_seconds)
    server = await loop.create_server(lambda: _Connection(server_state), host, port, backlog=512)
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with server:
        await stop.wait()


class NullSQS(ServerProcess):
    """The null SQS server in its own process, with the harness's control calls.

    Example::

        with NullSQS() as server:
            client = boto3.client("sqs", endpoint_url=server.endpoint_url, region_name="us-east-1")
            server.preload("jobs", 1000)
            print(server.stats()["calls"])
    """

    module = "benchmarks.null_sqs"
    health_path = "/"

    def stats(self) -> dict[str, Any]:
        """Calls and entries by operation since the last reset, OTLP bytes, latencies."""
        return self.control("stats")

    def reset(self) -> None:
        """Zero the counters (queues and their available counts stay)."""
        self.control("reset")

    def preload(self, queue: str, count: int, sampled_every: int = 1) -> None:
        """Make ``count`` more messages available on ``queue`` (created if needed); one in
        ``sampled_every`` carries a sampled traceparent, the others an unsampled one."""
        self.control("preload", {"queue": queue, "count": count, "sampled_every": sampled_every})

    def stall(self, stalled: bool) -> None:
        """While stalled, sends are held unanswered (receives still answer)."""
        self.control("stall", {"stalled": stalled})


def main(argv: list[str] | None = None) -> None:
    """Entry point of the server process."""
    parser = argparse.ArgumentParser(
        description="null SQS: answers the SQS JSON protocol instantly"
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9324)
    parser.add_argument("--max-wait-seconds", type=float, default=20.0)
    args = parser.parse_args(argv)
    asyncio.run(serve(args.host, args.port, args.max_wait_seconds))


if __name__ == "__main__":
    main()

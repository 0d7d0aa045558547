"""One large payload's round trip in a process of its own, measured (tests/test_large_payloads.py).

``python -m tests.large_payload_child ENDPOINT QUEUE_URL BUCKET SIZE_MIB`` sends a payload of
SIZE_MIB MiB through a BatchProducer with ``large_payload_bucket``, receives it with a Listener,
checks it arrived intact and that its S3 object was deleted, and prints one JSON line: the
seconds from send() to the future's MessageId, from there to the handler's call, and the
process's peak RSS before and after (MiB).
"""

from __future__ import annotations

import hashlib
import json
import resource
import sys
import threading
import time

import boto3

from sqsobs import BatchProducer, Listener, SqsMessage

MIB = 1024 * 1024


def _peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main(endpoint: str, queue_url: str, bucket: str, size_mib: int) -> None:
    sqs = boto3.client("sqs", endpoint_url=endpoint, region_name="us-east-1")
    s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
    baseline = _peak_rss_mib()
    payload = ("0123456789abcdef" * (size_mib * MIB // 16))[: size_mib * MIB]
    digest = hashlib.sha256(payload.encode()).hexdigest()
    received: dict[str, object] = {}
    done = threading.Event()

    def handle(message: SqsMessage) -> bool:
        received["at"] = time.perf_counter()
        received["digest"] = hashlib.sha256(message.body.encode()).hexdigest()
        received["pointer"] = message.payload_pointer
        done.set()
        return True

    started = time.perf_counter()
    with BatchProducer(sqs, s3_client=s3, large_payload_bucket=bucket, flush_at_exit=False) as p:
        future = p.send(queue_url, payload)
        del payload
        future.result(timeout=300)
    sent = time.perf_counter()
    listener = Listener(
        handle,
        queue_url=queue_url,
        client=sqs,
        s3_client=s3,
        mode="per_message",
        wait_time=1,
        idle_sleep_max=0.0,
        visibility_secs=120,
        environ={},
    )
    with listener:
        assert done.wait(300), "the handler never ran"
        deadline = time.monotonic() + 30
        while s3.list_objects_v2(Bucket=bucket).get("KeyCount", 0) and time.monotonic() < deadline:
            time.sleep(0.1)
    assert received["digest"] == digest, "the payload changed on the way"
    print(
        json.dumps(
            {
                "send_seconds": round(sent - started, 3),
                "receive_seconds": round(float(received["at"]) - sent, 3),  # type: ignore[arg-type]
                "baseline_rss_mib": round(baseline, 1),
                "peak_rss_mib": round(_peak_rss_mib(), 1),
                "objects_left": s3.list_objects_v2(Bucket=bucket).get("KeyCount", 0),
                "pointer_size": getattr(received["pointer"], "size_bytes", None),
            }
        )
    )


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]))

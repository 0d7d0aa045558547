"""The S3 calls of large payloads, each in a CLIENT span of the message's trace, counted.

Spans follow the OpenTelemetry conventions for AWS SDK and S3 client spans: named
``S3.PutObject`` / ``S3.GetObject`` / ``S3.DeleteObject`` / ``S3.HeadBucket``, kind CLIENT,
with ``rpc.system`` (``aws-api``), ``rpc.service``, ``rpc.method``, ``aws.s3.bucket``,
``aws.s3.key``, ``aws.request_id`` and ``aws.extended_request_id`` (S3's ``x-amz-id-2``). The
caller chooses each span's parent: the message's ``create`` span for an upload, its ``process``
span (or its creation context) for a download, its creation context for a delete. Other
instrumentations (the botocore one) stay out of these calls, as for the SQS calls.

S3 errors become :class:`~sqsobs.errors.PayloadError` (:class:`PayloadNotFound` for a missing
object, :class:`PayloadBucketUnavailable` for a missing or forbidden bucket), the botocore error
kept as ``__cause__``. The S3 client is built on first use (a listener may never see a pointer).

Example::

    store = PayloadStore(None, tracer, instruments)
    store.put(PayloadPointer("my-bucket", new_key()), b"...", queue="orders", parent=context)
    store.get(pointer, queue="orders")
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import Span, SpanKind, Tracer

from sqsobs._client import drop_inherited_connections
from sqsobs._payloads._pointer import PayloadPointer
from sqsobs._payloads._s3client import build_s3_client
from sqsobs._suppress import suppress_other_instrumentation
from sqsobs.errors import (
    AccessDenied,
    PayloadBucketUnavailable,
    PayloadError,
    PayloadNotFound,
    translate_client_error,
)
from sqsobs.telemetry import Instruments, metric_attributes, record_error, set_request_id
from sqsobs.telemetry.catalog import (
    PAYLOADS_DELETED,
    PAYLOADS_FETCHED,
    PAYLOADS_FETCHED_BYTES,
    PAYLOADS_OFFLOADED,
    PAYLOADS_OFFLOADED_BYTES,
    MetricSpec,
)

__all__ = ["PayloadStore", "translate_s3_error"]

_MISSING_OBJECT = frozenset({"NoSuchKey", "NoSuchBucket", "NotFound", "404"})
_MISSING_BUCKET = frozenset({"NoSuchBucket", "NotFound", "404"})
_EXTENDED_REQUEST_ID = "x-amz-id-2"


def translate_s3_error(
    error: BaseException, *, operation: str, pointer: PayloadPointer
) -> PayloadError:
    """``error`` from an S3 call as a :class:`~sqsobs.errors.PayloadError` (raise it ``from``)."""
    translated = translate_client_error(error, operation=f"S3.{operation}")
    code = translated.code or type(error).__name__
    bucket, key = pointer.bucket, pointer.key
    where = f"bucket {bucket!r}, key {key!r}" if key else f"bucket {bucket!r}"
    text = f"{translated} ({where})"
    if operation == "GetObject" and code in _MISSING_OBJECT:
        text = f"the payload object is missing: {text}"
        return PayloadNotFound(text, code=code, bucket=bucket, key=key)
    if code in _MISSING_BUCKET or code == "403" or isinstance(translated, AccessDenied):
        missing = code in _MISSING_BUCKET
        code = "NoSuchBucket" if missing else "AccessDenied"
        problem = "does not exist" if missing else "may not be used with these credentials"
        text = f"S3 bucket {bucket!r} {problem}: {translated}"
        return PayloadBucketUnavailable(text, code=code, bucket=bucket, key=key)
    return PayloadError(text, code=code, bucket=bucket, key=key, retryable=translated.retryable)


class PayloadStore:
    """Puts, gets and deletes payload objects; checks a bucket once."""

    def __init__(
        self,
        client: Any,
        tracer: Tracer,
        instruments: Instruments,
        *,
        build_client: Callable[[], Any] = build_s3_client,
    ) -> None:
        self._client = client
        self._owns_client = client is None
        self._build_client = build_client
        self._tracer = tracer
        self._instruments = instruments
        self._lock = threading.Lock()
        self._checked: set[str] = set()

    @property
    def client(self) -> Any:
        """The boto3 S3 client (built on first use when none was given)."""
        client = self._client
        if client is None:
            with self._lock:
                if self._client is None:
                    self._client = self._build_client()
                client = self._client
        return client

    def after_fork(self) -> None:
        """In a forked child: a client of ours is built anew, a given one drops the parent's
        pooled connections."""
        if self._owns_client:
            self._client = None
        elif self._client is not None:
            drop_inherited_connections(self._client)

    def check_bucket(self, bucket: str, *, parent: Context | None = None) -> None:
        """HeadBucket once per bucket: :class:`PayloadBucketUnavailable` if it is missing or
        forbidden. A success is remembered; a failure is checked again next time."""
        if bucket in self._checked:
            return
        pointer = PayloadPointer(bucket, "")
        with self._span("HeadBucket", pointer, parent):
            self._call("HeadBucket", pointer, Bucket=bucket)
        self._checked.add(bucket)

    def put(
        self, pointer: PayloadPointer, data: bytes, *, queue: str, parent: Context | None
    ) -> None:
        """Store ``data`` at ``pointer``; count it (or its failure) for ``queue``."""
        try:
            with self._span("PutObject", pointer, parent):
                self._call("PutObject", pointer, Bucket=pointer.bucket, Key=pointer.key, Body=data)
        except PayloadError as error:
            self._count(PAYLOADS_OFFLOADED, queue, 1, error)
            raise
        self._count(PAYLOADS_OFFLOADED, queue, 1)
        self._count(PAYLOADS_OFFLOADED_BYTES, queue, len(data))

    def get(self, pointer: PayloadPointer, *, queue: str, parent: Context | None = None) -> str:
        """The payload at ``pointer``, decoded from UTF-8; count it (or its failure)."""
        try:
            with self._span("GetObject", pointer, parent):
                response = self._call("GetObject", pointer, Bucket=pointer.bucket, Key=pointer.key)
                try:
                    data: bytes = response["Body"].read()
                    payload = data.decode("utf-8")
                except Exception as exc:  # a cut stream, or bytes that are not UTF-8
                    raise PayloadError(
                        f"S3.GetObject of {pointer.key!r} in {pointer.bucket!r}: {exc}",
                        code=type(exc).__name__,
                        bucket=pointer.bucket,
                        key=pointer.key,
                    ) from exc
        except PayloadError as error:
            self._count(PAYLOADS_FETCHED, queue, 1, error)
            raise
        self._count(PAYLOADS_FETCHED, queue, 1)
        self._count(PAYLOADS_FETCHED_BYTES, queue, len(data))
        return payload

    def delete(self, pointer: PayloadPointer, *, queue: str, parent: Context | None = None) -> None:
        """Delete the object at ``pointer``; count it (or its failure)."""
        try:
            with self._span("DeleteObject", pointer, parent):
                self._call("DeleteObject", pointer, Bucket=pointer.bucket, Key=pointer.key)
        except PayloadError as error:
            self._count(PAYLOADS_DELETED, queue, 1, error)
            raise
        self._count(PAYLOADS_DELETED, queue, 1)

    # --- the calls and their spans ---------------------------------------------------------
    def _call(self, operation: str, pointer: PayloadPointer, **request: Any) -> Any:
        method = getattr(self.client, _snake(operation))
        try:
            with suppress_other_instrumentation():  # the span around it is the call's one span
                response = method(**request)
        except Exception as exc:
            raise translate_s3_error(exc, operation=operation, pointer=pointer) from exc
        _set_request_ids(trace.get_current_span(), response)
        return response

    @contextmanager
    def _span(
        self, operation: str, pointer: PayloadPointer, parent: Context | None
    ) -> Iterator[Span]:
        attributes: dict[str, Any] = {
            "rpc.system": "aws-api",
            "rpc.system.name": "aws-api",
            "rpc.service": "S3",
            "rpc.method": operation,
            "aws.s3.bucket": pointer.bucket,
        }
        if pointer.key:
            attributes["aws.s3.key"] = pointer.key
        with self._tracer.start_as_current_span(
            f"S3.{operation}",
            context=parent,
            kind=SpanKind.CLIENT,
            attributes=attributes,
            record_exception=False,
            set_status_on_exception=False,
        ) as span:
            try:
                yield span
            except PayloadError as error:
                record_error(span, error)
                _set_request_ids(span, getattr(error.__cause__, "response", None))
                raise

    def _count(
        self, spec: MetricSpec, queue: str, amount: int, error: PayloadError | None = None
    ) -> None:
        kind = None
        if error is not None:
            kind = error.code or error.error_type
        self._instruments.counter(spec).add(amount, metric_attributes(spec, queue, error_type=kind))


def _snake(operation: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in operation).lstrip("_")


def _set_request_ids(span: Span, response: object) -> None:
    """``aws.request_id`` and S3's ``aws.extended_request_id`` from a response (or an error's)."""
    if not isinstance(response, Mapping):
        return
    set_request_id(span, response)
    headers = (response.get("ResponseMetadata") or {}).get("HTTPHeaders") or {}
    value = headers.get(_EXTENDED_REQUEST_ID)
    if value:
        span.set_attribute("aws.extended_request_id", value)

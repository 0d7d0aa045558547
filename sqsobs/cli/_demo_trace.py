"""The demo's sample trace: keep its spans as they end, then draw them as a tree.

Example::

    recorder = SpanRecorder()
    tracer_provider.add_span_processor(recorder)
    with tracer.start_as_current_span("demo request") as root:
        recorder.trace_id = root.get_span_context().trace_id
        ...
    print("\n".join(render_trace(recorder.spans, recorder.trace_id)))
"""

from __future__ import annotations

import threading
from typing import Any

__all__ = ["SpanRecorder", "render_trace"]


class SpanRecorder:
    """Keeps the finished spans of one trace, and the spans that link to it.

    Added to the SDK TracerProvider as a span processor (duck-typed: only
    :func:`sqsobs.configure_telemetry` imports the SDK).
    """

    def __init__(self) -> None:
        self.trace_id = 0
        self.spans: list[Any] = []
        self._lock = threading.Lock()

    def on_start(self, span: Any, parent_context: Any = None) -> None:
        """Nothing to do when a span starts."""

    _on_ending = on_start  # newer SDKs call it while a span ends: nothing to do either

    def on_end(self, span: Any) -> None:
        """Keep ``span`` if it belongs to, or links to, the sample trace."""
        wanted = self.trace_id
        if not wanted:
            return
        linked = any(link.context.trace_id == wanted for link in span.links)
        if span.context.trace_id == wanted or linked:
            with self._lock:
                self.spans.append(span)

    def shutdown(self) -> None:
        """Nothing to release."""

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        """Nothing is buffered: always done."""
        return True


def render_trace(spans: list[Any], trace_id: int) -> list[str]:
    """The spans of ``trace_id`` as a tree by parent, then the spans that link into it."""
    own = sorted((s for s in spans if s.context.trace_id == trace_id), key=lambda s: s.start_time)
    ids = {s.context.span_id for s in own}
    children: dict[int, list[Any]] = {}
    roots = []
    for span in own:
        parent = span.parent.span_id if span.parent is not None else 0
        if parent in ids:
            children.setdefault(parent, []).append(span)
        else:
            roots.append(span)
    lines = [f"trace {trace_id:032x}"]

    def walk(span: Any, prefix: str, last: bool) -> None:
        ms = (span.end_time - span.start_time) / 1e6
        lines.append(f"{prefix}{'└─ ' if last else '├─ '}{span.name}  {ms:.1f} ms")
        kids = children.get(span.context.span_id, [])
        for i, kid in enumerate(kids):
            walk(kid, prefix + ("   " if last else "│  "), i == len(kids) - 1)

    for i, root in enumerate(roots):
        walk(root, "", i == len(roots) - 1)
    linked = sorted(
        (s for s in spans if s.context.trace_id != trace_id), key=lambda s: s.start_time
    )
    lines += [
        f"   ↳ {s.name}: links to this trace (own trace {s.context.trace_id:032x})" for s in linked
    ]
    return lines

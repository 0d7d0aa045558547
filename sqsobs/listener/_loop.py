"""The event loop thread that runs a listener's ``async def`` handler.

One loop per listener, on its own thread: every worker hands its call over and waits for the
result, so async handlers of one listener share one loop (and whatever they keep on it, such as
a client session). The caller's OpenTelemetry context (the ``process`` span) is made current
inside the task. ``SystemExit`` and ``KeyboardInterrupt`` raised by a handler reach its caller like
any other exception (asyncio would re-raise them out of the loop and end its thread).

Example::

    loop = EventLoopThread()
    loop.start("sqsobs-orders-loop")
    ok = loop.call(handle, message)   # from any worker thread
    loop.stop()
"""

from __future__ import annotations

import asyncio
import inspect
import threading
from collections.abc import Callable, Coroutine
from typing import Any

from opentelemetry import context as otel_context

__all__ = ["EventLoopThread", "is_async"]


class _Exit(Exception):
    """Carries a handler's SystemExit or KeyboardInterrupt past asyncio, which re-raises them."""

    def __init__(self, error: BaseException) -> None:
        super().__init__(repr(error))
        self.error = error


#: How long stop() waits for the loop thread to end.
_STOP_SECONDS = 5.0


def is_async(handler: Callable[..., Any]) -> bool:
    """True for an ``async def`` function, or an object whose ``__call__`` is ``async def``."""
    call = handler if inspect.isroutine(handler) else type(handler).__call__
    return inspect.iscoroutinefunction(handler) or inspect.iscoroutinefunction(call)


class EventLoopThread:
    """An asyncio loop running forever on a daemon thread, until :meth:`stop`."""

    def __init__(self) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread: threading.Thread | None = None

    @property
    def thread(self) -> threading.Thread | None:
        """The loop's thread, once started."""
        return self._thread

    def start(self, name: str = "sqsobs-loop") -> None:
        """Start the loop's thread."""
        self._thread = threading.Thread(target=self._loop.run_forever, name=name, daemon=True)
        self._thread.start()

    def call(self, handler: Callable[[Any], Coroutine[Any, Any, Any]], argument: Any) -> Any:
        """Run ``await handler(argument)`` on the loop, in the caller's context; its result."""
        if self._thread is None:
            # A handler still running past the drain: its message comes back later.
            raise RuntimeError("the listener's event loop has stopped")
        task = self._in_context(otel_context.get_current(), handler, argument)
        try:
            return asyncio.run_coroutine_threadsafe(task, self._loop).result()
        except _Exit as boxed:
            raise boxed.error from None

    @staticmethod
    async def _in_context(
        context: otel_context.Context,
        handler: Callable[[Any], Coroutine[Any, Any, Any]],
        argument: Any,
    ) -> Any:
        # The task runs in the loop thread's context: make the caller's span current inside it.
        token = otel_context.attach(context)
        try:
            return await handler(argument)
        except (SystemExit, KeyboardInterrupt) as error:
            raise _Exit(error) from None
        finally:
            otel_context.detach(token)

    def stop(self, timeout_seconds: float = _STOP_SECONDS) -> None:
        """Stop the loop (after the handlers have returned) and close it."""
        if self._thread is None:
            return
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout_seconds)
        self._thread = None
        if not self._loop.is_running():
            self._loop.close()

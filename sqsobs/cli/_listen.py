"""``sqsobs listen APP``: import an application and run the listeners it registers.

An ``APP`` is ``MODULE`` or ``MODULE:FUNCTION``, as ``dramatiq`` and ``celery worker -A`` take
them. Importing ``MODULE`` runs its ``@sqs_listener`` decorators; ``FUNCTION`` (a zero-argument
callable, dotted attributes allowed) is called after the import, for applications that register
or configure in a function. Then :func:`sqsobs.run_listeners` runs every registered listener
until SIGTERM or SIGINT and drains them, so a container's command line needs no wrapper script.
The current directory comes first on ``sys.path``, as with ``python -m``.

Example::

    $ sqsobs listen orders.handlers
    $ sqsobs listen --telemetry orders-worker --shutdown-timeout 20 orders.app:setup
"""

from __future__ import annotations

import importlib
import logging
import os
import sys
from collections.abc import Sequence

__all__ = ["AppError", "listen", "load_app"]

logger = logging.getLogger(__name__)


class AppError(Exception):
    """The application cannot be loaded: nothing to import, call or run."""


def load_app(app: str) -> None:
    """Import ``MODULE`` of ``MODULE[:FUNCTION]``, then call ``FUNCTION()`` if given."""
    module_name, _, attribute = app.partition(":")
    if not module_name or (":" in app and not attribute):
        raise AppError(f"{app!r} is not MODULE or MODULE:FUNCTION")
    module = _import(module_name)
    if not attribute:
        return
    target: object = module
    for part in attribute.split("."):
        if not hasattr(target, part):
            raise AppError(f"module {module_name!r} has no attribute {attribute!r}")
        target = getattr(target, part)
    if not callable(target):
        raise AppError(f"{app!r} is not callable (it is a {type(target).__name__})")
    try:
        target()
    except Exception as error:
        raise AppError(f"{app}() failed: {type(error).__name__}: {error}") from error


def _import(module_name: str) -> object:
    try:
        return importlib.import_module(module_name)
    except Exception as error:
        if isinstance(error, ModuleNotFoundError) and _names_the_module(error.name, module_name):
            raise AppError(f"cannot import {module_name!r}: {error}") from None
        # The module exists but its own code failed: the caller shows the traceback.
        failure = f"{type(error).__name__}: {error}"
        raise AppError(f"importing {module_name!r} failed: {failure}") from error


def _names_the_module(missing: str | None, module_name: str) -> bool:
    """True when the module asked for (or a package above it) is what is missing."""
    if missing is None:
        return False
    return module_name == missing or module_name.startswith(f"{missing}.")


def _put_cwd_on_path() -> None:
    # python -m puts the current directory first; an installed console script does not.
    cwd = os.getcwd()
    if cwd not in sys.path:
        sys.path.insert(0, cwd)


def listen(
    apps: Sequence[str],
    *,
    shutdown_timeout_seconds: float | None = None,
    telemetry_service: str | None = None,
) -> int:
    """Load ``apps``, run their listeners until SIGTERM/SIGINT, drain; return the exit code.

    Raises :class:`AppError` when an app cannot be loaded or registers no listener; a listener
    that cannot start raises its :class:`~sqsobs.errors.SqsObsError`.
    """
    from sqsobs.listener import registered_listeners, run_listeners

    _put_cwd_on_path()
    for app in apps:
        load_app(app)
    if not registered_listeners():
        raise AppError(
            f"no listeners registered by {' '.join(apps)}: decorate a handler with @sqs_listener"
        )
    telemetry = None
    if telemetry_service is not None:
        from sqsobs.telemetry import configure_telemetry

        telemetry = configure_telemetry(telemetry_service)
    try:
        run_listeners(shutdown_timeout_seconds=shutdown_timeout_seconds)
    finally:
        if telemetry is not None:
            telemetry.shutdown()
    return 0

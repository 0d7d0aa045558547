"""The telemetry layer: metric catalog, instruments, span helpers and context propagation.

Everything here uses ``opentelemetry-api`` only, except :mod:`sqsobs.telemetry.setup`, which wires
the SDK and exporters for :func:`sqsobs.configure_telemetry`.
"""

from __future__ import annotations

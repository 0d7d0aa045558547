"""configure_telemetry() when global providers are already set: use them, add nothing.

``opentelemetry-instrument`` (the zero-code setup, and AWS's ADOT on ECS and Lambda) sets the
global TracerProvider and MeterProvider from the ``OTEL_*`` variables before the application's
code runs; an application may also set its own. sqsobs records into whatever is global, so a
second set of exporters would only send everything twice: nothing is added, and what the call
asked for that the existing providers do not get is said in one log line.

Example::

    providers = existing_providers()
    if providers is not None:
        telemetry = borrow(providers, {"prometheus_port": 9464})
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from opentelemetry import metrics, trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.trace import TracerProvider

from sqsobs.telemetry._handle import Telemetry

__all__ = ["borrow", "existing_providers"]

logger = logging.getLogger(__name__)


def existing_providers() -> tuple[object, object] | None:
    """The global tracer and meter providers, or None while both are the API's proxies."""
    tracer_provider = trace.get_tracer_provider()
    meter_provider = metrics.get_meter_provider()
    if isinstance(tracer_provider, trace.ProxyTracerProvider) and (
        type(meter_provider).__name__ == "_ProxyMeterProvider"
    ):
        return None
    return tracer_provider, meter_provider


def borrow(providers: tuple[object, object], asked: Mapping[str, object]) -> Telemetry:
    """A handle on ``providers`` that flushes them but leaves stopping them to their owner.

    ``asked``: the arguments configure_telemetry() was given; they are not applied (the
    providers' owner read the ``OTEL_*`` variables), and the log line names them.
    """
    tracer_provider, meter_provider = providers
    sdk_tracer = tracer_provider if isinstance(tracer_provider, TracerProvider) else None
    sdk_meter = meter_provider if isinstance(meter_provider, MeterProvider) else None
    names = (type(tracer_provider).__name__, type(meter_provider).__name__)
    ignored = ", ".join(f"{key}={value!r}" for key, value in asked.items()) or "nothing"
    logger.log(
        logging.WARNING if asked else logging.INFO,
        "OpenTelemetry providers are already set (by opentelemetry-instrument or the "
        "application): sqsobs records into them (%s, %s) and adds no exporter, reader or "
        "endpoint; arguments not applied: %s",
        *names,
        ignored,
    )
    resource_name = sdk_tracer.resource.attributes.get("service.name") if sdk_tracer else None
    return Telemetry(
        service_name=str(resource_name or asked.get("service_name") or ""),
        tracer_provider=sdk_tracer,
        meter_provider=sdk_meter,
        borrowed=True,
    )

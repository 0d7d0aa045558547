"""The layering the README's architecture section describes, checked on the source's imports."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "sqsobs"

#: The only modules that may import the OpenTelemetry SDK or exporters (configure_telemetry's).
SDK_MODULES = {
    "telemetry/setup.py",
    "telemetry/handle.py",
    "telemetry/_otlp_export.py",
    "telemetry/_span_encoding.py",
    "telemetry/_export_logs.py",
}


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


MODULES = {str(p.relative_to(PACKAGE)): _imports(p) for p in sorted(PACKAGE.rglob("*.py"))}


def _importers(prefix: str) -> set[str]:
    return {
        module
        for module, names in MODULES.items()
        if any(name == prefix or name.startswith(prefix + ".") for name in names)
    }


def test_modules_were_found() -> None:
    assert "producer/producer.py" in MODULES and "listener/listener.py" in MODULES


@pytest.mark.parametrize("prefix", ["opentelemetry.sdk", "opentelemetry.exporter"])
def test_only_configure_telemetry_wires_the_sdk(prefix: str) -> None:
    assert _importers(prefix) <= SDK_MODULES


def test_producer_and_listener_never_import_each_other() -> None:
    assert not {m for m in _importers("sqsobs.listener") if m.startswith("producer/")}
    assert not {m for m in _importers("sqsobs.producer") if m.startswith("listener/")}


def test_telemetry_layer_imports_no_side() -> None:
    for side in ("sqsobs.producer", "sqsobs.listener", "sqsobs.dramatiq", "sqsobs.demo"):
        assert not {m for m in _importers(side) if m.startswith("telemetry/")}, side


def test_optional_packages_stay_in_their_modules() -> None:
    assert {m for m in _importers("dramatiq") | _importers("dramatiq_sqs")} <= {
        "dramatiq/__init__.py",
        "dramatiq/broker.py",
        "dramatiq/middleware.py",
    }
    assert _importers("moto") <= {"embedded_sqs.py"}
    assert _importers("grafana_foundation_sdk") <= {"dashboards.py"}


def test_import_sqsobs_loads_no_sdk_and_no_optional_package() -> None:
    code = (
        "import sys, sqsobs\n"
        "loaded = [m for m in sys.modules if m.split('.')[0] in "
        "('dramatiq', 'dramatiq_sqs', 'moto', 'grafana_foundation_sdk')"
        " or m.startswith('opentelemetry.sdk')]\n"
        "print(loaded)\n"
        "sqsobs.configure_telemetry\n"
        "print('opentelemetry.sdk' in sys.modules)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    ).stdout.split("\n")
    assert out[0] == "[]"
    assert out[1] == "True"  # asking for configure_telemetry loads it

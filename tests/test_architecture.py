"""The layout the README's architecture section describes, checked on the source's imports.

Three tiers: the top-level ``sqsobs`` namespace (stable), each subpackage's ``__init__`` and the
public modules ``errors``, ``limits``, ``types``, ``telemetry.catalog`` and
``testing.pytest_plugin`` (advanced), and the ``_``-prefixed modules (private). A private module
is imported only from inside the package that holds it (top-level private modules serve every
subpackage); tests may import anything.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "sqsobs"

#: The only modules that may import the OpenTelemetry SDK or exporters (configure_telemetry's).
SDK_MODULES = {
    "telemetry/_setup.py",
    "telemetry/_options.py",
    "telemetry/_exporters.py",
    "telemetry/_handle.py",
    "telemetry/_export_logs.py",
    "telemetry/_agent.py",
}
#: The library proper; application tooling (cli, testing) sits on top of it.
LIBRARY = ("producer/", "listener/", "telemetry/", "dramatiq/")


def _imports(path: Path) -> set[str]:
    """Dotted names a module imports (``from a import _b`` counts as ``a._b``)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(
                f"{node.module}.{alias.name}" for alias in node.names if alias.name.startswith("_")
            )
    return names


MODULES = {str(p.relative_to(PACKAGE)): _imports(p) for p in sorted(PACKAGE.rglob("*.py"))}


def _importers(prefix: str) -> set[str]:
    return {
        module
        for module, names in MODULES.items()
        if any(name == prefix or name.startswith(prefix + ".") for name in names)
    }


def _package_of(module: str) -> str:
    """``producer/_core.py`` -> ``sqsobs.producer``; ``_config.py`` -> ``sqsobs``."""
    parts = module.split("/")[:-1]
    return ".".join(["sqsobs", *parts])


def _private_owner(name: str) -> str | None:
    """The package holding the private module ``name`` imports, or None if it is public."""
    parts = name.split(".")
    if parts[0] != "sqsobs":
        return None
    for index, part in enumerate(parts[1:], start=1):
        if part.startswith("_") and not part.startswith("__"):
            return ".".join(parts[:index])
    return None


def test_modules_were_found() -> None:
    assert "producer/_producer.py" in MODULES and "listener/_listener.py" in MODULES


def test_private_modules_are_not_imported_across_packages() -> None:
    crossings = []
    for module, names in MODULES.items():
        package = _package_of(module)
        for name in names:
            owner = _private_owner(name)
            # Allowed: the module's own package, or an ancestor's shared private modules.
            if owner is not None and not (package == owner or package.startswith(owner + ".")):
                crossings.append(f"{module} imports {name}")
    assert not crossings, crossings


def test_engine_modules_are_private() -> None:
    public = {"__init__.py", "__main__.py", "errors.py", "limits.py", "types.py", "catalog.py",
              "pytest_plugin.py"}  # fmt: skip
    exposed = [m for m in MODULES if not m.split("/")[-1].startswith("_") and
               m.split("/")[-1] not in public]  # fmt: skip
    assert not exposed, f"modules that look public but are not part of the API: {exposed}"


@pytest.mark.parametrize("prefix", ["opentelemetry.sdk", "opentelemetry.exporter"])
def test_only_configure_telemetry_wires_the_sdk(prefix: str) -> None:
    assert _importers(prefix) <= SDK_MODULES


def test_producer_and_listener_never_import_each_other() -> None:
    assert not {m for m in _importers("sqsobs.listener") if m.startswith("producer/")}
    assert not {m for m in _importers("sqsobs.producer") if m.startswith("listener/")}


def test_telemetry_layer_imports_no_side() -> None:
    for side in ("sqsobs.producer", "sqsobs.listener", "sqsobs.dramatiq", "sqsobs.cli"):
        assert not {m for m in _importers(side) if m.startswith("telemetry/")}, side


def test_the_library_never_imports_its_tooling() -> None:
    for tooling in ("sqsobs.cli", "sqsobs.testing"):
        assert not {m for m in _importers(tooling) if m.startswith(LIBRARY)}, tooling


def test_optional_packages_stay_in_their_modules() -> None:
    assert {m for m in _importers("dramatiq") | _importers("dramatiq_sqs")} <= {
        "dramatiq/__init__.py",
        "dramatiq/_broker.py",
        "dramatiq/_consumer.py",
        "dramatiq/_middleware.py",
        "dramatiq/_worker_side.py",
    }
    assert _importers("moto") <= {"testing/_moto.py"}
    assert _importers("grafana_foundation_sdk") <= {"cli/_dashboards.py"}


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

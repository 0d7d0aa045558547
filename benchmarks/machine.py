"""A one-line description of the machine a run measured on."""

from __future__ import annotations

import importlib.metadata
import os
import platform
from pathlib import Path


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo (or the platform's guess)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def memory_gib() -> float:
    """Total memory in GiB (0.0 if unknown)."""
    try:
        pages = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError):
        return 0.0
    return pages / 2**30


def describe() -> dict[str, str]:
    """Machine, interpreter and client-library versions, and the load when the run started."""
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    return {
        "cpu": cpu_model(),
        "cores": str(os.cpu_count()),
        "memory_gib": f"{memory_gib():.0f}",
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "boto3": importlib.metadata.version("boto3"),
        "load_average_at_start": load,
    }


def one_line(info: dict[str, str]) -> str:
    """The description as one line of prose."""
    return (
        f"{info['cores']} cores ({info['cpu']}), {info['memory_gib']} GiB, {info['os']}, "
        f"Python {info['python']}, boto3 {info['boto3']}; load average at start "
        f"{info['load_average_at_start']}"
    )

"""What a dashboard is made of: panels (title, meaning, unit, queries) in rows.

Example::

    >>> PanelDef("Sent / s", "Messages sent per second.", "short", ()).width
    12
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

from sqsobs.cli._promql import Query

__all__ = ["DashboardDef", "PanelDef"]


@dataclass(frozen=True)
class PanelDef:
    """A panel: title, what it answers, Grafana unit, queries and visualisation."""

    title: str
    description: str
    unit: str
    queries: tuple[Query, ...]
    style: Literal["timeseries", "stat"] = "timeseries"
    width: int = 12


@dataclass(frozen=True)
class DashboardDef:
    """A dashboard: identity, and rows of panels."""

    uid: str
    title: str
    description: str
    rows: tuple[tuple[str, tuple[PanelDef, ...]], ...]

    @property
    def filename(self) -> str:
        """The JSON file the dashboard is written to."""
        return f"{self.uid}.json"

    def panels(self) -> Iterator[PanelDef]:
        """Every panel, row by row."""
        for _, panels in self.rows:
            yield from panels

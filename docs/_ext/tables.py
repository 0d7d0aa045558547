"""The documentation tables generated from code: settings dataclasses and the metric catalog.

Each table sits in a page between ``<!-- generated:NAME:start -->`` and
``<!-- generated:NAME:end -->``. ``tests/test_docs.py`` fails when one is stale; rewrite them all
with ``python docs/_ext/tables.py``.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable
from pathlib import Path

DOCS = Path(__file__).resolve().parent.parent


def _producer() -> str:
    from sqsobs._settings import markdown_table
    from sqsobs.producer import ProducerSettings

    return markdown_table(ProducerSettings)


def _listener() -> str:
    from sqsobs._settings import markdown_table
    from sqsobs.listener import ListenerSettings

    return markdown_table(ListenerSettings)


def _metrics() -> str:
    from sqsobs.telemetry.catalog import markdown_table

    return markdown_table()


#: table name -> (page, generator)
TABLES: dict[str, tuple[str, Callable[[], str]]] = {
    "producer-settings": ("producer.md", _producer),
    "listener-settings": ("listener.md", _listener),
    "metrics": ("telemetry.md", _metrics),
}


def pattern(name: str) -> re.Pattern[str]:
    """The markers around table ``name`` and what they hold (group 1)."""
    start, end = (re.escape(f"<!-- generated:{name}:{edge} -->") for edge in ("start", "end"))
    return re.compile(rf"{start}\n(.*?){end}", flags=re.S)


def stale() -> list[str]:
    """Names of the tables whose page differs from what the code generates."""
    found = []
    for name, (page, generate) in TABLES.items():
        match = pattern(name).search((DOCS / page).read_text(encoding="utf-8"))
        if match is None or match.group(1) != generate():
            found.append(name)
    return found


def write() -> None:
    """Rewrite every generated table in place."""
    for name, (page, generate) in TABLES.items():
        path = DOCS / page
        text = path.read_text(encoding="utf-8")
        block = f"<!-- generated:{name}:start -->\n{generate()}<!-- generated:{name}:end -->"
        path.write_text(pattern(name).sub(lambda _, block=block: block, text), encoding="utf-8")


if __name__ == "__main__":
    sys.path.insert(0, str(DOCS.parent))
    write()

"""``python -m benchmarks``: the whole suite, see :mod:`benchmarks.run`."""

from __future__ import annotations

from benchmarks.run import main

main()

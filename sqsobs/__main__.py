"""``python -m sqsobs``: the same as the ``sqsobs`` command."""

from __future__ import annotations

import sys

from sqsobs.cli import main

if __name__ == "__main__":
    sys.exit(main())

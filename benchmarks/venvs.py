"""Virtual environments for the seed packages, created by the harness under a git-ignored folder.

dramatiq-sqs-batch 1.0.0 pins ``dramatiq<2`` and ``dramatiq-sqs<0.3``, which cannot live beside
sqsobs' own dramatiq 2, so it gets its own environment with the versions it asks for. Each seed
environment gets the main environment's boto3/botocore versions, so the client library under
every contender is the same.
"""

from __future__ import annotations

import importlib.metadata
import logging
import subprocess
import sys
from pathlib import Path

from benchmarks.server_process import REPO_ROOT

logger = logging.getLogger(__name__)

VENV_ROOT = REPO_ROOT / "benchmarks" / "results" / "venvs"

#: Seed name -> the distributions it needs, pinned as the issue says.
SEEDS: dict[str, list[str]] = {
    "dramatiq-sqs-batch": ["dramatiq==1.18.0", "dramatiq-sqs==0.2.0", "dramatiq-sqs-batch==1.0.0"],
    "sqs-fargate-listener": ["sqs-fargate-listener==0.1.1"],
}


def _pins() -> list[str]:
    return [f"{name}=={importlib.metadata.version(name)}" for name in ("boto3", "botocore")]


def _main_env_has(requirements: list[str]) -> bool:
    for requirement in requirements:
        name, _, version = requirement.partition("==")
        try:
            if importlib.metadata.version(name) != version:
                return False
        except importlib.metadata.PackageNotFoundError:
            return False
    return True


def seed_python(seed: str) -> Path:
    """The interpreter that can run ``seed``: this one if it has the pinned versions, else a venv.

    Raises RuntimeError (with pip's output) when the environment cannot be built.
    """
    requirements = SEEDS[seed]
    if _main_env_has(requirements):
        return Path(sys.executable)
    venv = VENV_ROOT / seed
    python = venv / "bin" / "python"
    wanted = "\n".join([*requirements, *_pins()])
    marker = venv / "requirements.done"
    if python.exists() and marker.exists() and marker.read_text() == wanted:
        return python
    logger.info("creating %s with %s", venv, wanted.replace("\n", " "))
    steps = [
        [sys.executable, "-m", "venv", "--clear", str(venv)],
        [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", *wanted.split()],
    ]
    for step in steps:
        done = subprocess.run(step, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(step)} failed:\n{done.stdout}{done.stderr}")
    marker.write_text(wanted)
    return python

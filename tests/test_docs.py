"""The README is the front door and the docs stay true: commands, links, paths, the API map.

The code blocks themselves run in ``tests/test_docs_examples.py``; the site is built with
``mkdocs build --strict`` by ``.ci/run`` (a broken link or cross-reference fails it).
"""

from __future__ import annotations

import re
import types
import unicodedata
from pathlib import Path

import pytest

import sqsobs

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
DOCS = ROOT / "docs"
PAGES = [README, *sorted(DOCS.rglob("*.md"))]
CI = ROOT / ".ci" / "run"
VENV = "python3 -m venv .venv && . .venv/bin/activate && "


def _section(text: str, heading: str) -> str:
    return text.split(f"\n## {heading}\n", 1)[1].split("\n## ", 1)[0]


def two_commands() -> list[str]:
    """The command lines of the README's "Two commands" block."""
    block = re.search(r"```bash\n(.*?)```", _section(README.read_text(), "Two commands"), re.S)
    assert block is not None, "the README lost its two commands"
    return [line for line in block[1].splitlines() if line.strip() and not line.startswith("#")]


def _ci_command(comment: str) -> str:
    """The line of .ci/run right below ``comment``."""
    lines = CI.read_text().splitlines()
    return lines[lines.index(comment) + 1].strip()


def test_readme_is_a_front_door() -> None:
    lines = README.read_text().splitlines()
    assert len(lines) < 200
    headings = [line for line in lines if line.startswith("## ")]
    assert headings[:2] == ["## Two commands", "## A producer, a listener, one trace"]


def test_the_two_commands_make_their_own_environment() -> None:
    demo, tests = two_commands()
    # Each works where the system Python refuses global installs (PEP 668): a venv first.
    assert demo == f'{VENV}pip install -e ".[local]" && sqsobs demo'
    assert tests.startswith(VENV)


def test_ci_runs_the_readmes_install_and_test_commands() -> None:
    _, tests = two_commands()
    install, test = tests.removeprefix(VENV).split(" && ")
    assert _ci_command("# The README's install command.") == install.replace(
        "pip install", "pip install -q"
    )
    bounded, command = _ci_command("# The README's test command.").split(" -- ", 1)
    assert command == test == "pytest"
    assert re.fullmatch(r"python \.ci/bounded\.py \d+", bounded)


def test_ci_builds_the_docs_with_warnings_as_errors() -> None:
    text = CI.read_text()
    assert re.search(r"^(?:\w+=\S+ )*mkdocs build --strict", text, re.M)
    first_tests = text.index("\npython .ci/bounded.py")
    assert text.index("mypy --strict") < text.index("mkdocs build") < first_tests


def _slug(heading: str) -> str:
    """The anchor Python-Markdown's toc (and, for these headings, GitHub) gives a heading."""
    text = unicodedata.normalize("NFKD", heading).encode("ascii", "ignore").decode()
    text = re.sub(r"[^\w\s-]", "", text).strip().lower()
    return re.sub(r"[-\s]+", "-", text)


def _anchors(page: Path) -> set[str]:
    text = re.sub(r"```.*?```", "", page.read_text(), flags=re.S)
    return {_slug(m[1]) for m in re.finditer(r"^#+ (.+)$", text, re.M)}


def test_readme_links_reach_pages_and_headings() -> None:
    # mkdocs checks the links between docs pages; the README is outside the site.
    links = re.findall(r"\]\(([^)#\s]+)(?:#([^)\s]+))?\)", README.read_text())
    relative = [(target, anchor) for target, anchor in links if "://" not in target]
    assert len(relative) >= 15
    for target, anchor in relative:
        page = ROOT / target
        assert page.is_file(), target
        if anchor:
            assert anchor in _anchors(page), f"{target}#{anchor}"


_PATH = re.compile(r"`((?:sqsobs|tests|examples|dashboards|benchmarks|docs|\.ci)/[\w./*-]+)`")


@pytest.mark.parametrize("page", PAGES, ids=[str(p.relative_to(ROOT)) for p in PAGES])
def test_repository_paths_in_the_docs_exist(page: Path) -> None:
    for path in _PATH.findall(page.read_text()):
        assert list(ROOT.glob(path.rstrip("/"))), f"{page.name} names {path}, which is gone"


#: Files the layout need not list: every package has them.
_UNLISTED = {"__init__.py", "__main__.py", "_version.py"}


def _tree_modules() -> set[str]:
    """The modules the architecture page's layout lists, as paths below sqsobs/."""
    text = (DOCS / "architecture.md").read_text()
    tree = re.search(r"```text\nsqsobs/\n(.*?)```", text, re.S)
    assert tree is not None, "the architecture page lost its layout"
    listed, package = set(), ""
    for line in tree[1].splitlines():
        indent = len(line) - len(line.lstrip())
        first = line.split()[0] if line.strip() else ""
        if indent == 2:
            package = first if first.endswith("/") else ""
        tokens = line.split() if indent >= 4 else [first]
        for token in tokens:
            if token.endswith(".py"):
                listed.add(package + token)
    return listed


def test_the_architecture_layout_lists_every_module() -> None:
    package = ROOT / "sqsobs"
    actual = {str(p.relative_to(package)) for p in package.rglob("*.py") if p.name not in _UNLISTED}
    listed = _tree_modules() - {m for m in _tree_modules() if m.split("/")[-1] in _UNLISTED}
    assert not listed - actual, f"listed but gone: {sorted(listed - actual)}"
    assert not actual - listed, f"missing from docs/architecture.md: {sorted(actual - listed)}"


def test_the_reference_maps_every_stable_name() -> None:
    text = (DOCS / "reference" / "sqsobs.md").read_text()
    mapped = set(re.findall(r"\[`(\w+)`\]\[", text)) | set(re.findall(r"`(__version__)`", text))
    assert mapped == set(sqsobs.__all__)


def test_every_page_is_in_the_site_navigation() -> None:
    nav = (ROOT / "mkdocs.yml").read_text()
    for page in DOCS.rglob("*.md"):
        assert f" {page.relative_to(DOCS)}\n" in nav, page


def test_the_docs_toolchain_is_pinned() -> None:
    pyproject = (ROOT / "pyproject.toml").read_text()
    docs = re.search(r"^docs = \[(.*?)\]$", pyproject, re.M | re.S)
    assert docs is not None
    pins = re.findall(r'"([\w-]+)(?:\[\w+\])?==[\w.!]+"', docs[1])
    assert {"mkdocs", "mkdocstrings", "mkdocstrings-python", "mkdocs-material"} <= set(pins)


def _rest_markup() -> object:
    import importlib.util

    spec = importlib.util.spec_from_file_location("rest_markup", DOCS / "_ext" / "rest_markup.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_docstring_roles_become_cross_references_and_literal_blocks_code() -> None:
    griffe = pytest.importorskip("griffe")
    package = griffe.load("sqsobs", search_paths=[str(ROOT)])
    rewrite = _rest_markup().rewrite  # type: ignore[attr-defined]
    listener = package["listener"]
    text = (
        "A :class:`~sqsobs.errors.ConfigError`, a :class:`Listener`, :mod:`sqsobs.listener._runner`"
        " and :func:`run_listeners <sqsobs.run_listeners>`.\n\nExample::\n\n    x = 1\n\nDone."
    )
    assert rewrite(listener, text) == (
        # Public targets must resolve (the strict build fails otherwise); a target reached
        # through a private module links only if its object is documented somewhere.
        "A [`ConfigError`][sqsobs.errors.ConfigError], a "
        '<autoref identifier="sqsobs.listener._listener.Listener" optional><code>Listener</code>'
        '</autoref>, <autoref identifier="sqsobs.listener._runner" optional>'
        "<code>sqsobs.listener._runner</code></autoref> and "
        "[`run_listeners`][sqsobs.run_listeners].\n\nExample:\n\n```python\nx = 1\n```\n\nDone."
    )


def _tables() -> types.ModuleType:
    import importlib.util

    spec = importlib.util.spec_from_file_location("doc_tables", DOCS / "_ext" / "tables.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_generated_tables_are_what_the_code_generates() -> None:
    # Settings tables come from the settings dataclasses, the metric table from the catalog.
    tables = _tables()
    assert set(tables.TABLES) == {"producer-settings", "listener-settings", "metrics"}
    assert tables.stale() == [], "stale tables: run `python docs/_ext/tables.py`"

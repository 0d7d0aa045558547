"""A griffe extension: sqsobs' reST-flavoured docstrings rendered as mkdocstrings Markdown.

The docstrings are written for ``help()`` and IDEs, in the reST dialect Python's own docs use:
``:class:`~sqsobs.errors.ConfigError```-style roles and ``Example::`` literal blocks. Before
mkdocstrings renders a docstring this extension rewrites, in the docstring text only:

- a role to a cross-reference: the target is resolved in the object's scope (so
  ``:class:`Listener``` inside ``sqsobs.listener`` works) and written as an autorefs link, which
  ``mkdocs build --strict`` fails on when the target is not documented anywhere. A target under a
  private module (``sqsobs.listener._runner``) becomes an optional link: private modules have no
  page, and a public object reached through one still links to where it is documented.
- a paragraph ending in ``::`` followed by an indented block to a fenced code block (``Example::``
  reads ``Example:``, a bare ``::`` line disappears), as reST renders it.

It also gives an attribute without a docstring the ``#:`` comment lines above it (the Sphinx
convention sqsobs documents module constants with), so ``CATALOG`` or ``MAX_BATCH_ENTRIES`` show.

Loaded from ``mkdocs.yml`` (``extensions: [docs/_ext/rest_markup.py]``); nothing imports it.
"""

from __future__ import annotations

import re
from typing import Any

import griffe

_ROLE = re.compile(r":(?:class|func|meth|mod|attr|data|exc|obj|const):`(?P<body>[^`]+)`")
_EXPLICIT_TITLE = re.compile(r"^(?P<title>.+?)\s*<(?P<target>[^<>]+)>$")
_PYTHON_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.]*$")


def _resolve(obj: griffe.Object | griffe.Alias, target: str) -> str | None:
    """The full dotted path of ``target`` as seen from ``obj``, or None if it names nothing."""
    if target.startswith("sqsobs"):
        return target
    head, _, rest = target.partition(".")
    scope: griffe.Object | griffe.Alias | None = obj
    while scope is not None:
        try:
            resolved = scope.resolve(head)
        except (griffe.NameResolutionError, griffe.AliasResolutionError):
            scope = scope.parent
            continue
        return f"{resolved}.{rest}" if rest else resolved
    return None


def _is_private(path: str) -> bool:
    return any(part.startswith("_") and not part.startswith("__") for part in path.split("."))


def _link(obj: griffe.Object | griffe.Alias, body: str) -> str:
    explicit = _EXPLICIT_TITLE.match(body)
    if explicit:
        title, target = explicit["title"], explicit["target"]
    else:
        target = body.lstrip("~")
        title = target.rsplit(".", 1)[-1] if body.startswith("~") else target
    if not _PYTHON_NAME.match(target):
        return f"`{title}`"
    path = _resolve(obj, target)
    if path is None:
        # Left as a required reference: the strict build names the docstring's broken target.
        return f"[`{title}`][{target}]"
    if _is_private(path):
        return f'<autoref identifier="{path}" optional><code>{title}</code></autoref>'
    return f"[`{title}`][{path}]"


def _literal_blocks(text: str) -> str:
    """reST ``paragraph::`` + indented block -> ``paragraph:`` + fenced code block."""
    lines = text.split("\n")
    out: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        if not line.rstrip().endswith("::"):
            out.append(line)
            i += 1
            continue
        lead = line.rstrip()[:-2].rstrip()
        if lead:
            out.append(lead + ":")
        i += 1
        block: list[str] = []
        while i < len(lines) and (not lines[i].strip() or lines[i].startswith(" ")):
            block.append(lines[i])
            i += 1
        while block and not block[-1].strip():
            block.pop()
        while block and not block[0].strip():
            block.pop(0)
        indent = min((len(b) - len(b.lstrip()) for b in block if b.strip()), default=0)
        language = "python" if lead.endswith(("Example", "Examples")) else "text"
        out += ["", f"```{language}", *(b[indent:] for b in block), "```", ""]
    return "\n".join(out)


def rewrite(obj: griffe.Object | griffe.Alias, text: str) -> str:
    """The docstring ``text`` of ``obj`` with roles linked and literal blocks fenced."""
    return _ROLE.sub(lambda match: _link(obj, match["body"]), _literal_blocks(text))


def _comment_docstring(attr: griffe.Object) -> griffe.Docstring | None:
    """The ``#:`` lines right above ``attr``'s assignment, as its docstring."""
    if attr.lineno is None or attr.filepath is None or isinstance(attr.filepath, list):
        return None
    try:
        lines = attr.lines_collection[attr.filepath]
    except KeyError:  # a LinesCollection has no .get()
        return None
    comment: list[str] = []
    index = attr.lineno - 2
    while index >= 0 and lines[index].strip().startswith("#:"):
        comment.insert(0, lines[index].strip()[2:].strip())
        index -= 1
    if not comment:
        return None
    return griffe.Docstring(" ".join(comment), lineno=index + 2, parent=attr)


class RestMarkup(griffe.Extension):
    """Rewrites every sqsobs docstring once the package is loaded (aliases resolve by then)."""

    def on_package(self, *, pkg: griffe.Module, **kwargs: Any) -> None:
        if pkg.name != "sqsobs":
            return
        seen: set[int] = set()
        stack: list[griffe.Object] = [pkg]
        while stack:
            obj = stack.pop()
            if id(obj) in seen:
                continue
            seen.add(id(obj))
            if obj.docstring is None and obj.kind is griffe.Kind.ATTRIBUTE:
                obj.docstring = _comment_docstring(obj)
            if obj.docstring is not None:
                obj.docstring.value = rewrite(obj, obj.docstring.value)
            stack.extend(member for member in obj.members.values() if not member.is_alias)

"""Read a tool's description and per-argument text from its docstring (Google, Sphinx or NumPy style).

    summary, params = parse_docstring(fn.__doc__)
"""

from __future__ import annotations

import inspect
import re

__all__ = ["parse_docstring"]

_GOOGLE_HEADER = re.compile(r"^(Args|Arguments|Parameters|Params|Keyword Args|Keyword Arguments)\s*:\s*$", re.IGNORECASE)
_OTHER_HEADER = re.compile(
    r"^(Returns?|Yields?|Raises?|Examples?|Notes?|Usage|See Also|References|Attributes|Warnings?|Todo)\s*:?\s*$", re.IGNORECASE
)
_NUMPY_RULE = re.compile(r"^\s*-{3,}\s*$")
_NUMPY_PARAM_HEADERS = {"parameters", "params", "arguments", "args"}
_GOOGLE_ITEM = re.compile(r"^\*{0,2}(\w+)\s*(?:\(([^)]*)\))?\s*:\s*(.*)$")
_NUMPY_ITEM = re.compile(r"^(\w+)\s*(?::\s*.*)?$")
_SPHINX_PARAM = re.compile(r"^:param\s+(?:[^:]*\s)?(\w+)\s*:\s*(.*)$")
_SPHINX_OTHER = re.compile(r"^:(?:type|rtype|returns?|raises?)\b")


class _Reader:
    def __init__(self) -> None:
        self.summary: list[str] = []
        self.params: dict[str, str] = {}
        self.section: str | None = None  # None (summary), "params", "numpy", "sphinx", "other"
        self.current: str | None = None
        self.item_indent = 0

    def header(self, section: str) -> None:
        self.section, self.current = section, None

    def add(self, name: str, text: str, indent: int) -> None:
        self.params[name] = text.strip()
        self.current, self.item_indent = name, indent

    def extend(self, text: str) -> None:
        assert self.current is not None
        self.params[self.current] = (self.params[self.current] + " " + text).strip()

    def param_line(self, line: str, *, numpy: bool) -> None:
        stripped = line.strip()
        indent = len(line) - len(line.lstrip())
        # Deeper than the item above: its continuation (Google) or its text (NumPy "name : type").
        if self.current is not None and indent > self.item_indent:
            self.extend(stripped)
            return
        item = None if numpy else _GOOGLE_ITEM.match(stripped)
        if item is not None:
            self.add(item.group(1), item.group(3), indent)
            return
        numpy = _NUMPY_ITEM.match(stripped)
        if numpy is not None:
            self.add(numpy.group(1), "", indent)
        elif self.current is not None:
            self.extend(stripped)


def parse_docstring(doc: str | None) -> tuple[str, dict[str, str]]:
    """The description (text before any section) and each parameter's text.

        parse_docstring("Add numbers.\\n\\nArgs:\\n    a: The first.")  # ("Add numbers.", {"a": "The first."})
    """
    if not doc:
        return "", {}
    lines = inspect.cleandoc(doc).splitlines()
    reader = _Reader()
    i = 0
    while i < len(lines):
        line, stripped = lines[i], lines[i].strip()
        following = lines[i + 1] if i + 1 < len(lines) else ""
        if stripped and _NUMPY_RULE.match(following):
            reader.header("numpy" if stripped.lower() in _NUMPY_PARAM_HEADERS else "other")
            i += 2
            continue
        if _GOOGLE_HEADER.match(stripped):
            reader.header("params")
        elif _OTHER_HEADER.match(stripped) or _SPHINX_OTHER.match(stripped):
            reader.header("other")
        elif (m := _SPHINX_PARAM.match(stripped)) is not None:
            reader.header("sphinx")
            reader.add(m.group(1), m.group(2), 0)
        elif reader.section is None:
            reader.summary.append(line)
        elif reader.section in ("params", "numpy") and stripped:
            reader.param_line(line, numpy=reader.section == "numpy")
        elif reader.section == "sphinx" and stripped and reader.current is not None:
            reader.extend(stripped)
        i += 1
    return _join(reader.summary), reader.params


def _join(lines: list[str]) -> str:
    paragraphs = "\n".join(lines).strip().split("\n\n")
    return "\n\n".join(" ".join(part.split()) for part in paragraphs if part.strip())

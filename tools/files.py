"""read_file and list_dir, confined to one root directory: a path that leads outside it (``..``,
an absolute path elsewhere, a symlink pointing out) is refused, and a listing never follows a link
out of the root (not even for its size).

A ``.csv``/``.tsv`` file (or a ``.json``/``.jsonl`` list of records) comes with one more line: its number
columns' totals, means and extremes, worked out over every row (``_tables``), because small models add
up a column badly.

Likely secrets are refused too unless the user allows them (``allow_secrets=True`` or
``ASSISTANT_ALLOW_SECRETS=1``): names such as ``.env``, ``*.pem``, ``*.key``, ``id_*``, ``.netrc``,
``credentials*``, anything under ``.git/`` or ``.ssh/``, and any file holding a configured API key.
What a tool returns goes to the model's provider, so ``assistant run`` in a project folder must not
hand over its ``.env``.

    read_file, list_dir = file_tools("/srv/project")
    agent = Agent(tools=[read_file, list_dir])

The module-level ``read_file`` and ``list_dir`` are confined to the working directory of the moment.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from pathlib import Path

from assistant.agent.tools import Tool, ToolError

from ._secrets import ALLOW_ENV, contains_key, secret_name, secrets_allowed
from ._tables import RECORD_SUFFIXES, TABLE_SUFFIXES, summarize_table

__all__ = ["file_tools", "read_file", "list_dir", "confine", "table_reader"]

MAX_BYTES = 200_000
MAX_ENTRIES = 500
TABLE_MAX_BYTES = 20_000_000  # a table's totals are worked out over this much of it
SUMMED_SUFFIXES = TABLE_SUFFIXES.keys() | RECORD_SUFFIXES
_SECRET_HINT = f"the user can allow it with {ALLOW_ENV}=1"


def confine(root: str | os.PathLike[str], path: str) -> Path:
    """``path`` (relative to ``root``, or absolute inside it) resolved; ``ToolError`` if it escapes.

        confine("/srv/project", "src/app.py")   # Path("/srv/project/src/app.py")
    """
    base = Path(root).resolve()
    target = (base / Path(path.strip() or ".").expanduser()).resolve()
    if target != base and base not in target.parents:
        raise ToolError(f"{path!r} is outside the allowed directory {str(base)!r}; use a path inside it")
    return target


def _refuse_secret(base: Path, path: str, target: Path, allow: bool | None) -> None:
    """``ToolError`` when the path as asked or the file it leads to looks like a secret."""
    if secrets_allowed(allow):
        return
    asked = Path(path.strip() or ".").expanduser()
    # The name asked for (a link called ".env") and the file it leads to (a link to ".env") both count.
    found = (None if asked.is_absolute() else secret_name(asked.parts)) or secret_name(target.relative_to(base).parts)
    if found:
        raise ToolError(f"{path!r} is not readable: {found!r} likely holds secrets (keys, passwords); {_SECRET_HINT}")


def _read(root: Path | None, path: str, max_bytes: int, allow: bool | None, summary: bool = True) -> str:
    base = (root or Path.cwd()).resolve()
    target = confine(base, path)
    _refuse_secret(base, path, target, allow)
    if not target.exists():
        raise ToolError(f"{path!r} does not exist")
    if target.is_dir():
        raise ToolError(f"{path!r} is a directory; use list_dir")
    if not target.is_file():
        # A FIFO or a device would block the tool's thread forever (or never end).
        raise ToolError(f"{path!r} is not a regular file")
    with open(target, "rb") as fh:
        data = fh.read(max_bytes + 1)
    if b"\0" in data[:8192]:
        raise ToolError(f"{path!r} is a binary file")
    if not secrets_allowed(allow) and contains_key(data):
        raise ToolError(f"{path!r} is not readable: it contains a configured API key; {_SECRET_HINT}")
    text = data[:max_bytes].decode("utf-8", errors="replace")
    if len(data) > max_bytes:
        size = target.stat().st_size
        text += f"\n[... cut: the file has {size} bytes, shown the first {max_bytes} ...]"
    if summary:
        totals = summarize_table(target.name, text) if len(data) <= max_bytes else _cut_table_summary(target)
        if totals:
            text += ("" if text.endswith("\n") else "\n") + totals
    return text


def _cut_table_summary(target: Path) -> str | None:
    """The totals of a table file too big to show whole, over every row (up to ``TABLE_MAX_BYTES``)."""
    if target.suffix.lower() not in SUMMED_SUFFIXES:
        return None
    with open(target, "rb") as fh:
        data = fh.read(TABLE_MAX_BYTES + 1)
    if len(data) <= TABLE_MAX_BYTES:
        return summarize_table(target.name, data.decode("utf-8", errors="replace"))
    data = data[: data.rfind(b"\n", 0, TABLE_MAX_BYTES) + 1]
    totals = summarize_table(target.name, data.decode("utf-8", errors="replace"))
    return totals and totals.replace("[table: ", "[table, first rows only (the file is large): ", 1)


def _describe(base: Path, entry: Path, allow: bool | None) -> tuple[bool, str]:
    """(is a directory, the listing line) for one entry, never looking through a link out of ``base``."""
    try:
        info = entry.lstat()
    except OSError:
        return False, entry.name
    if stat.S_ISLNK(info.st_mode):
        try:
            target = entry.resolve(strict=True)
        except (OSError, RuntimeError):  # dangling or a loop
            return False, f"{entry.name}  (broken link)"
        if target != base and base not in target.parents:
            return False, f"{entry.name}  (link out of the allowed directory)"
        if not secrets_allowed(allow) and secret_name(target.relative_to(base).parts):
            return False, f"{entry.name}  (link to a likely secret; not readable)"
        info = target.stat()
    secret = not secrets_allowed(allow) and secret_name([entry.name]) is not None
    if stat.S_ISDIR(info.st_mode):
        return True, f"{entry.name}/" + ("  (likely secrets; not readable)" if secret else "")
    if secret:
        return False, f"{entry.name}  (likely a secret; not readable)"
    return False, f"{entry.name}  ({info.st_size} bytes)"


def _list(root: Path | None, path: str, max_entries: int, allow: bool | None) -> str:
    base = (root or Path.cwd()).resolve()
    target = confine(base, path)
    if target != base:
        _refuse_secret(base, path, target, allow)
    if not target.is_dir():
        raise ToolError(f"{path!r} is not a directory" if target.exists() else f"{path!r} does not exist")
    described = [_describe(base, entry, allow) for entry in target.iterdir()]
    described.sort(key=lambda d: (not d[0], d[1].lower()))
    lines = [line for _, line in described[:max_entries]]
    if len(described) > max_entries:
        lines.append(f"[... {len(described) - max_entries} more entries ...]")
    return "\n".join(lines) if lines else "(empty directory)"


def file_tools(
    root: str | os.PathLike[str] | None = None,
    *,
    max_bytes: int = MAX_BYTES,
    max_entries: int = MAX_ENTRIES,
    allow_secrets: bool | None = None,
) -> list[Tool]:
    """``[read_file, list_dir]`` confined to ``root`` (None: the working directory at call time).
    ``allow_secrets`` None follows ``ASSISTANT_ALLOW_SECRETS``."""
    base = Path(root).resolve() if root is not None else None

    def read_file(path: str) -> str:
        """Read a text file. A .csv/.tsv table, a JSON list of records or a list of numbers ends with a
        line of the numbers' totals, means and extremes.

        Args:
            path: The file's path, relative to the allowed directory.
        """
        return _read(base, path, max_bytes, allow_secrets)

    def list_dir(path: str = ".") -> str:
        """List a directory: sub-directories end with "/", files show their size.

        Args:
            path: The directory's path, relative to the allowed directory ("." for the top).
        """
        return _list(base, path, max_entries, allow_secrets)

    return [Tool(read_file), Tool(list_dir)]


def table_reader(root: str | os.PathLike[str] | None = None, *, allow_secrets: bool | None = None) -> Callable[[str], str]:
    """A file's text by its path, under ``read_file``'s rules (confined to ``root``, secrets refused),
    up to ``TABLE_MAX_BYTES``: what ``table_calculator`` reads columns with."""
    base = Path(root).resolve() if root is not None else None
    return lambda path: _read(base, path, TABLE_MAX_BYTES, allow_secrets, summary=False)


read_file, list_dir = file_tools()

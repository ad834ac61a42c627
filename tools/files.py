"""read_file and list_dir, confined to one root directory: a path that leads outside it (``..``,
an absolute path elsewhere, a symlink pointing out) is refused.

    read_file, list_dir = file_tools("/srv/project")
    agent = Agent(tools=[read_file, list_dir])

The module-level ``read_file`` and ``list_dir`` are confined to the working directory of the moment.
"""

from __future__ import annotations

import os
from pathlib import Path

from assistant.agent.tools import Tool, ToolError

__all__ = ["file_tools", "read_file", "list_dir", "confine"]

MAX_BYTES = 200_000
MAX_ENTRIES = 500


def confine(root: str | os.PathLike[str], path: str) -> Path:
    """``path`` (relative to ``root``, or absolute inside it) resolved; ``ToolError`` if it escapes.

        confine("/srv/project", "src/app.py")   # Path("/srv/project/src/app.py")
    """
    base = Path(root).resolve()
    target = (base / Path(path.strip() or ".").expanduser()).resolve()
    if target != base and base not in target.parents:
        raise ToolError(f"{path!r} is outside the allowed directory {str(base)!r}; use a path inside it")
    return target


def _read(root: Path | None, path: str, max_bytes: int) -> str:
    target = confine(root or Path.cwd(), path)
    if not target.exists():
        raise ToolError(f"{path!r} does not exist")
    if target.is_dir():
        raise ToolError(f"{path!r} is a directory; use list_dir")
    with open(target, "rb") as fh:
        data = fh.read(max_bytes + 1)
    if b"\0" in data[:8192]:
        raise ToolError(f"{path!r} is a binary file")
    text = data[:max_bytes].decode("utf-8", errors="replace")
    if len(data) > max_bytes:
        size = target.stat().st_size
        text += f"\n[... cut: the file has {size} bytes, shown the first {max_bytes} ...]"
    return text


def _list(root: Path | None, path: str, max_entries: int) -> str:
    target = confine(root or Path.cwd(), path)
    if not target.is_dir():
        raise ToolError(f"{path!r} is not a directory" if target.exists() else f"{path!r} does not exist")
    entries = sorted(target.iterdir(), key=lambda p: (not p.is_dir(), p.name.lower()))
    lines = []
    for entry in entries[:max_entries]:
        if entry.is_dir():
            lines.append(f"{entry.name}/")
        else:
            try:
                lines.append(f"{entry.name}  ({entry.stat().st_size} bytes)")
            except OSError:  # a dangling symlink
                lines.append(entry.name)
    if len(entries) > max_entries:
        lines.append(f"[... {len(entries) - max_entries} more entries ...]")
    return "\n".join(lines) if lines else "(empty directory)"


def file_tools(root: str | os.PathLike[str] | None = None, *, max_bytes: int = MAX_BYTES, max_entries: int = MAX_ENTRIES) -> list[Tool]:
    """``[read_file, list_dir]`` confined to ``root`` (None: the working directory at call time)."""
    base = Path(root).resolve() if root is not None else None

    def read_file(path: str) -> str:
        """Read a text file.

        Args:
            path: The file's path, relative to the allowed directory.
        """
        return _read(base, path, max_bytes)

    def list_dir(path: str = ".") -> str:
        """List a directory: sub-directories end with "/", files show their size.

        Args:
            path: The directory's path, relative to the allowed directory ("." for the top).
        """
        return _list(base, path, max_entries)

    return [Tool(read_file), Tool(list_dir)]


read_file, list_dir = file_tools()

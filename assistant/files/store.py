"""Persisted JSON files that people also edit by hand: locked, atomic, versioned.

Every write takes the file lock, writes a temp file in the same directory, fsyncs it, ``os.replace``s
it over the old one and fsyncs the directory, so a reader (or a crash at any instant) sees the old
file or the new one, never half of one. Reads need no lock for that reason. A file that does not
parse raises ``BrokenFileError`` with its line and column and is never overwritten.

    with file_lock(path):
        data = read_json(path)
        write_json_atomic(path, changed(data))
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from ..errors import UsageError

if TYPE_CHECKING:
    from filelock import FileLock

__all__ = [
    "fsync_dir",
    "BrokenFileError",
    "Migration",
    "file_lock",
    "read_json",
    "write_atomic",
    "write_json_atomic",
    "migrate",
    "line_of",
]

_TMP_SUFFIX = ".tmp"
LOCK_TIMEOUT = 30.0


class BrokenFileError(UsageError):
    """A file on disk does not parse or validate; ``line``/``column`` point at the problem (1-based)."""

    def __init__(self, path: Path, message: str, *, line: int | None = None, column: int | None = None) -> None:
        self.path = path
        self.line = line
        self.column = column
        where = str(path) + (f":{line}" if line else "") + (f":{column}" if line and column else "")
        super().__init__(
            f"{where}: {message}. The file was left as it is: fix it by hand (or move it away to start over)."
        )


@dataclass(frozen=True, slots=True)
class Migration:
    """One named step from ``version`` to ``version + 1``; ``apply`` gets and returns the whole document."""

    version: int
    name: str
    apply: Callable[[Any], Any]


def file_lock(path: Path, timeout: float = LOCK_TIMEOUT) -> FileLock:
    """The inter-process lock for ``path`` (a ``.lock`` file beside it), thread-local like a process's.
    A wait past ``timeout`` raises ``filelock.Timeout``, a ``TimeoutError``: callers catch that builtin."""
    from filelock import FileLock  # loaded by the first lock, not by importing the engine (cold start)

    return FileLock(str(path) + ".lock", timeout=timeout)


def read_json(path: Path) -> tuple[Any, str] | None:
    """``(document, text)`` of ``path``, or None when it does not exist. Bad JSON -> ``BrokenFileError``."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None
    text = raw.decode("utf-8", errors="replace")
    try:
        return orjson.loads(raw), text
    except orjson.JSONDecodeError as exc:
        raise BrokenFileError(path, f"not valid JSON ({exc.msg})", line=exc.lineno, column=exc.colno) from None


def write_json_atomic(path: Path, document: Any) -> None:
    """Replace ``path`` with ``document`` as indented JSON; see ``write_atomic``."""
    write_atomic(path, orjson.dumps(document, option=orjson.OPT_INDENT_2) + b"\n")


def write_atomic(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` so that it is on disk when this returns.

    Call it holding ``file_lock(path)``: leftover temp files of writers killed mid-write are removed here.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    _remove_orphans(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=_TMP_SUFFIX, dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    fsync_dir(path.parent)


def _remove_orphans(path: Path) -> None:
    for orphan in path.parent.glob(f".{path.name}.*{_TMP_SUFFIX}"):
        with contextlib.suppress(OSError):
            orphan.unlink()


def fsync_dir(directory: Path) -> None:
    """Make a new or renamed file's directory entry durable (POSIX; Windows cannot fsync a directory)."""
    if os.name == "nt":
        return
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def migrate(document: Any, migrations: Sequence[Migration], current: int, *, path: Path) -> Any:
    """Bring ``document`` up to version ``current`` through ``migrations`` (ordered by version).

    A document without a ``version`` is version 0; one newer than ``current`` is refused.
    """
    version = document.get("version", 0) if isinstance(document, dict) else 0
    if not isinstance(version, int) or isinstance(version, bool) or version < 0:
        raise BrokenFileError(path, f'"version" must be a whole number, got {version!r}')
    if version > current:
        raise BrokenFileError(
            path, f"written by a newer assistant (version {version}; this one reads up to {current}); upgrade assistant"
        )
    for step in migrations:
        if step.version == version:
            document = step.apply(document)
            version += 1
    if version != current:  # pragma: no cover - a gap in the migration table is a programming error
        raise RuntimeError(f"no migration from version {version} of {path}")
    return document


def line_of(text: str, needle: str, start: int = 0) -> int | None:
    """1-based line of the first ``needle`` in ``text`` at or after ``start``, or None."""
    index = text.find(needle, start)
    return None if index < 0 else text.count("\n", 0, index) + 1


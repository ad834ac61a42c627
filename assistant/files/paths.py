"""Where files live.

``ASSISTANT_HOME`` holds everything the engine writes: ``config.toml``, the shared health state, the
local model server's pid and URL, the catalog snapshot and chat histories. Without it, the platform's
per-user dirs are used (XDG on Linux, ``~/Library/Application Support`` on macOS, ``%APPDATA%`` on
Windows). Nothing is ever written into site-packages.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Any

__all__ = ["home_dir", "config_dir", "state_dir", "data_dir", "cache_dir", "config_path", "ConfigWatch",
           "CONFIG_ENV", "CONFIG_RECHECK_S", "env_value", "env_state"]


def env_value(name: str) -> str | None:
    """``os.environ.get(name)``, without the KeyError that ``os.environ`` raises and catches inside for
    an unset name (several times a set one's cost).

        env_value("ASSISTANT_CONFIG")   # None when unset
    """
    env = os.environ
    raw = getattr(env, "_data", None)  # CPython's os._Environ: the encoded variables
    if raw is not None and env.encodekey(name) not in raw:  # type: ignore[attr-defined]
        return None
    return env.get(name)


_encoded: dict[tuple[str, ...], tuple[Any, ...]] = {}


def env_state(names: tuple[str, ...]) -> tuple[Any, ...]:
    """What the variables ``names`` hold, to compare with an earlier answer: equal tuples mean none was
    set, changed or unset in between. The items may be the environment's encoded bytes (compare them,
    don't read them). The router asks this on every call, so that a variable changed between two calls
    is seen by the second, at the cost of a few dict lookups.

        before = env_state(("ASSISTANT_CONFIG",)); ...; changed = env_state(("ASSISTANT_CONFIG",)) != before
    """
    env = os.environ
    raw = getattr(env, "_data", None)
    if raw is None:
        return tuple(map(env.get, names))
    keys = _encoded.get(names)
    if keys is None:
        if len(_encoded) > 256:
            _encoded.clear()
        keys = _encoded[names] = tuple(map(env.encodekey, names))  # type: ignore[attr-defined]
    return (*map(raw.get, keys),)  # (tuple(map(...)) costs twice as much here)


def _platform_dir(kind: str) -> Path:
    home = Path.home()
    if sys.platform == "win32":
        base = os.environ.get("LOCALAPPDATA" if kind != "config" else "APPDATA") or str(home / "AppData" / "Local")
        return Path(base) / "assistant" / kind
    if sys.platform == "darwin":
        return home / "Library" / "Application Support" / "assistant" / kind
    env, default = {
        "config": ("XDG_CONFIG_HOME", home / ".config"),
        "state": ("XDG_STATE_HOME", home / ".local" / "state"),
        "data": ("XDG_DATA_HOME", home / ".local" / "share"),
        "cache": ("XDG_CACHE_HOME", home / ".cache"),
    }[kind]
    return Path(os.environ.get(env) or default) / "assistant"


def home_dir() -> Path | None:
    """``ASSISTANT_HOME`` when set (everything goes under it), else None."""
    value = env_value("ASSISTANT_HOME")
    return Path(value).expanduser() if value else None


# Asked on every router call (model roles read the config): each directory is worked out and made once
# per process and environment, not per call.
_PLATFORM_ENV = ("APPDATA", "LOCALAPPDATA") if sys.platform == "win32" else ("HOME",)
_dirs: dict[tuple[str | None, ...], Path] = {}


def _dir(kind: str) -> Path:
    home_value = env_value("ASSISTANT_HOME")
    key = (kind, home_value) if home_value else (kind, env_value(f"XDG_{kind.upper()}_HOME"), *map(env_value, _PLATFORM_ENV))
    path = _dirs.get(key)
    if path is None:
        home = home_dir()
        path = home / kind if home is not None and kind != "config" else home if home is not None else _platform_dir(kind)
        path.mkdir(parents=True, exist_ok=True)
        _dirs[key] = path
    return path


def config_dir() -> Path:
    return _dir("config")


def state_dir() -> Path:
    """Health state, the local server's pid and URL, rate windows."""
    return _dir("state")


def data_dir() -> Path:
    """Chat histories and the user's copy of free-models.json."""
    return _dir("data")


def cache_dir() -> Path:
    """Catalog snapshot, tiktoken encodings."""
    return _dir("cache")


def config_path() -> Path:
    """``ASSISTANT_CONFIG`` or ``config.toml`` in the config dir (the file need not exist)."""
    key = env_state(_CONFIG_ENV)
    found = _config_files.get(key)
    if found is None:
        value = env_value("ASSISTANT_CONFIG")
        if len(_config_files) > 64:
            _config_files.clear()
        found = _config_files[key] = Path(value).expanduser() if value else config_dir() / "config.toml"
    return found


# Every variable config_path depends on (_dir's for the config dir), and its answer for their values.
CONFIG_ENV = _CONFIG_ENV = ("ASSISTANT_CONFIG", "ASSISTANT_HOME", "XDG_CONFIG_HOME", *_PLATFORM_ENV)
_config_files: dict[tuple[Any, ...], Path] = {}


_config_strs: dict[tuple[Any, ...], str] = {}
_config_seen: set[str] = set()  # config files last seen present

# How often a ``ConfigWatch`` looks at the config file itself (its variables: on every look).
CONFIG_RECHECK_S = 1.0


class ConfigWatch:
    """Whether anything a config reader read may have changed since the watch was made: ``config_path()``
    naming another file, or one of the variables ``names`` set, changed or unset (seen at once: a few
    dict lookups), or the config file created, edited or removed (seen within ``CONFIG_RECHECK_S``: one
    ``access`` or ``stat`` call, at most once per that interval, the way the shared health file is read).
    Made before the config is read, so an edit while reading it counts as a change.

    ``expires=True`` (settable until the first look) also reports a change once ``CONFIG_RECHECK_S``
    has passed: for a reader whose answer also rests on state no file stamp covers.

        watch = ConfigWatch(CONFIG_ENV + ("ASSISTANT_MODEL_HIGH_END",)); roles = read_roles()
        ...
        if not watch.unchanged(): ...   # read the config and the variable again (and watch anew)
    """

    __slots__ = ("names", "env", "path", "file", "checked", "expires")

    def __init__(self, names: tuple[str, ...], *, expires: bool = False) -> None:
        self.names, self.expires = names, expires
        self.env = env_state(names)
        path = _config_strs.get(self.env)
        if path is None:
            if len(_config_strs) > 64:
                _config_strs.clear()
            path = _config_strs[self.env] = str(config_path())
        self.path = path
        self.checked = time.monotonic()
        self.file = _file_stamp(path)

    def unchanged(self) -> bool:
        if env_state(self.names) != self.env:
            return False
        now = time.monotonic()
        if now - self.checked < CONFIG_RECHECK_S:
            return True
        if self.expires or _file_stamp(self.path) != self.file:
            return False
        self.checked = now
        return True


def _file_stamp(path: str) -> tuple[int, int, int] | None:
    # One ``access`` for a file that was not there (the usual case: no config file), else one ``stat``.
    if path not in _config_seen and not os.access(path, os.F_OK):
        return None
    try:
        st = os.stat(path)
    except FileNotFoundError:
        _config_seen.discard(path)
        return None
    _config_seen.add(path)
    return st.st_mtime_ns, st.st_size, st.st_ino

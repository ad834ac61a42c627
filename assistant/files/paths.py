"""Where files live.

``ASSISTANT_HOME`` holds everything the engine writes: ``config.toml``, the shared health state, the
local model server's pid and URL, the catalog snapshot and chat histories. Without it, the platform's
per-user dirs are used (XDG on Linux, ``~/Library/Application Support`` on macOS, ``%APPDATA%`` on
Windows). Nothing is ever written into site-packages.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

__all__ = ["home_dir", "config_dir", "state_dir", "data_dir", "cache_dir", "config_path", "env_value"]


def env_value(name: str) -> str | None:
    """``os.environ.get(name)``, without the KeyError that ``os.environ`` raises and catches inside for
    an unset name (about 2 us, several times a present one's cost): the router reads a few variables that
    are usually unset on every call, so that a change between two calls is seen by the second.

        env_value("ASSISTANT_CONFIG")   # None when unset
    """
    env = os.environ
    raw = getattr(env, "_data", None)  # CPython's os._Environ: the encoded variables
    if raw is not None and env.encodekey(name) not in raw:  # type: ignore[attr-defined]
        return None
    return env.get(name)


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
    value = env_value("ASSISTANT_CONFIG")
    if value:
        named = _config_files.get(value)
        if named is None:
            named = _config_files[value] = Path(value).expanduser()
        return named
    base = config_dir()
    found = _config_files.get(base)
    if found is None:
        found = _config_files[base] = base / "config.toml"
    return found


_config_files: dict[Path | str, Path] = {}

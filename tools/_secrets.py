"""What the built-in tools treat as a secret: file names that usually hold credentials, and the
values of the API keys the engine is configured with. A model must not read them with ``read_file``
or send them elsewhere with ``fetch_url``: whatever a tool returns goes to the model's provider.

The user allows it explicitly, per tool (``file_tools(allow_secrets=True)``,
``make_fetch_url(allow_secrets=True)``) or for the built-in tools as a whole with
``ASSISTANT_ALLOW_SECRETS=1`` in the environment.
"""

from __future__ import annotations

import fnmatch
import os
from collections.abc import Iterable

from assistant.errors.redact import known_secrets

__all__ = ["ALLOW_ENV", "secrets_allowed", "secret_name", "configured_keys", "contains_key"]

ALLOW_ENV = "ASSISTANT_ALLOW_SECRETS"
# fnmatch patterns on one path component, lower-cased.
_FILE_PATTERNS = (
    ".env", ".env.*", "*.env", "*.pem", "*.key", "id_*", ".netrc", "_netrc", "credentials*", ".pgpass",
    ".npmrc", ".pypirc", "*.p12", "*.pfx", "*.keystore", "*.jks", ".htpasswd", "*.kdbx",
    "secrets.json", "secrets.yaml", "secrets.yml", "secrets.toml",
)
# Directories whose whole content is refused.
_DIRECTORIES = {".git", ".ssh", ".gnupg", ".aws", ".docker", ".kube"}
# Environment variables whose values are keys even before a provider registered them.
_KEY_SUFFIXES = ("_API_KEY", "_API_KEYS", "_TOKEN", "_SECRET", "_SECRET_KEY")
_MIN_KEY = 8


def secrets_allowed(explicit: bool | None = None) -> bool:
    """``explicit`` when given, else ``ASSISTANT_ALLOW_SECRETS`` (1/true/yes)."""
    if explicit is not None:
        return explicit
    return os.environ.get(ALLOW_ENV, "").strip().lower() in ("1", "true", "yes", "on")


def secret_name(parts: Iterable[str]) -> str | None:
    """The component of a path (given as its parts) that makes it a likely secret, else None."""
    parts = list(parts)
    for index, part in enumerate(parts):
        name = part.lower()
        if name in _DIRECTORIES and index < len(parts) - 1:
            return part + "/"
        if name in _DIRECTORIES or any(fnmatch.fnmatchcase(name, p) for p in _FILE_PATTERNS):
            return part
    return None


def configured_keys() -> set[str]:
    """Every API key value the engine knows: registered by a client or the registry, or set in the
    environment under a key-like name (``*_API_KEY``, ``*_API_KEYS``, ``*_TOKEN``, ...)."""
    keys = {k for k in known_secrets() if len(k) >= _MIN_KEY}
    for name, value in os.environ.items():
        if name.upper().endswith(_KEY_SUFFIXES):
            keys.update(v.strip() for v in value.split(",") if len(v.strip()) >= _MIN_KEY)
    return keys


def contains_key(data: str | bytes) -> bool:
    """True when ``data`` holds a configured key's value."""
    keys = configured_keys()
    if isinstance(data, bytes):
        return any(k.encode() in data for k in keys)
    return any(k in data for k in keys)

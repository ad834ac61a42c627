"""API keys at rest: encrypted with Fernet (``cryptography``, the optional extra ``keys``).

The store is ``keys.json`` in the config dir (mode 0600, written atomically through ``files.store``);
each provider's key is a Fernet token, never plain text. The master key comes from
``ASSISTANT_MASTER_KEY`` (a Fernet key, or any passphrase: it is stretched with scrypt and the
store's salt) or, when that is unset, from ``master.key`` beside the store, created 0600 on first use.

    store = KeyStore()
    store.set("groq", "gsk_...")
    store.get("groq")            # "gsk_..."
    store.record_test("groq", key, ok=True, detail="answered")

Without ``cryptography`` installed the store reads as empty and ``set`` names the extra to install.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import os
import time
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ..errors import UsageError
from ..errors.redact import register_secret
from ..files.paths import config_dir
from ..files.store import BrokenFileError, file_lock, fsync_dir, read_json, write_atomic, write_json_atomic

__all__ = ["KeyStore", "KeyEntry", "KeyTest", "MASTER_KEY_ENV", "INSTALL_HINT", "key_fingerprint"]

MASTER_KEY_ENV = "ASSISTANT_MASTER_KEY"
INSTALL_HINT = "pip install 'assistant[keys]' (it needs the cryptography package)"
_VERSION = 1


class KeyTest(BaseModel):
    """The last ``assistant keys test`` of one provider's key."""

    model_config = ConfigDict(defer_build=True, extra="ignore")

    at: float
    ok: bool
    # "ok", "rejected" (401/403: the key is wrong) or another error kind ("rate_limit", "transient"...).
    result: str
    detail: str = ""
    model: str = ""
    # Which key was tested (a truncated sha256, not the key): a test of an older key does not count.
    fingerprint: str = ""


class KeyEntry(BaseModel):
    model_config = ConfigDict(defer_build=True, extra="ignore")

    token: str | None = None  # Fernet token of the key; None when only a test of an env/config key is kept
    added_at: float | None = None
    last_test: KeyTest | None = None


class _Document(BaseModel):
    model_config = ConfigDict(defer_build=True, extra="ignore")

    version: int = _VERSION
    salt: str = Field(default_factory=lambda: base64.urlsafe_b64encode(os.urandom(16)).decode())
    keys: dict[str, KeyEntry] = Field(default_factory=dict)


def key_fingerprint(key: str) -> str:
    """A short one-way id of ``key`` so a recorded test can be matched to the key it tested."""
    return hashlib.sha256(key.encode()).hexdigest()[:16]


def _fernet_class() -> Any:
    try:
        from cryptography.fernet import Fernet
    except ImportError:
        raise UsageError(f"storing keys needs the optional extra: {INSTALL_HINT}") from None
    return Fernet


class KeyStore:
    """Encrypted API keys per provider, plus the result of each key's last test."""

    def __init__(self, path: Path | None = None, master_key_path: Path | None = None) -> None:
        self.path = path or config_dir() / "keys.json"
        self.master_key_path = master_key_path or self.path.with_name("master.key")
        self._fernet: Any = None

    def __repr__(self) -> str:
        return f"KeyStore({str(self.path)!r})"

    # --- reading -----------------------------------------------------------------------------

    def exists(self) -> bool:
        return self.path.is_file()

    def _read(self) -> _Document:
        found = read_json(self.path)
        if found is None:
            return _Document()
        try:
            return _Document.model_validate(found[0])
        except ValidationError as exc:
            raise BrokenFileError(self.path, f"not a key store ({exc.errors()[0]['msg']})") from None

    def providers(self) -> list[str]:
        """Providers with a stored key."""
        return sorted(name for name, entry in self._read().keys.items() if entry.token)

    def get(self, provider: str) -> str | None:
        """The decrypted key of ``provider``, or None when none is stored."""
        doc = self._read()
        entry = doc.keys.get(provider)
        if entry is None or not entry.token:
            return None
        key = self._decrypt(doc, provider, entry.token)
        register_secret(key)
        return key

    def all(self) -> dict[str, str]:
        """Every stored key, decrypted (one master-key derivation for all)."""
        doc = self._read()
        found = {name: self._decrypt(doc, name, e.token) for name, e in doc.keys.items() if e.token}
        for key in found.values():
            register_secret(key)
        return found

    def last_test(self, provider: str) -> KeyTest | None:
        entry = self._read().keys.get(provider)
        return entry.last_test if entry else None

    # --- writing -----------------------------------------------------------------------------

    def set(self, provider: str, key: str) -> None:
        """Store (or replace) the key of ``provider``, encrypted; on disk when this returns."""
        key = key.strip()
        if not key:
            raise UsageError(f"the key for {provider!r} is empty: paste the key when asked, or pipe it on stdin")
        if any(ch.isspace() for ch in key):
            raise UsageError(f"the key for {provider!r} contains whitespace: paste only the key itself")
        register_secret(key)
        with file_lock(self.path):
            doc = self._read()
            token = self._fernet_for(doc, create=True).encrypt(key.encode()).decode()
            doc.keys[provider] = KeyEntry(token=token, added_at=time.time())
            self._write(doc)

    def delete(self, provider: str) -> bool:
        """Forget the stored key of ``provider``; False when there was none."""
        with file_lock(self.path):
            doc = self._read()
            entry = doc.keys.pop(provider, None)
            if entry is None or not entry.token:
                return False
            self._write(doc)
        return True

    def record_test(self, provider: str, key: str, *, result: str, detail: str = "", model: str = "") -> KeyTest:
        """Remember that ``key`` was tested just now and what came of it."""
        test = KeyTest(at=time.time(), ok=result == "ok", result=result, detail=detail[:200], model=model,
                       fingerprint=key_fingerprint(key))
        with file_lock(self.path):
            doc = self._read()
            entry = doc.keys.setdefault(provider, KeyEntry())
            entry.last_test = test
            self._write(doc)
        return test

    def _write(self, doc: _Document) -> None:
        write_json_atomic(self.path, doc.model_dump(mode="json", exclude_none=True))
        with contextlib.suppress(OSError):
            os.chmod(self.path, 0o600)

    # --- the master key --------------------------------------------------------------------

    def _decrypt(self, doc: _Document, provider: str, token: str) -> str:
        from cryptography.fernet import InvalidToken

        try:
            return self._fernet_for(doc, create=False).decrypt(token.encode()).decode()
        except InvalidToken:
            raise UsageError(
                f"the stored key for {provider!r} in {self.path} does not decrypt with this master key "
                f"({self._master_source()}): restore the master key it was stored with, or store the key again "
                f"with `assistant keys set {provider}`"
            ) from None

    def _master_source(self) -> str:
        return MASTER_KEY_ENV if os.environ.get(MASTER_KEY_ENV) else str(self.master_key_path)

    def _fernet_for(self, doc: _Document, *, create: bool) -> Any:
        if self._fernet is not None:
            return self._fernet
        fernet = _fernet_class()
        secret = os.environ.get(MASTER_KEY_ENV, "").strip()
        if secret:
            self._fernet = fernet(_as_fernet_key(secret, doc.salt))
            return self._fernet
        raw = self._read_master_file()
        if raw is None:
            if not create:
                raise UsageError(
                    f"{self.path} holds keys but the master key is gone: set {MASTER_KEY_ENV} or restore "
                    f"{self.master_key_path}, else delete {self.path} and store the keys again"
                )
            raw = self._create_master_file(fernet.generate_key())
        self._fernet = fernet(raw)
        return self._fernet

    def _read_master_file(self) -> bytes | None:
        try:
            raw = self.master_key_path.read_bytes().strip()
        except FileNotFoundError:
            return None
        if os.name != "nt" and self.master_key_path.stat().st_mode & 0o077:
            raise UsageError(f"{self.master_key_path} is readable by other users: chmod 600 {self.master_key_path}")
        return raw

    def _create_master_file(self, key: bytes) -> bytes:
        with file_lock(self.master_key_path):
            existing = self._read_master_file()
            if existing is not None:  # another process created it first
                return existing
            # mkstemp inside write_atomic creates the temp file 0600, and os.replace keeps that mode.
            write_atomic(self.master_key_path, key + b"\n")
            os.chmod(self.master_key_path, 0o600)
            fsync_dir(self.master_key_path.parent)
        return key


def _as_fernet_key(secret: str, salt: str) -> bytes:
    """A Fernet key as given, else a passphrase stretched with scrypt and the store's salt."""
    try:
        if len(base64.urlsafe_b64decode(secret.encode())) == 32:
            return secret.encode()
    except (ValueError, TypeError):
        pass
    derived = hashlib.scrypt(secret.encode(), salt=salt.encode(), n=2**14, r=8, p=1, dklen=32)
    return base64.urlsafe_b64encode(derived)

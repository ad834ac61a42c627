"""tiktoken encodings, only ever from files already on disk: never a download, never a wait.

tiktoken fetches ``<name>.tiktoken`` from openaipublic.blob.core.windows.net on first use and caches it
as ``sha1(url)`` in ``TIKTOKEN_CACHE_DIR`` (or ``DATA_GYM_CACHE_DIR``, or ``$TMP/data-gym-cache``). We
look for that file there and in ``cache_dir()/tiktoken`` (where ``<name>.tiktoken`` also works), check
its SHA-256, and build the encoding in a background thread. Until it is ready (or when no file exists)
callers get None and fall back to the character estimate, so no count ever blocks on I/O.

    enc = loaded("o200k_base")          # None now; the file (if any) loads in the background
    enc = wait_for("o200k_base", 2.0)   # bounded wait, for scripts and warm-up
"""

from __future__ import annotations

import base64
import hashlib
import logging
import os
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..files import paths as config

__all__ = ["EncodingFile", "ENCODINGS", "encoding_cache_dir", "find_file", "loaded", "settled", "wait_for", "encoding_for_model"]

log = logging.getLogger(__name__)

_BLOB = "https://openaipublic.blob.core.windows.net/encodings/{}.tiktoken"

# The split regexes and special tokens below are copied from tiktoken_ext/openai_public.py (tiktoken
# 0.14): building an Encoding through tiktoken.get_encoding would download the file when it is missing.
_CL100K_PAT = (
    r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+| ?[^\s\p{L}\p{N}]++[\r\n]*+|\s++$|\s*[\r\n]|\s+(?!\S)|\s"""
)
_O200K_PAT = "|".join(
    [
        r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
        r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
        r"""\p{N}{1,3}""",
        r""" ?[^\s\p{L}\p{N}]+[\r\n/]*""",
        r"""\s*[\r\n]+""",
        r"""\s+(?!\S)""",
        r"""\s+""",
    ]
)


@dataclass(frozen=True)
class EncodingFile:
    """Where one encoding's rank file comes from and how to build it."""

    name: str
    sha256: str
    pat_str: str
    special_tokens: dict[str, int] = field(default_factory=dict)
    url: str = ""

    @property
    def blob_url(self) -> str:
        return self.url or _BLOB.format(self.name)


ENCODINGS: dict[str, EncodingFile] = {
    "cl100k_base": EncodingFile(
        "cl100k_base",
        "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7",
        _CL100K_PAT,
        {"<|endoftext|>": 100257, "<|fim_prefix|>": 100258, "<|fim_middle|>": 100259,
         "<|fim_suffix|>": 100260, "<|endofprompt|>": 100276},
    ),
    "o200k_base": EncodingFile(
        "o200k_base",
        "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d",
        _O200K_PAT,
        {"<|endoftext|>": 199999, "<|endofprompt|>": 200018},
    ),
}

# Model-name prefixes (the part after the last "/") -> encoding; from tiktoken/model.py. gpt-oss uses
# o200k_harmony, which counts ordinary text exactly like o200k_base.
_PREFIXES: tuple[tuple[str, str], ...] = (
    ("gpt-oss", "o200k_base"), ("gpt-5", "o200k_base"), ("gpt-4.1", "o200k_base"), ("gpt-4.5", "o200k_base"),
    ("gpt-4o", "o200k_base"), ("chatgpt-4o", "o200k_base"), ("o1", "o200k_base"), ("o3", "o200k_base"),
    ("o4", "o200k_base"), ("gpt-4", "cl100k_base"), ("gpt-3.5", "cl100k_base"), ("gpt-35", "cl100k_base"),
    ("text-embedding-3", "cl100k_base"), ("text-embedding-ada", "cl100k_base"),
)

_loaded: dict[str, Any] = {}  # name -> tiktoken.Encoding, or False when unavailable
_threads: dict[str, threading.Thread] = {}
_lock = threading.Lock()


def encoding_for_model(model_id: str | None) -> str | None:
    """The tiktoken encoding name for an OpenAI model id (``openrouter/openai/gpt-4o`` works), else None."""
    if not model_id:
        return None
    name = model_id.rsplit("/", 1)[-1].lower()
    if name.startswith("ft:"):
        name = name[3:]
    for prefix, encoding in _PREFIXES:
        if name.startswith(prefix):
            return encoding
    return None


def encoding_cache_dir() -> Path:
    """Our own place for encoding files (``<name>.tiktoken`` or tiktoken's ``sha1(url)`` names)."""
    return config.cache_dir() / "tiktoken"


def _search_dirs() -> list[Path]:
    dirs = [os.environ.get("TIKTOKEN_CACHE_DIR"), os.environ.get("DATA_GYM_CACHE_DIR")]
    found = [Path(d) for d in dirs if d]
    found.append(encoding_cache_dir())
    found.append(Path(tempfile.gettempdir()) / "data-gym-cache")
    return found


def find_file(name: str) -> Path | None:
    """The local rank file for encoding ``name``, or None. Only looks at the disk."""
    spec = ENCODINGS.get(name)
    if spec is None:
        return None
    key = hashlib.sha1(spec.blob_url.encode()).hexdigest()
    for directory in _search_dirs():
        for candidate in (directory / key, directory / f"{name}.tiktoken"):
            if candidate.is_file():
                return candidate
    return None


def loaded(name: str) -> Any:
    """The encoding if it is ready, else None; the first call starts a background load when a file exists."""
    enc = _loaded.get(name)
    if enc is None:
        _start(name)
        enc = _loaded.get(name)
    return enc or None


def settled(name: str) -> bool:
    """True once ``name`` is loaded or known to be unavailable (no file, bad file)."""
    return name in _loaded


def wait_for(name: str, timeout: float) -> Any:
    """Like ``loaded`` but waits up to ``timeout`` seconds for a load in progress (never downloads)."""
    _start(name)
    thread = _threads.get(name)
    if thread is not None:
        thread.join(timeout)
    return _loaded.get(name) or None


def _start(name: str) -> None:
    with _lock:
        if name in _loaded or name in _threads:
            return
        path = find_file(name)
        if path is None:
            _loaded[name] = False
            return
        thread = threading.Thread(target=_load, args=(name, path), name=f"tiktoken-{name}", daemon=True)
        _threads[name] = thread
    thread.start()


def _load(name: str, path: Path) -> None:
    try:
        _loaded[name] = _build(ENCODINGS[name], path.read_bytes())
    except Exception as exc:  # a broken or foreign file must only cost us the exact count
        log.warning("tiktoken encoding %s at %s is unusable (%s); using the character estimate", name, path, exc)
        _loaded[name] = False


def _build(spec: EncodingFile, data: bytes) -> Any:
    if hashlib.sha256(data).hexdigest() != spec.sha256:
        raise ValueError("SHA-256 does not match the published file")
    ranks: dict[bytes, int] = {}
    for line in data.splitlines():
        if line:
            token, rank = line.split()
            ranks[base64.b64decode(token)] = int(rank)
    import tiktoken

    return tiktoken.Encoding(spec.name, pat_str=spec.pat_str, mergeable_ranks=ranks, special_tokens=spec.special_tokens)


def _reset() -> None:
    """Forget loaded encodings (tests change the cache directories)."""
    with _lock:
        _loaded.clear()
        _threads.clear()

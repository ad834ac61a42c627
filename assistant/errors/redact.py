"""Keep API keys out of every message, repr, log line and attempt record.

Two nets: the exact keys the engine was configured with (registered when a client is built), and the
shapes real keys have (``sk-...``, ``AIza...``, ``gsk_...``, bearer tokens, ``key=`` query parameters).
"""

from __future__ import annotations

import re
import threading

__all__ = ["register_secret", "redact_secrets", "mask_key", "known_secrets"]

_known: set[str] = set()
_lock = threading.Lock()
_known_re: re.Pattern[str] | None = None

_SHAPES = re.compile(
    r"""
    (?P<bearer>(?i:bearer)\s+)[A-Za-z0-9._\-~+/=]{8,}
  | (?P<query>[?&](?:key|api_key|apikey|access_token)=)[^&\s"']{6,}
  | (?P<head>(?i:x-api-key|x-goog-api-key|api-key|authorization)["']?\s*[:=]\s*["']?)[^\s"',}]{8,}
  | (?P<shaped>
        sk-(?:ant-|or-|proj-)?[A-Za-z0-9_\-]{16,}
      | AIza[0-9A-Za-z_\-]{30,}
      | gsk_[A-Za-z0-9]{20,}
      | xai-[A-Za-z0-9]{20,}
      | nvapi-[A-Za-z0-9_\-]{20,}
      | pplx-[A-Za-z0-9]{20,}
      | csk-[A-Za-z0-9]{20,}
      | fw_[A-Za-z0-9]{20,}
      | hf_[A-Za-z0-9]{20,}
    )
    """,
    re.VERBOSE,
)


def mask_key(key: str | None) -> str:
    """``...last4`` for display; never more of the key than that."""
    if not key:
        return "(none)"
    return "..." + key[-4:] if len(key) >= 12 else "...(short)"


def register_secret(secret: str | None) -> None:
    """Remember a configured key so it is masked wherever it might show up."""
    global _known_re
    if not secret or len(secret) < 6:
        return
    with _lock:
        if secret in _known:
            return
        _known.add(secret)
        _known_re = re.compile("|".join(re.escape(s) for s in sorted(_known, key=len, reverse=True)))


def known_secrets() -> frozenset[str]:
    """The keys registered so far (for tools that must not hand one to a model or another site)."""
    with _lock:
        return frozenset(_known)


def _shape_sub(m: re.Match[str]) -> str:
    for prefix in ("bearer", "query", "head"):
        if m.group(prefix) is not None:
            return m.group(prefix) + "***"
    return mask_key(m.group("shaped"))


def redact_secrets(text: str) -> str:
    if not text:
        return text
    known = _known_re
    if known is not None:
        text = known.sub(lambda m: mask_key(m.group(0)), text)
    return _SHAPES.sub(_shape_sub, text)

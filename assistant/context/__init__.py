"""Context: what fits in a model's window, and what to do when a conversation outgrows it.

Owns token counting (``tokens``: tiktoken when its file is on disk, else a calibrated estimate; the
server's own ``/tokenize`` where it has one), compaction (``compaction``: shorten tool results, summarise
the oldest turns, drop them), the summaries written for it (``_summarize``) and the recovery helpers the
router uses after an overflow or a cut answer (``_recovery``: continuation, Ollama ``num_ctx``).

May import: messages, errors, files, providers (the wire client for ``/tokenize``), catalog (what the
Ollama ``num_ctx`` is capped at), free_models (the ``summary`` model role). The router imports this part lazily, so a router that never overflows never
loads compaction.

    from assistant.context import Compactor, compact
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = [
    "CompactionStep", "CompactionResult", "Compacted", "Compactor", "compact", "Summarize", "router_summarizer",
    "shorten_text", "split_note", "with_note", "NOTE_HEADER", "continue_if_cut", "build_continuation",
    "CONTINUE_INSTRUCTION", "join_parts", "ollama_truncated", "num_ctx_for",
]


def __getattr__(name: str) -> Any:
    # Everything public lives in ``compaction``; loading it on first use keeps ``import assistant.router`` light.
    if name not in __all__:
        raise AttributeError(f"module 'assistant.context' has no attribute {name!r}")
    value = getattr(importlib.import_module(".compaction", __name__), name)
    globals()[name] = value
    return value

"""Short replies outside the conversation: a greeting on first contact and an interim "working on it"
while the agent is busy, each from its own fast model (``FreeModelsStore.greeting_model()`` /
``interim_model()``). A failure only costs the aside, never the answer.

    asides = Asides(router, free_models)
    record = await asides.reply("greeting", "hi, can you plan my trip?")   # AsideRecord or None
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Literal

from ..messages import Message
from .history import AsideRecord

__all__ = ["Asides", "AsideKind", "GREETING_PROMPT", "INTERIM_PROMPT"]

log = logging.getLogger(__name__)

AsideKind = Literal["greeting", "interim"]

GREETING_PROMPT = (
    "You greet a user who just wrote to an assistant for the first time. Reply with one short, warm "
    "sentence in the user's language that says hello and that an answer is on its way. Do not answer "
    "their message."
)
INTERIM_PROMPT = (
    "An assistant is still working on the user's message below. Reply with one short sentence in the "
    "user's language telling them it is being worked on. Do not answer the message."
)
MAX_TOKENS = 60
TIMEOUT = 20.0


class Asides:
    """Writes greetings and interim replies through ``router`` with the models ``free_models`` names."""

    def __init__(self, router: Any, free_models: Any) -> None:
        self._router = router
        self._free_models = free_models

    async def reply(self, kind: AsideKind, text: str) -> AsideRecord | None:
        """The aside for the user's ``text``, or None (no model, no router, or the model failed)."""
        model = self._model(kind)
        if model is None or self._router is None:
            return None
        prompt = GREETING_PROMPT if kind == "greeting" else INTERIM_PROMPT
        try:
            response = await asyncio.wait_for(
                self._router.chat(model, [Message.system(prompt), Message.user(text)], max_tokens=MAX_TOKENS),
                timeout=TIMEOUT,
            )
        except Exception as exc:  # a missing greeting must never cost the user the answer
            log.warning("%s reply from %s failed: %s", kind, model, exc)
            return None
        reply = (response.text or "").strip()
        return AsideRecord(kind=kind, text=reply, model=model) if reply else None

    def _model(self, kind: AsideKind) -> str | None:
        from ..free_models.roles import configured_role

        configured = configured_role(kind)  # ASSISTANT_MODEL_INTERIM / [models] greeting win over the list
        if configured is not None:
            return configured
        store = self._free_models
        if store is None:
            from ..free_models import FreeModelsStore

            store = self._free_models = FreeModelsStore()
        registry = getattr(self._router, "registry", None)  # leaves out models whose provider has no key
        entry = store.greeting_model(registry) if kind == "greeting" else store.interim_model(registry)
        return entry.id if entry is not None else None

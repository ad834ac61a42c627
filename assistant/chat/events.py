"""What a chat turn yields: ``ChatEvent``s in order, the ``reply`` last; ``on_event`` gets each one too.

    async for event in session.stream("hello"):
        if event.type in ("greeting", "interim", "reply"): await bot.say(event.text)
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

__all__ = ["ChatEvent", "EventCallback"]


class ChatEvent(BaseModel):
    """One thing a chat turn produced, in order; ``reply`` is last and carries the ``RunResult``.

    - ``greeting`` / ``interim``: a short reply from the greeting or interim model (``text``)
    - ``summary``: the history was condensed before the turn (``text`` says how)
    - ``agent``: an event of the agent's run (``agent_event``; ``text`` for streamed text)
    - ``reply``: the answer (``text``) and the whole run (``result``)
    """

    model_config = ConfigDict(defer_build=True, extra="forbid", arbitrary_types_allowed=True)

    type: Literal["greeting", "interim", "summary", "agent", "reply"]
    text: str | None = None
    agent_event: Any = None
    result: Any = None


EventCallback = Callable[[ChatEvent], Awaitable[None] | None]

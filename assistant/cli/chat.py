"""``assistant chat``: an interactive conversation with the agent, kept on disk per conversation id.

    assistant chat --tool calculator
    you> what is 2**32?
    ...
    you> /exit                       (or Ctrl-D)
    assistant chat --id 3f2a...      (pick that conversation up again)

Same model choice and options as ``assistant run``. Turns go through ``ChatSession``, so a long
conversation is condensed before it outgrows the model's window. A failed turn is reported and the
chat goes on.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any

from ..agent import AgentEvent
from ..errors import LLMError
from ._render import Renderer, describe_failure
from .run import add_agent_options, build_agent, choose_model

__all__ = ["register", "run"]

_HELP = "type /help for commands, /exit (or Ctrl-D) to leave"
_COMMANDS = """commands:
  /help          this list
  /id            the conversation id (resume later with: assistant chat --id ID)
  /exit, /quit   leave (Ctrl-D too); the conversation is kept"""


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "chat",
        help="talk with the agent interactively (the conversation is kept and can be resumed)",
        description="An interactive loop over the agent; " + _HELP + ".",
    )
    parser.add_argument("--id", dest="conversation", metavar="ID", default=None,
                        help="continue the conversation with this id (printed when a chat starts)")
    add_agent_options(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    build_agent(args, "auto")  # options are checked before choose_model may start a server
    model = choose_model(args.model)
    agent = build_agent(args, model)
    return asyncio.run(_loop(agent, args.conversation, args.verbose, model))


async def _loop(agent: Any, conversation: str | None, verbose: bool, model: str | list[str]) -> int:
    from ..chat import ChatSession

    async with agent:
        session = ChatSession(agent, conversation, greeting=False)
        await session.load()
        shown = model if isinstance(model, str) else ", ".join(model)
        resumed = f", {len(session.history)} messages so far" if session.history else ""
        print(f"chatting with {shown} (conversation {session.conversation_id}{resumed}); {_HELP}", file=sys.stderr)
        while True:
            try:
                line = await asyncio.to_thread(input, "you> ")
            except EOFError:
                print(file=sys.stderr)
                return 0
            text = line.strip()
            if text in ("/exit", "/quit"):
                return 0
            if text in ("/help", "/?"):
                print(_COMMANDS, file=sys.stderr)
                continue
            if text == "/id":
                print(session.conversation_id, file=sys.stderr)
                continue
            if text.startswith("/"):
                print(f"unknown command {text.split()[0]!r}; {_HELP}", file=sys.stderr)
                continue
            if text:
                await _turn(session, text, verbose)


async def _turn(session: Any, text: str, verbose: bool) -> None:
    renderer = Renderer(verbose=verbose)
    try:
        async for event in session.stream(text):
            if event.type == "agent":
                renderer.handle(event.agent_event)
            elif event.type == "reply":
                renderer.handle(AgentEvent(type="done", result=event.result))
            elif event.type == "summary" and verbose:
                print(f"  .. {event.text}", file=sys.stderr)
    except LLMError as exc:
        print(describe_failure(exc), file=sys.stderr)

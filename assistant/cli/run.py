"""``assistant run TASK``: one agent task, the answer streamed to stdout.

    assistant run "What is 17 * 23?"
    assistant run "Summarise https://example.com" --tool fetch_url -v
    assistant run "What day is it in Tokyo?" --model groq/llama-3.3-70b-versatile --json

With no API key configured and no local server running, the embedded local model (Qwen2.5-Coder
on llama.cpp, or the one `assistant local use` picked) is started first, and stderr names it. The
task may come on stdin (``echo "17 * 23?" | assistant run``, or ``-`` as the task). Exit codes: 0
answered (also at the step limit), 1 no model could answer, 2 a usage mistake.
"""

from __future__ import annotations

import argparse
import asyncio
import mimetypes
import os
import sys
from typing import Any

from ..errors import LLMError, UsageError
from ._render import Renderer, describe_failure

__all__ = ["register", "run", "choose_model", "build_agent"]

def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "run",
        help="run one agent task and print the answer",
        description="Run one task with the ReAct agent. The answer goes to stdout; steps, tool calls and model "
        "switches go to stderr. Without --model: the free-model chain when a key is configured, else the "
        "embedded local model.",
    )
    parser.add_argument("task", nargs="*", help='what to do (quote it, or give several words); "-" or nothing reads stdin')
    parser.add_argument("--attach", "-a", action="append", default=[], metavar="FILE",
                        help="send an image (png, jpeg, gif, webp) or a PDF with the task (repeatable)")
    add_agent_options(parser)
    parser.add_argument("--json", action="store_true", help="print the whole RunResult as JSON at the end, nothing else")
    parser.set_defaults(handler=run)


def add_agent_options(parser: argparse.ArgumentParser) -> None:
    """The options ``run`` and ``chat`` share."""
    from tools import builtin_names

    parser.add_argument("--model", "-m", metavar="ID", default=None,
                        help='a model id like groq/llama-3.3-70b-versatile, several separated by commas (a fallback '
                        'chain), or "auto" for the free-model chain')
    parser.add_argument("--tool", "-t", action="append", dest="tools", metavar="NAME", default=None,
                        help=f"offer only this built-in tool (repeatable): {', '.join(builtin_names())}")
    parser.add_argument("--no-tools", action="store_true", help="offer no tools at all")
    parser.add_argument("--max-steps", type=int, default=12, metavar="N", help="tool-using steps before the final answer (default 12)")
    parser.add_argument("--system", metavar="TEXT", default=None, help="the system prompt")
    parser.add_argument("--mcp", action="append", default=[], metavar="SERVER",
                        help="also offer the tools of an MCP server (repeatable): a [mcp.servers.NAME] from config.toml, "
                        "a streamable HTTP URL, or a command that starts a stdio server")
    parser.add_argument("--no-mcp", action="store_true", help="do not start the MCP servers configured in config.toml")
    parser.add_argument("-v", "--verbose", action="store_true", help="show reasoning, full tool results, models and timings")


def choose_model(explicit: str | None, *, err: Any = None) -> str | list[str]:
    """The model to use: ``explicit`` (commas make a fallback chain), else "auto" when any remote
    provider has a key, else the embedded local model. The embedded model is started when the
    choice needs it and nothing serves it yet; a running one is used by "auto" too."""
    err = err or sys.stderr
    chain = [m.strip() for m in (explicit or "").split(",") if m.strip()]
    if explicit is not None and not chain:
        raise UsageError("--model is empty: give an id like groq/llama-3.3-70b-versatile, or auto")
    keyed = _remote_key_configured()
    embedded = _embedded_model()
    if not chain:
        from ..free_models.roles import configured_role

        default = configured_role("default")
        chain = [default] if default else ["auto"] if keyed else [embedded]
    if any(_is_embedded(m) for m in chain) or (chain == ["auto"] and not keyed):
        _ensure_local(err, reason=None if explicit else "no API key is configured")
    else:
        _use_running_local()
    return chain[0] if len(chain) == 1 else chain


def _embedded_model() -> str:
    from .. import local

    return local.model_id()


def _is_embedded(model_id: str) -> bool:
    from ..local.models import MODELS

    return model_id.startswith("llama/") and model_id.partition("/")[2] in MODELS


def _remote_key_configured() -> bool:
    from ..registry import LLMRegistry

    registry = LLMRegistry.from_env()
    return any(not registry.spec(name).local for name in registry.providers())


def _use_running_local() -> None:
    # The free chain starts with the embedded model; point it at the server if one is up.
    if not os.environ.get("LLAMA_BASE_URL"):
        from .. import local

        info = local.status()
        if info is not None:
            os.environ["LLAMA_BASE_URL"] = info.url


def _ensure_local(err: Any, *, reason: str | None) -> None:
    if os.environ.get("LLAMA_BASE_URL"):
        return
    from .. import local

    info = local.status()
    if info is None:
        if not local.available():
            raise UsageError(
                ("No API key is configured and " if reason else "")
                + f"the embedded local model is not installed: {local.INSTALL_HINT}. "
                "Or set a provider key, e.g. OPENROUTER_API_KEY or GROQ_API_KEY (see `assistant doctor`)."
            )
        why = f"{reason}: " if reason else ""
        served = local.served_model()
        title = served[1] if served else "the local model"
        print(f"{why}starting the embedded local model ({title} on llama.cpp, 127.0.0.1); "
              "stop it later with `assistant local stop`", file=err, flush=True)
        if served and served[0] == local.models.FALLBACK:
            print(f"note: {title} is a tiny fallback model and often answers wrong; `assistant local install` "
                  "fetches Qwen2.5-Coder-1.5B (1.1 GB, once), which does small tasks well", file=err, flush=True)
        try:
            info = local.ensure_running()
        except local.LocalModelError as exc:
            raise UsageError(f"the embedded local model did not start: {exc}") from None
    os.environ["LLAMA_BASE_URL"] = info.url


def build_agent(args: argparse.Namespace, model: str | list[str]) -> Any:
    """The agent the options describe."""
    from tools import default_tools, get_tool

    from ..agent import DEFAULT_SYSTEM_PROMPT, Agent

    if args.max_steps < 0:
        raise UsageError(f"--max-steps must be 0 or more, got {args.max_steps}")
    if args.no_tools:
        tools = []
    elif args.tools:
        tools = [get_tool(name) for name in dict.fromkeys(args.tools)]
    else:
        tools = default_tools()
    if not args.no_tools:
        from ..agent.mcp import mcp_sources

        tools += mcp_sources(getattr(args, "mcp", []), configured=not getattr(args, "no_mcp", False))
    system = args.system
    if system is None:
        names = {getattr(t, "__name__", getattr(t, "name", "")) for t in tools}
        system = DEFAULT_SYSTEM_PROMPT
        if {"read_file", "list_dir"} & names:
            # Small models asked about "config.json" answered from imagination instead of reading it.
            system += (" A file the task names is in the current folder: read it with read_file (or list_dir) "
                       "instead of guessing what it says.")
    return Agent(model, tools, max_steps=args.max_steps, system_prompt=system)


def run(args: argparse.Namespace) -> int:
    """Run the task; returns the exit code."""
    task = read_task(args.task)
    # Options are checked (tools, steps) before choose_model may start a server.
    build_agent(args, "auto")
    model = choose_model(args.model)
    agent = build_agent(args, model)
    renderer = Renderer(verbose=args.verbose, quiet=args.json)
    try:
        asyncio.run(_drive(agent, task, renderer, attachments(args.attach)))
    except LLMError as exc:
        print(describe_failure(exc), file=sys.stderr)
        return 1
    if args.json and renderer.result is not None:
        print(renderer.result.model_dump_json(indent=2))
    elif renderer.result is not None and renderer.result.stop_reason == "length":
        print("note: the answer was cut off by the model's output limit; it is incomplete", file=sys.stderr)
    return 0


def attachments(paths: list[str]) -> list[Any]:
    """``--attach`` files as message parts: PDFs as documents, pictures as images."""
    from pathlib import Path

    from ..messages import DocumentPart, ImagePart
    from ..messages.parts import IMAGE_TYPES

    found: list[Any] = []
    for name in paths:
        path = Path(name).expanduser()
        if not path.is_file():
            raise UsageError(f"--attach {name}: no such file")
        kind = mimetypes.guess_type(path.name)[0]
        if kind == "application/pdf":
            found.append(DocumentPart.from_file(path))
        elif kind in IMAGE_TYPES:
            found.append(ImagePart.from_file(path))
        else:
            raise UsageError(f"--attach {name}: send a PDF or an image ({', '.join(IMAGE_TYPES)}), not {kind or 'this file type'}")
    return found


def read_task(words: list[str]) -> str:
    """The task from the arguments, or from stdin when they are "-" or absent and stdin is a pipe."""
    if words in ([], ["-"]) and not sys.stdin.isatty():
        task = sys.stdin.read().strip()
    else:
        task = " ".join(words).strip()
    if not task:
        raise UsageError("the task is empty: assistant run \"what to do\" (or pipe it: echo \"what to do\" | assistant run)")
    return task


async def _drive(agent: Any, task: str, renderer: Renderer, files: list[Any] = ()) -> None:
    async with agent:
        async for event in agent.stream(task, attachments=files):
            renderer.handle(event)

"""``assistant free-models``: list and edit the free-model list (``free-models.json``).

    assistant free-models list [--chain [--tools]] [--json]
    assistant free-models add groq/llama-3.1-8b-instant --tools --context 131072 --roles interim
    assistant free-models update ollama/qwen3:8b --enable
    assistant free-models remove openrouter/openai/gpt-oss-20b:free
    assistant free-models reorder cerebras/gpt-oss-120b groq/openai/gpt-oss-120b

Exit codes: 0 done, 2 a usage mistake (unknown id, bad value), 1 anything else (a broken file, a lock
held too long).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from typing import Any

from filelock import Timeout

from ..errors import UsageError
from ..free_models import FREE_ROLES, BrokenFileError, FreeModel, FreeModelsStore, UnknownModelError
from .models import format_table

__all__ = ["register", "run"]


def register(subparsers: Any) -> None:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--file", metavar="PATH", help="the free-models.json to use (default: $ASSISTANT_FREE_MODELS, "
                        "./free-models.json, else your copy in the assistant data dir)")
    common.add_argument("--json", action="store_true", help="print JSON")
    parser = subparsers.add_parser(
        "free-models", help="list and edit the free models the 'auto' chain tries",
        description="List and edit free-models.json: which no-cost models `auto` tries, in what order.",
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION")
    show = actions.add_parser("list", parents=[common], help="list entries (default action)")
    show.add_argument("--chain", action="store_true", help="show the fallback chain (enabled, local first) instead")
    show.add_argument("--tools", action="store_true", help="with --chain: the chain used when tools are offered")
    add = actions.add_parser("add", parents=[common], help="add an entry")
    add.add_argument("id", help='"provider/model", e.g. openrouter/z-ai/glm-4.5-air:free')
    _entry_options(add)
    update = actions.add_parser("update", parents=[common], help="change fields of an entry")
    update.add_argument("id")
    update.add_argument("--rename", metavar="NEW_ID", help="give the entry a new id")
    _entry_options(update)
    remove = actions.add_parser("remove", parents=[common], help="remove an entry")
    remove.add_argument("id")
    reorder = actions.add_parser("reorder", parents=[common],
                                 help="put these ids first, in this order (or give all ids for a full order)")
    reorder.add_argument("ids", nargs="+", metavar="ID")
    parser.set_defaults(handler=run)


def _entry_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--priority", type=int, help="lower runs earlier (default for add: after the last entry)")
    parser.add_argument("--enable", dest="enabled", action="store_const", const=True, default=None)
    parser.add_argument("--disable", dest="enabled", action="store_const", const=False)
    for flag, dest, text in (("local", "local", "runs on this machine (default: from the provider)"),
                             ("tools", "supports_tools", "has native tool calling"),
                             ("flash", "flash", "a fast model for interim replies (default: 'flash' in the name)")):
        parser.add_argument(f"--{flag}", dest=dest, action=argparse.BooleanOptionalAction, default=None, help=text)
    parser.add_argument("--context", dest="context_window", type=int, metavar="TOKENS", help="context window in tokens")
    parser.add_argument("--roles", metavar="ROLE[,ROLE]", help=f"comma-separated: {', '.join(FREE_ROLES)} ('' clears)")
    parser.add_argument("--notes", help="where the facts come from")


def run(args: argparse.Namespace) -> int:
    """Run one ``free-models`` action; returns the exit code."""
    # `assistant free-models` alone lists; the options live on each action.
    defaults = {"action": "list", "file": None, "json": False, "chain": False, "tools": False}
    for name, value in defaults.items():
        if getattr(args, name, None) is None:
            setattr(args, name, value)
    action = _ACTIONS[args.action]
    try:
        return action(FreeModelsStore(args.file), args)
    except BrokenFileError as exc:
        return _fail(exc, 1)
    except (UsageError, UnknownModelError) as exc:
        return _fail(exc, 2)
    except Timeout as exc:
        return _fail(f"another process has held {exc.lock_file} for too long; try again", 1)


def _fail(problem: object, code: int) -> int:
    print(f"error: {problem}", file=sys.stderr)
    return code


def _list(store: FreeModelsStore, args: argparse.Namespace) -> int:
    chain = args.chain
    models = store.fallback_chain(tools=args.tools) if chain else store.list_models()
    if args.json:
        print(json.dumps([m.model_dump(mode="json") for m in models], indent=2))
        return 0
    title = ("tool " if chain and args.tools else "") + ("fallback chain" if chain else "free models")
    print(f"{title} from {store.path}:")
    rows = [
        [str(n), m.id, _yes(m.enabled), _yes(m.local), _yes(m.supports_tools), _yes(m.flash),
         "?" if m.context_window is None else f"{m.context_window:,}", ",".join(m.roles) or "-", str(m.priority)]
        for n, m in enumerate(models, 1)
    ]
    headers = ["#", "ID", "ENABLED", "LOCAL", "TOOLS", "FLASH", "CONTEXT", "ROLES", "PRIORITY"]
    print(format_table(headers, rows) if rows else "(none)")
    return 0


def _add(store: FreeModelsStore, args: argparse.Namespace) -> int:
    entry = store.add_model({"id": args.id, **_changes(args)})
    return _report("added", entry, args)


def _update(store: FreeModelsStore, args: argparse.Namespace) -> int:
    changes = _changes(args)
    if args.rename:
        changes["id"] = args.rename
    if not changes:
        raise UsageError("nothing to change: give at least one option (see `assistant free-models update --help`)")
    entry = store.update_model(args.id, **changes)
    return _report("updated", entry, args)


def _remove(store: FreeModelsStore, args: argparse.Namespace) -> int:
    return _report("removed", store.remove_model(args.id), args)


def _reorder(store: FreeModelsStore, args: argparse.Namespace) -> int:
    models = store.reorder_models(args.ids)
    if args.json:
        print(json.dumps([m.model_dump(mode="json") for m in models], indent=2))
    else:
        print("new order: " + ", ".join(m.id for m in models))
    return 0


def _changes(args: argparse.Namespace) -> dict[str, Any]:
    fields = ("priority", "enabled", "local", "supports_tools", "flash", "context_window", "notes")
    changes = {name: getattr(args, name) for name in fields if getattr(args, name) is not None}
    if args.roles is not None:
        changes["roles"] = [r.strip() for r in args.roles.split(",") if r.strip()]
    return changes


def _report(verb: str, entry: FreeModel, args: argparse.Namespace) -> int:
    if args.json:
        print(json.dumps(entry.model_dump(mode="json"), indent=2))
    else:
        print(f"{verb} {entry.id} (priority {entry.priority}{'' if entry.enabled else ', disabled'})")
    return 0


def _yes(value: bool) -> str:
    return "yes" if value else "-"


_ACTIONS: dict[str, Callable[[FreeModelsStore, argparse.Namespace], int]] = {
    "list": _list, "add": _add, "update": _update, "remove": _remove, "reorder": _reorder,
}

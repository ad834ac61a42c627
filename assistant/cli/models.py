"""``assistant models``: every known model with its window, tools, price, where that came from and how old.

    assistant models --provider groq --tools
    assistant models --refresh --free --json
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections.abc import Sequence
from typing import Any

from ..catalog import ModelCatalog, default_catalog
from ..messages import ModelInfo

__all__ = ["register", "run", "format_table"]


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "models",
        help="list known models: context window, tools, price, source and age",
        description="List what the catalog knows about each model. Without --refresh it answers from the "
        "built-in seed and the last refresh (cached for 3 hours); --refresh asks every configured provider.",
    )
    parser.add_argument("--provider", metavar="NAME", help="only this provider's models (e.g. openrouter)")
    parser.add_argument("--free", action="store_true", help="only models usable at no cost")
    parser.add_argument("--tools", action="store_true", help="only models with native tool calling")
    parser.add_argument("--refresh", action="store_true", help="ask every configured provider for its list first")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace, *, catalog: ModelCatalog | None = None) -> int:
    """Print the catalog (refreshed first with ``--refresh``); returns the exit code."""
    if args.provider:
        # An unknown name raises UsageError listing the known ones; [providers.NAME] tables count.
        _registry_from_env().spec(args.provider)
    if catalog is None:
        catalog = default_catalog()  # the one Router() and Agent() use: its learned windows too
        if args.refresh:
            catalog.registry = _registry_from_env()
    if args.refresh:
        asyncio.run(_refresh(catalog))
        for provider, error in sorted(catalog.errors.items()):
            print(f"warning: could not list {provider} models: {error}", file=sys.stderr)
    infos = catalog.models(provider=args.provider, free=True if args.free else None, tools=True if args.tools else None)
    now = time.time()
    if args.json:
        print(json.dumps([_as_json(info, now) for info in infos], indent=2))
        return 0
    if not infos:
        print("no models match", file=sys.stderr)
        return 0
    print(format_table(["MODEL", "CONTEXT", "MAX OUT", "TOOLS", "VISION", "FREE", "$/1M IN/OUT", "SOURCE", "AGE"],
                       [_row(info, now) for info in infos]))
    return 0


def _registry_from_env() -> Any:
    from ..registry import LLMRegistry

    return LLMRegistry.from_env()


async def _refresh(catalog: ModelCatalog) -> None:
    try:
        await catalog.refresh(force=True)
    finally:
        close = getattr(catalog.registry, "aclose", None)
        if close is not None:
            await close()


def _as_json(info: ModelInfo, now: float) -> dict[str, Any]:
    data = info.model_dump(mode="json")
    data["model_id"] = info.model_id
    data["age_s"] = None if not info.fetched_at else round(now - info.fetched_at, 1)
    return data


def _row(info: ModelInfo, now: float) -> list[str]:
    price = "-"
    if info.pricing and "prompt" in info.pricing and "completion" in info.pricing:
        price = f"{info.pricing['prompt'] * 1e6:.4g}/{info.pricing['completion'] * 1e6:.4g}"
    return [
        info.model_id,
        _count(info.context_window),
        _count(info.max_output_tokens),
        _flag(info.supports_tools),
        _flag(info.supports_vision),
        _flag(info.free),
        price,
        _short(info.source, 48),
        _age(info.fetched_at, now),
    ]


def _age(fetched_at: float, now: float) -> str:
    """``seed`` for seed facts, else how long ago they were read: ``40s``, ``12m``, ``3h``, ``2d``."""
    if not fetched_at:
        return "seed"
    seconds = max(0.0, now - fetched_at)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{int(seconds // size)}{unit}"
    return f"{int(seconds)}s"


def _count(value: int | None) -> str:
    return "?" if value is None else f"{value:,}"


def _flag(value: bool | None) -> str:
    return "?" if value is None else "yes" if value else "no"


def _short(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 3] + "..."


def format_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Left-aligned columns separated by two spaces, header first."""
    widths = [max(len(str(cell)) for cell in column) for column in zip(headers, *rows)]
    lines = ["  ".join(str(cell).ljust(width) for cell, width in zip(row, widths)).rstrip() for row in [headers, *rows]]
    return "\n".join(lines)

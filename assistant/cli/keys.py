"""``assistant keys``: API keys stored encrypted on this machine (needs the ``keys`` extra).

    assistant keys set groq            # hidden prompt; or: echo "$KEY" | assistant keys set groq
    assistant keys list [--json]       # where each provider's key comes from, masked to the last 4
    assistant keys test groq           # a 1-token chat call; the result is recorded
    assistant keys delete groq

A key in the environment or the config file wins over the stored one; ``list`` says which is used.
Keys are never printed.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import sys
import time
from typing import Any

from pydantic import BaseModel

from ..errors import UsageError
from ..errors.redact import mask_key
from ..providers.specs import env_name

__all__ = ["register", "KeyRow", "list_rows", "pick_test_model"]


class KeyRow(BaseModel):
    provider: str
    source: str  # "keystore", "env", "config", "argument"
    key: str  # masked: "...abcd"
    stored: bool  # a key is in the key store (even when another source wins)
    last_tested_at: float | None = None
    last_test: str | None = None


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "keys", help="store API keys encrypted on this machine, list and test them",
        description="API keys at rest, encrypted with Fernet. The master key is ASSISTANT_MASTER_KEY or a 0600 "
        "file created beside the store on first use. A key in the environment or config.toml wins.")
    sub = parser.add_subparsers(dest="keys_command", metavar="ACTION", required=True)
    p = sub.add_parser("set", help="store a provider's key (hidden prompt, or stdin when piped)")
    p.add_argument("name", help="provider name, e.g. openrouter, groq, gemini")
    p.set_defaults(handler=_set)
    p = sub.add_parser("list", help="where each provider's key comes from (masked)")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(handler=_list)
    p = sub.add_parser("delete", help="forget a stored key")
    p.add_argument("name")
    p.set_defaults(handler=_delete)
    p = sub.add_parser("test", help="make a 1-token chat call with the provider's key and record the result")
    p.add_argument("name")
    p.add_argument("--model", metavar="MODEL", help="the provider's model to call (default: its cheapest known model)")
    p.add_argument("--timeout", type=float, default=20.0, metavar="S", help="seconds to wait (default 20)")
    p.set_defaults(handler=_test)


def _registry() -> Any:
    from ..registry import LLMRegistry

    return LLMRegistry.from_env()


def _store() -> Any:
    from ..registry.keystore import KeyStore

    return KeyStore()


def _read_key(name: str) -> str:
    if sys.stdin is not None and sys.stdin.isatty():
        return getpass.getpass(f"API key for {name} (input hidden): ")
    line = sys.stdin.readline() if sys.stdin is not None else ""
    if not line.strip():
        raise UsageError(f"no key on stdin: run `assistant keys set {name}` in a terminal, or pipe the key into it")
    return line


def _set(args: argparse.Namespace) -> int:
    registry = _registry()
    name = registry.canonical(args.name)
    if not registry.spec(name).key_required:
        raise UsageError(f"provider {name!r} needs no API key (a local server)")
    key = _read_key(name).strip()
    store = _store()
    store.set(name, key)
    print(f"stored the key for {name} ({mask_key(key)}) in {store.path}")
    source = registry.key_source(name)
    if source in ("env", "config", "argument"):
        where = env_name(name, "API_KEY") + " in the environment" if source == "env" else "the config file"
        print(f"note: {where} also has a key for {name}, and it wins over the stored one", file=sys.stderr)
    return 0


def list_rows(registry: Any, store: Any) -> list[KeyRow]:
    """One row per provider that has a key from any source."""
    stored = set(store.providers()) if store.exists() else set()
    rows = []
    for name in sorted(set(registry.providers()) | stored):
        keys = registry.keys(name)
        if not keys:
            continue
        test = store.last_test(name) if store.exists() else None
        from ..registry.keystore import key_fingerprint

        if test is not None and test.fingerprint != key_fingerprint(keys[0]):
            test = None  # that test was of another key
        rows.append(KeyRow(provider=name, source=registry.key_source(name), key=mask_key(keys[0]),
                           stored=name in stored, last_tested_at=test.at if test else None,
                           last_test=f"{test.result}: {test.detail}" if test else None))
    return rows


def _list(args: argparse.Namespace) -> int:
    rows = list_rows(_registry(), _store())
    if args.json:
        print("[" + ",".join(r.model_dump_json() for r in rows) + "]")
        return 0
    if not rows:
        print("no API keys: store one with `assistant keys set openrouter` (or set OPENROUTER_API_KEY)")
        return 0
    for r in rows:
        tested = (f"tested {time.strftime('%Y-%m-%d %H:%M', time.localtime(r.last_tested_at))}: {r.last_test}"
                  if r.last_tested_at else "not tested")
        shadow = "  (stored key unused)" if r.stored and r.source != "keystore" else ""
        print(f"{r.provider:<12} {r.source:<9} {r.key:<10} {tested}{shadow}")
    return 0


def _delete(args: argparse.Namespace) -> int:
    name = _registry().canonical(args.name)
    if not _store().delete(name):
        raise UsageError(f"no stored key for {name}; `assistant keys list` shows the keys there are")
    print(f"deleted the stored key for {name}")
    return 0


def pick_test_model(registry: Any, name: str) -> str | None:
    """The model a key test calls: a free one of the provider if known, else its cheapest known one."""
    from ..catalog import ModelCatalog

    infos = ModelCatalog().models(provider=name)

    def price(info: Any) -> float:
        pricing = info.pricing or {}
        return float(pricing.get("prompt", 1.0)) + float(pricing.get("completion", 1.0))

    infos.sort(key=lambda i: (not i.free, price(i), i.id))
    return infos[0].id if infos else None


async def _test_async(name: str, model: str | None, timeout: float) -> Any:
    from ..registry.keycheck import check_key

    registry = _registry()
    try:
        name = registry.canonical(name)
        if model is None:
            model = pick_test_model(registry, name)
        if model is None:
            listed = await asyncio.wait_for(registry.client(name).list_models(), timeout)
            if not listed:
                raise UsageError(f"no model known for {name}: give one with --model")
            model = listed[0].id
        return name, await check_key(registry, name, model, timeout=timeout)
    finally:
        await registry.aclose()


def _test(args: argparse.Namespace) -> int:
    name, test = asyncio.run(_test_async(args.name, args.model, args.timeout))
    print(f"{name} ({test.model}): {test.result}: {test.detail}")
    return 0 if test.ok else 1

"""``assistant doctor``: what this machine can reach, and what to fix.

    assistant doctor                 # providers (keys masked), reachability, key test, local model, free chain
    assistant doctor --enable groq   # re-enable a provider that was switched off after a billing/auth error
    assistant doctor --json

Exit code 0 when at least one model is usable (a reachable provider or the installed local model), else 1.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from typing import Any

from pydantic import BaseModel, Field

from ..errors import LLMError, UsageError
from ..errors.redact import mask_key

__all__ = ["register", "run", "collect", "Report"]


class ProviderCheck(BaseModel):
    name: str
    local: bool
    keys: list[str] = Field(default_factory=list)  # masked: "...abcd"
    base_url: str = ""
    reachable: bool | None = None
    detail: str = ""
    # The 1-token key test (`assistant keys test`): "ok", "rejected" (401/403), another error kind, or None.
    key_test: str | None = None

    @property
    def ok(self) -> bool:
        # A rate limit or an unknown model still means the server got past the key check.
        return bool(self.reachable) and self.key_test not in _KEY_REFUSED


_KEY_REFUSED = {"rejected": "key rejected", "billing": "no credit"}


class DisabledProvider(BaseModel):
    name: str
    reason: str
    how_to_enable: str


class Report(BaseModel):
    providers: list[ProviderCheck] = Field(default_factory=list)
    local_installed: bool = False
    local_url: str | None = None
    local_detail: str = ""
    free_chain: list[dict[str, Any]] = Field(default_factory=list)
    free_chain_error: str | None = None
    disabled: list[DisabledProvider] = Field(default_factory=list)
    cooling: list[str] = Field(default_factory=list)
    state_backend: str = ""
    history_backend: str = ""

    @property
    def usable(self) -> bool:
        # A free-models file that does not parse breaks "auto": not ready until it is fixed.
        return (self.local_installed or any(p.ok for p in self.providers)) and not self.free_chain_error


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "doctor",
        help="check keys, reachability, the local model, the free chain and disabled providers",
        description="Show every configured provider (keys masked) and whether it answers, the embedded local "
        "model, the free-model chain, and providers switched off after billing or auth errors.",
    )
    parser.add_argument("--enable", metavar="PROVIDER", action="append", default=[],
                        help="re-enable a provider that was auto-disabled (repeatable)")
    parser.add_argument("--timeout", type=float, default=5.0, metavar="S", help="seconds to wait for each provider (default 5)")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    report = asyncio.run(_run(args.enable, args.timeout))
    print(report.model_dump_json(indent=2) if args.json else format_report(report))
    return 0 if report.usable else 1


async def _run(enable: list[str], timeout: float) -> Report:
    from ..registry import LLMRegistry
    from ..router.policies import Breaker
    from ..router.shared import open_state

    registry = LLMRegistry.from_env()
    health, _ = open_state(clock=time.time, breaker=Breaker())
    await health.refresh()
    try:
        for name in enable:
            provider = registry.canonical(name)
            await health.enable(provider)
            print(f"{provider} re-enabled")
        return await collect(registry, health, timeout=timeout)
    finally:
        await registry.aclose()
        await health.aclose()


async def collect(registry: Any, health: Any, *, timeout: float = 5.0) -> Report:
    """Everything the report shows; provider checks run concurrently, each bounded by ``timeout``."""
    from .. import local

    names = registry.providers()
    checks = await asyncio.gather(*(_check(registry, name, timeout) for name in names))
    report = Report(providers=list(checks), local_installed=local.available())
    info = local.status()
    served = local.served_model()
    title = served[1] if served else "the local model"
    if info is not None:
        report.local_url = info.url
        report.local_detail = (f"{title} running at {info.url} (pid {info.pid}, ctx {info.ctx_size}); "
                               f"the library and `assistant run` use it as {info.model_id}")
        for check in report.providers:
            if check.name == "llama" and check.base_url == "embedded":
                check.base_url = info.url
    elif report.local_installed:
        report.local_detail = (f"{title} installed, not running: `assistant run` starts it when no key is set, "
                               "or `assistant local start`")
    else:
        report.local_detail = f"not installed: {local.INSTALL_HINT}"
    _free_chain(report, registry)
    _disabled(report, registry, health, names)
    report.state_backend, report.history_backend = await asyncio.to_thread(_backends, health)
    return report


def _backends(health: Any) -> tuple[str, str]:
    """Where routing state and chat histories live, and whether that answers."""
    from ..chat.history import chats_dir
    from ..chat.redis_history import history_url
    from ..router.shared import describe_state

    ping = getattr(health, "ping", None)
    state = describe_state(health) + ("" if ping is None else " (answers)" if ping() else " (NOT ANSWERING: "
                                      "calls go on with per-process state)")
    url = history_url()
    if url is None:
        return state, f"JSONL files in {chats_dir()}"
    import redis

    try:
        answers = bool(redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2).ping())
    except (redis.exceptions.RedisError, OSError):
        answers = False
    where = url.split("@")[-1]  # never a password
    return state, f"redis {where.split('://')[-1]} ({'answers' if answers else 'NOT ANSWERING: turns cannot be stored'})"


async def _check(registry: Any, name: str, timeout: float) -> ProviderCheck:
    spec = registry.spec(name)
    check = ProviderCheck(name=name, local=spec.local, keys=[mask_key(k) for k in registry.keys(name)])
    models: list[Any] = []
    try:
        client = registry.client(name)
        check.base_url = "embedded" if type(client).__name__ == "EmbeddedClient" else \
            spec.resolve_base_url(registry.settings(name).base_url)
        models = await asyncio.wait_for(client.list_models(), timeout)
    except asyncio.TimeoutError:
        check.reachable, check.detail = False, f"no answer within {timeout:g}s"
    except UsageError as exc:
        check.reachable, check.detail = False, str(exc)
    except LLMError as exc:
        # An HTTP answer (401, 403, 429...) means the server is there but refuses this key.
        check.reachable = exc.status is not None
        check.detail = f"{exc.kind}: {exc.message[:160]}"
        if exc.kind == "auth":
            check.key_test = "rejected"
    except NotImplementedError as exc:
        check.detail = f"cannot list models: {exc}"
    else:
        check.reachable, check.detail = True, f"{len(models)} models listed"
    if check.keys and check.key_test is None and check.reachable is not False:
        await _test_key(registry, name, check, timeout, models)
    return check


async def _test_key(registry: Any, name: str, check: ProviderCheck, timeout: float, listed: list[Any]) -> None:
    # Some model listings answer without a key (OpenRouter's /models): only a chat call proves the key.
    from ..registry.keycheck import check_key
    from .keys import pick_test_model

    model = pick_test_model(registry, name) or (listed[0].id if listed else None)
    if model is None:
        return
    try:
        test = await check_key(registry, name, model, timeout=timeout)
    except (UsageError, OSError) as exc:
        check.detail += f"; key not tested: {exc}"
        return
    check.key_test = test.result
    if test.result != "ok":
        check.detail = f"key test ({model}): {test.result}: {test.detail}"


def _free_chain(report: Report, registry: Any) -> None:
    try:
        from ..free_models import FreeModelsStore

        chain = FreeModelsStore().fallback_chain()
    except (ImportError, UsageError, ValueError, KeyError, OSError) as exc:
        report.free_chain_error = str(exc)
        return
    for entry in chain:
        report.free_chain.append({"id": entry.id, "tools": entry.supports_tools, "local": entry.local,
                                  "usable": registry.configured(entry.provider)})


def _disabled(report: Report, registry: Any, health: Any, names: list[str]) -> None:
    for name, why in sorted(health.disabled().items()):
        report.disabled.append(DisabledProvider(
            name=name, reason=f"{why.kind}: {why.detail[:160]}",
            how_to_enable=f"assistant doctor --enable {name}  (a new key for it also re-enables it)",
        ))
    for name in names:
        if registry.settings(name).disabled:
            report.disabled.append(DisabledProvider(
                name=name, reason="disabled = true in the config file",
                how_to_enable=f"remove `disabled = true` from [providers.{name}] in your config.toml",
            ))
    now = time.time()
    for key, entry in sorted(health.doc.cooldowns.items()):
        if entry.until > now:
            report.cooling.append(f"{key}: {entry.until - now:.0f}s left ({entry.detail[:100]})")


def format_report(report: Report) -> str:
    """The human-readable report."""
    lines = ["Providers:"]
    remote = [p for p in report.providers if not p.local]
    if not remote:
        lines.append("  (no API key configured: set e.g. OPENROUTER_API_KEY, GROQ_API_KEY or GEMINI_API_KEY)")
    for p in remote + [p for p in report.providers if p.local]:
        state = {True: "ok", False: "not running" if p.local else "unreachable", None: "?"}[p.reachable]
        if p.reachable and p.key_test in _KEY_REFUSED:
            state = _KEY_REFUSED[p.key_test]
        keys = ", ".join(p.keys) if p.keys else ("no key needed" if p.local else "no key")
        lines.append(f"  {p.name:<12} {state:<12} key {keys:<14} {p.base_url}")
        if p.detail and not (p.local and p.reachable is False):
            lines.append(f"  {'':<12} {p.detail}")
    lines += ["", "Local model:", f"  {report.local_detail}", "", "Free-model chain (first tried first):"]
    if report.free_chain_error:
        lines.append(f"  cannot read the free-models list: {report.free_chain_error}")
    for i, entry in enumerate(report.free_chain, 1):
        marks = [m for m, on in (("tools", entry["tools"]), ("local", entry["local"])) if on]
        usable = "" if entry["usable"] else "  (no key: skipped)"
        lines.append(f"  {i:>2}. {entry['id']}{' [' + ', '.join(marks) + ']' if marks else ''}{usable}")
    lines += ["", "Disabled providers:"]
    if not report.disabled:
        lines.append("  none")
    for d in report.disabled:
        lines.append(f"  {d.name}: {d.reason}")
        lines.append(f"    re-enable: {d.how_to_enable}")
    if report.cooling:
        lines += ["", "Cooling down:"] + [f"  {c}" for c in report.cooling]
    lines += ["", "Shared state:", f"  routing state: {report.state_backend}", f"  chat histories: {report.history_backend}"]
    lines += ["", "Ready: at least one model is usable." if report.usable else
              "Not ready: no provider answered and the local model is not installed."]
    return "\n".join(lines)

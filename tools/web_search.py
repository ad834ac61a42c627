"""web_search: a short, sourced answer from the web through Perplexity's Sonar API.

Needs ``PERPLEXITY_API_KEY`` (``PERPLEXITY_BASE_URL`` points it elsewhere, e.g. a test server).
Perplexity's chat completions are OpenAI-shaped; the sources arrive as top-level ``citations`` (URLs)
and, on newer answers, ``search_results`` (title, url, date).

    answer = await web_search.invoke({"query": "latest stable Python release"})
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

import aiohttp
import orjson

from assistant.agent.tools import Tool, ToolError
from assistant.errors import redact

from ._secrets import ALLOW_ENV, contains_key, secrets_allowed

__all__ = ["make_web_search", "web_search", "DEFAULT_BASE_URL", "DEFAULT_MODEL"]

DEFAULT_BASE_URL = "https://api.perplexity.ai"
DEFAULT_MODEL = "sonar"
TIMEOUT = 30.0
_SYSTEM = "Answer the search query precisely and concisely, citing your sources."


def make_web_search(*, model: str = DEFAULT_MODEL, timeout: float = TIMEOUT, api_key: str | None = None) -> Tool:
    """A ``web_search`` tool; the key comes from ``api_key`` or ``PERPLEXITY_API_KEY`` at call time."""

    async def web_search(query: str) -> str:
        """Search the web and return a short answer with its sources. Use it for recent events and facts you are unsure of.

        Args:
            query: What to look up, as a question or keywords.
        """
        return await _search(query, model=model, timeout=timeout, api_key=api_key)

    return Tool(web_search, timeout=timeout + 5)


async def _search(query: str, *, model: str, timeout: float, api_key: str | None) -> str:
    key = api_key or os.environ.get("PERPLEXITY_API_KEY", "").strip()
    if not key:
        raise ToolError(
            "web_search needs a Perplexity API key: set PERPLEXITY_API_KEY (create one at "
            "https://www.perplexity.ai/settings/api), or run without the web_search tool"
        )
    if not query.strip():
        raise ToolError("the query is empty")
    if not secrets_allowed() and (key in query or contains_key(query)):
        raise ToolError(f"refusing to send a query that contains a configured API key; the user can allow it with {ALLOW_ENV}=1")
    base = (os.environ.get("PERPLEXITY_BASE_URL") or DEFAULT_BASE_URL).rstrip("/")
    body = {"model": model, "messages": [{"role": "system", "content": _SYSTEM}, {"role": "user", "content": query}]}
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json", "Accept": "application/json"}
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout)) as session:
            async with session.post(f"{base}/chat/completions", data=orjson.dumps(body), headers=headers) as response:
                raw = await response.read()
                if response.status >= 400:
                    text = redact(raw.decode("utf-8", errors="replace"))[:300]
                    raise ToolError(f"Perplexity answered HTTP {response.status}: {text}")
    except asyncio.TimeoutError:
        raise ToolError(f"the search took longer than {timeout:g}s") from None
    except aiohttp.ClientError as exc:
        raise ToolError(f"the search failed: {type(exc).__name__}: {redact(str(exc))}") from None
    try:
        data = orjson.loads(raw)
        answer = data["choices"][0]["message"]["content"] or ""
    except (orjson.JSONDecodeError, KeyError, IndexError, TypeError):
        raise ToolError(f"Perplexity sent an answer without text: {raw[:200]!r}") from None
    return answer.strip() + _sources(data)


def _sources(data: dict[str, Any]) -> str:
    results = data.get("search_results")
    lines = []
    if isinstance(results, list) and results:
        for i, item in enumerate(results, 1):
            if isinstance(item, dict) and item.get("url"):
                title = item.get("title") or item["url"]
                lines.append(f"[{i}] {title} - {item['url']}")
    elif isinstance(data.get("citations"), list):
        lines = [f"[{i}] {url}" for i, url in enumerate(data["citations"], 1) if isinstance(url, str)]
    return "\n\nSources:\n" + "\n".join(lines) if lines else ""


web_search = make_web_search()

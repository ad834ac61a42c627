"""Tools from MCP servers, through the official ``mcp`` SDK (the optional extra ``mcp``).

A server is reached over stdio (a command the source starts) or streamable HTTP (a URL); its tools'
input schemas become tool specs, calls go to ``tools/call``, and the text the server returns is the
observation (``isError`` results reach the model as a tool error). Configured in ``config.toml``::

    [mcp.servers.files]
    command = "npx"
    args = ["-y", "@modelcontextprotocol/server-filesystem", "/tmp"]
    env = { LOG_LEVEL = "error" }
    deny = ["write_file"]            # or allow = ["read_file", "list_directory"]

    [mcp.servers.search]
    url = "http://127.0.0.1:8000/mcp"
    headers = { Authorization = "Bearer ${SEARCH_TOKEN}" }
    prefix = "search_"               # tool names become search_<name>

or in code::

    async with MCPToolSource.stdio("files", "python", ["server.py"]) as files:
        result = await Agent(tools=[files]).run("list /tmp")

The SDK's transports run inside anyio task groups that must be left by the task that entered them, so
each source keeps its connection in one task of its own and the agent's tasks send requests through it.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import shlex
import tomllib
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from pydantic import BaseModel, ConfigDict, ValidationError, model_validator

from ..errors import UsageError
from ..files.paths import config_path, state_dir
from ..registry.config import interpolate
from .tools import Tool, ToolError, _clean_schema

__all__ = ["MCPServerConfig", "MCPToolSource", "load_mcp_config", "mcp_sources", "INSTALL_HINT"]

INSTALL_HINT = "pip install 'assistant[mcp]' (the official MCP SDK)"
_BAD_NAME_CHARS = re.compile(r"[^A-Za-z0-9_\-]")


class MCPServerConfig(BaseModel):
    """One MCP server: ``command`` (+ ``args``, ``env``, ``cwd``) for stdio, or ``url`` (+ ``headers``)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    command: str | None = None
    args: list[str] = []
    env: dict[str, str] = {}
    cwd: str | None = None
    url: str | None = None
    headers: dict[str, str] = {}
    allow: list[str] | None = None
    deny: list[str] = []
    prefix: str = ""
    enabled: bool = True
    timeout: float = 60.0  # per tool call
    connect_timeout: float = 30.0

    @model_validator(mode="after")
    def _one_transport(self) -> MCPServerConfig:
        if bool(self.command) == bool(self.url):
            raise ValueError("give exactly one of command (a stdio server) or url (a streamable HTTP server)")
        if self.url and urlparse(self.url).scheme not in ("http", "https"):
            raise ValueError(f"url {self.url!r} must start with http:// or https://")
        return self

    @property
    def transport(self) -> str:
        return "stdio" if self.command else "http"

    def describe(self) -> str:
        return f"{self.command} {' '.join(self.args)}".strip() if self.command else str(self.url)

    @classmethod
    def from_spec(cls, spec: str) -> MCPServerConfig:
        """``--mcp`` on the command line: a URL, or a command line to start a stdio server.

            MCPServerConfig.from_spec("python my_server.py")
        """
        spec = spec.strip()
        if not spec:
            raise UsageError("--mcp is empty: give a server URL (http://...) or a command that starts one")
        if spec.startswith(("http://", "https://")):
            name = urlparse(spec).hostname or "mcp"
            return _build(name, {"url": spec}, "--mcp")
        words = shlex.split(spec)
        return _build(Path(words[-1] if len(words) > 1 else words[0]).stem or "mcp",
                      {"command": words[0], "args": words[1:]}, "--mcp")


def _build(name: str, table: dict[str, Any], where: str) -> MCPServerConfig:
    try:
        return MCPServerConfig(name=name, **table)
    except ValidationError as exc:
        err = exc.errors()[0]
        field = ".".join(str(p) for p in err["loc"]) or "server"
        raise UsageError(f"{where}: {field}: {err['msg'].removeprefix('Value error, ')}") from None


def load_mcp_config(path: Path | None = None) -> dict[str, MCPServerConfig]:
    """The ``[mcp.servers.NAME]`` tables of ``config.toml`` (none when the file does not exist)."""
    path = path or config_path()
    if not path.is_file():
        return {}
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise UsageError(f"cannot read config file {path}: {exc}") from None
    servers = (data.get("mcp") or {}).get("servers") or {}
    if not isinstance(servers, dict):
        raise UsageError(f"{path}: 'mcp.servers' must be a table of [mcp.servers.NAME] tables")
    found = {}
    for name, table in servers.items():
        if not isinstance(table, dict):
            raise UsageError(f"{path}: [mcp.servers.{name}] must be a table")
        found[name] = _build(name, interpolate(table), f"{path}: [mcp.servers.{name}]")
    return found


def mcp_sources(specs: list[str] = (), *, configured: bool = True, path: Path | None = None) -> list[MCPToolSource]:
    """Sources for the enabled configured servers plus each ``--mcp`` spec (a configured name, URL or command)."""
    table = load_mcp_config(path)
    chosen = {n: c for n, c in table.items() if c.enabled} if configured else {}
    for spec in specs:
        config = table.get(spec.strip()) or MCPServerConfig.from_spec(spec)
        name, n = config.name, 2
        while name in chosen and chosen[name] != config:
            name, n = f"{config.name}{n}", n + 1
        chosen[name] = config.model_copy(update={"name": name})
    return [MCPToolSource(c) for c in chosen.values()]


class MCPToolSource:
    """The tools of one MCP server, as a ``ToolSource``; an async context manager too."""

    def __init__(self, config: MCPServerConfig) -> None:
        self.config = config
        self.name = config.name
        self._session: Any = None
        self._task: asyncio.Task[None] | None = None
        self._ready: asyncio.Event | None = None
        self._stop: asyncio.Event | None = None
        self._error: BaseException | None = None

    @classmethod
    def stdio(cls, name: str, command: str, args: list[str] = (), **options: Any) -> MCPToolSource:
        return cls(_build(name, {"command": command, "args": list(args), **options}, f"MCPToolSource({name!r})"))

    @classmethod
    def http(cls, name: str, url: str, **options: Any) -> MCPToolSource:
        return cls(_build(name, {"url": url, **options}, f"MCPToolSource({name!r})"))

    def __repr__(self) -> str:
        return f"MCPToolSource({self.name!r}, {self.config.transport}, connected={self._session is not None})"

    async def __aenter__(self) -> MCPToolSource:
        await self.connect()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    @property
    def connected(self) -> bool:
        return self._session is not None

    async def connect(self) -> None:
        """Start (stdio) or reach (HTTP) the server and finish the MCP handshake."""
        if self._task is not None and not self._task.done():
            assert self._ready is not None
            await self._ready.wait()
        else:
            self._ready, self._stop, self._error = asyncio.Event(), asyncio.Event(), None
            self._task = asyncio.get_running_loop().create_task(self._hold(), name=f"mcp:{self.name}")
            try:
                async with asyncio.timeout(self.config.connect_timeout):
                    await self._ready.wait()
            except TimeoutError:
                await self.aclose()
                raise UsageError(f"MCP server {self.name!r} ({self.config.describe()}) did not answer the handshake "
                                 f"within {self.config.connect_timeout:g}s") from None
        if self._session is None:
            error = self._error
            await self.aclose()
            raise UsageError(
                f"MCP server {self.name!r} ({self.config.describe()}) could not be used: {_describe(error)}. "
                f"Fix [mcp.servers.{self.name}] in config.toml, set enabled = false, or run with --no-mcp"
            ) from None

    async def _hold(self) -> None:
        assert self._ready is not None and self._stop is not None
        try:
            from mcp import ClientSession
        except ImportError:
            self._error = UsageError(f"MCP tools need the optional extra: {INSTALL_HINT}")
            self._ready.set()
            return
        try:
            async with contextlib.AsyncExitStack() as stack:
                read, write = (await stack.enter_async_context(self._transport(stack)))[:2]
                session = await stack.enter_async_context(ClientSession(read, write))
                await session.initialize()
                self._session = session
                self._ready.set()
                await self._stop.wait()
        except Exception as exc:  # a dead server or a refused connection: connect() reports it
            self._error = exc
        finally:
            self._session = None
            self._ready.set()

    def _transport(self, stack: contextlib.AsyncExitStack) -> Any:
        config = self.config
        if config.command:
            from mcp.client.stdio import StdioServerParameters, stdio_client

            # The server's own stderr (its logs) goes to a file, not over the agent's output.
            log = stack.enter_context(open(state_dir() / f"mcp-{_safe(self.name)}.log", "a", encoding="utf-8"))
            params = StdioServerParameters(command=config.command, args=config.args, env=config.env or None,
                                           cwd=config.cwd)
            return stdio_client(params, errlog=log)
        from mcp.client.streamable_http import streamable_http_client

        client = None
        if config.headers:
            from mcp.shared._httpx_utils import create_mcp_http_client

            client = create_mcp_http_client(headers=dict(config.headers))
            stack.push_async_callback(client.aclose)
        return streamable_http_client(config.url, http_client=client)

    async def load_tools(self) -> list[Tool]:
        """Connect if needed; the server's tools (allow/deny applied) as ``Tool`` objects."""
        if self._session is None:
            await self.connect()
        listed: list[Any] = []
        cursor = None
        while True:
            page = await self._session.list_tools(cursor=cursor) if cursor else await self._session.list_tools()
            listed.extend(page.tools)
            cursor = getattr(page, "next_cursor", None)
            if not cursor:
                break
        names = {t.name for t in listed}
        for label, wanted in (("allow", self.config.allow or []), ("deny", self.config.deny)):
            unknown = sorted(set(wanted) - names)
            if unknown:
                raise UsageError(f"[mcp.servers.{self.name}] {label} names tools the server does not have: {unknown}; "
                                 f"it has: {sorted(names)}")
        keep = [t for t in listed if (self.config.allow is None or t.name in self.config.allow)
                and t.name not in self.config.deny]
        return [self._tool(t) for t in keep]

    def _tool(self, listed: Any) -> Tool:
        remote = listed.name
        name = _safe(self.config.prefix + remote)[:64]
        schema = _clean_schema(dict(listed.input_schema or {}))
        schema.pop("$schema", None)
        schema.setdefault("type", "object")

        async def call(**arguments: Any) -> str:
            return await self.call(remote, arguments)

        call.__name__ = name
        description = listed.description or f"{remote} (from the MCP server {self.name!r})"
        return Tool(call, name=name, description=description, parameters=schema, timeout=self.config.timeout)

    async def call(self, tool: str, arguments: dict[str, Any]) -> str:
        """Call ``tool`` on the server; its text content is the result, an ``isError`` result a ``ToolError``."""
        if self._session is None:
            raise ToolError(f"the MCP server {self.name!r} is not connected (it may have exited)")
        result = await self._session.call_tool(tool, arguments, read_timeout_seconds=self.config.timeout)
        text = _result_text(result)
        if result.is_error:
            raise ToolError(text or f"{tool} failed on the MCP server {self.name!r}")
        return text

    async def aclose(self) -> None:
        """Stop the connection (and the stdio server process); safe to call twice."""
        task, self._task = self._task, None
        if task is None:
            return
        if self._stop is not None:
            self._stop.set()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(asyncio.shield(task), self.config.connect_timeout)
        if not task.done():
            task.cancel()
            with contextlib.suppress(BaseException):
                await task


def _result_text(result: Any) -> str:
    parts: list[str] = []
    for block in result.content or []:
        kind = getattr(block, "type", "")
        if kind == "text":
            parts.append(block.text)
        elif kind in ("image", "audio"):
            parts.append(f"[{kind} {getattr(block, 'mime_type', '')}, {len(getattr(block, 'data', '')) * 3 // 4} bytes]")
        elif kind == "resource":
            inner = block.resource
            parts.append(getattr(inner, "text", None) or f"[resource {getattr(inner, 'uri', '')}]")
        elif kind == "resource_link":
            parts.append(f"[resource {getattr(block, 'uri', '')}]")
    if not parts and result.structured_content is not None:
        import orjson

        parts.append(orjson.dumps(result.structured_content, default=str).decode())
    return "\n".join(parts)


def _safe(name: str) -> str:
    return _BAD_NAME_CHARS.sub("_", name) or "tool"


def _describe(error: BaseException | None) -> str:
    if error is None:
        return "the connection closed during the handshake"
    while isinstance(error, BaseExceptionGroup) and error.exceptions:
        error = error.exceptions[0]
    return f"{type(error).__name__}: {error}" if not isinstance(error, UsageError) else str(error)

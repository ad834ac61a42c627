"""Where an agent's tools come from: a small ``ToolSource`` protocol, with plain functions as the default.

A source hands the agent ``Tool`` objects when a run starts and is closed with the agent; MCP servers
(``agent.mcp.MCPToolSource``) are the other implementation.

    agent = Agent(tools=[calculator, MCPToolSource.stdio("files", "python", ["server.py"])])
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, Protocol, runtime_checkable

from .tools import Tool, as_tools

__all__ = ["ToolSource", "FunctionTools"]


@runtime_checkable
class ToolSource(Protocol):
    """Tools that need setting up (a connection, a process) before the agent can offer them."""

    name: str

    async def load_tools(self) -> list[Tool]:
        """Connect if needed and return the tools to offer; called once per agent run at most."""
        ...

    async def aclose(self) -> None:
        """Release what ``load_tools`` set up; a later ``load_tools`` sets it up again."""
        ...


class FunctionTools:
    """The default source: Python functions and ``Tool`` objects, ready without any setup."""

    name = "functions"

    def __init__(self, items: Iterable[Tool | Callable[..., Any]]) -> None:
        self.tools = list(as_tools(items).values())

    def __repr__(self) -> str:
        return f"FunctionTools({[t.name for t in self.tools]!r})"

    async def load_tools(self) -> list[Tool]:
        return list(self.tools)

    async def aclose(self) -> None:
        return None

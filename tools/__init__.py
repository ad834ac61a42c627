"""Built-in agent tools, one module each. Import a tool directly, or look one up by name:

    from tools.calculator import calculator
    agent = Agent(tools=[get_tool("calculator"), get_tool("read_file")])

Each module loads only when its tool is asked for, so ``import tools`` stays cheap.
"""

from __future__ import annotations

import importlib
import os
from typing import Any

from assistant.agent.tools import Tool, as_tool
from assistant.errors import UsageError

__all__ = ["BUILTIN_TOOLS", "builtin_names", "get_tool", "default_tools"]

# name -> (module, attribute)
BUILTIN_TOOLS: dict[str, tuple[str, str]] = {
    "calculator": ("tools.calculator", "calculator"),
    "current_time": ("tools.current_time", "current_time"),
    "fetch_url": ("tools.fetch_url", "fetch_url"),
    "read_file": ("tools.files", "read_file"),
    "list_dir": ("tools.files", "list_dir"),
    "web_search": ("tools.web_search", "web_search"),
}


def builtin_names() -> list[str]:
    """The names ``get_tool`` knows."""
    return list(BUILTIN_TOOLS)


def get_tool(name: str) -> Tool:
    """The built-in tool called ``name``; a clear error listing the names otherwise.

        calc = get_tool("calculator")
    """
    try:
        module, attribute = BUILTIN_TOOLS[name.strip()]
    except KeyError:
        raise UsageError(f"unknown tool {name!r}; built-in tools: {', '.join(BUILTIN_TOOLS)}") from None
    found: Any = getattr(importlib.import_module(module), attribute)
    return as_tool(found)


def default_tools() -> list[Tool]:
    """What ``assistant run`` offers by default: every built-in tool, web_search only with a key. Its
    calculator also reads columns of table files in the working directory (``sum(sales.csv['amount'])``)
    through read_file's rules: small models asked for a file's total write that before reading it."""
    from .calculator import table_calculator
    from .files import table_reader

    names = [n for n in BUILTIN_TOOLS if n != "web_search" or os.environ.get("PERPLEXITY_API_KEY")]
    return [Tool(table_calculator(table_reader())) if n == "calculator" else get_tool(n) for n in names]

"""MCP servers as tool sources, against a real MCP server the tests start with the same SDK
(``fixtures/mcp_server.py``) over stdio and over streamable HTTP on 127.0.0.1."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import FIXTURES, call, say

from assistant.agent import Agent
from assistant.agent.mcp import MCPServerConfig, MCPToolSource, mcp_sources
from assistant.agent.tools import ToolFailedError
from assistant.cli import main
from assistant.errors import UsageError

SERVER = str(FIXTURES / "mcp_server.py")


def stdio_source(**options: object) -> MCPToolSource:
    return MCPToolSource.stdio("test", sys.executable, [SERVER], **options)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def http_server() -> Iterator[str]:
    port = _free_port()
    proc = subprocess.Popen([sys.executable, SERVER, "http", str(port)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            time.sleep(0.1)
    else:  # pragma: no cover
        proc.kill()
        pytest.fail("the MCP test server did not start")
    yield f"http://127.0.0.1:{port}/mcp"
    proc.terminate()
    proc.wait(10)


async def test_a_stdio_servers_tool_schemas_become_tool_specs() -> None:
    async with stdio_source() as source:
        specs = {t.name: t.spec() for t in await source.load_tools()}
    add = specs["add"]
    assert add.description == "Add two whole numbers."
    assert add.parameters["properties"] == {"a": {"type": "integer"}, "b": {"type": "integer"}}
    assert sorted(add.parameters["required"]) == ["a", "b"]


async def test_a_tool_name_the_models_cannot_take_is_made_safe() -> None:
    async with stdio_source() as source:
        names = [t.name for t in await source.load_tools()]
    assert "files_delete_all" in names


async def test_calling_an_mcp_tool_runs_it_on_the_server() -> None:
    async with stdio_source() as source:
        tools = {t.name: t for t in await source.load_tools()}
        assert await tools["add"].invoke({"a": 19, "b": 23}) == "42"
        assert await tools["files_delete_all"].invoke({}) == "everything deleted"


async def test_an_error_result_reaches_the_model_as_a_tool_failure() -> None:
    async with stdio_source() as source:
        tools = {t.name: t for t in await source.load_tools()}
        with pytest.raises(ToolFailedError, match="explode"):
            await tools["explode"].invoke({"reason": "boom"})


async def test_missing_arguments_are_refused_before_the_server_is_called() -> None:
    async with stdio_source() as source:
        tools = {t.name: t for t in await source.load_tools()}
        with pytest.raises(Exception, match="missing b"):
            await tools["add"].invoke({"a": 1})


async def test_deny_hides_a_tool_by_its_server_name() -> None:
    async with stdio_source(deny=["files.delete_all"]) as source:
        names = {t.name for t in await source.load_tools()}
    assert "files_delete_all" not in names and "add" in names


async def test_allow_offers_only_the_listed_tools() -> None:
    async with stdio_source(allow=["shout"]) as source:
        assert [t.name for t in await source.load_tools()] == ["shout"]


async def test_an_allow_list_naming_a_missing_tool_is_a_clear_error() -> None:
    async with stdio_source(allow=["nope"]) as source:
        with pytest.raises(UsageError, match=r"does not have: \['nope'\]"):
            await source.load_tools()


async def test_a_prefix_names_the_tools() -> None:
    async with stdio_source(prefix="t_") as source:
        assert "t_add" in {t.name for t in await source.load_tools()}


async def test_a_server_that_does_not_start_is_a_clear_error() -> None:
    source = MCPToolSource.stdio("broken", sys.executable, ["-c", "import sys; sys.exit(3)"], connect_timeout=10)
    with pytest.raises(UsageError, match="MCP server 'broken'.*could not be used"):
        await source.load_tools()


async def test_streamable_http_server_tools_are_called(http_server: str) -> None:
    async with MCPToolSource.http("remote", http_server) as source:
        tools = {t.name: t for t in await source.load_tools()}
        assert await tools["shout"].invoke({"text": "hello"}) == "HELLO"


async def test_the_agent_calls_an_mcp_tool_and_answers_with_its_result(scripted_model) -> None:
    model = scripted_model([call("add", {"a": 19, "b": 23}), say("The sum is 42.")])
    from assistant.registry import LLMRegistry

    registry = LLMRegistry()
    registry.add_provider("fake", kind="openai", base_url=model.url, api_key="sk-test-0000000000000000")
    async with Agent("fake/m", tools=[stdio_source()], registry=registry) as agent:
        result = await agent.run("What is 19 + 23?")
    assert result.output == "The sum is 42."
    assert "add" in [t["function"]["name"] for t in model.requests[0]["tools"]]
    tool_turn = next(m for m in model.requests[1]["messages"] if m["role"] == "tool")
    assert tool_turn["content"] == "42"


async def test_closing_the_agent_stops_the_stdio_server() -> None:
    source = stdio_source()
    agent = Agent("fake/m", tools=[source])
    await agent._load_sources()
    assert "add" in agent.tool_names and source.connected
    await agent.aclose()
    assert not source.connected and "add" not in agent.tool_names


def test_config_toml_declares_servers_with_interpolated_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MCP_TOKEN", "tok")
    config = Path(os.environ["ASSISTANT_HOME"]) / "config.toml"
    config.write_text('[mcp.servers.remote]\nurl = "http://127.0.0.1:9/mcp"\nheaders = { Authorization = "Bearer ${MCP_TOKEN}" }\n'
                      '[mcp.servers.off]\ncommand = "x"\nenabled = false\n')
    sources = mcp_sources()
    assert [s.name for s in sources] == ["remote"]
    assert sources[0].config.headers == {"Authorization": "Bearer tok"}


def test_a_server_with_both_command_and_url_is_refused() -> None:
    config = Path(os.environ["ASSISTANT_HOME"]) / "config.toml"
    config.write_text('[mcp.servers.both]\ncommand = "x"\nurl = "http://127.0.0.1/mcp"\n')
    with pytest.raises(UsageError, match=r"\[mcp.servers.both\].*exactly one of command"):
        mcp_sources()


def test_a_cli_spec_is_a_url_or_a_command_line() -> None:
    assert MCPServerConfig.from_spec("http://127.0.0.1:8000/mcp").url == "http://127.0.0.1:8000/mcp"
    stdio = MCPServerConfig.from_spec(f"{sys.executable} '{SERVER}'")
    assert stdio.command == sys.executable and stdio.args == [SERVER]


def test_assistant_run_offers_the_tools_of_an_mcp_server(scripted_model, monkeypatch: pytest.MonkeyPatch,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    model = scripted_model([call("shout", {"text": "mcp works"}), say("MCP WORKS")])
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-abcdefghijklmnop1234")
    monkeypatch.setenv("OPENAI_BASE_URL", model.url)
    code = main(["run", "shout it", "--model", "openai/m", "--no-mcp", "--tool", "calculator",
                 "--mcp", f"{sys.executable} {SERVER}"])
    assert code == 0
    assert capsys.readouterr().out.strip() == "MCP WORKS"
    tool_turn = next(m for m in model.requests[1]["messages"] if m["role"] == "tool")
    assert tool_turn["content"] == "MCP WORKS"


async def test_any_tool_source_plugs_into_the_agent(scripted_model) -> None:
    from assistant.agent.tools import Tool

    class Source:
        name = "custom"
        closed = False

        async def load_tools(self) -> list[Tool]:
            def ping() -> str:
                """Answer pong."""
                return "pong"

            return [Tool(ping)]

        async def aclose(self) -> None:
            Source.closed = True

    model = scripted_model([call("ping"), say("It said pong.")])
    from assistant.registry import LLMRegistry

    registry = LLMRegistry()
    registry.add_provider("fake", kind="openai", base_url=model.url, api_key="sk-test-0000000000000000")
    async with Agent("fake/m", tools=[Source()], registry=registry) as agent:
        result = await agent.run("ping it")
    assert result.output == "It said pong." and Source.closed
    assert next(m for m in model.requests[1]["messages"] if m["role"] == "tool")["content"] == "pong"


async def test_the_agents_deny_list_applies_to_mcp_tools() -> None:
    agent = Agent("fake/m", tools=[stdio_source()], deny=["explode"])
    try:
        await agent._load_sources()
        assert "explode" not in agent.tool_names and "add" in agent.tool_names
    finally:
        await agent.aclose()


async def test_two_sources_offering_one_name_is_a_clear_error() -> None:
    agent = Agent("fake/m", tools=[stdio_source(), MCPToolSource.stdio("again", sys.executable, [SERVER])])
    with pytest.raises(UsageError, match="clashes"):
        await agent._load_sources()
    await agent.aclose()


def test_a_config_with_mcp_servers_still_loads_under_the_strict_shape_check(tmp_path, monkeypatch) -> None:
    from assistant.registry import LLMRegistry

    config = tmp_path / "config.toml"
    config.write_text('[mcp.servers.files]\ncommand = "python"\nargs = ["server.py"]\n')
    monkeypatch.setenv("ASSISTANT_CONFIG", str(config))
    LLMRegistry.from_env()  # an [mcp] table is known, not "did you mean ..."

"""The built-in tools: calculator, current_time, read_file/list_dir, fetch_url, web_search."""

from __future__ import annotations

import json
import os
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from aiohttp import web

from assistant.agent.tools import ToolError, ToolFailedError
from assistant.errors import UsageError
from tools import builtin_names, default_tools, get_tool
from tools.calculator import calculator, evaluate
from tools.current_time import current_time
from tools.fetch_url import html_to_text, make_fetch_url
from tools.files import file_tools
from tools.web_search import make_web_search

# --- calculator ----------------------------------------------------------------------------------


@pytest.mark.parametrize("expression,expected", [
    ("(2 + 3) * 4 ** 2", "80"),
    ("2^10", "1024"),
    ("7 / 2", "3.5"),
    ("7 // 2 + 7 % 2", "4"),
    ("-3 + +1", "-2"),
    ("sqrt(16) + factorial(5)", "124"),
    ("round(pi, 3)", "3.142"),
    ("log(8, 2)", "3"),
    ("6 × 7 =", "42"),
    ("17 * 23 = 423.125", "391"),
    ("2 ** 100", "1267650600228229401496703205376"),
    ("0.1 + 0.2", "0.3"),
    # What models write for a column of numbers: spreadsheet names, lists, averages.
    ("SUM(120, 80, 200)", "400"),
    ("sum([120, 80, 200]) / 3", "133.333333333333"),
    ("Average(1, 2, 3, 4)", "2.5"),
    ("median([3, 1, 2])", "2"),
    ("max((1, 5, 2)) - MIN(4, 2)", "3"),
    ("pow(2, 10)", "1024"),
    ("date(2026, 12, 25) - date('2026-12-02')", "23"),
    ("date('2026-12-02') + 3", "2026-12-05 (Saturday)"),
    ("10 + date('December 25 2026') - 1", "2027-01-03 (Sunday)"),
    ("weekday('2024-02-29')", "Thursday"),
    ("12.5% of 80", "10"),
    ("200 - 15 % of (100 + 100)", "170"),
    ("10 % 3", "1"),
])
def test_calculator_evaluates_arithmetic(expression: str, expected: str) -> None:
    assert calculator(expression) == expected


@pytest.mark.parametrize("expression,problem", [
    ("__import__('os').system('id')", "not allowed"),
    ("__import__('os')", "unknown function '__import__'"),
    ("open('/etc/passwd')", "unknown function"),
    ("(1).__class__", "not allowed"),
    ("x + 1", "unknown name 'x'"),
    ("1 / 0", "division by zero"),
    ("9 ** 9 ** 9", "too large"),
    ("factorial(100000)", "too large"),
    ("[1, 2]", "not allowed"),
    ("2 +", "not a valid expression"),
    ("sqrt(-1)", "sqrt"),
    ("sum()", "at least one number"),
    ("sum([1, [2]])", "not allowed"),
    ("pow(10, 10 ** 9)", "too large"),
    ("SUM(sales.csv!A2:A9)", "cannot open 'sales.csv': call read_file with path 'sales.csv' first"),
    ("data.amount + 1", "read the values first"),
    ("-today()", "a date has no sign"),
    ("today() * 2", "subtract two dates for days"),
    ("today() + 0.5", "whole days"),
    ("date('someday')", "write it as \"YYYY-MM-DD\""),
    ("date(2026, 2, 30)", "day is out of range"),
    ("'2026' + 1", "not allowed"),
])
def test_calculator_refuses_what_is_not_safe_arithmetic(expression: str, problem: str) -> None:
    with pytest.raises(ToolError, match=problem):
        evaluate(expression)


def test_calculator_counts_days_from_today() -> None:
    today = datetime.now().date()
    christmas = today.replace(month=12, day=25)
    assert calculator("date(12, 25) - today()") == str((christmas - today).days)
    later = today + timedelta(days=3)
    assert calculator("today() + 3") == f"{later.isoformat()} ({later.strftime('%A')})"


async def test_the_default_calculator_reads_a_table_column_the_model_names(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (root / "sales.csv").write_text("region,amount\nNorth,120\nSouth,80\nEast,200\nWest,150\n")
    (root / ".env.csv").write_text("k,v\na,1\n")
    (root / "data").mkdir()
    (root / "data" / "q1.tsv").write_text("n\n2\n3\n")
    (root / "numbers.txt").write_text("4\n9\n15\n\n22\n")
    (root / "notes.txt").write_text("Team notes\n")
    monkeypatch.chdir(root)
    calc = {t.name: t for t in default_tools()}["calculator"]
    assert "sales.csv['amount']" in calc.spec().parameters["properties"]["expression"]["description"]
    for expression, expected in [("sum(sales.csv['amount'])", "550"), ("SUM(sales.csv!B2:B100)", "550"),
                                 ("mean(sales.csv.Amount)", "137.5"), ("SUM(sales) / COUNT(sales)", "137.5"),
                                 ("max(sales.csv) - min(\"sales.csv\"['amount'])", "120"),
                                 ("sum(data/q1.tsv['n'])", "5"), ("sum(numbers.txt) / count(numbers.txt)", "12.5")]:
        assert await calc.invoke({"expression": expression}) == expected, expression
    for expression, problem in [("SUM(sales.csv!A2:A9)", "'region' of sales.csv does not hold only numbers.*sales.csv\\['amount'\\]"),
                                ("sum(sales.csv['price'])", "no column 'price'; its columns: 'region' \\(A, text\\), 'amount' \\(B, numbers\\)"),
                                ("sales.csv['amount']", "use it inside sum.*its values: 120, 80, 200, 150"),
                                ("sales.csv['amount'] * 2", "a column is a list"),
                                ("sum(costs.csv)", "'costs.csv' does not exist"),
                                ("sum(.env.csv)", "not a valid expression|likely holds secrets"),
                                ("sum(../secret.csv)", "not a valid expression|outside|cannot open"),
                                ("notes.txt + 1", "notes.txt is not a list of numbers, one a line: read it with read_file"),
                                ("data.json + 1", "cannot open 'data.json': call read_file")]:
        with pytest.raises(ToolFailedError, match=problem):
            await calc.invoke({"expression": expression})
    # The calculator on its own reads no files.
    with pytest.raises(ToolError, match="cannot open 'sales.csv'"):
        evaluate("sum(sales.csv['amount'])")


# --- current_time --------------------------------------------------------------------------------


def test_current_time_in_a_named_timezone() -> None:
    text = current_time("Asia/Tokyo")
    stamp = datetime.fromisoformat(text.split(" ")[0])
    assert stamp.utcoffset() == timedelta(hours=9)
    assert abs((stamp - datetime.now(timezone.utc)).total_seconds()) < 60
    assert text.endswith(f"({stamp.strftime('%A')}, Asia/Tokyo)")


@pytest.mark.parametrize("zone,offset", [("UTC", 0), ("+05:30", 5.5), ("UTC-3", -3), ("GMT", 0)])
def test_current_time_accepts_offsets_and_utc(zone: str, offset: float) -> None:
    stamp = datetime.fromisoformat(current_time(zone).split(" ")[0])
    assert stamp.utcoffset() == timedelta(hours=offset)


def test_current_time_gives_the_date_days_from_now() -> None:
    now = datetime.now(timezone.utc)
    later, earlier = now.date() + timedelta(days=3), now.date() - timedelta(days=1)
    assert current_time("UTC", 3) == f"3 days from now: {later.strftime('%A, %B')} {later.day}, {later.year} ({later.isoformat()})"
    assert current_time("UTC", -1) == f"1 day ago: {earlier.strftime('%A, %B')} {earlier.day}, {earlier.year} ({earlier.isoformat()})"
    assert current_time(days_ago=1) == current_time("UTC", -1)
    ahead = now.date() + timedelta(days=40)
    assert current_time(until=ahead.isoformat()) == (f"{ahead.isoformat()} ({ahead.strftime('%A')}) is 40 days from today "
                                                      f"({now.date().isoformat()})")
    assert current_time(until=f"{now.strftime('%B')} {now.day}").startswith(f"{now.date().isoformat()} (")
    # A past date (a model's stale year) counts as its next occurrence.
    stale = (now.date() + timedelta(days=1)).replace(year=now.year - 3) if (now.month, now.day) != (2, 28) else None
    if stale is not None:
        assert current_time(until=stale.isoformat()).startswith(f"{(now.date() + timedelta(days=1)).isoformat()} (")
        assert "is 1 day from today" in current_time(until=stale.isoformat())
    with pytest.raises(ToolError, match="'someday' is not a date"):
        current_time(until="someday")
    with pytest.raises(ToolError, match="days_from_now"):
        current_time("UTC", 10**9)


def test_current_time_names_the_fix_for_an_unknown_zone() -> None:
    with pytest.raises(ToolError, match="unknown timezone 'Mars/Olympus'.*IANA"):
        current_time("Mars/Olympus")


# --- files ---------------------------------------------------------------------------------------


@pytest.fixture
def root(tmp_path: Path) -> Path:
    base = tmp_path / "root"
    (base / "src").mkdir(parents=True)
    (base / "src" / "app.py").write_text("print('hi')\n")
    (base / "README.md").write_text("# Project\n")
    (tmp_path / "secret.txt").write_text("top secret")
    return base


async def test_read_file_reads_inside_the_root(root: Path) -> None:
    read_file, _ = file_tools(root)
    assert await read_file.invoke({"path": "src/app.py"}) == "print('hi')\n"


async def test_list_dir_lists_directories_first_with_sizes(root: Path) -> None:
    _, list_dir = file_tools(root)
    assert await list_dir.invoke({}) == "src/\nREADME.md  (10 bytes)"


@pytest.mark.parametrize("path", ["../secret.txt", "src/../../secret.txt", "/etc/passwd", "~/.ssh/id_rsa"])
async def test_paths_outside_the_root_are_refused(root: Path, path: str) -> None:
    read_file, _ = file_tools(root)
    with pytest.raises(ToolFailedError, match="outside the allowed directory"):
        await read_file.invoke({"path": path})


async def test_a_symlink_pointing_out_of_the_root_is_refused(root: Path) -> None:
    (root / "escape").symlink_to(root.parent / "secret.txt")
    read_file, _ = file_tools(root)
    with pytest.raises(ToolFailedError, match="outside the allowed directory"):
        await read_file.invoke({"path": "escape"})


async def test_big_and_binary_files_are_handled(root: Path) -> None:
    (root / "big.txt").write_text("a" * 5000)
    (root / "blob.bin").write_bytes(b"\x00\x01\x02")
    read_file, _ = file_tools(root, max_bytes=1000)
    assert "the file has 5000 bytes" in await read_file.invoke({"path": "big.txt"})
    with pytest.raises(ToolFailedError, match="binary"):
        await read_file.invoke({"path": "blob.bin"})


async def test_a_table_file_comes_with_its_totals_worked_out(root: Path) -> None:
    (root / "sales.csv").write_text("region,amount\nNorth,120\nSouth,80\nEast,200\nWest,150\n")
    read_file, _ = file_tools(root)
    text = await read_file.invoke({"path": "sales.csv"})
    assert text.startswith("region,amount\nNorth,120\n")  # the file itself, whole
    assert text.endswith("[table: 4 rows; amount: total 550, mean 137.5, min 80 (South), max 200 (East)]")


async def test_table_totals_read_quoted_money_and_decimal_commas_and_skip_text(root: Path) -> None:
    (root / "orders.csv").write_text('item,price,qty,day\n"Desk, oak","$1,200.50",3,2024-01-01\nLamp,$15,,2024-02-01\n'
                                     "Cable,-3.5,7,2024-03-01\n")
    (root / "eu.csv").write_text("produkt;preis\nTisch;1.234,5\nStuhl;0,5\n")
    (root / "plain.txt").write_text("a,b\n1,2\n")
    (root / "headless.csv").write_text("1,2\n3,4\n")
    read_file, _ = file_tools(root)
    orders = await read_file.invoke({"path": "orders.csv"})
    assert orders.endswith("[table: 3 rows; price: total 1212, mean 404, min -3.5 (Cable), max 1200.5 (Desk, oak); "
                           "qty: total 10, mean 5, min 3 (Desk, oak), max 7 (Cable) (2 of 3 rows filled)]")
    assert "day:" not in orders
    assert (await read_file.invoke({"path": "eu.csv"})).endswith("preis: total 1235, mean 617.5, min 0.5 (Stuhl), max 1234.5 (Tisch)]")
    assert await read_file.invoke({"path": "plain.txt"}) == "a,b\n1,2\n"
    assert "[table" not in await read_file.invoke({"path": "headless.csv"})


async def test_a_json_list_of_records_comes_with_its_totals(root: Path) -> None:
    (root / "people.json").write_text('[{"name": "Ann", "age": 31}, {"name": "Bob", "age": 45}, {"name": "Cy", "age": 27}]\n')
    (root / "shop.json").write_text('{"items": [{"sku": "A", "price": 9.99, "qty": "12"}, {"sku": "B", "price": 1e2, "ok": true}]}')
    (root / "log.jsonl").write_text('{"ms": 5}\n{"ms": 7}\n')
    (root / "config.json").write_text('{"project": "Nebula", "version": "2.3.1"}\n')
    read_file, _ = file_tools(root)
    assert (await read_file.invoke({"path": "people.json"})).endswith(
        "\n[records: 3; age: total 103, mean 34.333333, min 27 (Cy), max 45 (Bob)]")
    # Only JSON numbers count ("12" is text); the first text field names a record.
    assert (await read_file.invoke({"path": "shop.json"})).endswith("\n[records: 2; price: total 109.99, mean 54.995, min 9.99 (A), max 100 (B)]")
    assert (await read_file.invoke({"path": "log.jsonl"})).endswith("[records: 2; ms: total 12, mean 6, min 5, max 7]")
    assert await read_file.invoke({"path": "config.json"}) == '{"project": "Nebula", "version": "2.3.1"}\n'


async def test_a_list_of_numbers_comes_with_its_total(root: Path) -> None:
    (root / "numbers.txt").write_text("4\n9\n15\n\n22\n")
    (root / "mixed.txt").write_text("4\nnine\n")
    read_file, _ = file_tools(root)
    assert await read_file.invoke({"path": "numbers.txt"}) == "4\n9\n15\n\n22\n[numbers: 4; total 50, mean 12.5, min 4, max 22]"
    assert await read_file.invoke({"path": "mixed.txt"}) == "4\nnine\n"
    assert await read_file.invoke({"path": "src/app.py"}) == "print('hi')\n"


async def test_a_cut_table_is_still_totalled_over_every_row(root: Path) -> None:
    rows = "".join(f"r{i},{i}\n" for i in range(1, 1001))
    (root / "big.csv").write_text("name,value\n" + rows)
    read_file, _ = file_tools(root, max_bytes=500)
    text = await read_file.invoke({"path": "big.csv"})
    assert "[... cut:" in text
    assert text.endswith("[table: 1000 rows; value: total 500500, mean 500.5, min 1 (r1), max 1000 (r1000)]")


async def test_the_default_file_tools_use_the_working_directory(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(root)
    assert await get_tool("read_file").invoke({"path": "README.md"}) == "# Project\n"


# --- fetch_url -----------------------------------------------------------------------------------

PAGE = """<html><head><title>Example  Page</title><script>var x = 1;</script><style>p{}</style></head>
<body><nav>Home | About</nav><h1>Welcome</h1><p>Hello <b>world</b> &amp; friends.</p>
<ul><li>one</li><li>two</li></ul><footer>(c) 2025</footer></body></html>"""


def site(request: web.Request) -> web.StreamResponse:
    if request.path == "/page":
        return web.Response(text=PAGE, content_type="text/html")
    if request.path == "/moved":
        return web.Response(status=302, headers={"Location": "/page"})
    if request.path == "/to-metadata":
        return web.Response(status=302, headers={"Location": "http://169.254.169.254/latest/meta-data/"})
    if request.path == "/big":
        return web.Response(text="z" * 50_000, content_type="text/plain")
    if request.path == "/pdf":
        return web.Response(body=b"%PDF-1.7", content_type="application/pdf")
    return web.Response(status=404, text="nope")


async def test_fetch_url_returns_readable_text(fake_server) -> None:
    server = fake_server(site)
    text = await make_fetch_url(allow_private=True).invoke({"url": server.url + "/page"})
    assert text.startswith(f"Title: Example Page\nURL: {server.url}/page\n\n")
    assert "# Welcome\nHello world & friends.\n- one\n- two" in text
    assert "var x" not in text and "Home | About" not in text and "(c) 2025" not in text


async def test_fetch_url_follows_redirects(fake_server) -> None:
    server = fake_server(site)
    text = await make_fetch_url(allow_private=True).invoke({"url": server.url + "/moved"})
    assert f"URL: {server.url}/page" in text


@pytest.mark.parametrize("url", [
    "http://127.0.0.1:9/", "http://localhost/", "http://10.0.0.1/", "http://192.168.1.1/admin",
    "http://169.254.169.254/latest/meta-data/", "http://[::1]/", "http://[::ffff:127.0.0.1]/",
])
async def test_fetch_url_refuses_internal_addresses(url: str) -> None:
    with pytest.raises(ToolFailedError, match="refusing to fetch"):
        await make_fetch_url().invoke({"url": url})


async def test_fetch_url_checks_every_redirect_hop(fake_server) -> None:
    server = fake_server(site)

    async def public_first_hop(url: str, allow_private: bool) -> None:
        if "169.254" in url:
            from tools.fetch_url import check_address

            check_address("169.254.169.254")

    import tools.fetch_url as module

    original = module._check_url
    module._check_url = public_first_hop  # the fake server itself sits on loopback
    try:
        with pytest.raises(ToolFailedError, match="refusing to fetch from 169.254.169.254"):
            await make_fetch_url().invoke({"url": server.url + "/to-metadata"})
    finally:
        module._check_url = original


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://example.com/x", "/etc/passwd"])
async def test_fetch_url_takes_only_http_and_https(url: str) -> None:
    with pytest.raises(ToolFailedError, match="only http and https"):
        await make_fetch_url().invoke({"url": url})


async def test_fetch_url_caps_the_size_and_refuses_binary(fake_server) -> None:
    server = fake_server(site)
    fetch = make_fetch_url(allow_private=True, max_bytes=1000, max_chars=500)
    text = await fetch.invoke({"url": server.url + "/big"})
    assert text.count("z") == 500 and "cut at 500 characters" in text
    with pytest.raises(ToolFailedError, match="application/pdf, not a text page"):
        await fetch.invoke({"url": server.url + "/pdf"})
    with pytest.raises(ToolFailedError, match="HTTP 404"):
        await fetch.invoke({"url": server.url + "/missing"})


async def test_fetch_url_gives_up_after_its_time_limit(fake_server) -> None:
    import asyncio

    async def stall(request: web.Request) -> web.Response:
        await asyncio.sleep(1.5)
        return web.Response(text="late")

    server = fake_server(stall)
    with pytest.raises(ToolFailedError, match="took longer than 0.3s"):
        await make_fetch_url(allow_private=True, timeout=0.3).invoke({"url": server.url})


def test_html_to_text_keeps_structure() -> None:
    assert html_to_text("<title>T</title><h2>Head</h2><p>a<br>b</p>") == ("T", "## Head\na\nb")


# --- web_search ----------------------------------------------------------------------------------

ANSWER = {
    "id": "x", "model": "sonar",
    "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": "Python 3.13 [1]."}}],
    "citations": ["https://www.python.org/downloads/"],
    "search_results": [{"title": "Download Python", "url": "https://www.python.org/downloads/", "date": "2025-01-01"}],
}


async def test_web_search_without_a_key_says_how_to_get_one() -> None:
    with pytest.raises(ToolFailedError, match="set PERPLEXITY_API_KEY"):
        await make_web_search().invoke({"query": "python"})


async def test_web_search_asks_sonar_and_lists_sources(fake_server, monkeypatch: pytest.MonkeyPatch) -> None:
    server = fake_server(lambda request: web.json_response(ANSWER))
    monkeypatch.setenv("PERPLEXITY_API_KEY", "pplx-test-key-0123456789abcdef")
    monkeypatch.setenv("PERPLEXITY_BASE_URL", server.url)
    text = await make_web_search().invoke({"query": "latest python"})
    assert text == "Python 3.13 [1].\n\nSources:\n[1] Download Python - https://www.python.org/downloads/"
    [sent] = server.requests
    assert sent["path"] == "/chat/completions" and sent["json"]["model"] == "sonar"
    assert sent["json"]["messages"][-1] == {"role": "user", "content": "latest python"}
    assert sent["headers"]["Authorization"] == "Bearer pplx-test-key-0123456789abcdef"


async def test_web_search_errors_never_show_the_key(fake_server, monkeypatch: pytest.MonkeyPatch) -> None:
    key = "pplx-abcdefghijklmnopqrstuvwxyz0123"
    body = {"error": {"message": f"Invalid API key {key}", "type": "invalid_api_key"}}
    server = fake_server(lambda request: web.json_response(body, status=401))
    monkeypatch.setenv("PERPLEXITY_API_KEY", key)
    monkeypatch.setenv("PERPLEXITY_BASE_URL", server.url)
    with pytest.raises(ToolFailedError) as caught:
        await make_web_search().invoke({"query": "x"})
    assert "HTTP 401" in str(caught.value) and key not in str(caught.value)


# --- the registry of built-ins ---------------------------------------------------------------------


def test_every_builtin_tool_loads_by_name() -> None:
    names = [get_tool(n).name for n in builtin_names()]
    assert names == ["calculator", "current_time", "fetch_url", "read_file", "list_dir", "web_search"]
    with pytest.raises(UsageError, match="unknown tool 'nope'"):
        get_tool("nope")


def test_web_search_is_offered_by_default_only_with_a_key(monkeypatch: pytest.MonkeyPatch) -> None:
    assert "web_search" not in [t.name for t in default_tools()]
    monkeypatch.setenv("PERPLEXITY_API_KEY", "pplx-x")
    assert "web_search" in [t.name for t in default_tools()]
    assert json.dumps([t.spec().model_dump() for t in default_tools()])
    assert os.environ["PERPLEXITY_API_KEY"] == "pplx-x"

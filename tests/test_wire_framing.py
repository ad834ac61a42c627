"""Stream framing edge cases: SSE, NDJSON and streamed JSON arrays, split at awkward byte boundaries."""

from __future__ import annotations

import random

import aiohttp
import pytest
from aiohttp import web

from assistant.errors import TransientError
from assistant.providers._framing import JSONArrayDecoder, NDJSONDecoder, SSEDecoder
from assistant.providers._http import HTTPClient


def _chunked_server(fake_server, body: bytes, piece: int, content_type: str = "text/event-stream"):
    async def handler(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": content_type})
        await response.prepare(request)
        for i in range(0, len(body), piece):
            await response.write(body[i : i + piece])
        await response.write_eof()
        return response

    return fake_server(handler)


async def _collect(server, decoder) -> list:
    """What a client's read loop gets from ``decoder`` over a real response, read by read."""
    out: list = []
    async with aiohttp.ClientSession() as session, session.get(server.url) as response:
        while read := await response.content.readany():
            out += decoder.feed(read)
    if isinstance(decoder, JSONArrayDecoder):
        return out + decoder.feed(b"", final=True)
    return out + decoder.close()


@pytest.mark.parametrize("piece", [1, 3, 7, 4096])
async def test_sse_handles_crlf_comments_events_and_multiline_data(fake_server, piece: int) -> None:
    body = (
        b": OPENROUTER PROCESSING\r\n\r\n"
        b"event: message_start\r\ndata: {\"a\":1}\r\n\r\n"
        b"data: line one\ndata: line two\n\n"
        b"id: 7\nretry: 100\ndata:no-space\n\n"
        b"data: [DONE]\n\n"
    )
    server = _chunked_server(fake_server, body, piece)
    events = await _collect(server, SSEDecoder())
    assert events == [
        ("message_start", b'{"a":1}'),
        ("message", b"line one\nline two"),
        ("message", b"no-space"),
        ("message", b"[DONE]"),
    ]


async def test_sse_delivers_a_final_event_without_trailing_blank_line(fake_server) -> None:
    server = _chunked_server(fake_server, b"data: {\"x\":1}\n\ndata: {\"y\":2}", 5)
    assert await _collect(server, SSEDecoder()) == [("message", b'{"x":1}'), ("message", b'{"y":2}')]


async def test_sse_accepts_lines_longer_than_aiohttp_line_limit(fake_server) -> None:
    big = b"x" * 300_000
    server = _chunked_server(fake_server, b"data: " + big + b"\n\n", 65536)
    assert await _collect(server, SSEDecoder()) == [("message", big)]


@pytest.mark.parametrize("piece", [1, 5, 4096])
async def test_ndjson_gives_each_line_with_the_last_one_unterminated(fake_server, piece: int) -> None:
    body = b'{"a":1}\n\n{"b":"two\\nlines"}\r\n{"done":true}'
    server = _chunked_server(fake_server, body, piece, "application/x-ndjson")
    assert await _collect(server, NDJSONDecoder()) == [b'{"a":1}', b"", b'{"b":"two\\nlines"}\r', b'{"done":true}']


@pytest.mark.parametrize("piece", [1, 2, 13, 4096])
async def test_json_array_stream_yields_each_element_as_it_completes(fake_server, piece: int) -> None:
    body = b'[{"t": "a]}\\"b", "n": [1, {"x": [2]}]}\n,\n{"t": "c"}\n]'
    server = _chunked_server(fake_server, body, piece, "application/json")
    assert await _collect(server, JSONArrayDecoder()) == [{"t": 'a]}"b', "n": [1, {"x": [2]}]}, {"t": "c"}]


def test_json_array_scanner_returns_a_bare_error_object() -> None:
    scanner = JSONArrayDecoder()
    assert scanner.feed(b'{"error": {"code": 400, "details": [1, 2]}}') == [{"error": {"code": 400, "details": [1, 2]}}]


def test_json_array_scanner_rejects_a_body_cut_inside_an_element() -> None:
    scanner = JSONArrayDecoder()
    scanner.feed(b'[{"a": 1},{"b": ')
    with pytest.raises(TransientError):
        scanner.feed(b"", final=True)


async def test_connection_refused_becomes_a_transient_error() -> None:
    client = HTTPClient("vllm", "http://127.0.0.1:9", timeouts=None)
    with pytest.raises(TransientError) as info:
        await client.get_json("/v1/models")
    await client.aclose()
    assert info.value.provider == "vllm"
    assert "cannot connect" in info.value.message


async def test_a_stalled_server_hits_the_read_timeout(fake_server) -> None:
    import asyncio

    from assistant.providers.timeouts import Timeouts

    async def slow(request: web.Request) -> web.Response:
        await asyncio.sleep(2)
        return web.json_response({})

    server = fake_server(slow)
    client = HTTPClient("vllm", server.url, timeouts=Timeouts(connect=1, read=0.2, total=5))
    with pytest.raises(TransientError) as info:
        await client.get_json("/slow")
    await client.aclose()
    assert "timed out" in info.value.message


def _reference_sse(body: bytes, *, ended: bool = True) -> list[tuple[str, bytes]]:
    """The SSE rules, one line at a time (what ``SSEDecoder`` must agree with however reads split);
    ``ended=False``: only what the lines received so far complete."""
    events, event, data = [], "", []
    lines = body.split(b"\n")
    last = lines.pop()
    for line in lines:
        line = line[:-1] if line.endswith(b"\r") else line
        if not line:
            if data:
                events.append((event or "message", b"\n".join(data)))
            event, data = "", []
        elif line.startswith(b"data:"):
            data.append(line[6:] if line[5:6] == b" " else line[5:])
        elif line.startswith(b"event:"):
            event = line[6:].strip().decode()
    if not ended:
        return events
    last = last.rstrip(b"\r")
    if last.startswith(b"data:"):
        data.append(last[6:] if last[5:6] == b" " else last[5:])
    if data:
        events.append((event or "message", b"\n".join(data)))
    return events


def test_sse_decoder_agrees_with_the_line_rules_however_the_reads_split() -> None:
    rng = random.Random(7)
    pieces = [b'data: {"a":1}\n\n', b"data: x\n\n", b"data:y\n\n", b"data: [DONE]\n\n", b"event: error\ndata: e\n\n",
              b": keep-alive\n\n", b"data: one\ndata: two\n\n", b"data: crlf\r\n\r\n", b"\n", b"id: 3\n",
              b"data: no end", b"retry: 5\ndata: r\n\n", b"data: \n\n", b"event: ping\n\n"]
    for _ in range(3000):
        body = b"".join(rng.choice(pieces) for _ in range(rng.randint(0, 8)))
        cuts = sorted(rng.sample(range(len(body) + 1), min(len(body) + 1, rng.randint(0, 5))))
        decoder = SSEDecoder()
        got = []
        for start, end in zip([0, *cuts], [*cuts, len(body)]):
            got += decoder.feed(body[start:end])
            assert got == _reference_sse(body[:end], ended=False), body  # delivered as soon as complete
        got += decoder.close()
        assert got == _reference_sse(body), body


def test_sse_payload_fast_path_agrees_with_the_line_rules_however_the_reads_split() -> None:
    """``messages`` (payloads alone) where it applies, ``feed`` where it does not: the same events."""
    rng = random.Random(11)
    pieces = [b'data: {"a":1}\n\n', b"data: x\n\n", b'data: {"b":2}\r\n\r\n', b"data: [DONE]\n\n",
              b"event: error\ndata: e\n\n", b": keep-alive\n\n", b"data: one\ndata: two\n\n", b"\r\n", b"data: cr\r"]
    for _ in range(3000):
        body = b"".join(rng.choice(pieces) for _ in range(rng.randint(0, 8)))
        cuts = sorted(rng.sample(range(len(body) + 1), min(len(body) + 1, rng.randint(0, 5))))
        decoder = SSEDecoder()
        got = []
        for start, end in zip([0, *cuts], [*cuts, len(body)]):
            payloads = decoder.messages(body[start:end])
            got += decoder.feed(body[start:end]) if payloads is None else [("message", p) for p in payloads]
            assert got == _reference_sse(body[:end], ended=False), body
        got += decoder.close()
        assert got == _reference_sse(body), body

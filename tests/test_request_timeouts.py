"""Time limits on the wire: a server that goes quiet is ended within about Timeouts.read (a stream's
gaps, a whole answer's wait), a call that runs past Timeouts.total is ended, and neither a slow
server that keeps sending nor a slow caller is cut. Every limit surfaces as a transient error."""

from __future__ import annotations

import asyncio
import time

import pytest
from aiohttp import web

from assistant.errors import RateLimitError, TransientError
from assistant.messages import ChatRequest, Message
from assistant.providers import create_client
from assistant.providers.timeouts import Timeouts

_ANSWER = (b'{"id":"c","object":"chat.completion","model":"m","choices":[{"index":0,"message":{"role":"assistant",'
           b'"content":"done"},"finish_reason":"stop"}],"usage":{"prompt_tokens":3,"completion_tokens":1}}')


def _request() -> ChatRequest:
    return ChatRequest(model="m", messages=[Message.user("hi")])


async def _ends_timed_out(client, within: float = 2.5) -> None:
    # A whole-answer call the limits end: a transient "timed out" error within ``within`` seconds.
    started = time.monotonic()
    with pytest.raises(TransientError) as info:
        await client.chat(_request())
    await client.aclose()
    assert "timed out" in info.value.message
    assert time.monotonic() - started < within


# --- streams (one stall guard per body) ----------------------------------------------------------

def _openai_chunk(text: str) -> bytes:
    return b'data: {"choices":[{"index":0,"delta":{"content":"' + text.encode() + b'"},"finish_reason":null}]}\n\n'


_FINISH = b'data: {"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}\n\ndata: [DONE]\n\n'


async def test_a_stream_whose_server_goes_quiet_hits_the_read_timeout(fake_server) -> None:

    async def stalls(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        await response.write(_openai_chunk("Hel"))
        await asyncio.sleep(3)
        return response

    client = create_client("vllm", base_url=fake_server(stalls).url + "/v1", timeouts=Timeouts(connect=1, read=0.2, total=10))
    started = time.monotonic()
    texts = []
    with pytest.raises(TransientError) as info:
        async for event in client.stream(ChatRequest(model="m", messages=[Message.user("hi")])):
            texts.append(event.text)
    await client.aclose()
    assert texts == ["Hel"]
    assert "timed out" in info.value.message
    # The read timeout ended it: not the server's own end (3 s) nor the total (10 s).
    assert 0.2 <= time.monotonic() - started < 2.5


async def test_a_slow_stream_that_keeps_sending_outlives_its_read_timeout(fake_server) -> None:

    async def trickles(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        for i in range(10):  # a second in all, never more than 0.1 s apart
            await response.write(_openai_chunk(str(i)))
            await asyncio.sleep(0.1)
        await response.write(_FINISH)
        return response

    client = create_client("vllm", base_url=fake_server(trickles).url + "/v1", timeouts=Timeouts(connect=1, read=0.3, total=10))
    text = [e.text async for e in client.stream(ChatRequest(model="m", messages=[Message.user("hi")])) if e.type == "text"]
    await client.aclose()
    assert "".join(text) == "0123456789"


async def test_a_slow_consumer_is_not_timed_out_while_the_server_waits_for_it(fake_server) -> None:
    """The server sends more than the client buffers, then waits for the socket (back-pressure) while
    our caller dawdles for several read timeouts: that silence is ours, not the server's."""

    piece = "x" * 1000

    async def floods(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        for _ in range(4000):  # ~4 MB: more than aiohttp's buffer and the socket's together
            await response.write(_openai_chunk(piece))
        await response.write(_FINISH)
        return response

    client = create_client("vllm", base_url=fake_server(floods).url + "/v1", timeouts=Timeouts(connect=1, read=0.2, total=30))
    count = 0
    done = None
    async for event in client.stream(ChatRequest(model="m", messages=[Message.user("hi")])):
        if event.type == "text":
            count += 1
            if count == 1:
                await asyncio.sleep(1.0)  # five read timeouts with the server blocked on us
        elif event.type == "done":
            done = event
    await client.aclose()
    assert done is not None and done.response.finish_reason == "stop"
    assert done.response.text == piece * 4000


# --- whole answers (the session's watchdog) ---------------------------------------------------------

async def test_a_whole_answer_that_never_comes_hits_the_read_timeout(fake_server) -> None:
    async def silent(request: web.Request) -> web.Response:
        await asyncio.sleep(3)
        return web.Response(body=_ANSWER, content_type="application/json")

    client = create_client("vllm", base_url=fake_server(silent).url + "/v1", timeouts=Timeouts(connect=0.2, read=0.2, total=10))
    await _ends_timed_out(client)  # within 2.5 s: not the server's own answer at 3 s


async def test_a_whole_answer_kept_alive_with_whitespace_outlives_its_read_timeout(fake_server) -> None:
    """Some gateways send the headers at once and a blank every few seconds until the answer is ready."""

    async def keeps_alive(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        await response.prepare(request)
        for _ in range(8):  # 0.8 s in all, never more than 0.1 s apart
            await response.write(b"\n")
            await asyncio.sleep(0.1)
        await response.write(_ANSWER)
        return response

    client = create_client("vllm", base_url=fake_server(keeps_alive).url + "/v1", timeouts=Timeouts(connect=1, read=0.3, total=10))
    response = await client.chat(_request())
    await client.aclose()
    assert (response.text, response.finish_reason, response.usage.output_tokens) == ("done", "stop", 1)


async def test_a_whole_answer_that_stops_halfway_hits_the_read_timeout(fake_server) -> None:
    async def stops(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        await response.prepare(request)
        await response.write(_ANSWER[:40])
        await asyncio.sleep(3)
        return response

    client = create_client("vllm", base_url=fake_server(stops).url + "/v1", timeouts=Timeouts(connect=1, read=0.2, total=10))
    await _ends_timed_out(client)


async def test_a_whole_answer_past_the_total_limit_is_ended(fake_server) -> None:
    async def never_done(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        await response.prepare(request)
        for _ in range(50):  # keeps the read limit happy for 5 s
            await response.write(b"\n")
            await asyncio.sleep(0.1)
        return response

    client = create_client("vllm", base_url=fake_server(never_done).url + "/v1", timeouts=Timeouts(connect=1, read=0.3, total=0.6))
    await _ends_timed_out(client)


async def test_a_cancelled_call_stays_cancelled_not_a_timeout(fake_server) -> None:
    async def slow(request: web.Request) -> web.Response:
        await asyncio.sleep(2)
        return web.Response(body=_ANSWER, content_type="application/json")

    client = create_client("vllm", base_url=fake_server(slow).url + "/v1", timeouts=Timeouts(connect=1, read=0.2, total=10))
    task = asyncio.create_task(client.chat(_request()))
    await asyncio.sleep(0.1)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    # The client stays usable, and the next call still has its limits.
    with pytest.raises(TransientError):
        await client.chat(_request())
    await client.aclose()


async def test_a_callers_own_deadline_stays_the_callers(fake_server) -> None:
    async def slow(request: web.Request) -> web.Response:
        await asyncio.sleep(2)
        return web.Response(body=_ANSWER, content_type="application/json")

    client = create_client("vllm", base_url=fake_server(slow).url + "/v1", timeouts=Timeouts(connect=1, read=1, total=10))
    with pytest.raises(TimeoutError) as info:
        async with asyncio.timeout(0.2):
            await client.chat(_request())
    await client.aclose()
    assert not isinstance(info.value, TransientError)


async def test_a_timed_out_call_leaves_its_task_as_it_found_it(fake_server) -> None:
    async def silent(request: web.Request) -> web.Response:
        await asyncio.sleep(3)
        return web.Response(body=_ANSWER, content_type="application/json")

    client = create_client("vllm", base_url=fake_server(silent).url + "/v1", timeouts=Timeouts(connect=0.2, read=0.2, total=10))
    async with asyncio.timeout(5) as outer:  # the caller's own deadline, far off, is not the one that fired
        with pytest.raises(TransientError):
            await client.chat(_request())
    await client.aclose()
    assert not outer.expired()
    assert asyncio.current_task().cancelling() == 0  # type: ignore[union-attr]


async def test_calls_one_after_another_each_keep_their_limits(fake_server) -> None:
    delays = iter([0.0, 0.0, 3.0])

    async def sometimes_silent(request: web.Request) -> web.Response:
        await asyncio.sleep(next(delays))
        return web.Response(body=_ANSWER, content_type="application/json")

    client = create_client("vllm", base_url=fake_server(sometimes_silent).url + "/v1", timeouts=Timeouts(connect=0.2, read=0.2, total=10))
    assert (await client.chat(_request())).text == "done"
    await asyncio.sleep(0.5)  # long enough for the watchdog to have gone quiet
    assert (await client.chat(_request())).text == "done"
    with pytest.raises(TransientError) as info:
        await client.chat(_request())
    await client.aclose()
    assert "timed out" in info.value.message


async def test_an_error_status_is_classified_on_the_whole_answer_path(fake_server) -> None:
    async def limited(request: web.Request) -> web.Response:
        return web.json_response({"error": {"message": "Rate limit reached", "type": "rate_limit_error"}}, status=429)

    client = create_client("vllm", base_url=fake_server(limited).url + "/v1", timeouts=Timeouts(connect=1, read=1, total=10))
    with pytest.raises(RateLimitError) as info:
        await client.chat(_request())
    await client.aclose()
    assert (info.value.status, info.value.model) == (429, "m")

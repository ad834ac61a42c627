"""How ``assistant run`` and ``assistant chat`` show an agent run: the answer streams to stdout, steps,
tool calls, model switches and waits go to stderr (so stdout pipes cleanly), a spinner shows while
the model thinks, on a terminal only. Everything a model or a provider wrote (answer text, model ids,
tool output, error details) goes through ``clean`` first: an escape sequence in a reply must not move
the cursor, retitle the window or rewrite what the user already read.

    renderer = Renderer(verbose=args.verbose)
    async for event in agent.stream(task): renderer.handle(event)
"""

from __future__ import annotations

import asyncio
import itertools
import re
import sys
from typing import IO, Any

import orjson

from ..agent import AgentEvent, RunResult
from ..errors import AllModelsFailedError, LLMError
from ..messages import Attempt

__all__ = ["Renderer", "Spinner", "describe_failure", "short", "clean"]

# ESC-introduced sequences whole (CSI, OSC/DCS/APC/PM/SOS strings, two-byte escapes), then any C0
# control but tab and newline, DEL and the C1 controls (U+0080-U+009F, e.g. the 8-bit CSI U+009B).
_ESCAPES = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]"
    r"|\x1b[\]PX^_][^\x07\x1b]*(?:\x07|\x1b\\)?"
    r"|\x1b[ -/]*[0-~]"
)
_CONTROLS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def clean(text: str | None) -> str:
    """``text`` safe to print on a terminal: escape sequences and control characters removed
    (newline and tab kept).

        clean("\x1b[2Jhi\x07")   # "hi"
    """
    if not text:
        return ""
    return _CONTROLS.sub("", _ESCAPES.sub("", text))


def short(text: str, limit: int) -> str:
    """One line of at most ``limit`` characters, safe to print."""
    line = " ".join(clean(text).split())
    return line if len(line) <= limit else line[: limit - 3] + "..."


class Spinner:
    """A frame every 0.1 s on a terminal; nothing at all when the stream is not a TTY."""

    _FRAMES = "|/-\\"

    def __init__(self, stream: IO[str]) -> None:
        self._stream = stream
        self._enabled = bool(getattr(stream, "isatty", lambda: False)())
        self._task: asyncio.Task[None] | None = None
        self._label = ""

    def start(self, label: str) -> None:
        if not self._enabled or self._task is not None:
            return
        self._label = label
        self._task = asyncio.get_running_loop().create_task(self._spin())

    def stop(self) -> None:
        if self._task is None:
            return
        self._task.cancel()
        self._task = None
        self._stream.write("\r" + " " * (len(self._label) + 4) + "\r")
        self._stream.flush()

    async def _spin(self) -> None:
        for frame in itertools.cycle(self._FRAMES):
            self._stream.write(f"\r{frame} {self._label}")
            self._stream.flush()
            await asyncio.sleep(0.1)


class Renderer:
    """Turns agent events into terminal output; ``quiet`` (``--json``) shows nothing while running."""

    def __init__(self, *, verbose: bool = False, quiet: bool = False, out: IO[str] | None = None, err: IO[str] | None = None) -> None:
        self.out = out or sys.stdout
        self.err = err or sys.stderr
        self.verbose = verbose
        self.quiet = quiet
        self.spinner = Spinner(self.err)
        self._line_open = False
        self.result: RunResult | None = None

    def _note(self, text: str) -> None:
        self.spinner.stop()
        if self._line_open:
            self.out.write("\n")
            self.out.flush()
            self._line_open = False
        self.err.write(text + "\n")
        self.err.flush()

    def handle(self, event: AgentEvent) -> None:
        if event.type == "done":
            self.spinner.stop()
            self.result = event.result
        if self.quiet:
            return
        handler = getattr(self, f"_on_{event.type}", None)
        if handler is not None:
            handler(event)

    def _on_step_start(self, event: AgentEvent) -> None:
        self.spinner.start(f"step {event.step}: thinking")

    def _on_text(self, event: AgentEvent) -> None:
        self.spinner.stop()
        text = clean(event.text)
        if not text:
            return
        self.out.write(text)
        self.out.flush()
        self._line_open = not text.endswith("\n")

    def _on_reasoning(self, event: AgentEvent) -> None:
        if self.verbose:
            self._note("  (thinking) " + short(event.text or "", 200))

    def _on_status(self, event: AgentEvent) -> None:
        attempt = event.attempt
        if attempt is None:
            self._note(f"  .. {clean(event.text)}")
        elif attempt.kind is not None:
            self._note(f"  !! {_hop(attempt)}")
        elif self.verbose:
            self._note(f"  ok answered by {clean(attempt.provider)}/{clean(attempt.model)}")

    def _on_tool_call(self, event: AgentEvent) -> None:
        call = event.tool_call
        assert call is not None
        try:
            args = orjson.dumps(call.arguments, default=str).decode()
        except TypeError:  # an integer past 64 bits
            args = str(call.arguments)[:400]
        name = clean(call.name)
        self._note(f"  -> {name}({short(args, 200 if self.verbose else 100)})")
        self.spinner.start(f"running {name}")

    def _on_tool_result(self, event: AgentEvent) -> None:
        result = event.tool_result
        assert result is not None
        mark = "<-" if result.outcome == "ok" else "xx"
        text = clean(result.output) if self.verbose else short(result.output, 160)
        self._note(f"  {mark} {clean(result.name)}: {text}")

    def _on_step_discarded(self, event: AgentEvent) -> None:
        self._note(f"  !! {clean(event.text)} (the text above from this step is void)")

    def _on_step_end(self, event: AgentEvent) -> None:
        step = event.record
        if self.verbose and step is not None:
            usage = step.usage
            self._note(f"  step {step.number}{'.' + str(step.correction) if step.correction else ''}: {clean(step.model)} "
                       f"[{step.mode}] {usage.input_tokens} in / {usage.output_tokens} out, "
                       f"model {step.llm_s:.2f}s, tools {step.tools_s:.2f}s")

    def _on_done(self, event: AgentEvent) -> None:
        if self._line_open:
            self.out.write("\n")
            self.out.flush()
            self._line_open = False
        result = event.result
        if result is None:
            return
        if result.stop_reason == "max_steps":
            self._note(f"  (stopped at the step limit: best answer after {len(result.steps) - 1} steps)")
        if self.verbose:
            models = sorted({clean(s.model) for s in result.steps if s.model})
            usage = result.usage
            cache = f" ({usage.cached_tokens} read from cache, {usage.cache_write_tokens} written)" if (
                usage.cached_tokens or usage.cache_write_tokens) else ""
            cost = f", ${usage.cost:.4f}" if usage.cost is not None else ""
            self._note(f"  done in {result.duration_s:.1f}s, {len(result.steps)} model calls, "
                       f"{usage.input_tokens} in{cache} / {usage.output_tokens} out tokens{cost}, "
                       f"models: {', '.join(models) or '-'}")


def _hop(attempt: Attempt) -> str:
    where = clean(f"{attempt.provider}/{attempt.model}")
    status = f" HTTP {attempt.status}" if attempt.status else ""
    wait = f", waited {attempt.wait_s:.1f}s" if attempt.wait_s else ""
    return f"{where}: {attempt.kind}{status} - {short(attempt.detail, 160)}{wait}"


def describe_failure(exc: LLMError) -> str:
    """What went wrong, with one line per model tried (for the error message on stderr)."""
    lines = [f"error: {clean(str(exc))}"]
    attempts: list[Any] = exc.attempts if isinstance(exc, AllModelsFailedError) else []
    for attempt in attempts[-10:]:
        lines.append(f"  - {_hop(attempt)}")
    if isinstance(exc, AllModelsFailedError):
        lines.append("Check your keys and models with: assistant doctor")
    return "\n".join(lines)

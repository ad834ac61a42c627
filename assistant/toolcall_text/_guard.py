"""The streaming guard: text reaches the user as it arrives until call markup or reasoning may
begin; the rest waits for the parser.

    guard = TextGuard()
"""

from __future__ import annotations

import re

__all__ = ["TextGuard"]


_OPENER = re.compile(
    r"<\s*/?\s*(?:\w+:)?(?:tool|function|start_function_call|invoke|think|reasoning)|<\||<｜"
    r"|\[/?(?:TOOL_CALLS?|TOOL_REQUEST|FUNCTION_CALL|THINK)\]|\[\s*\{|\[\s*[A-Za-z_][\w.]*\s*\(|```|functools\["
    r"|\{\s*[\"'](?:name|tool|tool_name|function|action)[\"']|>>>|\bto=functions\.|^\s*Action:",
    re.IGNORECASE | re.MULTILINE,
)
# What the held-back tail may still grow into (a partial opener at the end of a delta).
_PARTIAL = re.compile(
    r"(?:<[\w|｜/:\s]*|\[[\w{\s/.]*|`{1,3}|\{\s*(?:[\"']\w*)?|functools|>{1,2}|\bto=?\w*\.?|^\s*Action)$",
    re.IGNORECASE | re.MULTILINE,
)
_WINDOW = 24
# A closed reasoning block is not shown; streaming resumes after it (the parser drops it too).
_REASONING = re.compile(
    r"\A\s*(?:<(think|thinking|reasoning|seed:think)>.*?</\1>|\[THINK\].*?\[/THINK\]"
    r"|<\|START_THINKING\|>.*?<\|END_THINKING\|>)",
    re.DOTALL | re.IGNORECASE,
)


class TextGuard:
    """Streams text until tool-call markup may begin, then holds the rest for the parser.

        guard = TextGuard()
        shown = guard.feed(delta)            # safe to show now
        rest = guard.finish(clean_text)      # the remainder of the cleaned text, at the end
    """

    __slots__ = ("_buffer", "_holding", "emitted")

    def __init__(self) -> None:
        self._buffer = ""
        self._holding = False
        self.emitted = ""

    def feed(self, delta: str) -> str:
        if self._holding:
            self._buffer += delta
            done = _REASONING.match(self._buffer)
            if done is None:
                return ""
            self._holding = False
            text, self._buffer = self._buffer[done.end() :], ""
        else:
            text = self._buffer + delta
        m = _OPENER.search(text)
        if m is not None:
            self._holding = True
            safe, self._buffer = text[: m.start()], text[m.start() :]
        else:
            tail = _PARTIAL.search(text, max(0, len(text) - _WINDOW))
            cut = tail.start() if tail is not None else len(text)
            safe, self._buffer = text[:cut], text[cut:]
        if not self.emitted.strip():
            # The parsed text is stripped: what opens the reply (or follows its reasoning) starts at a word.
            safe = safe.lstrip()
        self.emitted += safe
        return safe

    def finish(self, clean_text: str) -> str:
        """What of ``clean_text`` (the parsed, markup-free reply) has not been shown yet."""
        self._buffer = ""
        shown = self.emitted.strip()
        if not clean_text.startswith(shown):
            return ""
        rest = clean_text[len(shown) :]
        if self.emitted != self.emitted.rstrip():
            rest = rest.lstrip()
        self.emitted += rest
        return rest

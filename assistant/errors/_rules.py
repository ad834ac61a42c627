"""The rule tables in the order the classifier tries them, and what a bare status or type implies.

A rule matches when every condition it names holds: ``codes`` (error.code, Google ``status``, details
``reason``, Azure ``innererror.code``, Bedrock's ``x-amzn-errortype``), ``types`` (error.type), ``status``
and ``phrase`` (a regex over every message in the body); ``unless`` vetoes a match. Order of evidence:

1. structured fields (``_rules_codes``): codes, then types;
2. words about money and rate limits (``_rules_phrases.MONEY_AND_RATE``), which read like overflow;
3. overflow measured against the window, then the limits that only look like one, then overflow said
   plainly (``_rules_overflow``);
4. vendor phrases (the caller's family first), then phrases many vendors share (``_rules_phrases``);
5. ``GENERIC_TYPE_KINDS`` and ``STATUS_KINDS`` when no rule matched.
"""

from __future__ import annotations

from ._rule import Family, Rule
from ._rules_codes import CODE_RULES
from ._rules_overflow import NOT_OVERFLOW, STATED_OVERFLOW, WORDED_OVERFLOW
from ._rules_phrases import FAMILY_PHRASES, MONEY_AND_RATE, OTHER_PHRASES
from .hierarchy import ErrorKind

__all__ = ["Family", "Rule", "FAMILIES", "rules_for_family", "GENERIC_TYPE_KINDS", "STATUS_KINDS", "status_kind"]

FAMILIES: tuple[Family, ...] = ("openai", "anthropic", "gemini", "ollama")


def rules_for_family(family: Family) -> tuple[Rule, ...]:
    """Every rule in the order it is tried for a provider of ``family``."""
    vendor = FAMILY_PHRASES[family] + tuple(r for f in FAMILIES if f != family for r in FAMILY_PHRASES[f])
    return (*CODE_RULES, *MONEY_AND_RATE, *STATED_OVERFLOW, *NOT_OVERFLOW, *WORDED_OVERFLOW, *vendor, *OTHER_PHRASES)


# Types and codes that only say "your request" or "our server", used when nothing more specific matched.
GENERIC_TYPE_KINDS: dict[str, ErrorKind] = {
    "invalid_request_error": "bad_request",
    "badrequesterror": "bad_request",
    "invalid_argument": "bad_request",
    "failed_precondition": "bad_request",
    "out_of_range": "bad_request",
    "validationexception": "bad_request",
    "unsupported_value": "bad_request",
    "unsupported_parameter": "bad_request",
    "invalid_value": "bad_request",
    "not_supported_error": "bad_request",
    "api_error": "transient",
    "server_error": "transient",
    "internal_error": "transient",
    "internalservererror": "transient",
    "serviceunavailableerror": "transient",
    "apiconnectionerror": "transient",
    "timeout": "transient",
}

STATUS_KINDS: dict[int, ErrorKind] = {
    400: "bad_request",
    401: "auth",
    402: "billing",
    403: "auth",
    404: "not_found",
    405: "bad_request",
    408: "transient",
    409: "transient",
    410: "not_found",
    # "Request Entity Too Large" alone is a body or upload size cap (Anthropic's 32 MB, an image), not the window;
    # an overflow says so in words.
    413: "bad_request",
    422: "bad_request",
    425: "transient",
    429: "rate_limit",
    451: "content_filter",
    # Groq: "the flex tier is at capacity and the request won't be processed. You can try again later."
    498: "transient",
    499: "transient",
    501: "bad_request",
}


def status_kind(status: int) -> ErrorKind | None:
    """The kind an HTTP status alone implies (None for 0 and 2xx/3xx)."""
    if status in STATUS_KINDS:
        return STATUS_KINDS[status]
    if status >= 500:
        return "transient"
    if status >= 400:
        return "bad_request"
    return None

"""AWS credentials, region and Signature Version 4 for Bedrock, without botocore.

Why not botocore (as an optional extra): it is ~25 MB, synchronous, and would only compute one header
here; SigV4 is ~40 lines of hmac/hashlib, checked in tests against AWS's published suite vectors
(get-vanilla, post-vanilla, get-vanilla-query-order-key-case). The credential chain covers what a
developer machine has: the environment (``AWS_ACCESS_KEY_ID`` / ``AWS_SECRET_ACCESS_KEY`` /
``AWS_SESSION_TOKEN``), then the profile (``AWS_PROFILE``, default ``default``) in the shared credentials
file and the config file. SSO, assume-role, ``credential_process`` and instance metadata are not read:
export their temporary keys (``aws configure export-credentials --format env``) or use a Bedrock API key
(``AWS_BEARER_TOKEN_BEDROCK``).

Region: ``AWS_REGION``, ``AWS_DEFAULT_REGION``, the profile's ``region``, else ``us-east-1``.
"""

from __future__ import annotations

import configparser
import hashlib
import hmac
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qsl, quote

from ..errors import UsageError
from ..errors.redact import register_secret
from ._spec import ProviderSpec

__all__ = ["AwsCredentials", "find_credentials", "check_credentials", "has_credentials", "region", "fill_region",
           "sign_v4"]

DEFAULT_REGION = "us-east-1"
_EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()


@dataclass(frozen=True)
class AwsCredentials:
    """One set of AWS keys; ``source`` says where they came from (never the keys themselves)."""

    access_key: str
    secret_key: str = field(repr=False)
    session_token: str | None = field(default=None, repr=False)
    source: str = ""


def _profile() -> str:
    return os.environ.get("AWS_PROFILE") or os.environ.get("AWS_DEFAULT_PROFILE") or "default"


def _file(var: str, default: str) -> Path:
    return Path(os.environ.get(var) or Path.home() / ".aws" / default).expanduser()


def _section(path: Path, names: tuple[str, ...]) -> dict[str, str]:
    if not path.is_file():
        return {}
    parser = configparser.RawConfigParser()
    try:
        parser.read(path, encoding="utf-8")
    except configparser.Error as exc:
        raise UsageError(f"AWS file {path} does not parse: {exc}") from None
    for name in names:
        if parser.has_section(name):
            return {k.lower(): v.strip() for k, v in parser.items(name)}
    return {}


def _profile_values() -> tuple[dict[str, str], dict[str, str]]:
    profile = _profile()
    creds = _section(_file("AWS_SHARED_CREDENTIALS_FILE", "credentials"), (profile,))
    # The config file names sections "[profile dev]" except "[default]".
    config = _section(_file("AWS_CONFIG_FILE", "config"), (f"profile {profile}", profile))
    return creds, config


def find_credentials() -> AwsCredentials | None:
    """The first credentials of the chain (environment, then the profile's files), or None."""
    access, secret = os.environ.get("AWS_ACCESS_KEY_ID", "").strip(), os.environ.get("AWS_SECRET_ACCESS_KEY", "").strip()
    if access and secret:
        found = AwsCredentials(access, secret, os.environ.get("AWS_SESSION_TOKEN", "").strip() or None, "environment")
    else:
        found = None
        creds, config = _profile_values()
        for values, where in ((creds, "credentials file"), (config, "config file")):
            if values.get("aws_access_key_id") and values.get("aws_secret_access_key"):
                found = AwsCredentials(values["aws_access_key_id"], values["aws_secret_access_key"],
                                       values.get("aws_session_token") or None, f"{where} [{_profile()}]")
                break
    if found is not None:
        for secret_value in (found.secret_key, found.session_token):
            register_secret(secret_value)
    return found


def has_credentials() -> bool:
    try:
        return find_credentials() is not None
    except UsageError:
        return False


def check_credentials() -> AwsCredentials:
    found = find_credentials()
    if found is None:
        raise UsageError(
            "provider 'bedrock' needs AWS credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY "
            f"(and AWS_SESSION_TOKEN for temporary keys), add profile [{_profile()}] to ~/.aws/credentials, "
            "or set a Bedrock API key in AWS_BEARER_TOKEN_BEDROCK"
        )
    return found


def region() -> str:
    for var in ("AWS_REGION", "AWS_DEFAULT_REGION"):
        value = os.environ.get(var, "").strip()
        if value:
            return value
    _, config = _profile_values()
    return config.get("region") or DEFAULT_REGION


def fill_region(spec: ProviderSpec) -> ProviderSpec:
    """The spec with ``{AWS_REGION}`` in its URL replaced by the region chain's answer."""
    if "{AWS_REGION}" not in spec.base_url:
        return spec
    return spec.model_copy(update={"base_url": spec.base_url.replace("{AWS_REGION}", region())})


def _hmac(key: bytes, text: str) -> bytes:
    return hmac.new(key, text.encode(), hashlib.sha256).digest()


def _canonical_query(query: str) -> str:
    pairs = sorted(parse_qsl(query, keep_blank_values=True))
    return "&".join(f"{quote(k, safe='-_.~')}={quote(v, safe='-_.~')}" for k, v in pairs)


def sign_v4(
    method: str,
    host: str,
    path: str,
    body: bytes,
    credentials: AwsCredentials,
    *,
    region: str,
    service: str = "bedrock",
    query: str = "",
    now: float | None = None,
    payload_header: bool = True,
) -> dict[str, str]:
    """The headers that sign one request (``Authorization``, ``X-Amz-Date``, token, payload hash).

    ``path`` is the path exactly as sent; each segment is encoded once more for the canonical request
    (the SigV4 rule for every service but S3).

        headers = sign_v4("POST", "bedrock-runtime.us-east-1.amazonaws.com", "/model/m/converse", body, creds,
                          region="us-east-1")
    """
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(time.time() if now is None else now))
    date = stamp[:8]
    payload_hash = hashlib.sha256(body).hexdigest() if body else _EMPTY_SHA256
    headers = {"host": host, "x-amz-date": stamp}
    if credentials.session_token:
        headers["x-amz-security-token"] = credentials.session_token
    if payload_header:  # optional for Bedrock; the suite vectors sign only host and x-amz-date
        headers["x-amz-content-sha256"] = payload_hash
    names = sorted(headers)
    signed = ";".join(names)
    canonical = "\n".join([
        method.upper(),
        quote(path or "/", safe="/-_.~"),
        _canonical_query(query),
        "".join(f"{n}:{' '.join(headers[n].split())}\n" for n in names),
        signed,
        payload_hash,
    ])
    scope = f"{date}/{region}/{service}/aws4_request"
    to_sign = "\n".join(["AWS4-HMAC-SHA256", stamp, scope, hashlib.sha256(canonical.encode()).hexdigest()])
    key = _hmac(_hmac(_hmac(_hmac(f"AWS4{credentials.secret_key}".encode(), date), region), service), "aws4_request")
    signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    out = {k: v for k, v in headers.items() if k != "host"}
    out["Authorization"] = (
        f"AWS4-HMAC-SHA256 Credential={credentials.access_key}/{scope}, SignedHeaders={signed}, Signature={signature}"
    )
    return out

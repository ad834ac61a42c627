#!/usr/bin/env bash
# Run the whole test suite: install (idempotent), start the embedded llama.cpp server, run pytest,
# stop the server. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
home="${ASSISTANT_HOME_FOR_TESTS:-$PWD/.ci-home}"
mkdir -p "$home"
# The joined Qwen model lives in the tests' home; pytest (which runs without ASSISTANT_HOME) finds it here.
export ASSISTANT_MODELS_DIR="$home/state/models"
ASSISTANT_HOME="$home" bash scripts/install.sh
# The tests' default model is installed: its end-to-end tests must run, not skip.
[ "${ASSISTANT_INSTALL_MODELS-qwen2.5-coder-1.5b}" = none ] || export ASSISTANT_REQUIRE_QWEN=1

# SmolLM2 serves the protocol tests (fast); the Qwen end-to-end tests start their own server.
ASSISTANT_HOME="$home" .venv/bin/assistant local start --name tests --model smollm2 --ctx-size 2048 >/dev/null
# ASSISTANT_HOME is spelled out in the trap: the stop must find the record the start wrote.
trap 'ASSISTANT_HOME="$home" .venv/bin/assistant local stop --name tests >/dev/null 2>&1 || true' EXIT
ASSISTANT_TEST_LLAMA_URL=$(ASSISTANT_HOME="$home" .venv/bin/python -c 'import assistant.local as l; print(l.status(name="tests").url)')
export ASSISTANT_TEST_LLAMA_URL

.venv/bin/python -m pytest "$@"

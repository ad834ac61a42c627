#!/usr/bin/env bash
# Run the whole test suite: install (idempotent), start the embedded llama.cpp server, run pytest,
# stop the server. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh

export ASSISTANT_HOME="${ASSISTANT_HOME_FOR_TESTS:-$PWD/.ci-home}"
mkdir -p "$ASSISTANT_HOME"
.venv/bin/assistant local start --name tests --ctx-size 2048 >/dev/null
trap '.venv/bin/assistant local stop --name tests >/dev/null 2>&1 || true' EXIT
ASSISTANT_TEST_LLAMA_URL=$(.venv/bin/python -c 'import assistant.local as l; print(l.status(name="tests").url)')
export ASSISTANT_TEST_LLAMA_URL
unset ASSISTANT_HOME

.venv/bin/python -m pytest "$@"

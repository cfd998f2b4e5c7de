#!/usr/bin/env bash
# The README's path as a newcomer walks it: a fresh clone of this repository's HEAD in a
# temporary folder, an empty CARGO_HOME (nothing from this machine's cargo cache) and no .venv,
# then the README's two commands: `cargo run --release` must serve (curl gets a greeting) and
# `./scripts/test.sh` must pass. Everything downloads and builds from scratch; .ci/run runs it
# as its test step. Uncommitted changes are not in the clone.
# KEEP=1 keeps the temporary folder for a look afterwards.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
cleanup() {
    kill $(jobs -p) 2>/dev/null || true
    if [[ -n "${KEEP:-}" ]]; then echo "fresh-clone-check: kept $work" >&2; else rm -rf "$work"; fi
}
trap cleanup EXIT
started=$(date +%s)
step() { echo "fresh-clone-check [$(($(date +%s) - started)) s]: $*" >&2; }

git clone --quiet "$repo" "$work/repo"
cd "$work/repo"
step "cloned $(git rev-parse --short HEAD) into $work/repo"
# rustup's proxies still find the toolchain (RUSTUP_HOME); crates, git checkouts and
# installed cargo tools start empty.
export RUSTUP_HOME="${RUSTUP_HOME:-$HOME/.rustup}"
export CARGO_HOME="$work/cargo-home"
mkdir -p "$CARGO_HOME"
unset CARGO_TARGET_DIR
# pip's and npm's download caches start empty too: a package they hold from an earlier run
# would hide one the registry no longer serves, or a step that no longer installs it.
export PIP_CACHE_DIR="$work/pip-cache" npm_config_cache="$work/npm-cache"

# The first command: the server on its default ports answers curl.
step "cargo run --release"
cargo run --release >"$work/server.log" 2>&1 &
server=$!
for _ in $(seq 1800); do
    if reply=$(curl -sf localhost:8080/v1/greeter/hello/World 2>/dev/null); then break; fi
    kill -0 "$server" 2>/dev/null || { cat "$work/server.log" >&2; step "the server exited"; exit 1; }
    sleep 1
done
[[ "${reply:-}" == '{"message":"Hello World"}' ]] || { step "unexpected reply: ${reply:-none}"; exit 1; }
step "the server answered $reply"
kill -INT "$server"; wait "$server" || true

# The second command.
step "./scripts/test.sh"
./scripts/test.sh
step "passed"

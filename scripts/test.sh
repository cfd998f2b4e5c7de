#!/usr/bin/env bash
# The test command. On a fresh machine it installs what the tests drive (Debian packages,
# a Python venv in .venv with the tools in scripts/requirements-test.txt, the npm packages of
# tests/node, the Go servers of baselines/go), then runs
# `cargo test --no-fail-fast` with CI=true, so a test whose tool is still missing fails instead
# of skipping, and one failing test binary does not hide the results of the others. Extra
# arguments go to `cargo test`.
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian packages the tests need. Installed every time (apt-get is quick when they are
# present) so that a run never passes only because someone installed them by hand.
APT_PACKAGES=(curl chromium python3 python3-venv python3-pip nginx-core haproxy iproute2)

install_apt_packages() {
    local sudo=()
    if [[ $(id -u) -ne 0 ]]; then
        if command -v sudo >/dev/null; then sudo=(sudo); else
            echo "test.sh: not root and no sudo: assuming ${APT_PACKAGES[*]} are installed" >&2
            return
        fi
    fi
    echo "test.sh: apt-get install ${APT_PACKAGES[*]}" >&2
    "${sudo[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends \
        "${APT_PACKAGES[@]}" >/dev/null
}

install_python_tools() {
    if [[ ! -x .venv/bin/python ]]; then
        echo "test.sh: creating .venv" >&2
        python3 -m venv .venv
    fi
    echo "test.sh: pip install -r scripts/requirements-test.txt" >&2
    .venv/bin/python -m pip install -q --disable-pip-version-check -r scripts/requirements-test.txt
}

# Node packages the tests drive (Connect-ES, Redocly's linter), from tests/node's lock file.
install_node_tools() {
    if ! command -v npm >/dev/null && command -v apt-get >/dev/null; then
        APT_PACKAGES=(nodejs npm) install_apt_packages
    fi
    if ! command -v npm >/dev/null; then
        echo "test.sh: npm is missing: the tests in tests/node_clients.rs will fail" >&2
        return
    fi
    echo "test.sh: npm ci in tests/node" >&2
    (cd tests/node && npm ci --no-audit --no-fund --ignore-scripts --loglevel=error)
}

if command -v apt-get >/dev/null; then install_apt_packages; fi
install_python_tools
install_node_tools
export PATH="$PWD/.venv/bin:$PATH"
# The example servers tests/baselines.rs starts: `cargo test` builds examples only under
# hashed names.
cargo build --examples
# The Go servers tests/go_servers.rs measures, built offline from Debian's Go packages.
if command -v apt-get >/dev/null || command -v go >/dev/null; then scripts/go_baselines.sh; fi
CI=true cargo test --workspace --all-targets --no-fail-fast "$@"

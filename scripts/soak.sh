#!/usr/bin/env bash
# The full soak: 1,000 connections of mixed gRPC and REST calls for 60 s against a release
# build, then SIGTERM under the same load (tests/soak.rs; CI runs it small). Prints p50/p99,
# RSS per round, and how the calls ended. Override with SOAK_CONNECTIONS / SOAK_SECONDS.
set -euo pipefail
cd "$(dirname "$0")/.."
export SOAK_CONNECTIONS="${SOAK_CONNECTIONS:-1000}" SOAK_SECONDS="${SOAK_SECONDS:-60}"
cargo test --release --test soak -- --nocapture --test-threads 1 2>&1 | grep -E "(soak|sigterm under load):|test result|panicked|calls cut|failed calls"

#!/usr/bin/env bash
# Baselines and fidelity, measured with outside tools in one run. Servers are pinned to CPU 0
# and load generators to CPU 1 with taskset, so they do not fight over a core.
#   1. our gRPC SayHello vs the bare tonic example (h2load: 1 connection, 64 streams)
#   2. our REST JSON SayHello vs the bare axum example (wrk: 64 connections)
#   3. `compare` vs h2load (gRPC) and vs wrk (HTTP/1.1) against our server, with the same
#      connections and calls in flight: is the tool the bottleneck?
# Two shared cores make one measurement swing by 10-25 %, so the script runs ROUNDS rounds
# (default 3), each measuring ours and the bare server back to back, and prints the median of
# the per-round ratios. Needs h2load (Debian nghttp2-client) and wrk. DURATION (seconds per
# measurement) defaults to 5.
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION="${DURATION:-5}"
ROUNDS="${ROUNDS:-3}"
for tool in h2load wrk taskset python3; do
    command -v "$tool" >/dev/null || { echo "baseline.sh: $tool is missing (apt-get install nghttp2-client wrk)" >&2; exit 1; }
done
cargo build --release --quiet --bin rpc-vs-rest --example bare_tonic --example bare_axum
BIN=target/release/rpc-vs-rest
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT

# SayHello{name: "World"} in one gRPC frame: flag 0, length 7, then field 1 = "World".
printf '\x00\x00\x00\x00\x07\x0a\x05World' > "$work/hello.grpc"
cat > "$work/post.lua" <<'LUA'
wrk.method = "POST"
wrk.body = '{"name":"World"}'
wrk.headers["Content-Type"] = "application/json"
LUA

start_on_cpu0() { taskset -c 0 "$@" >/dev/null 2>&1 & sleep 1; }
h2load_rps() {
    taskset -c 1 h2load -c 1 -m 64 -D "$DURATION" -d "$work/hello.grpc" \
        -H 'content-type: application/grpc' -H 'te: trailers' "http://$1/helloworld.Greeter/SayHello" \
        | awk '/^finished in/ { print $4 }'
}
wrk_rps() {
    taskset -c 1 wrk -t 1 -c 64 -d "${DURATION}s" -s "$work/post.lua" "http://$1/v1/greeter/hello" \
        | awk '/^Requests\/sec/ { print $2 }'
}
compare_rps() { # cell
    taskset -c 1 "$BIN" compare --grpc-target 127.0.0.1:50071 --rest-target 127.0.0.1:8071 \
        --cells "$1" --workloads unary --concurrency 64 --duration "$DURATION" --format json 2>/dev/null \
        | python3 -c 'import json,sys; print(json.load(sys.stdin)["measurements"][0]["requests_per_second"])'
}
ratio() { python3 -c "print(f'{$1 / $2:.2f}')"; }

start_on_cpu0 "$BIN" serve --grpc-addr 127.0.0.1:50071 --rest-addr 127.0.0.1:8071
start_on_cpu0 target/release/examples/bare_tonic 127.0.0.1:50061
start_on_cpu0 target/release/examples/bare_axum 127.0.0.1:8061

median() { python3 -c "import statistics, sys; print(f'{statistics.median(map(float, sys.argv[1:])):.2f}')" "$@"; }
grpc_ratios=() rest_ratios=() h2load_ratios=() wrk_ratios=()
for round in $(seq "$ROUNDS"); do
    ours_grpc=$(h2load_rps 127.0.0.1:50071)
    bare_grpc=$(h2load_rps 127.0.0.1:50061)
    ours_rest=$(wrk_rps 127.0.0.1:8071)
    bare_rest=$(wrk_rps 127.0.0.1:8061)
    compare_grpc=$(compare_rps grpc)
    ours_grpc_again=$(h2load_rps 127.0.0.1:50071)
    compare_rest=$(compare_rps rest-json-h1)
    ours_rest_again=$(wrk_rps 127.0.0.1:8071)
    echo "round $round: gRPC ours ${ours_grpc} / bare tonic ${bare_grpc} req/s; REST ours ${ours_rest} / bare axum ${bare_rest} req/s;"
    echo "         compare grpc ${compare_grpc} / h2load ${ours_grpc_again}; compare rest-json-h1 ${compare_rest} / wrk ${ours_rest_again}"
    grpc_ratios+=("$(ratio "$ours_grpc" "$bare_grpc")")
    rest_ratios+=("$(ratio "$ours_rest" "$bare_rest")")
    h2load_ratios+=("$(ratio "$compare_grpc" "$ours_grpc_again")")
    wrk_ratios+=("$(ratio "$compare_rest" "$ours_rest_again")")
done

echo
echo "median of ${ROUNDS} rounds (per round: ${grpc_ratios[*]} | ${rest_ratios[*]} | ${h2load_ratios[*]} | ${wrk_ratios[*]})"
echo "ours / bare tonic (gRPC)         = $(median "${grpc_ratios[@]}")   target >= 0.80 (default profile)"
echo "ours / bare axum (REST JSON)     = $(median "${rest_ratios[@]}")   target >= 0.80 (default profile)"
echo "compare / h2load (gRPC)          = $(median "${h2load_ratios[@]}")   target >= 0.90"
echo "compare / wrk (HTTP/1.1)         = $(median "${wrk_ratios[@]}")   target >= 0.90"

#!/usr/bin/env bash
# Is `compare` measuring the server, or itself? Against one running server (default profile,
# pinned to SERVER_CORES cores, default 4), h2load and `compare` drive the same shapes from the
# same load cores, and the script prints compare / h2load:
#   gRPC SayHello and REST JSON over h2c, 64 calls in flight on 1 and on 8 connections;
#   REST JSON over HTTP/1.1, 64 connections (h2load --h1);
# then `compare`'s stream-100 at 64 in flight for grpc and rest-json-h2 (1 connection), whose
# calls per second and p50/p99 show whether one write policy holds for both.
# Settings as in scripts/scaling.sh: DURATION (default 4), BIN, H2LOAD, SKIP_BUILD, LOAD_CPUS.
# Needs h2load (Debian: nghttp2-client), taskset, awk and sed.
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION="${DURATION:-4}"
BIN="${BIN:-target/release/rpc-vs-rest}"
H2LOAD="${H2LOAD:-h2load}"
for tool in "$H2LOAD" taskset awk sed; do
    command -v "$tool" >/dev/null || { echo "generator.sh: $tool is missing (apt-get install nghttp2-client)" >&2; exit 1; }
done
[[ -n "${SKIP_BUILD:-}" ]] || cargo build --release --quiet --bin rpc-vs-rest
total=$(nproc)
half=$(( total / 2 > 0 ? total / 2 : 1 ))
load_first=$(( total > 1 ? total - half : 0 ))
LOAD_CPUS="${LOAD_CPUS:-$load_first-$((total - 1))}"
load_threads=$(( total - load_first ))
SERVER_CORES="${SERVER_CORES:-$(( half < 4 ? half : 4 ))}"
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
printf '\x00\x00\x00\x00\x07\x0a\x05World' > "$work/hello.grpc"
printf '{"name":"World"}' > "$work/hello.json"

taskset -c "0-$((SERVER_CORES - 1))" "$BIN" serve --grpc-addr 127.0.0.1:50081 --rest-addr 127.0.0.1:8082 >/dev/null 2>&1 &
for _ in $(seq 100); do (echo >/dev/tcp/127.0.0.1/8082) 2>/dev/null && break; sleep 0.1; done

h2load_rps() { # url h2load-arguments...
    local url=$1; shift
    # h2load needs at least one connection per thread.
    local conns threads=$load_threads
    conns=$(printf '%s\n' "$@" | awk 'prev == "-c" { print; exit } { prev = $0 }')
    (( conns > 0 && conns < threads )) && threads=$conns
    taskset -c "$LOAD_CPUS" "$H2LOAD" -t "$threads" -D "$DURATION" --warm-up-time=1 "$@" "$url" > "$work/h2load.out" 2>&1 || true
    awk '/^requests:/ { failed = $10 } /^finished in/ { rps = $4 }
         END { if (rps == "" || failed != 0) print "failed"; else printf "%.0f\n", rps }' "$work/h2load.out"
}
compare_field() { # field cell workload connections
    taskset -c "$LOAD_CPUS" "$BIN" compare --grpc-target 127.0.0.1:50081 --rest-target 127.0.0.1:8082 \
        --cells "$2" --workloads "$3" --concurrency 64 --connections "$4" --warmup 1 --duration "$DURATION" \
        --format json 2>/dev/null > "$work/compare.json" || true
    sed -n "s/.*\"$1\": \([0-9.]*\).*/\1/p" "$work/compare.json" | head -1
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "" || a == "failed" || b == "failed" || b == 0) print "n/a"; else printf "%.2f\n", a / b }'; }

echo "machine: $total cores; server on cores 0..$((SERVER_CORES - 1)), load on $LOAD_CPUS; ${DURATION} s per measurement"
echo "| shape | h2load req/s | compare req/s | compare / h2load |"
echo "|---|---|---|---|"
for conns in 1 8; do
    per=$(( 64 / conns ))
    h=$(h2load_rps http://127.0.0.1:50081/helloworld.Greeter/SayHello -c "$conns" -m "$per" -d "$work/hello.grpc" -H 'content-type: application/grpc' -H 'te: trailers')
    c=$(compare_field requests_per_second grpc unary "$conns")
    echo "| grpc, $conns conn × $per streams | $h | ${c%.*} | $(ratio "$c" "$h") |"
    h=$(h2load_rps http://127.0.0.1:8082/v1/greeter/hello -c "$conns" -m "$per" -d "$work/hello.json" -H 'content-type: application/json')
    c=$(compare_field requests_per_second rest-json-h2 unary "$conns")
    echo "| rest-json-h2, $conns conn × $per streams | $h | ${c%.*} | $(ratio "$c" "$h") |"
done
h=$(h2load_rps http://127.0.0.1:8082/v1/greeter/hello --h1 -c 64 -d "$work/hello.json" -H 'content-type: application/json')
c=$(compare_field requests_per_second rest-json-h1 unary 1)
echo "| rest-json-h1, 64 connections | $h | ${c%.*} | $(ratio "$c" "$h") |"
echo
echo "| stream-100, 64 in flight, 1 connection | calls/s | p50 ms | p99 ms |"
echo "|---|---|---|---|"
for cell in grpc rest-json-h2 rest-sse-h2; do
    rps=$(compare_field requests_per_second "$cell" stream-100 1)
    p50=$(sed -n 's/.*"p50_us": \([0-9]*\).*/\1/p' "$work/compare.json" | head -1)
    p99=$(sed -n 's/.*"p99_us": \([0-9]*\).*/\1/p' "$work/compare.json" | head -1)
    echo "| $cell | ${rps%.*} | $(awk -v v="$p50" 'BEGIN { printf "%.2f", v / 1000 }') | $(awk -v v="$p99" 'BEGIN { printf "%.2f", v / 1000 }') |"
done

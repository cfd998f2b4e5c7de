#!/usr/bin/env bash
# Server instructions per call, counted by valgrind's callgrind: unlike requests per second,
# the count is the same from run to run and whatever else the machine is doing, so it shows
# what a change to the per-request path costs. Compares our server with the bare examples:
#   gRPC SayHello (h2load, 1 connection x 64 streams) and REST JSON SayHello (h2load --h1,
#   16 connections), CALLS calls each (default 5000) after 1000 to warm up. PROFILE=lean
#   measures our server in its lean profile (default: the default profile).
# Needs valgrind and h2load (Debian: valgrind nghttp2-client).
set -euo pipefail
cd "$(dirname "$0")/.."
CALLS="${CALLS:-5000}"
PROFILE="${PROFILE:-default}"
for tool in valgrind callgrind_control callgrind_annotate h2load; do
    command -v "$tool" >/dev/null || { echo "instructions.sh: $tool is missing (apt-get install valgrind nghttp2-client)" >&2; exit 1; }
done
cargo build --release --quiet --bin rpc-vs-rest --example bare_tonic --example bare_axum
work=$(mktemp -d)
trap 'kill -9 $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
printf '\x00\x00\x00\x00\x07\x0a\x05World' > "$work/hello.grpc"
printf '{"name":"World"}' > "$work/hello.json"

grpc_load() { # port calls
    h2load -c 1 -m 64 -n "$2" -d "$work/hello.grpc" -H 'content-type: application/grpc' \
        -H 'te: trailers' "http://127.0.0.1:$1/helloworld.Greeter/SayHello" | grep -q ' 0 failed'
}
rest_load() { # port calls
    h2load --h1 -c 16 -n "$2" -d "$work/hello.json" -H 'content-type: application/json' \
        "http://127.0.0.1:$1/v1/greeter/hello" | grep -q ' 0 failed'
}

# count LABEL LOAD PORT COMMAND...: instructions per call of COMMAND under LOAD.
count() {
    local label=$1 load=$2 port=$3; shift 3
    valgrind --tool=callgrind --callgrind-out-file="$work/$label.out" "$@" >/dev/null 2>&1 &
    local pid=$!
    for _ in $(seq 100); do (echo >"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.2; done
    "$load" "$port" 1000
    callgrind_control -z "$pid" >/dev/null 2>&1
    "$load" "$port" "$CALLS"
    callgrind_control -d "$pid" >/dev/null 2>&1
    kill -9 "$pid"; wait "$pid" 2>/dev/null || true
    local total
    total=$(callgrind_annotate "$(ls -t "$work/$label".out.* | head -1)" | awk '/PROGRAM TOTALS/ { gsub(",", "", $1); print $1 }')
    echo $((total / CALLS))
}

BIN=target/release/rpc-vs-rest
ours_grpc=$(count ours-grpc grpc_load 50081 "$BIN" serve --grpc-addr 127.0.0.1:50081 --rest-addr 127.0.0.1:8081 --profile "$PROFILE")
bare_grpc=$(count bare-grpc grpc_load 50082 target/release/examples/bare_tonic 127.0.0.1:50082)
ours_rest=$(count ours-rest rest_load 8083 "$BIN" serve --grpc-addr 127.0.0.1:50083 --rest-addr 127.0.0.1:8083 --profile "$PROFILE")
bare_rest=$(count bare-rest rest_load 8084 target/release/examples/bare_axum 127.0.0.1:8084)

echo "server instructions per call (user space; the kernel's share is the same for both):"
echo "gRPC SayHello:      ours ${ours_grpc}, bare tonic ${bare_grpc}  (bare / ours = $(python3 -c "print(f'{$bare_grpc / $ours_grpc:.2f}')"))"
echo "REST JSON SayHello: ours ${ours_rest}, bare axum ${bare_rest}  (bare / ours = $(python3 -c "print(f'{$bare_rest / $ours_rest:.2f}')"))"

#!/usr/bin/env bash
# Server instructions per call, counted by valgrind's callgrind: unlike requests per second,
# the count is the same from run to run and whatever else the machine is doing, so it shows
# what each layer of a server costs. The ladder, for each protocol stack:
#   floor     the frameworks at their minimum: examples/bare_tonic.rs, examples/bare_axum.rs
#   same_api  the whole Greeter API in plain framework code: examples/same_api_tonic.rs,
#             examples/same_api_axum.rs (our domain, routes and gRPC service, nothing around)
#   ours      `rpc-vs-rest serve --profile $PROFILE` (default profile unless PROFILE=lean)
# and the stacks:
#   grpc      gRPC SayHello, h2load, 1 connection x 64 streams
#   rest-h1   REST JSON SayHello over HTTP/1.1, h2load --h1, 16 connections
#   rest-h2c  REST JSON SayHello over h2c, h2load, 1 connection x 64 streams
# CALLS calls each (default 5000) after 1000 to warm up. Prints the ladder, the step costs and
# the distortion (how much each level changes gRPC / REST); the last line is one JSON object:
#   {"profile":"lean","grpc":{"floor":N,"same_api":N,"ours":N},"rest-h1":{...},"rest-h2c":{...}}
# BIN_DIR: where the binaries are (default target/release, built here; scripts/tuning.sh points
# it at its builds); PIN_CPU: run each server on that CPU alone (unset: not pinned), so that
# RPC_VS_REST_RUNTIME=per-core starts one runtime, as on one pinned core.
# Needs valgrind and h2load (Debian: valgrind nghttp2-client).
set -euo pipefail
cd "$(dirname "$0")/.."
CALLS="${CALLS:-5000}"
PROFILE="${PROFILE:-default}"
for tool in valgrind callgrind_control callgrind_annotate h2load python3; do
    command -v "$tool" >/dev/null || { echo "instructions.sh: $tool is missing (apt-get install valgrind nghttp2-client)" >&2; exit 1; }
done
if [[ -z ${BIN_DIR:-} ]]; then
    cargo build --release --quiet --bin rpc-vs-rest --example bare_tonic --example bare_axum \
        --example same_api_tonic --example same_api_axum
fi
BIN_DIR="${BIN_DIR:-target/release}"
pin=()
[[ -n ${PIN_CPU:-} ]] && pin=(taskset -c "$PIN_CPU")
work=$(mktemp -d)
trap 'kill -9 $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
printf '\x00\x00\x00\x00\x07\x0a\x05World' > "$work/hello.grpc"
printf '{"name":"World"}' > "$work/hello.json"

load_grpc() { # port calls
    h2load -c 1 -m 64 -n "$2" -d "$work/hello.grpc" -H 'content-type: application/grpc' \
        -H 'te: trailers' "http://127.0.0.1:$1/helloworld.Greeter/SayHello" | grep -q ' 0 failed'
}
load_rest-h1() { # port calls
    h2load --h1 -c 16 -n "$2" -d "$work/hello.json" -H 'content-type: application/json' \
        "http://127.0.0.1:$1/v1/greeter/hello" | grep -q ' 0 failed'
}
load_rest-h2c() { # port calls
    h2load -c 1 -m 64 -n "$2" -d "$work/hello.json" -H 'content-type: application/json' \
        "http://127.0.0.1:$1/v1/greeter/hello" | grep -q ' 0 failed'
}

# count LABEL STACK PORT COMMAND...: instructions per call of COMMAND under STACK's load.
count() {
    local label=$1 stack=$2 port=$3; shift 3
    "${pin[@]}" valgrind --tool=callgrind --callgrind-out-file="$work/$label.out" "$@" >/dev/null 2>&1 &
    local pid=$!
    for _ in $(seq 150); do (echo >"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.2; done
    "load_$stack" "$port" 1000 || { echo "instructions.sh: $label: calls failed" >&2; exit 1; }
    callgrind_control -z "$pid" >/dev/null 2>&1
    "load_$stack" "$port" "$CALLS" || { echo "instructions.sh: $label: calls failed" >&2; exit 1; }
    callgrind_control -d "$pid" >/dev/null 2>&1
    kill -9 "$pid"; wait "$pid" 2>/dev/null || true
    local total
    total=$(callgrind_annotate "$(ls -t "$work/$label".out.* | head -1)" | awk '/PROGRAM TOTALS/ { gsub(",", "", $1); print $1 }')
    echo $((total / CALLS))
}

BIN=$BIN_DIR/rpc-vs-rest
EXAMPLES=$BIN_DIR/examples
declare -A result
port=50090
for stack in grpc rest-h1 rest-h2c; do
    for level in floor same_api ours; do
        port=$((port + 1))
        addr=127.0.0.1:$port
        case "$stack/$level" in
            grpc/floor) command=("$EXAMPLES/bare_tonic" "$addr") ;;
            grpc/same_api) command=("$EXAMPLES/same_api_tonic" "$addr") ;;
            grpc/ours) command=("$BIN" serve --grpc-addr "$addr" --rest-addr 127.0.0.1:0 --profile "$PROFILE") ;;
            rest-*/floor) command=("$EXAMPLES/bare_axum" "$addr") ;;
            rest-*/same_api) command=("$EXAMPLES/same_api_axum" "$addr") ;;
            rest-*/ours) command=("$BIN" serve --grpc-addr 127.0.0.1:0 --rest-addr "$addr" --profile "$PROFILE") ;;
        esac
        result[$stack/$level]=$(count "$stack-$level" "$stack" "$port" "${command[@]}")
    done
done

python3 - "$PROFILE" "$CALLS" \
    "${result[grpc/floor]}" "${result[grpc/same_api]}" "${result[grpc/ours]}" \
    "${result[rest-h1/floor]}" "${result[rest-h1/same_api]}" "${result[rest-h1/ours]}" \
    "${result[rest-h2c/floor]}" "${result[rest-h2c/same_api]}" "${result[rest-h2c/ours]}" <<'PY'
import json, sys
profile, calls = sys.argv[1], sys.argv[2]
n = list(map(int, sys.argv[3:]))
levels = ["floor", "same_api", "ours"]
stacks = {s: dict(zip(levels, n[i * 3:i * 3 + 3])) for i, s in enumerate(["grpc", "rest-h1", "rest-h2c"])}
print(f"server instructions per SayHello call, profile {profile}, {calls} calls (user space; the kernel's share is not counted)")
print()
print("| stack | floor | same API | ours | API over floor | ours over same API | same API ÷ ours |")
print("|---|---|---|---|---|---|---|")
for s, v in stacks.items():
    print(f"| {s} | {v['floor']:,} | {v['same_api']:,} | {v['ours']:,} | {v['same_api'] - v['floor']:+,} "
          f"| {v['ours'] - v['same_api']:+,} | {v['same_api'] / v['ours']:.2f} |")
print()
print("gRPC ÷ REST at each level, and the distortion (ours ÷ same API; 1.00 = our server changes nothing):")
print("| REST stack | floor | same API | ours | distortion |")
print("|---|---|---|---|---|")
g = stacks["grpc"]
for s in ["rest-h1", "rest-h2c"]:
    r = stacks[s]
    ratio = {l: g[l] / r[l] for l in levels}
    print(f"| {s} | {ratio['floor']:.2f} | {ratio['same_api']:.2f} | {ratio['ours']:.2f} "
          f"| {ratio['ours'] / ratio['same_api']:.3f} |")
print()
print(json.dumps({"profile": profile, **stacks}, separators=(",", ":")))
PY

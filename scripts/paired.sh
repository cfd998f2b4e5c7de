#!/usr/bin/env bash
# Ours against the floor and the same-API server, as ratios that a noisy machine cannot fake:
# the three servers run side by side, each pinned to CPU 0 (per-core runtime, so one runtime
# each), and h2load on CPU 1 loads one at a time, in rounds that rotate their order, so that
# whatever the machine does meanwhile lands on all three alike. Each ratio is taken within a
# round (ours / floor, ours / same API, same API / floor) and the median of the rounds printed:
# on this machine's two shared cores a server's calls/s swing 10-25 % from one run to the next,
# and a ratio of two runs minutes apart swings as much.
# STACK: rest-h1 (REST JSON SayHello over HTTP/1.1, 64 connections; floor bare axum) or grpc
# (gRPC SayHello, 4 connections x 16 streams; floor bare tonic). ROUNDS (default 9) of
# DURATION s (default 3) each after a 1 s warm-up. PROFILE: ours' profile (default lean).
# BIN_DIR: as instructions.sh (default target/release, built here).
# Prints each round and the medians; the last line is one JSON object:
#   {"stack":"rest-h1","rounds":9,"ours_over_floor":0.9,"ours_over_same_api":0.93,
#    "same_api_over_floor":0.97,"calls_per_s":{"floor":N,"same_api":N,"ours":N}}
# Needs h2load and taskset (Debian: nghttp2-client util-linux).
set -euo pipefail
cd "$(dirname "$0")/.."
STACK="${STACK:-rest-h1}"
ROUNDS="${ROUNDS:-9}"
DURATION="${DURATION:-3}"
PROFILE="${PROFILE:-lean}"
for tool in h2load taskset python3; do
    command -v "$tool" >/dev/null || { echo "paired.sh: $tool is missing (apt-get install nghttp2-client)" >&2; exit 1; }
done
case $STACK in
    rest-h1) floor=bare_axum same_api=same_api_axum ;;
    grpc) floor=bare_tonic same_api=same_api_tonic ;;
    *) echo "paired.sh: STACK: rest-h1 or grpc, not $STACK" >&2; exit 1 ;;
esac
if [[ -z ${BIN_DIR:-} ]]; then
    cargo build --release --quiet --bin rpc-vs-rest --example "$floor" --example "$same_api"
fi
BIN_DIR="${BIN_DIR:-target/release}"
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
printf '\x00\x00\x00\x00\x07\x0a\x05World' > "$work/hello.grpc"
printf '{"name":"World"}' > "$work/hello.json"

declare -A port=([floor]=50301 [same_api]=50302 [ours]=50303)
export RPC_VS_REST_RUNTIME=per-core
taskset -c 0 "$BIN_DIR/examples/$floor" "127.0.0.1:${port[floor]}" >/dev/null 2>&1 &
taskset -c 0 "$BIN_DIR/examples/$same_api" "127.0.0.1:${port[same_api]}" >/dev/null 2>&1 &
if [[ $STACK == grpc ]]; then
    addresses=(--grpc-addr "127.0.0.1:${port[ours]}" --rest-addr 127.0.0.1:0)
else
    addresses=(--rest-addr "127.0.0.1:${port[ours]}" --grpc-addr 127.0.0.1:0)
fi
taskset -c 0 "$BIN_DIR/rpc-vs-rest" serve --profile "$PROFILE" "${addresses[@]}" >/dev/null 2>&1 &
for level in floor same_api ours; do
    for _ in $(seq 150); do (echo >"/dev/tcp/127.0.0.1/${port[$level]}") 2>/dev/null && break; sleep 0.2; done
done

# calls/s of one server for DURATION s; fails the script if any call failed.
rate() { # level
    local out
    if [[ $STACK == grpc ]]; then
        out=$(taskset -c 1 h2load -c 4 -m 16 -D "$DURATION" --warm-up-time 1 -d "$work/hello.grpc" \
            -H 'content-type: application/grpc' -H 'te: trailers' \
            "http://127.0.0.1:${port[$1]}/helloworld.Greeter/SayHello")
    else
        out=$(taskset -c 1 h2load --h1 -c 64 -D "$DURATION" --warm-up-time 1 -d "$work/hello.json" \
            -H 'content-type: application/json' "http://127.0.0.1:${port[$1]}/v1/greeter/hello")
    fi
    grep -q ' 0 failed, 0 errored' <<<"$out" || { echo "paired.sh: $1: calls failed: $out" >&2; exit 1; }
    awk '/finished in/ { print $4 }' <<<"$out"
}

orders=("floor same_api ours" "same_api ours floor" "ours floor same_api")
rounds_file=$work/rounds
for round in $(seq "$ROUNDS"); do
    declare -A calls=()
    for level in ${orders[$(((round - 1) % 3))]}; do
        calls[$level]=$(rate "$level")
    done
    echo "${calls[floor]} ${calls[same_api]} ${calls[ours]}" >> "$rounds_file"
    echo "round $round: floor ${calls[floor]}, same API ${calls[same_api]}, ours ${calls[ours]} calls/s" >&2
done

python3 - "$STACK" "$rounds_file" <<'EOF'
import json, statistics, sys
stack, path = sys.argv[1], sys.argv[2]
rounds = [tuple(map(float, line.split())) for line in open(path)]
median = lambda values: round(statistics.median(values), 3)
result = {
    "stack": stack,
    "rounds": len(rounds),
    "ours_over_floor": median([o / f for f, s, o in rounds]),
    "ours_over_same_api": median([o / s for f, s, o in rounds]),
    "same_api_over_floor": median([s / f for f, s, o in rounds]),
    "calls_per_s": {
        level: round(statistics.median(r[i] for r in rounds))
        for i, level in enumerate(["floor", "same_api", "ours"])
    },
}
print(f"| {stack} | ours / floor | ours / same API | same API / floor |")
print("|---|---|---|---|")
print(f"| median of {len(rounds)} rounds | {result['ours_over_floor']} | "
      f"{result['ours_over_same_api']} | {result['same_api_over_floor']} |")
print(json.dumps(result))
EOF

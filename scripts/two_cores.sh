#!/usr/bin/env bash
# The runtimes when the server may use every core: `serve --profile lean` with
# --runtime multi-thread and --runtime per-core, unpinned, under h2load (also unpinned, so the
# two share the machine as they would on one host): gRPC unary over 1 connection x 64 streams
# and over 4 connections x 16, REST JSON over HTTP/1.1 with 64 connections. ROUNDS rounds
# (default 3) of DURATION s (default 4) after 1 s of warm-up, the two runtimes alternating
# within each round; prints the median calls/s and server CPU per call of each, and their
# ratio; the last line is one JSON object. BIN (default target/release/rpc-vs-rest, built).
# Needs h2load (Debian: nghttp2-client).
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION="${DURATION:-4}"
ROUNDS="${ROUNDS:-3}"
command -v h2load >/dev/null || { echo "two_cores.sh: h2load is missing (apt-get install nghttp2-client)" >&2; exit 1; }
if [[ -z ${BIN:-} ]]; then cargo build --release --quiet --bin rpc-vs-rest; fi
BIN="${BIN:-target/release/rpc-vs-rest}"
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
printf '\x00\x00\x00\x00\x07\x0a\x05World' > "$work/hello.grpc"
printf '{"name":"World"}' > "$work/hello.json"

declare -A pid
port=0
for runtime in multi-thread per-core; do
    port=$((port + 1))
    "$BIN" serve --profile lean --runtime "$runtime" --grpc-addr "127.0.0.1:5031$port" \
        --rest-addr "127.0.0.1:831$port" >/dev/null 2>&1 &
    pid[$runtime]=$!
done
sleep 1
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }

# One measurement: prints "calls/s cpu-us-per-call". Args: runtime, shape.
measure() {
    local runtime=$1 shape=$2 n flags before after out
    n=$([[ $runtime == multi-thread ]] && echo 1 || echo 2)
    case "$shape" in
        grpc-1) flags=(-c 1 -m 64) ;;
        grpc-4) flags=(-c 4 -m 16) ;;
        rest-h1-64) flags=(--h1 -c 64 -m 1) ;;
    esac
    if [[ $shape == grpc-* ]]; then
        flags+=(-d "$work/hello.grpc" -H 'content-type: application/grpc' -H 'te: trailers'
            "http://127.0.0.1:5031$n/helloworld.Greeter/SayHello")
    else
        flags+=(-d "$work/hello.json" -H 'content-type: application/json' "http://127.0.0.1:831$n/v1/greeter/hello")
    fi
    h2load --warm-up-time 1 -D 1 "${flags[@]}" >/dev/null 2>&1
    before=$(cpu_ticks "${pid[$runtime]}")
    out=$(h2load -D "$DURATION" "${flags[@]}" 2>&1)
    after=$(cpu_ticks "${pid[$runtime]}")
    python3 - "$before" "$after" "$DURATION" <<PY
import re, sys, os
out = """$out"""
before, after, duration = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
ok = int(re.search(r"requests: \d+ total, \d+ started, \d+ done, (\d+) succeeded", out).group(1))
failed = int(re.search(r"(\d+) failed", out).group(1))
assert failed == 0, out
tick_us = 1e6 / os.sysconf("SC_CLK_TCK")
print(f"{ok / duration:.0f} {(after - before) * tick_us / max(ok, 1):.2f}")
PY
}

rows="$work/rows"
for round in $(seq "$ROUNDS"); do
    for shape in grpc-1 grpc-4 rest-h1-64; do
        for runtime in multi-thread per-core; do
            echo "$shape $runtime $(measure "$runtime" "$shape")" >> "$rows"
        done
    done
    echo "two_cores.sh: round $round of $ROUNDS done" >&2
done
python3 - "$rows" "$ROUNDS" "$DURATION" <<'PY'
import json, statistics, sys, os
rows = [line.split() for line in open(sys.argv[1])]
result = {}
for shape, runtime, rate, cpu in rows:
    result.setdefault(shape, {}).setdefault(runtime, {"rates": [], "cpus": []})
    result[shape][runtime]["rates"].append(float(rate))
    result[shape][runtime]["cpus"].append(float(cpu))
names = {"grpc-1": "gRPC unary, 1 connection x 64 streams", "grpc-4": "gRPC unary, 4 connections x 16",
         "rest-h1-64": "REST JSON h1 unary, 64 connections"}
print(f"serve --profile lean on {os.cpu_count()} cores, unpinned, h2load beside it; median of {sys.argv[2]} rounds of {sys.argv[3]} s")
print()
print("| load | multi-thread: calls/s (server CPU per call) | per-core | per-core ÷ multi-thread |")
print("|---|---|---|---|")
out = {}
for shape, by in result.items():
    m = {r: (statistics.median(v["rates"]), statistics.median(v["cpus"])) for r, v in by.items()}
    out[shape] = {r: {"calls_per_s": round(a), "cpu_us_per_call": b} for r, (a, b) in m.items()}
    mt, pc = m["multi-thread"], m["per-core"]
    print(f"| {names[shape]} | {mt[0]:,.0f} ({mt[1]:.1f} µs) | {pc[0]:,.0f} ({pc[1]:.1f} µs) | {pc[0] / mt[0]:.2f} |")
print()
print(json.dumps(out, separators=(",", ":")))
PY

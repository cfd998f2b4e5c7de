#!/usr/bin/env bash
# Why the runtime moves calls/s more than instructions: `serve --profile lean` on CPU 0 under
# h2load on CPU 1 at 64 in flight (gRPC and h2c: 4 connections x 16 streams; HTTP/1.1: 64
# connections), once per runtime, DURATION s (default 3) after 1 s of warm-up. Per call, the
# server's user and system CPU (/proc/PID/stat) and its context switches, voluntary (a thread
# parked: nothing to do, or waiting on a lock) and involuntary (preempted), summed over its
# threads (/proc/PID/task/*/status). Callgrind counts only user space; the parking, waking and
# futex calls a runtime makes are mostly the kernel's. BIN (default target/release/rpc-vs-rest,
# built). Prints a table; the last line is one JSON object.
# Needs h2load (Debian: nghttp2-client) and taskset.
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION="${DURATION:-3}"
if [[ -z ${BIN:-} ]]; then cargo build --release --quiet --bin rpc-vs-rest; fi
BIN="${BIN:-target/release/rpc-vs-rest}"
command -v h2load >/dev/null || { echo "runtime_cost.sh: h2load is missing (apt-get install nghttp2-client)" >&2; exit 1; }
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
printf '\x00\x00\x00\x00\x07\x0a\x05World' > "$work/hello.grpc"
printf '{"name":"World"}' > "$work/hello.json"

# "user_ticks system_ticks voluntary involuntary" of a process, its threads summed.
sample() {
    local pid=$1
    echo "$(awk '{ print $14, $15 }' "/proc/$pid/stat") $(cat /proc/"$pid"/task/*/status | awk '
        /^voluntary_ctxt_switches/ { v += $2 } /^nonvoluntary_ctxt_switches/ { n += $2 } END { print v, n }')"
}

for runtime in multi-thread per-core; do
    taskset -c 0 "$BIN" serve --profile lean --runtime "$runtime" --grpc-addr 127.0.0.1:50331 \
        --rest-addr 127.0.0.1:8331 >/dev/null 2>&1 &
    pid=$!
    sleep 1
    for stack in grpc rest-h1 rest-h2c; do
        case "$stack" in
            grpc) flags=(-c 4 -m 16 -d "$work/hello.grpc" -H 'content-type: application/grpc'
                -H 'te: trailers' http://127.0.0.1:50331/helloworld.Greeter/SayHello) ;;
            rest-h1) flags=(--h1 -c 64 -d "$work/hello.json" -H 'content-type: application/json'
                http://127.0.0.1:8331/v1/greeter/hello) ;;
            rest-h2c) flags=(-c 4 -m 16 -d "$work/hello.json" -H 'content-type: application/json'
                http://127.0.0.1:8331/v1/greeter/hello) ;;
        esac
        taskset -c 1 h2load -D 1 "${flags[@]}" >/dev/null 2>&1
        before=$(sample "$pid")
        out=$(taskset -c 1 h2load -D "$DURATION" "${flags[@]}" 2>&1)
        after=$(sample "$pid")
        ok=$(grep -oP '\d+(?= succeeded)' <<<"$out")
        grep -q ' 0 failed' <<<"$out" || { echo "runtime_cost.sh: $runtime $stack: calls failed" >&2; exit 1; }
        echo "$runtime $stack $ok $before $after" >> "$work/rows"
    done
    kill "$pid"; wait "$pid" 2>/dev/null || true
done
python3 - "$work/rows" "$DURATION" <<'PY'
import json, os, sys
tick_us = 1e6 / os.sysconf("SC_CLK_TCK")
duration = float(sys.argv[2])
out = []
print(f"serve --profile lean on CPU 0, h2load on CPU 1, 64 in flight, {sys.argv[2]} s; per call:")
print()
print("| runtime | stack | calls/s | user µs | system µs | voluntary switches | involuntary |")
print("|---|---|---|---|---|---|---|")
for line in open(sys.argv[1]):
    runtime, stack, ok, *n = line.split()
    ok = int(ok)
    b, a = list(map(int, n[:4])), list(map(int, n[4:]))
    d = [y - x for x, y in zip(b, a)]
    row = {"runtime": runtime, "stack": stack, "calls_per_s": round(ok / duration),
           "user_us": d[0] * tick_us / ok, "system_us": d[1] * tick_us / ok,
           "voluntary_switches": d[2] / ok, "involuntary_switches": d[3] / ok}
    out.append(row)
    print(f"| {runtime} | {stack} | {row['calls_per_s']:,} | {row['user_us']:.2f} | {row['system_us']:.2f} "
          f"| {row['voluntary_switches']:.3f} | {row['involuntary_switches']:.3f} |")
print()
print(json.dumps({"rows": out}, separators=(",", ":")))
PY

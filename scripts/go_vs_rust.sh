#!/usr/bin/env bash
# Go and Rust, gRPC and REST, on the same machine under the same client: the seed's grpc-go
# greeter and a net/http JSON greeter (baselines/go), the bare tonic and axum examples, and our
# server in its lean profile. Each server is pinned to CPU 0, h2load to CPU 1; each stack is
# measured for unary SayHello at 1 call in flight and at 64 (gRPC: 4 connections x 16 streams;
# REST JSON over HTTP/1.1: h2load --h1 with 64 connections), and for a payload of 100 person
# records (EchoPeople, by `compare`, which checks every reply, at 64 in flight; the bare
# examples do not serve it), ROUNDS rounds (default 3) of DURATION seconds (default 4) after a
# 1 s warm-up, and the median printed. Beside each figure,
# the server's CPU per call, read from /proc/PID/stat around the measurement: what each
# stack spends on a call, the measured part of why one wins. Prints a markdown table.
# Needs h2load (nghttp2-client), taskset and the Go servers (scripts/go_baselines.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION="${DURATION:-4}"
ROUNDS="${ROUNDS:-3}"
for tool in h2load taskset python3; do
    command -v "$tool" >/dev/null || { echo "go_vs_rust.sh: $tool is missing (apt-get install nghttp2-client)" >&2; exit 1; }
done
[[ -x target/go/grpc-greeter ]] || scripts/go_baselines.sh
cargo build --release --quiet --bin rpc-vs-rest --example bare_tonic --example bare_axum
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
# SayHello{name: "World"} in one gRPC frame: flag 0, length 7, then field 1 = "World".
printf '\x00\x00\x00\x00\x07\x0a\x05World' > "$work/hello.grpc"
printf '{"name":"World"}' > "$work/hello.json"

# Starts a server on CPU 0; its pid goes to the variable named by $1.
start() {
    local var=$1; shift
    taskset -c 0 "$@" >/dev/null 2>&1 &
    printf -v "$var" '%s' "$!"
}
start go_grpc target/go/grpc-greeter -addr 127.0.0.1:50161
start go_rest target/go/rest-greeter -addr 127.0.0.1:8161
start bare_grpc target/release/examples/bare_tonic 127.0.0.1:50162
start bare_rest target/release/examples/bare_axum 127.0.0.1:8162
start ours target/release/rpc-vs-rest serve --profile lean \
    --grpc-addr 127.0.0.1:50163 --rest-addr 127.0.0.1:8163
sleep 1

cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }

# One measurement: prints "calls/s cpu-us-per-call". Args: pid, protocol, in-flight, address.
measure() {
    local pid=$1 protocol=$2 inflight=$3 addr=$4 flags before after out
    if [[ $protocol == grpc ]]; then
        if [[ $inflight == 1 ]]; then flags=(-c 1 -m 1); else flags=(-c 4 -m 16); fi
        flags+=(-d "$work/hello.grpc" -H 'content-type: application/grpc' -H 'te: trailers'
            "http://$addr/helloworld.Greeter/SayHello")
    else
        flags=(--h1 -c "$inflight" -m 1 -d "$work/hello.json" -H 'content-type: application/json'
            "http://$addr/v1/greeter/hello")
    fi
    taskset -c 1 h2load --warm-up-time 1 -D 1 "${flags[@]}" >/dev/null 2>&1
    before=$(cpu_ticks "$pid")
    out=$(taskset -c 1 h2load -D "$DURATION" "${flags[@]}" 2>&1)
    after=$(cpu_ticks "$pid")
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

# A records-100 measurement by compare, pinned to CPU 1: prints "calls/s cpu-us-per-call".
# Args: pid, cell, the target flag, address.
measure_records() {
    local pid=$1 cell=$2 flag=$3 addr=$4 before after out
    before=$(cpu_ticks "$pid")
    out=$(taskset -c 1 target/release/rpc-vs-rest compare "$flag" "$addr" --cells "$cell" \
        --workloads records-100 --concurrency 64 --warmup 1 --duration "$DURATION" \
        --format json 2>/dev/null)
    after=$(cpu_ticks "$pid")
    python3 -c '
import json, os, sys
m = json.loads(sys.argv[1])["measurements"][0]
assert m["errors"] == 0, m["first_error"]
tick_us = 1e6 / os.sysconf("SC_CLK_TCK")
# The CPU window holds the warm-up too: count its calls at the measured rate.
rate = m["requests_per_second"]
calls = rate * (float(sys.argv[4]) + 1)
print(f"{rate:.0f} {(int(sys.argv[3]) - int(sys.argv[2])) * tick_us / calls:.2f}")
' "$out" "$before" "$after" "$DURATION"
}

declare -A rps cpu
stacks=("go:$go_grpc:127.0.0.1:50161:$go_rest:127.0.0.1:8161"
    "bare:$bare_grpc:127.0.0.1:50162:$bare_rest:127.0.0.1:8162"
    "ours:$ours:127.0.0.1:50163:$ours:127.0.0.1:8163")
for round in $(seq "$ROUNDS"); do
    for stack in "${stacks[@]}"; do
        IFS=: read -r name grpc_pid grpc_host grpc_port rest_pid rest_host rest_port <<<"$stack"
        for inflight in 1 64; do
            read -r r c < <(measure "$grpc_pid" grpc "$inflight" "$grpc_host:$grpc_port")
            rps[$name,grpc,$inflight]+="$r "; cpu[$name,grpc,$inflight]+="$c "
            read -r r c < <(measure "$rest_pid" rest "$inflight" "$rest_host:$rest_port")
            rps[$name,rest,$inflight]+="$r "; cpu[$name,rest,$inflight]+="$c "
        done
        if [[ $name != bare ]]; then
            read -r r c < <(measure_records "$grpc_pid" grpc --grpc-target "$grpc_host:$grpc_port")
            rps[$name,grpc,records]+="$r "; cpu[$name,grpc,records]+="$c "
            read -r r c < <(measure_records "$rest_pid" rest-json-h1 --rest-target "$rest_host:$rest_port")
            rps[$name,rest,records]+="$r "; cpu[$name,rest,records]+="$c "
        fi
    done
    echo "go_vs_rust.sh: round $round of $ROUNDS done" >&2
done

median() { python3 -c "import statistics, sys; print(statistics.median(map(float, sys.argv[1:])))" $1; }
cell() { # stack protocol in-flight
    local r c
    [[ -n ${rps[$1,$2,$3]:-} ]] || { echo "—"; return; }
    r=$(median "${rps[$1,$2,$3]}"); c=$(median "${cpu[$1,$2,$3]}")
    python3 -c "print(f'{float(\"$r\"):,.0f} ({float(\"$c\"):.1f} µs)')"
}
echo "| server on 1 core: calls/s (server CPU per call) | gRPC unary, 1 in flight | gRPC unary, 64 | REST JSON h1 unary, 1 in flight | REST JSON h1 unary, 64 | gRPC, 100 records, 64 | REST JSON h1, 100 records, 64 |"
echo "|---|---|---|---|---|---|---|"
declare -A label=([go]="Go: grpc-go 1.33 helloworld / net/http + encoding/json"
    [bare]="Rust: bare tonic / bare axum (examples/)" [ours]="Rust: ours, lean profile")
for name in go bare ours; do
    echo "| ${label[$name]} | $(cell "$name" grpc 1) | $(cell "$name" grpc 64) | $(cell "$name" rest 1) | $(cell "$name" rest 64) | $(cell "$name" grpc records) | $(cell "$name" rest records) |"
done
echo
echo "$(nproc) CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | xargs)), median of $ROUNDS rounds of ${DURATION} s; $(go version 2>/dev/null || true)"

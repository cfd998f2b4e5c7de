#!/usr/bin/env bash
# grpc_bench's default scenario (LesnyRumcajs/grpc_bench, bench.sh) reproduced with our tools:
# the server alone under a CFS quota of 1 CPU, not pinned (docker --cpus 1); a client under a
# 1-CPU quota of its own, unpinned; 50 connections, 1,000 calls in flight, no rate limit, a
# WARMUP s warm-up (default 5) and then DURATION s measured (default 20); the complex_proto
# message echoed. grpc_bench's client is ghz (1,000 workers, 20 on each of 50 connections); ours
# is `rpc-vs-rest compare --cells grpc --workloads complex --connections 50 --concurrency 1000`,
# whose `complex` workload is grpc_bench's complex_proto message sent to EchoComplex, every
# reply checked; its 1,000 tasks share the 50 connections, each call taking the next connection
# in turn (about 20 calls in flight on each). As grpc_bench does with ghz, the warm-up is a run
# of its own and the measured run a fresh one (`--warmup 0`), so the server's CPU and
# throttling, read around it, count only measured calls (and the run's 50 connects).
#
# Servers, each run alone: grpc-go (target/go/grpc-greeter, built by scripts/go_baselines.sh;
# grpc-go 1.33 from Debian, not grpc_bench's 1.79), bare tonic (examples/bare_tonic) and ours
# (`serve --profile lean`). Under CONDITIONS (default "quota pinned"):
#   - quota: server and client each in a cgroup of its own with a CFS quota of 1 CPU
#     (scripts/cgroup.sh), unpinned, as grpc_bench runs them. Go runs at its default
#     GOMAXPROCS (Go 1.19 sets it from the host's cores, ignoring the quota) and with
#     GOMAXPROCS=1 (what automaxprocs, which grpc_bench's Go server imports, sets).
#   - pinned: server on CPU 0, client on CPU 1 (taskset); Go at its default GOMAXPROCS (1 there).
# RUNTIMES (default "multi-thread per-core"): the Rust servers' runtime, a row each
# (RPC_VS_REST_RUNTIME for bare tonic, `serve --runtime` for ours). ROUNDS (default 1) runs
# of each, the one of median throughput kept. CONNECTIONS (50) and CONCURRENCY (1000) as
# grpc_bench's GRPC_CLIENT_CONNECTIONS / GRPC_CLIENT_CONCURRENCY. BIN_DIR: a folder holding
# rpc-vs-rest and examples/bare_tonic; default target/release, built here first.
# Not reproduced: the server's 512 MB memory limit, docker's network namespace (loopback
# here), ghz itself (a Go client; compare is tokio, which sizes itself to the quota).
# Per row: calls/s, p50 and p99 latency (compare's), the server's CPU per call (/proc/PID/stat
# around the measured run) and, under the quota, the throttled periods of server and client.
# Prints a markdown table; the last line is one JSON object with every figure.
set -euo pipefail
cd "$(dirname "$0")/.."
WARMUP="${WARMUP:-5}"
DURATION="${DURATION:-20}"
CONDITIONS="${CONDITIONS:-quota pinned}"
RUNTIMES="${RUNTIMES:-multi-thread per-core}"
ROUNDS="${ROUNDS:-1}"
CONNECTIONS="${CONNECTIONS:-50}"
CONCURRENCY="${CONCURRENCY:-1000}"
for condition in $CONDITIONS; do
    [[ $condition == pinned || $condition == quota ]] ||
        { echo "grpc_bench.sh: CONDITIONS: pinned and/or quota, not $condition" >&2; exit 1; }
done
for runtime in $RUNTIMES; do
    [[ $runtime == multi-thread || $runtime == per-core ]] ||
        { echo "grpc_bench.sh: RUNTIMES: multi-thread and/or per-core, not $runtime" >&2; exit 1; }
done
for tool in taskset python3 awk; do
    command -v "$tool" >/dev/null || { echo "grpc_bench.sh: $tool is missing" >&2; exit 1; }
done
source scripts/cgroup.sh
if [[ " $CONDITIONS " == *" quota "* ]]; then cgroup_init grpc_bench.sh; fi
if [[ ! -x target/go/grpc-greeter ]] ||
    [[ -n $(find baselines/go proto/helloworld.proto scripts/go_baselines.sh -newer target/go/grpc-greeter 2>/dev/null) ]]; then
    scripts/go_baselines.sh
fi
if [[ -z ${BIN_DIR:-} ]]; then
    cargo build --release --quiet --bin rpc-vs-rest --example bare_tonic
    BIN_DIR=target/release
fi
for binary in rpc-vs-rest examples/bare_tonic; do
    [[ -x $BIN_DIR/$binary ]] || { echo "grpc_bench.sh: $BIN_DIR/$binary is missing (BIN_DIR)" >&2; exit 1; }
done

work=$(mktemp -d)
server_pid=""
stop_server() {
    [[ -n $server_pid ]] || return 0
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
    server_pid=""
}
trap 'stop_server; cgroup_remove_all; rm -rf "$work"' EXIT
trap 'exit 130' INT TERM
raw="$work/raw.jsonl"
: >"$raw"

cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
stat_of() { if [[ -n $1 ]]; then cgroup_stat "$1"; else echo "0 0 0"; fi; }
go_default_procs=$(python3 -c 'import os; print(len(os.sched_getaffinity(0)))')

# compare, as the client of one run: seconds of calls, then its arguments.
compare() {
    local seconds=$1; shift
    "${client[@]}" "$BIN_DIR/rpc-vs-rest" compare --grpc-target "$address" --cells grpc \
        --workloads complex --connections "$CONNECTIONS" --concurrency "$CONCURRENCY" \
        --warmup 0 --duration "$seconds" --format json "$@"
}

port=50261
for condition in $CONDITIONS; do
    if [[ $condition == quota ]]; then
        cgroup_create client_group "client-$condition" 1
        client=("${CGROUP_ENTER[@]}" "$client_group")
        servers=(go:default go:1)
    else
        client_group=""
        client=(taskset -c 1)
        servers=(go:default)
    fi
    for runtime in $RUNTIMES; do servers+=("bare:$runtime"); done
    for runtime in $RUNTIMES; do servers+=("ours:$runtime"); done
    for server in "${servers[@]}"; do
        stack=${server%%:*} variant=${server#*:}
        port=$((port + 1)) address=127.0.0.1:$port
        case $stack in
            go) if [[ $variant == default ]]; then command=(env -u GOMAXPROCS); else command=(env "GOMAXPROCS=$variant"); fi
                command+=(target/go/grpc-greeter -addr "$address")
                label="Go: grpc-go 1.33"
                # Go 1.19's default: the cores it may run on (one when pinned), not the quota.
                if [[ $variant == default && $condition == pinned ]]; then label+=" (GOMAXPROCS default: 1)"
                elif [[ $variant == default ]]; then label+=" (GOMAXPROCS default: $go_default_procs)"
                else label+=", GOMAXPROCS=$variant"; fi ;;
            bare) command=(env "RPC_VS_REST_RUNTIME=$variant" "$BIN_DIR/examples/bare_tonic" "$address")
                label="Rust: bare tonic, $variant" ;;
            ours) command=(env "$BIN_DIR/rpc-vs-rest" serve --profile lean --runtime "$variant"
                    --grpc-addr "$address" --rest-addr "127.0.0.1:$((port + 1000))")
                label="Rust: ours, lean, $variant" ;;
        esac
        if [[ $condition == quota ]]; then
            cgroup_create server_group "$condition-${server//:/-}" 1
            "${CGROUP_ENTER[@]}" "$server_group" "${command[@]}" >/dev/null 2>&1 &
        else
            server_group=""
            taskset -c 0 "${command[@]}" >/dev/null 2>&1 &
        fi
        server_pid=$!
        for _ in $(seq 100); do (echo >"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done
        (echo >"/dev/tcp/127.0.0.1/$port") 2>/dev/null ||
            { echo "grpc_bench.sh: $label did not listen on $address" >&2; exit 1; }
        for round in $(seq "$ROUNDS"); do
            echo "grpc_bench.sh: $condition, $label: round $round of $ROUNDS" >&2
            if [[ $WARMUP != 0 ]]; then compare "$WARMUP" >/dev/null 2>&1; fi
            before=$(cpu_ticks "$server_pid"); stat_before=$(stat_of "$server_group")
            client_before=$(stat_of "$client_group")
            out=$(compare "$DURATION" 2>"$work/stderr") ||
                { cat "$work/stderr" >&2; echo "grpc_bench.sh: compare failed against $label" >&2; exit 1; }
            after=$(cpu_ticks "$server_pid"); stat_after=$(stat_of "$server_group")
            client_after=$(stat_of "$client_group")
            python3 - "$condition" "$stack" "$variant" "$label" "$out" "$before" "$after" \
                "$stat_before" "$stat_after" "$client_before" "$client_after" >>"$raw" <<'PY'
import json, os, sys
(condition, stack, variant, label, out, before, after,
 stat_before, stat_after, client_before, client_after) = sys.argv[1:]
measurements = json.loads(out)["measurements"]
assert measurements, f"{label}: compare measured nothing (does it serve EchoComplex?)"
m = measurements[0]
assert m["errors"] == 0, f"{label}: {m['errors']} errors, the first: {m['first_error']}"
tick_us = 1e6 / os.sysconf("SC_CLK_TCK")
def throttling(before, after):
    if condition != "quota":
        return None
    b, a = [list(map(int, s.split())) for s in (before, after)]
    return {"periods": a[0] - b[0], "throttled_periods": a[1] - b[1],
            "throttled_ms": round((a[2] - b[2]) / 1000, 1)}
print(json.dumps({"condition": condition, "stack": stack, "label": label,
    "runtime": variant if stack != "go" else None, "gomaxprocs": variant if stack == "go" else None,
    "workload": "complex", "connections": m["connections"], "in_flight": m["concurrency"],
    "calls": m["calls"], "calls_per_s": round(m["requests_per_second"]),
    "p50_us": m["p50_us"], "p99_us": m["p99_us"], "max_us": m["max_us"],
    "cpu_us_per_call": round((int(after) - int(before)) * tick_us / max(m["calls"], 1), 2),
    "client_cpu_us_per_call": m.get("client_cpu_ms_per_1000_calls") and round(m["client_cpu_ms_per_1000_calls"], 2),
    "server_throttling": throttling(stat_before, stat_after),
    "client_throttling": throttling(client_before, client_after)}))
PY
        done
        stop_server
        [[ -z $server_group ]] || cgroup_remove "$server_group"
    done
    cgroup_remove_all
done

machine="$(nproc) CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | xargs))"
quota_where=""
[[ -n $CGROUP_VERSION ]] && quota_where=$(cgroup_describe)
python3 - "$raw" "$ROUNDS" "$WARMUP" "$DURATION" "$CONNECTIONS" "$CONCURRENCY" "$machine" \
    "$(go version 2>/dev/null || true)" "$quota_where" <<'PY'
import json, sys
raw_path, rounds, warmup, duration, connections, concurrency, machine, go, quota_where = sys.argv[1:]
raw = [json.loads(line) for line in open(raw_path)]
# The run of median throughput for each server and condition.
rows = []
for key in dict.fromkeys((m["condition"], m["label"]) for m in raw):
    runs = sorted((m for m in raw if (m["condition"], m["label"]) == key), key=lambda m: m["calls_per_s"])
    row = dict(runs[len(runs) // 2])
    row["rounds_calls_per_s"] = [m["calls_per_s"] for m in runs]
    rows.append(row)
def throttled(t):
    if t is None:
        return "—"
    return f"{t['throttled_periods']}/{t['periods']}, {t['throttled_ms']:,.0f} ms"
print(f"grpc_bench's default scenario here: complex message echoed, {connections} connections, "
      f"{concurrency} in flight, unlimited rate, {warmup} s warm-up then {duration} s, every reply checked")
print()
print("| condition | server | calls/s | p50 | p99 | server CPU per call | server throttled (periods, ms) | client throttled |")
print("|---|---|---|---|---|---|---|---|")
for r in rows:
    condition = ("1-CPU quota, unpinned" if r["condition"] == "quota" else "pinned: server CPU 0, client CPU 1")
    print(f"| {condition} | {r['label']} | {r['calls_per_s']:,} | {r['p50_us'] / 1000:.2f} ms "
          f"| {r['p99_us'] / 1000:.2f} ms | {r['cpu_us_per_call']:.1f} µs "
          f"| {throttled(r['server_throttling'])} | {throttled(r['client_throttling'])} |")
print()
quota = (f"; quota: {quota_where}, CFS period 100 ms; throttled ms is the kernel's throttled "
         f"time, summed over the CPUs the group ran on" if quota_where else "")
print(f"{machine}; median of {rounds} run(s) by throughput{quota}; {go}")
print(json.dumps({"script": "grpc_bench.sh", "machine": machine, "go": go, "rounds": int(rounds),
    "warmup_s": float(warmup), "duration_s": float(duration), "connections": int(connections),
    "concurrency": int(concurrency), "quota": quota_where or None, "rows": rows},
    separators=(",", ":"), ensure_ascii=False))
PY

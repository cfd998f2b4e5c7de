#!/usr/bin/env bash
# Go and Rust, gRPC and REST, on the same machine under the same client: the seed's grpc-go
# greeter and a net/http JSON greeter (baselines/go), the bare tonic and axum examples, and our
# server in its lean profile. Each stack is measured for unary SayHello at 1 call in flight and
# at 64 (gRPC: 4 connections x 16 streams; REST JSON over HTTP/1.1: h2load --h1 with 64
# connections), and for a payload of 100 person records (EchoPeople, by `compare`, which checks
# every reply, at 64 in flight; the bare examples do not serve it), ROUNDS rounds (default 3)
# of DURATION seconds (default 4) after a WARMUP s warm-up (default 1), and the median printed.
# Beside each figure, the server's CPU per call, read from /proc/PID/stat around the
# measurement: what each stack spends on a call, the measured part of why one wins.
#
# CONDITION (default pinned; "pinned quota" runs both, one table each):
#   - pinned: each server pinned to CPU 0 with taskset, the client to CPU 1.
#   - quota: each server in a cgroup of its own with a CFS quota of 1 CPU (scripts/cgroup.sh:
#     cgroup v2 cpu.max "100000 100000", else v1 cpu.cfs_quota_us / cpu.cfs_period_us), not
#     pinned (it may run on any core, as a pod with limits.cpu: 1 does), and the client under a
#     1-CPU quota of its own, unpinned, as grpc_bench runs its client (docker --cpus 1). Go runs
#     twice: at its default GOMAXPROCS (Go 1.19 sets it from the cores it may run on and ignores
#     the quota) and with GOMAXPROCS=1 (what automaxprocs, which grpc_bench's Go server
#     imports, sets). Each figure also gives the server's throttling (its cgroup's cpu.stat
#     around the measurement: throttled periods / periods, throttled ms), h2load's mean and
#     max request time at 64 in flight (h2load prints no percentiles, so no p99 there) and
#     compare's p99 for the records.
# RUNTIMES (default "multi-thread per-core"): the Rust servers' runtime, each a row
# (RPC_VS_REST_RUNTIME for the examples, `serve --runtime` for ours), in both conditions.
# BIN_DIR: a folder holding rpc-vs-rest and examples/bare_tonic, examples/bare_axum; default
# target/release, built here first. CONDITION=pinned RUNTIMES=multi-thread prints the table
# this script always printed. Prints a markdown table per condition; the last line is one JSON
# object with every figure. Needs h2load (nghttp2-client), taskset and the Go servers (built
# here by scripts/go_baselines.sh when missing or older than their sources).
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION="${DURATION:-4}"
ROUNDS="${ROUNDS:-3}"
WARMUP="${WARMUP:-1}"
CONDITION="${CONDITION:-pinned}"
RUNTIMES="${RUNTIMES:-multi-thread per-core}"
for condition in $CONDITION; do
    [[ $condition == pinned || $condition == quota ]] ||
        { echo "go_vs_rust.sh: CONDITION: pinned or quota (or both), not $condition" >&2; exit 1; }
done
for runtime in $RUNTIMES; do
    [[ $runtime == multi-thread || $runtime == per-core ]] ||
        { echo "go_vs_rust.sh: RUNTIMES: multi-thread and/or per-core, not $runtime" >&2; exit 1; }
done
for tool in h2load taskset python3 awk; do
    command -v "$tool" >/dev/null || { echo "go_vs_rust.sh: $tool is missing (apt-get install nghttp2-client)" >&2; exit 1; }
done
source scripts/cgroup.sh
if [[ " $CONDITION " == *" quota "* ]]; then cgroup_init go_vs_rust.sh; fi
if [[ ! -x target/go/grpc-greeter || ! -x target/go/rest-greeter ]] ||
    [[ -n $(find baselines/go proto/helloworld.proto scripts/go_baselines.sh -newer target/go/grpc-greeter 2>/dev/null) ]]; then
    scripts/go_baselines.sh
fi
if [[ -z ${BIN_DIR:-} ]]; then
    cargo build --release --quiet --bin rpc-vs-rest --example bare_tonic --example bare_axum
    BIN_DIR=target/release
fi
for binary in rpc-vs-rest examples/bare_tonic examples/bare_axum; do
    [[ -x $BIN_DIR/$binary ]] || { echo "go_vs_rust.sh: $BIN_DIR/$binary is missing (BIN_DIR)" >&2; exit 1; }
done

work=$(mktemp -d)
server_pids=()
stop_servers() {
    ((${#server_pids[@]})) || return 0
    kill "${server_pids[@]}" 2>/dev/null || true
    wait "${server_pids[@]}" 2>/dev/null || true
    server_pids=()
}
trap 'stop_servers; cgroup_remove_all; rm -rf "$work"' EXIT
trap 'exit 130' INT TERM
# SayHello{name: "World"} in one gRPC frame: flag 0, length 7, then field 1 = "World".
printf '\x00\x00\x00\x00\x07\x0a\x05World' > "$work/hello.grpc"
printf '{"name":"World"}' > "$work/hello.json"
raw="$work/raw.jsonl" rows="$work/rows.jsonl"
: >"$raw"
: >"$rows"

# h2load takes whole units: seconds as milliseconds.
ms() { awk -v s="$1" 'BEGIN { printf "%dms", s * 1000 + 0.5 }'; }
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
# Go 1.19's default GOMAXPROCS: the cores this process may run on (its affinity).
go_default_procs=$(python3 -c 'import os; print(len(os.sched_getaffinity(0)))')

# The servers of one condition: key -> pid, address, cgroup (quota).
declare -A pid addr group
next_grpc_port=50161 next_rest_port=8161
# Starts a server: key, kind (grpc|rest: which port it gets), then `env` arguments and the
# command, whose address argument is written @ADDR@.
start() {
    local key=$1 kind=$2 port arg args=()
    shift 2
    if [[ $kind == grpc ]]; then port=$next_grpc_port; next_grpc_port=$((port + 1))
    else port=$next_rest_port; next_rest_port=$((port + 1)); fi
    addr[$key]=127.0.0.1:$port
    for arg in "$@"; do args+=("${arg//@ADDR@/127.0.0.1:$port}"); done
    if [[ $condition == quota ]]; then
        cgroup_create "group[$key]" "${key//[:,]/-}" 1
        "${CGROUP_ENTER[@]}" "${group[$key]}" env "${args[@]}" >/dev/null 2>&1 &
    else
        group[$key]=""
        taskset -c 0 env "${args[@]}" >/dev/null 2>&1 &
    fi
    pid[$key]=$!
    server_pids+=("$!")
}
wait_ready() {
    local key port
    for key in "${!addr[@]}"; do
        port=${addr[$key]##*:}
        for _ in $(seq 100); do (echo >"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done
        (echo >"/dev/tcp/127.0.0.1/$port") 2>/dev/null ||
            { echo "go_vs_rust.sh: $key did not listen on ${addr[$key]}" >&2; exit 1; }
    done
}

# The JSON fields of one measurement's throttling ("null" when pinned). Args: group, the
# cgroup_stat before, the cgroup_stat after.
throttling() {
    [[ -n $1 ]] || { echo null; return; }
    python3 -c '
import json, sys
b, a = [list(map(int, s.split())) for s in sys.argv[1:3]]
print(json.dumps({"periods": a[0] - b[0], "throttled_periods": a[1] - b[1],
                  "throttled_ms": round((a[2] - b[2]) / 1000, 1)}))' "$2" "$3"
}
stat_of() { if [[ -n $1 ]]; then cgroup_stat "$1"; else echo "0 0 0"; fi; }

# One unary measurement by h2load, appended to $raw. Args: row, server key, protocol, in-flight.
measure() {
    local row=$1 key=$2 protocol=$3 inflight=$4 flags before after stat_before stat_after out
    local g=${group[$2]}
    if [[ $protocol == grpc ]]; then
        if [[ $inflight == 1 ]]; then flags=(-c 1 -m 1); else flags=(-c 4 -m 16); fi
        flags+=(-d "$work/hello.grpc" -H 'content-type: application/grpc' -H 'te: trailers'
            "http://${addr[$key]}/helloworld.Greeter/SayHello")
    else
        flags=(--h1 -c "$inflight" -m 1 -d "$work/hello.json" -H 'content-type: application/json'
            "http://${addr[$key]}/v1/greeter/hello")
    fi
    if [[ $WARMUP != 0 ]]; then
        "${client[@]}" h2load --warm-up-time "$(ms "$WARMUP")" -D "$(ms "$WARMUP")" "${flags[@]}" >/dev/null 2>&1
    fi
    before=$(cpu_ticks "${pid[$key]}"); stat_before=$(stat_of "$g")
    out=$("${client[@]}" h2load -D "$(ms "$DURATION")" "${flags[@]}" 2>&1)
    after=$(cpu_ticks "${pid[$key]}"); stat_after=$(stat_of "$g")
    H2LOAD_OUT=$out python3 - "$row" "$protocol" "$inflight" "$before" "$after" "$DURATION" \
        "$(throttling "$g" "$stat_before" "$stat_after")" >>"$raw" <<'PY'
import json, os, re, sys
row, protocol, inflight, before, after, duration, throttling = sys.argv[1:]
out = os.environ["H2LOAD_OUT"]
ok = int(re.search(r"requests: \d+ total, \d+ started, \d+ done, (\d+) succeeded", out).group(1))
failed = int(re.search(r"(\d+) failed", out).group(1))
assert failed == 0 and ok > 0, out
def us(text):
    value, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", text).groups()
    return float(value) * {"us": 1, "ms": 1e3, "s": 1e6}[unit]
mn, mx, mean = re.search(r"time for request:\s+(\S+)\s+(\S+)\s+(\S+)", out).groups()
tick_us = 1e6 / os.sysconf("SC_CLK_TCK")
print(json.dumps({"row": row, "protocol": "grpc" if protocol == "grpc" else "rest-json-h1",
    "workload": "unary", "in_flight": int(inflight), "calls_per_s": ok / float(duration),
    "cpu_us_per_call": (int(after) - int(before)) * tick_us / ok,
    "latency_mean_us": us(mean), "latency_max_us": us(mx), "throttling": json.loads(throttling)}))
PY
}

# A records-100 measurement by compare, at 64 in flight, appended to $raw. Args: row, server
# key, cell, the target flag.
measure_records() {
    local row=$1 key=$2 cell=$3 flag=$4 before after stat_before stat_after out
    local g=${group[$2]}
    before=$(cpu_ticks "${pid[$key]}"); stat_before=$(stat_of "$g")
    out=$("${client[@]}" "$BIN_DIR/rpc-vs-rest" compare "$flag" "${addr[$key]}" --cells "$cell" \
        --workloads records-100 --concurrency 64 --warmup "$WARMUP" --duration "$DURATION" \
        --format json 2>/dev/null)
    after=$(cpu_ticks "${pid[$key]}"); stat_after=$(stat_of "$g")
    python3 -c '
import json, os, sys
row, cell, out, before, after, duration, warmup, throttling = sys.argv[1:]
m = json.loads(out)["measurements"][0]
assert m["errors"] == 0, m["first_error"]
tick_us = 1e6 / os.sysconf("SC_CLK_TCK")
# The CPU window holds the warm-up too: count its calls at the measured rate.
rate = m["requests_per_second"]
calls = rate * (float(duration) + float(warmup))
print(json.dumps({"row": row, "protocol": cell, "workload": "records-100", "in_flight": 64,
    "calls_per_s": rate, "cpu_us_per_call": (int(after) - int(before)) * tick_us / calls,
    "p50_us": m["p50_us"], "p99_us": m["p99_us"], "throttling": json.loads(throttling)}))
' "$row" "$cell" "$out" "$before" "$after" "$DURATION" "$WARMUP" \
        "$(throttling "$g" "$stat_before" "$stat_after")" >>"$raw"
}

# A row of the table: its id, condition, stack, label, runtime, GOMAXPROCS, and the keys of its
# gRPC and REST servers.
add_row() {
    python3 -c '
import json, sys
keys = ["id", "condition", "stack", "label", "runtime", "gomaxprocs", "grpc", "rest"]
print(json.dumps({k: (v or None) for k, v in zip(keys, sys.argv[1:])}))' "$@" >>"$rows"
}
# The runtime in a Rust row's label unless RUNTIMES is the plain default of old.
runtime_label() { [[ $RUNTIMES == multi-thread ]] || echo ", $1"; }

go_label="Go: grpc-go 1.33 helloworld / net/http + encoding/json"
for condition in $CONDITION; do
    unset pid addr group
    declare -A pid addr group
    row_ids=()
    if [[ $condition == quota ]]; then
        cgroup_create client_group client 1
        client=("${CGROUP_ENTER[@]}" "$client_group")
        go_variants=(default 1)
    else
        client=(taskset -c 1)
        go_variants=(default)
    fi
    for procs in "${go_variants[@]}"; do
        if [[ $procs == default ]]; then go_env=(-u GOMAXPROCS); else go_env=("GOMAXPROCS=$procs"); fi
        start "go-grpc:$procs" grpc "${go_env[@]}" target/go/grpc-greeter -addr @ADDR@
        start "go-rest:$procs" rest "${go_env[@]}" target/go/rest-greeter -addr @ADDR@
        label=$go_label
        if [[ $condition == quota && $procs == default ]]; then
            label+=" (GOMAXPROCS default: $go_default_procs, the host's cores)"
        elif [[ $condition == quota ]]; then label+=", GOMAXPROCS=$procs"; fi
        add_row "$condition:go:$procs" "$condition" go "$label" "" "$procs" "go-grpc:$procs" "go-rest:$procs"
        row_ids+=("go:$procs")
    done
    for runtime in $RUNTIMES; do
        start "bare-grpc:$runtime" grpc "RPC_VS_REST_RUNTIME=$runtime" "$BIN_DIR/examples/bare_tonic" @ADDR@
        start "bare-rest:$runtime" rest "RPC_VS_REST_RUNTIME=$runtime" "$BIN_DIR/examples/bare_axum" @ADDR@
        add_row "$condition:bare:$runtime" "$condition" bare \
            "Rust: bare tonic / bare axum (examples/)$(runtime_label "$runtime")" "$runtime" "" \
            "bare-grpc:$runtime" "bare-rest:$runtime"
        row_ids+=("bare:$runtime")
    done
    for runtime in $RUNTIMES; do
        # One process serves both: its REST port is a second key on the same process.
        port=$next_rest_port; next_rest_port=$((port + 1))
        start "ours-grpc:$runtime" grpc "$BIN_DIR/rpc-vs-rest" serve --profile lean --runtime "$runtime" \
            --grpc-addr @ADDR@ --rest-addr "127.0.0.1:$port"
        addr[ours-rest:$runtime]=127.0.0.1:$port
        pid[ours-rest:$runtime]=${pid[ours-grpc:$runtime]}
        group[ours-rest:$runtime]=${group[ours-grpc:$runtime]}
        add_row "$condition:ours:$runtime" "$condition" ours \
            "Rust: ours, lean profile$(runtime_label "$runtime")" "$runtime" "" \
            "ours-grpc:$runtime" "ours-rest:$runtime"
        row_ids+=("ours:$runtime")
    done
    wait_ready
    for round in $(seq "$ROUNDS"); do
        for id in "${row_ids[@]}"; do
            stack=${id%%:*} variant=${id#*:}
            grpc_key=$stack-grpc:$variant rest_key=$stack-rest:$variant
            for inflight in 1 64; do
                measure "$condition:$id" "$grpc_key" grpc "$inflight"
                measure "$condition:$id" "$rest_key" rest "$inflight"
            done
            if [[ $stack != bare ]]; then
                measure_records "$condition:$id" "$grpc_key" grpc --grpc-target
                measure_records "$condition:$id" "$rest_key" rest-json-h1 --rest-target
            fi
        done
        echo "go_vs_rust.sh: $condition: round $round of $ROUNDS done" >&2
    done
    stop_servers
    cgroup_remove_all
done

machine="$(nproc) CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | xargs))"
quota_where=""
[[ -n $CGROUP_VERSION ]] && quota_where=$(cgroup_describe)
python3 - "$raw" "$rows" "$ROUNDS" "$DURATION" "$WARMUP" "$machine" "$(go version 2>/dev/null || true)" \
    "$quota_where" "$RUNTIMES" <<'PY'
import json, statistics, sys
raw_path, rows_path, rounds, duration, warmup, machine, go, quota_where, runtimes = sys.argv[1:]
raw = [json.loads(line) for line in open(raw_path)]
rows = [json.loads(line) for line in open(rows_path)]
columns = [("grpc", "unary", 1, "gRPC unary, 1 in flight"), ("grpc", "unary", 64, "gRPC unary, 64"),
    ("rest-json-h1", "unary", 1, "REST JSON h1 unary, 1 in flight"),
    ("rest-json-h1", "unary", 64, "REST JSON h1 unary, 64"),
    ("grpc", "records-100", 64, "gRPC, 100 records, 64"),
    ("rest-json-h1", "records-100", 64, "REST JSON h1, 100 records, 64")]
def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None
figures, cells = [], {}
for row in rows:
    for protocol, workload, inflight, _ in columns:
        got = [m for m in raw if m["row"] == row["id"] and (m["protocol"], m["workload"], m["in_flight"]) == (protocol, workload, inflight)]
        if not got:
            continue
        figure = {"condition": row["condition"], "stack": row["stack"], "label": row["label"],
            "runtime": row["runtime"], "gomaxprocs": row["gomaxprocs"], "protocol": protocol,
            "workload": workload, "in_flight": inflight, "rounds": len(got),
            "calls_per_s": round(median([m["calls_per_s"] for m in got])),
            "cpu_us_per_call": round(median([m["cpu_us_per_call"] for m in got]), 2)}
        for key in ("latency_mean_us", "latency_max_us", "p50_us", "p99_us"):
            if key in got[0]:
                figure[key] = round(median([m[key] for m in got]), 1)
        if got[0]["throttling"] is not None:
            figure["throttling"] = {key: round(median([m["throttling"][key] for m in got]), 1)
                for key in ("periods", "throttled_periods", "throttled_ms")}
            for key in ("periods", "throttled_periods"):
                figure["throttling"][key] = round(figure["throttling"][key])
        else:
            figure["throttling"] = None
        figures.append(figure)
        cells[(row["id"], protocol, workload, inflight)] = figure

def text(f):
    if f is None:
        return "—"
    figure = f"{f['calls_per_s']:,.0f} ({f['cpu_us_per_call']:.1f} µs"
    if f["throttling"] is None:
        return figure + ")"
    if "latency_mean_us" in f and f["in_flight"] > 1:
        figure += f"; mean {f['latency_mean_us'] / 1000:.2f} ms, max {f['latency_max_us'] / 1000:.1f} ms"
    if "p99_us" in f:
        figure += f"; p99 {f['p99_us'] / 1000:.2f} ms"
    t = f["throttling"]
    return figure + f"; throttled {t['throttled_periods']}/{t['periods']}, {t['throttled_ms']:,.0f} ms)"

conditions = list(dict.fromkeys(row["condition"] for row in rows))
for n, condition in enumerate(conditions):
    if n:
        print()
    if condition == "pinned":
        head = "server on 1 core: calls/s (server CPU per call)"
    else:
        head = ("server under a 1-CPU quota, unpinned; client under one too: calls/s (server CPU per call; "
            "64 in flight: h2load's mean / max request time, h2load prints no p99; 100 records: "
            "compare's p99; the server's throttled periods / periods and throttled ms)")
    print(f"| {head} | " + " | ".join(c[3] for c in columns) + " |")
    print("|---" * (len(columns) + 1) + "|")
    for row in rows:
        if row["condition"] == condition:
            print(f"| {row['label']} | " + " | ".join(text(cells.get((row['id'], *c[:3]))) for c in columns) + " |")
    print()
    where = ("each server pinned to CPU 0, h2load and compare to CPU 1" if condition == "pinned" else
        f"each server and the client in a cgroup of its own with a CFS quota of 1 CPU ({quota_where}), "
        "unpinned; throttled ms is the kernel's throttled time, summed over the CPUs the group ran on")
    print(f"{machine}, median of {rounds} rounds of {duration} s after {warmup} s of warm-up; {where}; {go}")
print(json.dumps({"script": "go_vs_rust.sh", "machine": machine, "go": go, "rounds": int(rounds),
    "duration_s": float(duration), "warmup_s": float(warmup), "runtimes": runtimes.split(),
    "quota": quota_where or None, "figures": figures}, separators=(",", ":"), ensure_ascii=False))
PY

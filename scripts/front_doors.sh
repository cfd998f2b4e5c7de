#!/usr/bin/env bash
# REST and gRPC as a cluster serves them: native, through a gateway, and through an L7 proxy.
# Every figure is `compare`'s (every reply checked), for unary SayHello and a payload of 100
# person records (EchoPeople), at 1 and at 64 calls in flight (gRPC: 4 connections; REST over
# HTTP/1.1: a connection per call in flight), DURATION seconds (default 4) after WARMUP
# (default 1), the median of REPEATS (default 3). Rows:
#   - native gRPC: ours (lean) and the seed's grpc-go greeter;
#   - native REST JSON over HTTP/1.1: ours (lean) and the net/http greeter;
#   - REST JSON through grpc-gateway (target/go/rest-gateway) to grpc-go and to ours;
#   - through nginx (`compare --via nginx`) and Envoy (`--via envoy`) to 1 and to 3 of our
#     servers, and through a mesh's two Envoy sidecars (`--via mesh`) to 1: gRPC, REST JSON
#     over HTTP/1.1 and over h2c;
#   - REST JSON over HTTP/1.1 through Envoy's gRPC-JSON transcoder (`--via transcoder`) to
#     ours and to grpc-go (there compare gives no server CPU: the target is not its child).
# The servers, gateway and proxy run on CPU 0, compare on CPU 1 (taskset), so the client never
# takes the servers' core; under that one core each process's CPU per call is read from
# /proc/PID/stat around the measured run (a separate warm-up run first), or, for what compare
# starts itself, from compare's own figures (a mesh's client sidecar runs on CPU 1, beside
# the client, as a sidecar does). Prints a markdown table; the last line is one JSON object
# with every figure. Needs taskset, nginx (nginx-core), Envoy (.venv/bin/envoy, from
# ./scripts/test.sh, or ENVOY=PATH) and the Go programs (built here by scripts/go_baselines.sh
# when missing or older than their sources). BIN: the rpc-vs-rest binary (default
# target/release/rpc-vs-rest, built here).
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION="${DURATION:-4}"
WARMUP="${WARMUP:-1}"
REPEATS="${REPEATS:-3}"
for tool in taskset python3 nginx; do
    command -v "$tool" >/dev/null || { echo "front_doors.sh: $tool is missing (apt-get install nginx-core)" >&2; exit 1; }
done
ENVOY="${ENVOY:-.venv/bin/envoy}"
[[ -x $ENVOY ]] || { echo "front_doors.sh: no Envoy at $ENVOY (./scripts/test.sh installs it; or ENVOY=PATH)" >&2; exit 1; }
if [[ ! -x target/go/rest-gateway ]] ||
    [[ -n $(find baselines/go proto/helloworld.proto scripts/go_baselines.sh -newer target/go/rest-gateway 2>/dev/null) ]]; then
    scripts/go_baselines.sh
fi
if [[ -z ${BIN:-} ]]; then
    cargo build --release --quiet --bin rpc-vs-rest
    BIN=target/release/rpc-vs-rest
fi

work=$(mktemp -d)
pids=()
stop_all() {
    ((${#pids[@]})) || return 0
    kill "${pids[@]}" 2>/dev/null || true
    wait "${pids[@]}" 2>/dev/null || true
    pids=()
}
trap 'stop_all; rm -rf "$work"' EXIT
trap 'exit 130' INT TERM
rows="$work/rows.jsonl"
: >"$rows"

cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }

# The first line a started process printed (its port or addresses), once it has.
first_line() {
    for _ in $(seq 100); do
        [[ -s $1 ]] && { head -n 1 "$1"; return; }
        sleep 0.1
    done
    echo "front_doors.sh: $1: nothing printed" >&2
    exit 1
}
# Starts a Go program on CPU 0 with -addr on a free port and ARGS; sets $started_pid and
# $started_addr.
start_go() {
    local name=$1 out="$work/started.${#pids[@]}"; shift
    taskset -c 0 "target/go/$name" -addr 127.0.0.1:0 "$@" >"$out" 2>/dev/null &
    started_pid=$!
    pids+=("$started_pid")
    started_addr=127.0.0.1:$(first_line "$out")
}
# Starts our server (lean) on CPU 0; sets $started_pid, $grpc_addr and $rest_addr.
start_ours() {
    taskset -c 0 "$BIN" serve --profile lean --grpc-addr 127.0.0.1:0 --rest-addr 127.0.0.1:0 \
        --print-addresses >"$work/ours.out" 2>/dev/null &
    started_pid=$!
    pids+=("$started_pid")
    local line; line=$(first_line "$work/ours.out")
    grpc_addr=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["grpc_addr"])' "$line")
    rest_addr=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["rest_addr"])' "$line")
}

# compare ARGS... on CPU 1 (one usable core: its client runs on one thread), JSON out.
compare() {
    taskset -c 1 "$BIN" compare --format json "$@" 2>"$work/stderr" ||
        { cat "$work/stderr" >&2; exit 1; }
}

# One row measured against running processes: label, cell, target flag and address, then the
# "role=pid" of every process on the server side. Unary and records-100, 1 and 64 in flight.
measure_running() {
    local label=$1 cell=$2 flag=$3 addr=$4; shift 4
    local workload concurrency connections before after role json
    for workload in unary records-100; do
        for concurrency in 1 64; do
            connections=$((concurrency == 1 ? 1 : 4))
            compare "$flag" "$addr" --cells "$cell" --workloads "$workload" \
                --concurrency "$concurrency" --connections "$connections" --warmup "$WARMUP" \
                --duration "$WARMUP" --repeats 1 >/dev/null
            before=()
            for role in "$@"; do before+=("$(cpu_ticks "${role#*=}")"); done
            json=$(compare "$flag" "$addr" --cells "$cell" --workloads "$workload" \
                --concurrency "$concurrency" --connections "$connections" --warmup 0 \
                --duration "$DURATION" --repeats "$REPEATS")
            after=()
            for role in "$@"; do after+=("$(cpu_ticks "${role#*=}")"); done
            python3 - "$label" "$json" "$REPEATS" "$*" "${before[*]}" "${after[*]}" >>"$rows" <<'PY'
import json, sys
label, report, repeats, roles, before, after = sys.argv[1:7]
m = json.loads(report)["measurements"][0]
calls_total = m["calls"] * int(repeats)  # every repeat ran as long as the median one
cpu = {}
for role, b, a in zip(roles.split(), before.split(), after.split()):
    # Ticks of 10 ms, over every repeat's calls.
    cpu[role.split("=")[0]] = round((int(a) - int(b)) * 10.0 * 1000 / max(calls_total, 1), 1)
cpu["client"] = m.get("client_cpu_ms_per_1000_calls")
print(json.dumps({"row": label, "workload": m["workload"], "concurrency": m["concurrency"],
                  "calls_per_s": round(m["requests_per_second"]), "p99_us": m["p99_us"],
                  "errors": m["errors"], "cpu_ms_per_1000": cpu, "servers": m["servers"]}))
PY
        done
    done
}

# One row that compare runs through a proxy it starts: the proxy (nginx, envoy, mesh,
# transcoder), label, cell, then how many of our servers compare starts behind it, or a gRPC
# target's address (the transcoder in front of a server already running).
measure_via() {
    local via=$1 label=$2 cell=$3 servers=$4 target=${5:-} workload concurrency connections json
    local cores=0,1 serving=(--servers "$servers" --server-cores 0 --server-profile lean)
    if [[ -n $target ]]; then
        # Targets take no --server-cores: compare starts on CPU 0, so the proxy inherits it.
        cores=0 serving=(--grpc-target "$target")
    fi
    for workload in unary records-100; do
        for concurrency in 1 64; do
            connections=$((concurrency == 1 ? 1 : 4))
            # compare checks --server-cores against the cores it may use, so it starts on
            # both; once its servers and the proxy are up (on CPU 0), its own threads move to
            # CPU 1, and so does a mesh's client sidecar.
            taskset -c "$cores" "$BIN" compare --format json --via "$via" --envoy "$ENVOY" \
                "${serving[@]}" --client-runtime current-thread \
                --cells "$cell" --workloads "$workload" --concurrency "$concurrency" \
                --connections "$connections" --warmup "$WARMUP" --duration "$DURATION" \
                --repeats "$REPEATS" >"$work/via.json" 2>"$work/stderr" &
            local compare_pid=$! wanted=1 proxies=()
            [[ $via == mesh ]] && wanted=2
            for _ in $(seq 200); do
                mapfile -t proxies < <(pgrep -P "$compare_pid" 'nginx|envoy' || true)
                ((${#proxies[@]} >= wanted)) && break
                sleep 0.05
            done
            sleep 0.2
            taskset -a -p -c 1 "$compare_pid" >/dev/null
            for pid in "${proxies[@]}"; do
                if grep -q client-sidecar "/proc/$pid/cmdline" 2>/dev/null; then
                    taskset -a -p -c 1 "$pid" >/dev/null
                fi
            done
            wait "$compare_pid" || { cat "$work/stderr" >&2; exit 1; }
            json=$(cat "$work/via.json")
            python3 - "$label" "$json" >>"$rows" <<'PY'
import json, sys
label, report = sys.argv[1:3]
m = json.loads(report)["measurements"][0]
cpu = {"server": m.get("server_cpu_ms_per_1000_calls")}
parts = m.get("proxy_cpu_ms_per_1000_calls_by_process") or {}
if parts:
    cpu.update(parts)
else:
    cpu["proxy"] = m.get("proxy_cpu_ms_per_1000_calls")
cpu["client"] = m.get("client_cpu_ms_per_1000_calls")
print(json.dumps({"row": label, "workload": m["workload"], "concurrency": m["concurrency"],
                  "calls_per_s": round(m["requests_per_second"]), "p99_us": m["p99_us"],
                  "errors": m["errors"], "cpu_ms_per_1000": cpu, "servers": m["servers"],
                  "upstream_connections_opened": m.get("proxy_upstream_connections_opened")}))
PY
        done
    done
}

start_ours
ours_pid=$started_pid
measure_running "gRPC, ours" grpc --grpc-target "$grpc_addr" "server=$ours_pid"
measure_running "REST JSON h1, ours" rest-json-h1 --rest-target "$rest_addr" "server=$ours_pid"
start_go grpc-greeter
go_grpc_pid=$started_pid go_grpc_addr=$started_addr
measure_running "gRPC, grpc-go" grpc --grpc-target "$go_grpc_addr" "server=$go_grpc_pid"
start_go rest-greeter
measure_running "REST JSON h1, net/http" rest-json-h1 --rest-target "$started_addr" "server=$started_pid"
start_go rest-gateway -backend "$go_grpc_addr"
measure_running "REST JSON h1 → grpc-gateway → grpc-go" rest-json-h1 --rest-target "$started_addr" \
    "gateway=$started_pid" "server=$go_grpc_pid"
start_go rest-gateway -backend "$grpc_addr"
measure_running "REST JSON h1 → grpc-gateway → ours" rest-json-h1 --rest-target "$started_addr" \
    "gateway=$started_pid" "server=$ours_pid"
measure_via transcoder "REST JSON h1 → transcoder → grpc-go" rest-json-h1 1 "$go_grpc_addr"
stop_all
measure_via transcoder "REST JSON h1 → transcoder → ours" rest-json-h1 1
for proxy in nginx envoy; do
    for servers in 1 3; do
        measure_via "$proxy" "gRPC → $proxy → $servers × ours" grpc "$servers"
        measure_via "$proxy" "REST JSON h1 → $proxy → $servers × ours" rest-json-h1 "$servers"
        measure_via "$proxy" "REST JSON h2c → $proxy → $servers × ours" rest-json-h2 "$servers"
    done
done
measure_via mesh "gRPC → mesh → 1 × ours" grpc 1
measure_via mesh "REST JSON h1 → mesh → 1 × ours" rest-json-h1 1
measure_via mesh "REST JSON h2c → mesh → 1 × ours" rest-json-h2 1

python3 - "$rows" "$DURATION" "$REPEATS" <<'PY'
import json, sys
rows = [json.loads(line) for line in open(sys.argv[1])]
columns = [("unary", 1), ("unary", 64), ("records-100", 1), ("records-100", 64)]
def cpu(r):
    parts = [f"{k} {v:.0f}" for k, v in r["cpu_ms_per_1000"].items() if v is not None]
    return ", ".join(parts)
def spread(r):
    total = sum(r["servers"].values())
    if len(r["servers"]) < 2 or not total:
        return ""
    return " [" + "/".join(f"{100 * n / total:.0f}" for n in sorted(r["servers"].values())) + " %]"
print("| row | " + " | ".join(f"{w}, {c} in flight" for w, c in columns) + " |")
print("|---|" + "---|" * len(columns))
for label in dict.fromkeys(r["row"] for r in rows):
    cells = []
    for w, c in columns:
        r = next((r for r in rows if r["row"] == label and r["workload"] == w and r["concurrency"] == c), None)
        if r is None:
            cells.append("")
            continue
        errors = f", {r['errors']} errors" if r["errors"] else ""
        cells.append(f"{r['calls_per_s']:,} (p99 {r['p99_us'] / 1000:.2f} ms; CPU ms/1000: {cpu(r)}){spread(r)}{errors}")
    print(f"| {label} | " + " | ".join(cells) + " |")
print(f"\ncalls/s, median of {sys.argv[3]} runs of {sys.argv[2]} s; servers, gateway and proxy on CPU 0, compare on CPU 1")
print(json.dumps({"rows": rows}))
PY

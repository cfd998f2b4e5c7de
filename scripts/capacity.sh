#!/usr/bin/env bash
# Capacity at a latency objective: `compare --slo` for each cell and workload under the
# conditions a deployment meets, then a check that a capacity found is one.
#
#   scripts/capacity.sh            # the matrix, the quota, then the check; a table of each
#   ONLY=check scripts/capacity.sh # the check alone (ONLY=matrix, ONLY=quota: those alone)
#
# The matrix (SLO, default p99=5ms; steps of STEP seconds, default 1; CONCURRENCY in flight,
# default 64; CELLS and WORKLOADS, defaults below), one compare per condition:
#   - loopback, HTTP/2 cells on 1 connection (what a stock client opens);
#   - loopback, HTTP/2 cells on 4 connections;
#   - `--link lan` (2 ms round trip, 100 Mbit/s);
#   - `--server-cpus 1`: the server under a 1-CPU CFS quota, as the pod's `limits.cpu: "1"`,
#     free to run on either core (the others pin it to CPU 0).
# compare runs on CPU 1 (one thread) and starts a lean server (`--server-profile lean`).
#
# The quota (it reads the matrix's results): for grpc, rest-json-h1 and rest-json-h2, an open
# loop of 10 s at 0.7 x the cell's capacity on one pinned core, once pinned to CPU 0 and once
# under the 1-CPU quota: the p99 of each at the same offered load, and the throttling.
#
# The check, for grpc and rest-json-h1 unary at 64 in flight on 1 connection: a search with
# the default step duration (its time is the search's time), then, 3 times each, an open loop
# of 10 s alone at 0.9 × and at 1.3 × the capacity, each judged as the search judges a step
# (the objective's percentile, no failed call, 98 % of the offered calls made). The capacity
# holds when 0.9 × meets it at least twice and 1.3 × misses it at least twice.
#
# Needs taskset, python3, and root for `--server-cpus` (a writable cgroup). BIN: the
# rpc-vs-rest binary (default target/release/rpc-vs-rest, built here). Results in OUT
# (default target/capacity): one JSON per run.
set -euo pipefail
cd "$(dirname "$0")/.."
SLO="${SLO:-p99=5ms}"
STEP="${STEP:-1}"
CONCURRENCY="${CONCURRENCY:-64}"
CELLS="${CELLS:-grpc,rest-json-h1,rest-json-h2,rest-proto-h1,connect-proto-h2}"
WORKLOADS="${WORKLOADS:-unary,records-100}"
OUT="${OUT:-target/capacity}"
ONLY="${ONLY:-}"
for tool in taskset python3; do
    command -v "$tool" >/dev/null || { echo "capacity.sh: $tool is missing" >&2; exit 1; }
done
if [[ -z ${BIN:-} ]]; then
    cargo build --release --quiet --bin rpc-vs-rest
    BIN=target/release/rpc-vs-rest
fi
mkdir -p "$OUT"

# compare may give the server only cores of its own, so it starts on both and then moves all
# its threads to CPU 1 (threads made later inherit that); the server keeps its own affinity.
compare() {
    "$BIN" compare --server-profile lean --client-runtime current-thread --format json "$@" &
    local pid=$!
    # Once its server is started (compare checks the cores it gives away before).
    for _ in $(seq 200); do
        pgrep -P "$pid" >/dev/null && break
        sleep 0.05
    done
    taskset -a -p -c 1 "$pid" >/dev/null
    wait "$pid"
}

if [[ -z $ONLY || $ONLY == matrix ]]; then
    common=(--cells "$CELLS" --workloads "$WORKLOADS" --concurrency "$CONCURRENCY"
        --slo "$SLO" --slo-step-duration "$STEP")
    for condition in one-connection four-connections lan cpu-quota; do
        case $condition in
            one-connection) extra=(--server-cores 0 --connections 1) ;;
            four-connections) extra=(--server-cores 0 --connections 4) ;;
            lan) extra=(--server-cores 0 --connections 1 --link lan) ;;
            cpu-quota) extra=(--server-cpus 1 --connections 1) ;;
        esac
        started=$EPOCHREALTIME
        compare "${common[@]}" "${extra[@]}" >"$OUT/$condition.json" || true
        echo "$condition: $(python3 -c "print(round($EPOCHREALTIME - $started))") s" >&2
    done
    python3 - "$OUT" <<'EOF'
import json, sys
out = sys.argv[1]
print("| condition | workload | cell | closed-loop peak calls/s | capacity calls/s | p50 ms | p99 ms | server CPU µs/call | steps |")
print("|---|---|---|---|---|---|---|---|---|")
for condition in ["one-connection", "four-connections", "lan", "cpu-quota"]:
    try:
        rows = json.load(open(f"{out}/{condition}.json"))["measurements"]
    except (OSError, ValueError) as error:
        print(f"| {condition} | run failed: {error} |")
        continue
    for m in rows:
        c = m["capacity"]
        rate = c["calls_per_s"]
        shown = lambda us: "-" if us is None else f"{us / 1000:.2f}"
        cpu = c["server_cpu_ms_per_1000_calls"]
        conns = f" ({m['connections']} conns)" if m["cell"] != "rest-json-h1" and m["cell"] != "rest-proto-h1" else ""
        print(f"| {condition} | {m['workload']} | {m['cell']}{conns} | {m['requests_per_second']:.0f} | "
              f"{'none' if rate is None else f'{rate:.0f}'} | {shown(c['p50_us'])} | {shown(c['p99_us'])} | "
              f"{'-' if cpu is None else f'{cpu:.1f}'} | {len(c['steps'])} |")
EOF
fi

if [[ -z $ONLY || $ONLY == quota ]]; then
    # The same offered load, pinned and under the quota: 0.7 x each cell's pinned capacity.
    echo "| workload | cell | offered calls/s | p99 pinned ms | p99 under a 1-CPU quota ms | ratio | throttled periods |"
    echo "|---|---|---|---|---|---|---|"
    rates=$(python3 -c '
import json, sys
for m in json.load(open(sys.argv[1]))["measurements"]:
    rate = m["capacity"]["calls_per_s"]
    if rate and m["cell"] in ("grpc", "rest-json-h1", "rest-json-h2"):
        print(m["workload"], m["cell"], round(rate * 0.7))
' "$OUT/one-connection.json")
    while read -r workload cell rate; do
        for where in pinned quota; do
            case $where in
                pinned) extra=(--server-cores 0) ;;
                quota) extra=(--server-cpus 1) ;;
            esac
            compare --cells "$cell" --workloads "$workload" --concurrency "$CONCURRENCY" \
                --connections 1 --rate "$rate" --duration 10 "${extra[@]}" \
                >"$OUT/quota-$workload-$cell-$where.json" || true
        done
        python3 - "$OUT" "$workload" "$cell" "$rate" <<'EOF2'
import json, sys
out, workload, cell, rate = sys.argv[1:5]
def row(where):
    return json.load(open(f"{out}/quota-{workload}-{cell}-{where}.json"))["measurements"][0]
pinned, quota = row("pinned"), row("quota")
t = quota.get("server_throttling") or {}
print(f"| {workload} | {cell} | {rate} | {pinned['p99_us'] / 1000:.2f} | {quota['p99_us'] / 1000:.2f} | "
      f"{quota['p99_us'] / max(pinned['p99_us'], 1):.2f} | {t.get('throttled_periods', '-')} of {t.get('periods', '-')} |")
EOF2
    done <<<"$rates"
fi

if [[ -z $ONLY || $ONLY == check ]]; then
    for cell in grpc rest-json-h1; do
        started=$EPOCHREALTIME
        compare --cells "$cell" --workloads unary --concurrency "$CONCURRENCY" --connections 1 \
            --server-cores 0 --slo "$SLO" >"$OUT/check-$cell.json" || true
        searched=$(python3 -c "print(round($EPOCHREALTIME - $started, 1))")
        capacity=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["measurements"][0]["capacity"]["calls_per_s"] or 0)' "$OUT/check-$cell.json")
        echo "$cell: capacity $capacity calls/s at $SLO, searched in $searched s"
        for factor in 0.9 1.3; do
            rate=$(python3 -c "print(round($capacity * $factor))")
            for run in 1 2 3; do
                compare --cells "$cell" --workloads unary --concurrency "$CONCURRENCY" \
                    --connections 1 --server-cores 0 --rate "$rate" --duration 10 \
                    >"$OUT/check-$cell-$factor-$run.json" || true
            done
            python3 - "$OUT" "$cell" "$factor" "$rate" "$SLO" <<'EOF'
import json, re, sys
out, cell, factor, rate, slo = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4]), sys.argv[5]
limits = []
for part in slo.split(","):
    p, latency = re.split("<=|=", part.strip())
    value = float(re.match(r"[\d.]+", latency).group())
    unit = latency[len(re.match(r"[\d.]+", latency).group()):]
    limits.append((float(p[1:]), value * {"us": 1, "µs": 1, "ms": 1e3, "s": 1e6}[unit]))
met = 0
for run in (1, 2, 3):
    m = json.load(open(f"{out}/check-{cell}-{factor}-{run}.json"))["measurements"][0]
    curve = {point["percentile"]: point["us"] for point in m["latency_percentiles"]}
    why = None
    if m["errors"]:
        why = f"{m['errors']} errors"
    elif m["requests_per_second"] < 0.98 * rate:
        why = f"{m['requests_per_second']:.0f} of {rate:.0f} calls/s made"
    else:
        for percentile, at_most in limits:
            us = curve.get(percentile)
            if us is None or us > at_most:
                why = f"p{percentile:g} {us} us"
                break
    met += why is None
    print(f"  {factor} x ({rate:.0f} calls/s), run {run}: {'met' if why is None else 'missed: ' + why}"
          f" (p99 {m['p99_us'] / 1000:.2f} ms, {m['requests_per_second']:.0f} calls/s)")
wanted = met >= 2 if factor == "0.9" else met <= 1
print(f"  {factor} x: met in {met} of 3: {'as the target asks' if wanted else 'TARGET NOT MET'}")
EOF
        done
    done
fi

#!/usr/bin/env bash
# Under loss: the head-of-line table. One compare run per link, each a packet link (the server
# in a network namespace, the clients in another, joined by compare's TUN forwarder) at RTT
# (default 20ms) with loss 0, 0.1 %, 1 %, 3 %, and 1 % and 3 % in bursts of 4 (Gilbert-Elliott),
# CONCURRENCY calls in flight (default 64): gRPC, REST JSON over h2c and Connect JSON over
# HTTP/2 on 1 and on 4 connections, REST JSON over HTTP/1.1 on a connection per call in flight;
# WORKLOADS (default "unary,stream-100"), DURATION seconds each (default 4) after WARMUP
# (default 1). Prints a markdown table; the last line is one JSON object with every row.
# Needs root and /dev/net/tun. BIN: the rpc-vs-rest binary (default target/release/rpc-vs-rest,
# built here).
set -euo pipefail
cd "$(dirname "$0")/.."
RTT="${RTT:-20ms}"
CONCURRENCY="${CONCURRENCY:-64}"
WORKLOADS="${WORKLOADS:-unary,stream-100}"
DURATION="${DURATION:-4}"
WARMUP="${WARMUP:-1}"
LOSSES="${LOSSES:-0% 0.1% 1% 3% 1%/burst=4 3%/burst=4}"
[[ $(id -u) == 0 ]] || { echo "loss.sh: the packet link needs root" >&2; exit 1; }
if [[ -z ${BIN:-} ]]; then
    cargo build --release --quiet --bin rpc-vs-rest
    BIN=target/release/rpc-vs-rest
fi
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
n=0
for loss in $LOSSES; do
    n=$((n + 1))
    # A run with failed calls exits with an error: its rows are kept all the same.
    "$BIN" compare --link "packet,rtt=$RTT,loss=$loss" \
        --cells grpc,rest-json-h1,rest-json-h2,connect-json-h2 --connections 1,4 \
        --workloads "$WORKLOADS" --concurrency "$CONCURRENCY" --warmup "$WARMUP" \
        --duration "$DURATION" --format json >"$out/$n.json" 2>"$out/$n.err" || true
    echo "$loss" >"$out/$n.what"
done
python3 - "$out" "$n" <<'PY'
import json, sys
out, n = sys.argv[1], int(sys.argv[2])
rows = []
for i in range(1, n + 1):
    loss = open(f"{out}/{i}.what").read().strip()
    try:
        report = json.load(open(f"{out}/{i}.json"))
    except Exception as error:
        print(f"loss.sh: loss {loss}: no report ({error}): "
              + open(f"{out}/{i}.err").read()[-400:], file=sys.stderr)
        continue
    for m in report["measurements"]:
        link = m.get("packet_link") or {}
        rows.append({
            "loss": loss, "cell": m["cell"], "workload": m["workload"],
            "connections": m["connections"], "calls_per_second": round(m["requests_per_second"]),
            "p50_us": m["p50_us"], "p99_us": m["p99_us"], "p999_us": m["p999_us"],
            "errors": m["errors"],
            "dropped": link.get("dropped_to_server", 0) + link.get("dropped_to_client", 0),
            "retransmitted": link.get("retransmitted_by_clients", 0)
                             + link.get("retransmitted_by_server", 0),
            "calls_over_200ms": link.get("calls_over_200ms", 0), "calls": m["calls"],
        })
print("| loss | workload | cell | conns | calls/s | p50 ms | p99 ms | p99.9 ms | errors | packets dropped | segments retransmitted | calls over 200 ms |")
print("|---|---|---|---|---|---|---|---|---|---|---|---|")
for r in rows:
    share = 100 * r["calls_over_200ms"] / max(r["calls"], 1)
    print(f"| {r['loss']} | {r['workload']} | {r['cell']} | {r['connections']} | "
          f"{r['calls_per_second']} | {r['p50_us'] / 1000:.1f} | {r['p99_us'] / 1000:.1f} | "
          f"{r['p999_us'] / 1000:.1f} | {r['errors']} | {r['dropped']} | {r['retransmitted']} | "
          f"{r['calls_over_200ms']} ({share:.1f} %) |")
print(json.dumps(rows))
PY

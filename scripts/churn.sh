#!/usr/bin/env bash
# When pods come and go: `compare --churn` for every protocol × balancing path × server setting
# × event, each a run of its own at a fixed rate. Rows:
#   protocol: gRPC (one HTTP/2 connection), REST JSON over HTTP/1.1 (a keep-alive connection
#             per call in flight), REST JSON over h2c (one connection), Connect JSON over HTTP/2;
#   path:     nginx (`--via nginx`, per request; servers changed by a graceful reload), Envoy
#             (`--via envoy`, per request; endpoints from files it watches), HAProxy in TCP
#             mode (`--via tcp`, per connection, as kube-proxy), and no proxy (`client`: the
#             clients round robin over every server, taking the list again every
#             RESOLVE_EVERY, default 5s, and before replacing a lost connection);
#   setting:  no maximum connection age, and `--server-max-connection-age AGE`;
#   event:    scale-up 2 → 3, a rolling restart of 3, and a kill of 1 of 3, at EVENT_AT s.
# RATE calls a second (default 4000), CONCURRENCY in flight (default 16), DURATION seconds
# (default 20) after WARMUP (default 1); AGE (default 5s); PRE_STOP (default 5s, as
# k8s/base/deployment.yaml). Prints a markdown table; the last line is one JSON object with
# every row. Needs nginx (nginx-core), haproxy and Envoy (on PATH or .venv/bin/envoy, as
# ./scripts/test.sh installs it). PATHS: the paths to run (default "nginx envoy tcp client").
# BIN: the rpc-vs-rest binary (default target/release/rpc-vs-rest, built here).
set -euo pipefail
cd "$(dirname "$0")/.."
RATE="${RATE:-4000}"
CONCURRENCY="${CONCURRENCY:-16}"
DURATION="${DURATION:-20}"
WARMUP="${WARMUP:-1}"
EVENT_AT="${EVENT_AT:-5}"
AGE="${AGE:-5s}"
PRE_STOP="${PRE_STOP:-5s}"
RESOLVE_EVERY="${RESOLVE_EVERY:-5s}"
PATHS="${PATHS:-nginx envoy tcp client}"
for tool in python3; do
    command -v "$tool" >/dev/null || { echo "churn.sh: $tool is missing" >&2; exit 1; }
done
for tool in nginx haproxy; do
    command -v "$tool" >/dev/null || [[ -x /usr/sbin/$tool ]] ||
        { echo "churn.sh: $tool is missing (apt-get install nginx-core haproxy)" >&2; exit 1; }
done
if [[ -z ${BIN:-} ]]; then
    cargo build --release --quiet --bin rpc-vs-rest
    BIN=target/release/rpc-vs-rest
fi
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
n=0
for cell in grpc rest-json-h1 rest-json-h2 connect-json-h2; do
    for via in $PATHS; do
        for age in none "$AGE"; do
            for event in "scale:2->3" rolling "kill:1"; do
                servers=3
                [[ $event == scale:* ]] && servers=2
                age_flag=()
                [[ $age != none ]] && age_flag=(--server-max-connection-age "$age")
                path_flag=(--via "$via")
                [[ $via == client ]] && path_flag=(--resolve-every "$RESOLVE_EVERY")
                n=$((n + 1))
                # A run that lost calls exits with an error: its row is kept all the same.
                "$BIN" compare --servers "$servers" "${path_flag[@]}" --cells "$cell" --workloads unary \
                    --concurrency "$CONCURRENCY" --rate "$RATE" --warmup "$WARMUP" \
                    --duration "$DURATION" --churn "$event@${EVENT_AT}s" \
                    --churn-pre-stop "$PRE_STOP" "${age_flag[@]}" --format json \
                    >"$out/$n.json" 2>"$out/$n.err" || true
                echo "$cell $via $age $event" >"$out/$n.what"
            done
        done
    done
done
python3 - "$out" "$n" <<'PY'
import json, sys
out, n = sys.argv[1], int(sys.argv[2])
rows = []
for i in range(1, n + 1):
    cell, via, age, event = open(f"{out}/{i}.what").read().split()
    try:
        m = json.load(open(f"{out}/{i}.json"))["measurements"][0]
    except Exception as error:
        print(f"churn.sh: {cell} {via} {age} {event}: no report ({error}): "
              + open(f"{out}/{i}.err").read()[-400:], file=sys.stderr)
        continue
    churn = m["churn"]
    e = churn["events"][0]
    newest = sorted(e["servers_after"], key=lambda s: int(s.split("-")[1]))[-1]
    rows.append({
        "cell": cell, "path": via, "max_age": age, "event": event,
        "calls": m["calls"], "failed": m["errors"], "failed_in_event": e["failed"],
        "retried": sum(m.get("retried", {}).values()),
        "steady_p99_us": churn["steady_p99_us"], "event_p99_us": e["p99_us"],
        "fair_share_after_s": e["fair_share_after_s"],
        "newest_server": newest, "newest_share_after": e["shares_after"].get(newest, 0.0),
        "servers_after": len(e["servers_after"]),
    })
print("| protocol | path | max age | event | failed | sent again | p99 steady → event (µs) | fair share after | newest server's share after |")
print("|---|---|---|---|---|---|---|---|---|")
for r in rows:
    fair = "never" if r["fair_share_after_s"] is None else f"{r['fair_share_after_s']:.2f} s"
    print(f"| {r['cell']} | {r['path']} | {r['max_age']} | {r['event']} | {r['failed']} | "
          f"{r['retried']} | {r['steady_p99_us']} → {r['event_p99_us']} | {fair} | "
          f"{r['newest_share_after'] * 100:.0f} % (fair: {100 / r['servers_after']:.0f} %) |")
print(json.dumps(rows))
PY

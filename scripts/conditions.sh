#!/usr/bin/env bash
# The comparison under the conditions users deploy in: every link preset (loopback, lan, wan,
# longhaul), plaintext and TLS, unary and batch-100, 1 and 64 calls in flight, the five cells
# that carry them. Two `compare` runs (one plaintext, one --tls), each over the four links,
# then one markdown table per workload and concurrency: calls/s of each cell, the winner and
# its margin (a tie when within 3 %), and p50. Each figure is the median of $REPEATS
# measurements. Builds the release binary first. Prints the tables; the raw JSON stays in
# $OUT (default: a temporary folder).
#   WARMUP=0.5 DURATION=1 REPEATS=3 ./scripts/conditions.sh
set -euo pipefail
cd "$(dirname "$0")/.."
WARMUP=${WARMUP:-0.5}
DURATION=${DURATION:-1}
REPEATS=${REPEATS:-3}
OUT=${OUT:-$(mktemp -d)}
CELLS=grpc,rest-json-h1,rest-json-h2,rest-proto-h1,rest-proto-h2
LINKS='loopback;lan;wan;longhaul'

cargo build --release --quiet
for tls in plain tls; do
    flag=()
    [[ $tls == tls ]] && flag=(--tls)
    echo "conditions: $tls over $LINKS" >&2
    ./target/release/rpc-vs-rest compare "${flag[@]}" --link "$LINKS" --cells "$CELLS" \
        --workloads unary,batch-100 --concurrency 1,64 --warmup "$WARMUP" \
        --duration "$DURATION" --repeats "$REPEATS" --format json >"$OUT/$tls.json"
done
echo "conditions: results in $OUT" >&2

python3 - "$OUT/plain.json" "$OUT/tls.json" <<'EOF'
import json, sys

rows = []
for path in sys.argv[1:]:
    with open(path) as f:
        rows += json.load(f)["measurements"]
cells = []
for m in rows:
    if m["cell"] not in cells:
        cells.append(m["cell"])
for workload in ["unary", "batch-100"]:
    for concurrency in [1, 64]:
        print(f"\n**{workload}, {concurrency} in flight** (calls/s; p50 ms of the fastest)\n")
        print("| link | TLS | " + " | ".join(cells) + " | fastest |")
        print("|---|---|" + "---:|" * len(cells) + "---|")
        conditions = []
        for m in rows:
            key = (m["link"], m.get("tls", False))
            if key not in conditions:
                conditions.append(key)
        for link, tls in conditions:
            group = {m["cell"]: m for m in rows if m["workload"] == workload
                     and m["concurrency"] == concurrency and m["link"] == link
                     and m.get("tls", False) == tls}
            if not group:
                continue
            ranked = sorted(group.values(), key=lambda m: -m["requests_per_second"])
            best, second = ranked[0], ranked[1]
            margin = best["requests_per_second"] / max(second["requests_per_second"], 1e-9)
            values = [f'{group[c]["requests_per_second"]:.0f}' if c in group else "-" for c in cells]
            p50 = f'p50 {best["p50_us"] / 1000:.2f}'
            if margin < 1.03:
                winner = f'tie: {best["cell"]} {margin:.2f}× {second["cell"]} ({p50})'
            else:
                winner = f'{best["cell"]}, {margin:.2f}× {second["cell"]} ({p50})'
            print(f'| {link} | {"yes" if tls else "no"} | ' + " | ".join(values) + f" | {winner} |")
print("\nbytes per call (request + reply, plaintext, loopback, 1 in flight):")
for workload in ["unary", "batch-100"]:
    parts = []
    for m in rows:
        if (m["workload"], m["concurrency"], m["link"], m.get("tls", False)) == (workload, 1, "loopback", False):
            parts.append(f'{m["cell"]} {m["request_bytes_per_call"] + m["response_bytes_per_call"]:.0f}')
    print(f"  {workload}: " + ", ".join(parts))
EOF

#!/usr/bin/env bash
# Is `compare` measuring the server, or itself? Against one running server
# (`serve --profile lean`), for each HTTP shape, `compare` and h2load:
#   client instructions per call, counted by callgrind on the client process: h2load's over
#   CALLS calls; compare's as the difference between a run of COUNT_SECONDS and one of 3 s
#   (no warm-up), divided by the difference in calls, so that its start, its connections and
#   its histograms are left out as h2load's start is (a few hundred instructions a call);
#   the server's instructions per call for the same call (callgrind on the server);
#   calls per second with the server and the client on separate cores (taskset), DURATION s
#   after 1 s of warm-up.
# Shapes: grpc and REST (JSON and protobuf) over h2c, 1 connection x 64 streams; REST (JSON
# and protobuf) over HTTP/1.1, 64 connections. Prints a table; the last line is one JSON
# object: {"shape":{"compare_instructions":N,"h2load_instructions":N,"server_instructions":N,
# "compare_calls_per_second":N,"h2load_calls_per_second":N},...}
# Settings: CALLS (default 20000), COUNT_SECONDS (default 9), DURATION (default 4),
# SERVER_CPUS (default 0), LOAD_CPUS (default 1), SKIP_BUILD, CLIENT_RUNTIME (compare's
# --client-runtime: multi-thread, the default, or current-thread), BIN (default
# target/release/rpc-vs-rest).
# Needs valgrind, h2load (Debian: valgrind nghttp2-client), taskset, python3.
set -euo pipefail
cd "$(dirname "$0")/.."
CALLS="${CALLS:-20000}"
COUNT_SECONDS="${COUNT_SECONDS:-9}"
DURATION="${DURATION:-4}"
SERVER_CPUS="${SERVER_CPUS:-0}"
LOAD_CPUS="${LOAD_CPUS:-1}"
BIN="${BIN:-target/release/rpc-vs-rest}"
export CLIENT_RUNTIME="${CLIENT_RUNTIME:-multi-thread}"
for tool in valgrind callgrind_control callgrind_annotate h2load taskset python3; do
    command -v "$tool" >/dev/null || { echo "generator.sh: $tool is missing (apt-get install valgrind nghttp2-client)" >&2; exit 1; }
done
[[ -n "${SKIP_BUILD:-}" ]] || cargo build --release --quiet --bin rpc-vs-rest
work=$(mktemp -d)
trap 'kill -9 $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
printf '\x00\x00\x00\x00\x07\x0a\x05World' > "$work/grpc"
printf '{"name":"World"}' > "$work/json"
printf '\x0a\x05World' > "$work/proto"
GRPC=127.0.0.1:50071
REST=127.0.0.1:8071

wait_for() { for _ in $(seq 150); do (echo >"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return; sleep 0.2; done; }
total_instructions() { callgrind_annotate "$1" | awk '/PROGRAM TOTALS/ { gsub(",", "", $1); print $1 }'; }

# The h2load arguments of a shape (cell name as compare knows it).
h2load_args() {
    case "$1" in
        grpc) echo "-c 1 -m 64 -d $work/grpc -H content-type:application/grpc -H te:trailers http://$GRPC/helloworld.Greeter/SayHello" ;;
        rest-json-h2) echo "-c 1 -m 64 -d $work/json -H content-type:application/json http://$REST/v1/greeter/hello" ;;
        rest-proto-h2) echo "-c 1 -m 64 -d $work/proto -H content-type:application/x-protobuf http://$REST/v1/greeter/hello" ;;
        rest-json-h1) echo "--h1 -c 64 -d $work/json -H content-type:application/json http://$REST/v1/greeter/hello" ;;
        rest-proto-h1) echo "--h1 -c 64 -d $work/proto -H content-type:application/x-protobuf http://$REST/v1/greeter/hello" ;;
    esac
}
compare_args() { # shape seconds warmup
    echo "compare --grpc-target $GRPC --rest-target $REST --cells $1 --workloads unary --concurrency 64 --connections 1 --warmup $3 --duration $2 --format json --client-runtime $CLIENT_RUNTIME"
}
compare_calls() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["measurements"][0]["calls"])' "$1"; }
compare_rate() { python3 -c 'import json,sys; m=json.load(open(sys.argv[1]))["measurements"][0]; print(round(m["requests_per_second"]) if m["errors"] == 0 else "failed")' "$1"; }
h2load_rate() { awk '/^requests:/ { failed = $10 } /^finished in/ { rps = $4 } END { if (rps == "" || failed != 0) print "failed"; else printf "%.0f\n", rps }' "$1"; }

declare -A out
# The server's own instructions per call, under h2load (as scripts/instructions.sh counts).
valgrind --tool=callgrind --callgrind-out-file="$work/server.out" "$BIN" serve --grpc-addr "$GRPC" --rest-addr "$REST" --profile lean >/dev/null 2>&1 &
server=$!
wait_for "${REST##*:}"; wait_for "${GRPC##*:}"
for shape in grpc rest-json-h2 rest-proto-h2 rest-json-h1 rest-proto-h1; do
    # shellcheck disable=SC2046
    h2load -n 1000 $(h2load_args "$shape") >/dev/null
    callgrind_control -z "$server" >/dev/null 2>&1
    # shellcheck disable=SC2046
    h2load -n 5000 $(h2load_args "$shape") | grep -q ' 0 failed' || { echo "generator.sh: $shape failed" >&2; exit 1; }
    callgrind_control -d "$server" >/dev/null 2>&1
    out[$shape/server]=$(( $(total_instructions "$(ls -t "$work"/server.out.* | head -1)") / 5000 ))
    rm -f "$work"/server.out.*
done
kill -9 "$server"; wait "$server" 2>/dev/null || true

# The clients' instructions per call, against a plain (unmeasured) server.
"$BIN" serve --grpc-addr "$GRPC" --rest-addr "$REST" --profile lean >/dev/null 2>&1 &
server=$!
wait_for "${REST##*:}"; wait_for "${GRPC##*:}"
for shape in grpc rest-json-h2 rest-proto-h2 rest-json-h1 rest-proto-h1; do
    # shellcheck disable=SC2046
    valgrind --tool=callgrind --callgrind-out-file="$work/h2load.out" h2load -n "$CALLS" $(h2load_args "$shape") > "$work/h2load.txt" 2>/dev/null
    grep -q ' 0 failed' "$work/h2load.txt" || { echo "generator.sh: h2load $shape failed" >&2; exit 1; }
    out[$shape/h2load]=$(( $(total_instructions "$work/h2load.out") / CALLS ))
    for seconds in 3 "$COUNT_SECONDS"; do
        # shellcheck disable=SC2046
        valgrind --tool=callgrind --callgrind-out-file="$work/compare-$seconds.out" "$BIN" $(compare_args "$shape" "$seconds" 0) > "$work/compare-$seconds.json" 2>/dev/null
    done
    instructions=$(( $(total_instructions "$work/compare-$COUNT_SECONDS.out") - $(total_instructions "$work/compare-3.out") ))
    calls=$(( $(compare_calls "$work/compare-$COUNT_SECONDS.json") - $(compare_calls "$work/compare-3.json") ))
    out[$shape/compare]=$(( instructions / calls ))
done
kill -9 "$server"; wait "$server" 2>/dev/null || true

# Calls per second, server and client on separate cores.
taskset -c "$SERVER_CPUS" "$BIN" serve --grpc-addr "$GRPC" --rest-addr "$REST" --profile lean >/dev/null 2>&1 &
server=$!
wait_for "${REST##*:}"; wait_for "${GRPC##*:}"
for shape in grpc rest-json-h2 rest-proto-h2 rest-json-h1 rest-proto-h1; do
    # shellcheck disable=SC2046
    taskset -c "$LOAD_CPUS" h2load -D "$DURATION" --warm-up-time=1 $(h2load_args "$shape") > "$work/h2load.txt" 2>&1 || true
    out[$shape/h2load_rate]=$(h2load_rate "$work/h2load.txt")
    # shellcheck disable=SC2046
    taskset -c "$LOAD_CPUS" "$BIN" $(compare_args "$shape" "$DURATION" 1) > "$work/compare.json" 2>/dev/null || true
    out[$shape/compare_rate]=$(compare_rate "$work/compare.json")
done

kill -9 "$server"; wait "$server" 2>/dev/null || true

args=()
for shape in grpc rest-json-h2 rest-proto-h2 rest-json-h1 rest-proto-h1; do
    args+=("$shape" "${out[$shape/compare]}" "${out[$shape/h2load]}" "${out[$shape/server]}" "${out[$shape/compare_rate]}" "${out[$shape/h2load_rate]}")
done
python3 - "$SERVER_CPUS" "$LOAD_CPUS" "$DURATION" "${args[@]}" <<'PY'
import json, sys
server_cpus, load_cpus, duration, rest = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
shapes = {}
for i in range(0, len(rest), 6):
    shape, c, h, s, cr, hr = rest[i:i + 6]
    num = lambda v: None if v == "failed" else int(v)
    shapes[shape] = {"compare_instructions": int(c), "h2load_instructions": int(h), "server_instructions": int(s),
                     "compare_calls_per_second": num(cr), "h2load_calls_per_second": num(hr)}
print(f"client instructions per unary SayHello call, 64 in flight, against serve --profile lean; compare's runtime {__import__('os').environ.get('CLIENT_RUNTIME', 'multi-thread')};")
print(f"calls per second with the server on cores {server_cpus} and the client on cores {load_cpus}, {duration} s")
print()
print("| shape | compare | h2load | lean server | compare ÷ server | compare calls/s | h2load calls/s | compare ÷ h2load |")
print("|---|---|---|---|---|---|---|---|")
for shape, v in shapes.items():
    cr, hr = v["compare_calls_per_second"], v["h2load_calls_per_second"]
    rate = f"{cr / hr:.2f}" if cr and hr else "n/a"
    print(f"| {shape} | {v['compare_instructions']:,} | {v['h2load_instructions']:,} | {v['server_instructions']:,} "
          f"| {v['compare_instructions'] / v['server_instructions']:.2f} | {cr or 'failed'} | {hr or 'failed'} | {rate} |")
print()
print(json.dumps(shapes, separators=(",", ":")))
PY

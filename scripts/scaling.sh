#!/usr/bin/env bash
# Does our server measure the protocols, or itself? At 1, 2, 4, 8 … server cores, h2load drives
# our server (each profile) and the baseline servers with the same load, and the script prints
# ours / baseline per protocol stack and the distortion: (ours gRPC / ours REST) ÷ (baseline
# gRPC / baseline REST), which is 1.00 when our server leaves the verdict as the baselines give
# it. BASELINE=same_api (the default: examples/same_api_tonic and examples/same_api_axum, the
# whole API in plain framework code) or BASELINE=floor (examples/bare_tonic, bare_axum).
#   gRPC SayHello:       h2load, 8 connections × 32 streams
#   REST JSON over h2c:  h2load, 8 connections × 32 streams
#   REST JSON HTTP/1.1:  h2load --h1, 256 connections
# Servers run pinned to the first N cores (taskset), h2load to cores of its own (the upper half
# of the machine, at least one), so the two never share a core.
# Settings (environment): CORES (default "1 2 4 8", capped at half the machine), PROFILES
# (default "default lean"), DURATION seconds per measurement (default 4, after 1 of warm-up),
# ROUNDS (default 1; more gives the median of the per-round ratios). BIN, BARE_TONIC,
# BARE_AXUM and H2LOAD name the programs (defaults: a fresh release build and h2load on PATH;
# SKIP_BUILD=1 to use the binaries as they are, e.g. on a machine without cargo).
# Needs h2load (Debian: nghttp2-client), taskset and awk.
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION="${DURATION:-4}"
ROUNDS="${ROUNDS:-1}"
PROFILES="${PROFILES:-default lean}"
BIN="${BIN:-target/release/rpc-vs-rest}"
BASELINE="${BASELINE:-same_api}"
case "$BASELINE" in
    same_api) base_tonic=same_api_tonic base_axum=same_api_axum ;;
    floor) base_tonic=bare_tonic base_axum=bare_axum ;;
    *) echo "scaling.sh: BASELINE is same_api or floor, not $BASELINE" >&2; exit 1 ;;
esac
BARE_TONIC="${BARE_TONIC:-target/release/examples/$base_tonic}"
BARE_AXUM="${BARE_AXUM:-target/release/examples/$base_axum}"
H2LOAD="${H2LOAD:-h2load}"
for tool in "$H2LOAD" taskset awk; do
    command -v "$tool" >/dev/null || { echo "scaling.sh: $tool is missing (apt-get install nghttp2-client)" >&2; exit 1; }
done
if [[ -z "${SKIP_BUILD:-}" ]]; then
    cargo build --release --quiet --bin rpc-vs-rest --example "$base_tonic" --example "$base_axum"
fi

total=$(nproc)
half=$(( total / 2 > 0 ? total / 2 : 1 ))
load_first=$(( total > 1 ? total - half : 0 ))
LOAD_CPUS="${LOAD_CPUS:-$load_first-$((total - 1))}"
load_threads=$(( total - load_first ))
if [[ -z "${CORES:-}" ]]; then
    CORES=""
    for n in 1 2 4 8 16 32 64; do (( n <= half )) && CORES+="$n "; done
fi
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
# SayHello{name: "World"} in one gRPC frame: flag 0, length 7, then field 1 = "World".
printf '\x00\x00\x00\x00\x07\x0a\x05World' > "$work/hello.grpc"
printf '{"name":"World"}' > "$work/hello.json"

# h2load's requests per second, or "failed" when any request failed.
h2load_rps() { # url h2load-arguments...
    local url=$1; shift
    taskset -c "$LOAD_CPUS" "$H2LOAD" -t "$load_threads" -D "$DURATION" --warm-up-time=1 "$@" "$url" \
        > "$work/h2load.out" 2>&1 || true
    awk '/^requests:/ { failed = $10 } /^finished in/ { rps = $4 }
         END { if (rps == "" || failed != 0) print "failed"; else printf "%.0f\n", rps }' "$work/h2load.out"
}
grpc() { h2load_rps "http://127.0.0.1:$1/helloworld.Greeter/SayHello" -c 8 -m 32 -d "$work/hello.grpc" \
    -H 'content-type: application/grpc' -H 'te: trailers'; }
rest_h2c() { h2load_rps "http://127.0.0.1:$1/v1/greeter/hello" -c 8 -m 32 -d "$work/hello.json" \
    -H 'content-type: application/json'; }
rest_h1() { h2load_rps "http://127.0.0.1:$1/v1/greeter/hello" --h1 -c 256 -d "$work/hello.json" \
    -H 'content-type: application/json'; }

start() { # cores port command...: starts a server pinned to cores 0..cores-1, waits for its port
    local cores=$1 port=$2; shift 2
    taskset -c "0-$((cores - 1))" "$@" >/dev/null 2>&1 &
    for _ in $(seq 100); do (echo >"/dev/tcp/127.0.0.1/$port") 2>/dev/null && return; sleep 0.1; done
    echo "scaling.sh: $* did not listen on $port" >&2; exit 1
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "failed" || b == "failed" || b == 0) print "n/a"; else printf "%.2f\n", a / b }'; }
median() { printf '%s\n' "$@" | grep -v 'n/a' | sort -n | awk '{ v[NR] = $1 } END { if (NR == 0) print "n/a"; else if (NR % 2) print v[(NR + 1) / 2]; else printf "%.2f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

echo "baseline: $BASELINE ($BARE_TONIC, $BARE_AXUM)"
echo "machine: $total cores ($(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)); servers on cores 0..N-1, h2load on $LOAD_CPUS; ${DURATION} s per measurement, ${ROUNDS} round(s)"
results=()
for cores in $CORES; do
    start "$cores" 50061 "$BARE_TONIC" 127.0.0.1:50061
    start "$cores" 8061 "$BARE_AXUM" 127.0.0.1:8061
    port=50071
    for profile in $PROFILES; do
        start "$cores" "$port" "$BIN" serve --grpc-addr "127.0.0.1:$port" --rest-addr "127.0.0.1:$((port + 1))" --profile "$profile"
        port=$((port + 2))
    done
    port=50071
    for profile in $PROFILES; do
        g=() h=() o=() dh=() dh1=()
        for round in $(seq "$ROUNDS"); do
            bare_grpc=$(grpc 50061); ours_grpc=$(grpc "$port")
            bare_h2c=$(rest_h2c 8061); ours_h2c=$(rest_h2c "$((port + 1))")
            bare_h1=$(rest_h1 8061); ours_h1=$(rest_h1 "$((port + 1))")
            echo "$profile, $cores core(s), round $round: gRPC ours $ours_grpc / bare $bare_grpc; REST h2c ours $ours_h2c / bare $bare_h2c; REST HTTP/1.1 ours $ours_h1 / bare $bare_h1 req/s"
            g+=("$(ratio "$ours_grpc" "$bare_grpc")"); h+=("$(ratio "$ours_h2c" "$bare_h2c")"); o+=("$(ratio "$ours_h1" "$bare_h1")")
            dh+=("$(ratio "${g[-1]}" "${h[-1]}")"); dh1+=("$(ratio "${g[-1]}" "${o[-1]}")")
            last="$ours_grpc / $bare_grpc | $ours_h2c / $bare_h2c | $ours_h1 / $bare_h1"
        done
        results+=("| $profile | $cores | $last | $(median "${g[@]}") | $(median "${h[@]}") | $(median "${o[@]}") | $(median "${dh[@]}") | $(median "${dh1[@]}") |")
        port=$((port + 2))
    done
    kill $(jobs -p) 2>/dev/null || true
    wait 2>/dev/null || true
done

echo
echo "| profile | server cores | gRPC req/s ours / bare | REST h2c ours / bare | REST HTTP/1.1 ours / bare | gRPC ours÷bare | h2c ours÷bare | HTTP/1.1 ours÷bare | distortion gRPC/h2c | distortion gRPC/HTTP/1.1 |"
echo "|---|---|---|---|---|---|---|---|---|---|"
printf '%s\n' "${results[@]}"
echo
echo "('bare' is the $BASELINE baseline) targets: ours÷bare 0.85 and up for the default profile, 0.95 and up for lean; distortion 0.90 to 1.10 (its noise is about ±0.15 a ratio: use ROUNDS)."

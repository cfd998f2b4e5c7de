#!/usr/bin/env bash
# What each knob buys each protocol: the tokio runtime (multi-thread or per-core), the
# allocator (system, jemalloc, mimalloc: cargo features) and the build profile (release: fat
# LTO and one codegen unit; release-quick: no LTO, 16 codegen units), for gRPC, REST JSON over HTTP/1.1 and REST JSON
# over h2c, at every level of the ladder (floor: bare tonic / bare axum; same_api: our API in
# plain tonic / axum; ours: `serve --profile lean`), with the server on one pinned core:
#   - server instructions per call (callgrind, by scripts/instructions.sh with PIN_CPU=0):
#     deterministic, so one run tells a knob's effect even on a busy machine;
#   - calls/s with h2load (on CPU 1) at 1 and 64 in flight (gRPC and h2c: 4 connections x 16
#     streams; HTTP/1.1: 64 connections), ROUNDS rounds (default 1) of DURATION s (default 2)
#     after a 1 s warm-up, the median kept.
# CONFIGS (default "release-quick:system release-quick:jemalloc release-quick:mimalloc
# release:jemalloc") lists profile:allocator builds, each built once into
# target/tuning/bin/PROFILE-ALLOCATOR;
# RUNTIMES (default "multi-thread per-core"); CALLS for callgrind (default 2000); STACKS
# (default "grpc rest-h1 rest-h2c"). Instruction counts are kept in target/tuning/counts, by
# the binaries' checksum, runtime and CALLS, and reused: they do not change from run to run, so
# RATES=0 can count them while the machine is busy (a build, say), and a later run on a quiet
# machine measures only calls/s. SKIP_BUILD=1 uses the builds already there. Prints a
# markdown table; the last line is one JSON object: {"rows":[{"profile","allocator","runtime","stack","level","instructions",
# "calls_per_s_1","calls_per_s_64"}]}.
# Needs valgrind, h2load and taskset (Debian: valgrind nghttp2-client util-linux).
set -euo pipefail
cd "$(dirname "$0")/.."
CONFIGS="${CONFIGS:-release-quick:system release-quick:jemalloc release-quick:mimalloc release:jemalloc}"
RUNTIMES="${RUNTIMES:-multi-thread per-core}"
CALLS="${CALLS:-2000}"
DURATION="${DURATION:-2}"
ROUNDS="${ROUNDS:-1}"
STACKS="${STACKS:-grpc rest-h1 rest-h2c}"
for tool in valgrind h2load taskset python3; do
    command -v "$tool" >/dev/null || { echo "tuning.sh: $tool is missing (apt-get install valgrind nghttp2-client)" >&2; exit 1; }
done

# Each build in its own folder, from one target directory of its own (so that a build here
# does not wait on, or replace, the binaries of target/release).
build() { # profile allocator
    local profile=$1 allocator=$2 features=() out=target/tuning/bin/$1-$2
    features=(--no-default-features)
    [[ $allocator == system ]] || features+=(--features "$allocator")
    echo "tuning.sh: building $profile with the $allocator allocator" >&2
    local started=$SECONDS
    CARGO_TARGET_DIR=target/tuning cargo build --quiet --profile "$profile" "${features[@]}" \
        --bin rpc-vs-rest --example bare_tonic --example bare_axum --example same_api_tonic \
        --example same_api_axum
    echo "tuning.sh: built $profile with $allocator in $((SECONDS - started)) s" >&2
    mkdir -p "$out/examples"
    cp "target/tuning/$profile/rpc-vs-rest" "$out/"
    for example in bare_tonic bare_axum same_api_tonic same_api_axum; do
        cp "target/tuning/$profile/examples/$example" "$out/examples/"
    done
}
if [[ -z ${SKIP_BUILD:-} ]]; then
    for config in $CONFIGS; do build "${config%%:*}" "${config##*:}"; done
fi
[[ ${BUILD_ONLY:-} == 1 ]] && exit 0

work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
printf '\x00\x00\x00\x00\x07\x0a\x05World' > "$work/hello.grpc"
printf '{"name":"World"}' > "$work/hello.json"

# calls/s of one load: stack, in-flight, port.
rate() {
    local stack=$1 inflight=$2 port=$3 flags out
    case "$stack" in
        grpc) flags=(-d "$work/hello.grpc" -H 'content-type: application/grpc' -H 'te: trailers'
            "http://127.0.0.1:$port/helloworld.Greeter/SayHello") ;;
        *) flags=(-d "$work/hello.json" -H 'content-type: application/json'
            "http://127.0.0.1:$port/v1/greeter/hello") ;;
    esac
    if [[ $inflight == 1 ]]; then flags=(-c 1 -m 1 "${flags[@]}")
    elif [[ $stack == rest-h1 ]]; then flags=(-c 64 -m 1 "${flags[@]}")
    else flags=(-c 4 -m 16 "${flags[@]}"); fi
    [[ $stack == rest-h1 ]] && flags=(--h1 "${flags[@]}")
    out=$(taskset -c 1 h2load --warm-up-time 1 -D "$DURATION" "${flags[@]}" 2>&1)
    python3 - "$DURATION" <<PY
import re, sys
out = """$out"""
ok = int(re.search(r"requests: \d+ total, \d+ started, \d+ done, (\d+) succeeded", out).group(1))
failed = int(re.search(r"(\d+) failed", out).group(1))
assert failed == 0, out
print(f"{ok / float(sys.argv[1]):.0f}")
PY
}

median() { python3 -c "import statistics, sys; print(round(statistics.median(map(float, sys.argv[1:]))))" "$@"; }

rows="$work/rows.jsonl"
for config in $CONFIGS; do
    profile=${config%%:*} allocator=${config##*:} dir=target/tuning/bin/${config%%:*}-${config##*:}
    for runtime in $RUNTIMES; do
        export RPC_VS_REST_RUNTIME=$runtime
        mkdir -p target/tuning/counts
        counts=target/tuning/counts/$(cat "$dir/rpc-vs-rest" "$dir"/examples/* | sha256sum | cut -c1-16)-$runtime-$CALLS.json
        if [[ ! -s $counts ]]; then
            echo "tuning.sh: $profile, $allocator, $runtime: instructions" >&2
            BIN_DIR=$dir PIN_CPU=0 PROFILE=lean CALLS=$CALLS scripts/instructions.sh | tail -1 > "$counts.part"
            mv "$counts.part" "$counts"
        fi
        instructions=$(cat "$counts")
        [[ ${RATES:-1} == 0 ]] && continue
        echo "tuning.sh: $profile, $allocator, $runtime: calls/s" >&2
        pids=()
        start() { taskset -c 0 "$@" >/dev/null 2>&1 & pids+=($!); }
        start "$dir/examples/bare_tonic" 127.0.0.1:50201
        start "$dir/examples/bare_axum" 127.0.0.1:8201
        start "$dir/examples/same_api_tonic" 127.0.0.1:50202
        start "$dir/examples/same_api_axum" 127.0.0.1:8202
        start "$dir/rpc-vs-rest" serve --profile lean --grpc-addr 127.0.0.1:50203 --rest-addr 127.0.0.1:8203
        for port in 50201 8201 50202 8202 50203 8203; do
            for _ in $(seq 100); do (echo >"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done
        done
        for stack in $STACKS; do
            for level in floor same_api ours; do
                case "$stack/$level" in
                    grpc/floor) port=50201 ;; grpc/same_api) port=50202 ;; grpc/ours) port=50203 ;;
                    */floor) port=8201 ;; */same_api) port=8202 ;; */ours) port=8203 ;;
                esac
                one=() many=()
                for _ in $(seq "$ROUNDS"); do
                    one+=("$(rate "$stack" 1 "$port")")
                    many+=("$(rate "$stack" 64 "$port")")
                done
                python3 -c '
import json, sys
profile, allocator, runtime, stack, level, instructions, one, many = sys.argv[1:]
print(json.dumps({"profile": profile, "allocator": allocator, "runtime": runtime, "stack": stack,
    "level": level, "instructions": json.loads(instructions)[stack][level],
    "calls_per_s_1": int(one), "calls_per_s_64": int(many)}))
' "$profile" "$allocator" "$runtime" "$stack" "$level" "$instructions" "$(median "${one[@]}")" "$(median "${many[@]}")" >> "$rows"
            done
        done
        kill "${pids[@]}" 2>/dev/null || true
        wait "${pids[@]}" 2>/dev/null || true
    done
done

[[ ${RATES:-1} == 0 ]] && exit 0
python3 - "$rows" "$ROUNDS" "$DURATION" <<'PY'
import json, sys
rows = [json.loads(line) for line in open(sys.argv[1])]
print(f"server on one pinned core; instructions per call (callgrind) and calls/s (h2load, median of {sys.argv[2]} x {sys.argv[3]} s)")
print()
print("| profile | allocator | runtime | stack | level | instructions/call | calls/s, 1 in flight | calls/s, 64 |")
print("|---|---|---|---|---|---|---|---|")
for r in rows:
    print(f"| {r['profile']} | {r['allocator']} | {r['runtime']} | {r['stack']} | {r['level']} "
          f"| {r['instructions']:,} | {r['calls_per_s_1']:,} | {r['calls_per_s_64']:,} |")
print()
print("per configuration: ours ÷ floor and ours ÷ same API (calls/s at 64), and the ladder's distortion")
print("in instructions, (gRPC ÷ REST, ours) ÷ (gRPC ÷ REST, same API); 1.00 = our server changes nothing:")
print()
print("| profile | allocator | runtime | gRPC ours ÷ floor | REST h1 ours ÷ floor | distortion h1 | distortion h2c |")
print("|---|---|---|---|---|---|---|")
configs = list(dict.fromkeys((r["profile"], r["allocator"], r["runtime"]) for r in rows))
for c in configs:
    by = {(r["stack"], r["level"]): r for r in rows if (r["profile"], r["allocator"], r["runtime"]) == c}
    def ratio(stack, a, b, key="calls_per_s_64"):
        if (stack, a) in by and (stack, b) in by and by[(stack, b)][key]:
            return f"{by[(stack, a)][key] / by[(stack, b)][key]:.2f}"
        return "—"
    def distortion(rest):
        try:
            g, r = by[("grpc", "ours")], by[(rest, "ours")]
            gs, rs = by[("grpc", "same_api")], by[(rest, "same_api")]
            return f"{(g['instructions'] / r['instructions']) / (gs['instructions'] / rs['instructions']):.3f}"
        except KeyError:
            return "—"
    print(f"| {c[0]} | {c[1]} | {c[2]} | {ratio('grpc', 'ours', 'floor')} | {ratio('rest-h1', 'ours', 'floor')} "
          f"| {distortion('rest-h1')} | {distortion('rest-h2c')} |")
print()
print(json.dumps({"rows": rows}, separators=(",", ":")))
PY

#!/usr/bin/env bash
# A fuzz campaign: every target (or those named) for SECONDS each, one at a time, on one core,
# with libFuzzer's memory limits set so that an input that makes a parser allocate without
# bound is a crash. docs/security.md, "Fuzzing", says why these limits and what a crash becomes.
#
#   fuzz/campaign.sh [SECONDS] [TARGET...]      (default: 600 s, every target)
#   CPU=1 picks the core (taskset), BUILT=1 skips the build; logs in fuzz/logs/, new inputs in fuzz/corpus/<target>/,
#   crashes in fuzz/artifacts/<target>/.
set -euo pipefail
cd "$(dirname "$0")"
seconds=${1:-600}
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    mapfile -t targets < <(ls fuzz_targets | sed 's/\.rs$//')
fi
mkdir -p logs
# cargo-fuzz needs nightly flags (-Zsanitizer); RUSTC_BOOTSTRAP lets the stable toolchain take them.
export RUSTC_BOOTSTRAP=1
# Built once: the targets then run as they are, whatever is edited meanwhile (BUILT=1: as
# they were last built).
[ "${BUILT:-0}" = 1 ] || cargo fuzz build
bin=target/x86_64-unknown-linux-gnu/release
for target in "${targets[@]}"; do
    mkdir -p "corpus/$target"
    echo "== $target: ${seconds} s"
    # -malloc_limit_mb: no single allocation over 64 MiB (a 4 KiB input makes at most 32 MiB,
    # a whole 16 MiB message); -rss_limit_mb: the process stays under 2 GiB; -timeout: no input
    # takes 10 s.
    mkdir -p "artifacts/$target"
    taskset -c "${CPU:-1}" "$bin/$target" -artifact_prefix="artifacts/$target/" "corpus/$target" \
        -max_total_time="$seconds" -rss_limit_mb=2048 -malloc_limit_mb=64 -timeout=10 \
        -print_final_stats=1 >"logs/$target.log" 2>&1 || echo "   $target stopped: see logs/$target.log"
    grep -E "^(stat::number_of_executed_units|stat::peak_rss_mb|#[0-9]+ +DONE)" "logs/$target.log" || true
    echo "   corpus: $(ls "corpus/$target" | wc -l) files"
done

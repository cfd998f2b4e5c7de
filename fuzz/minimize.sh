#!/usr/bin/env bash
# After a campaign: each target's corpus cut down to the inputs that add coverage, so that the
# repository keeps what the fuzzer learned and `cargo test --test fuzz_corpus` replays it fast.
# The inputs already committed are kept whatever their coverage (seeds from the tests and the
# minimised crashes of earlier campaigns); of the new ones, libFuzzer's `-merge=1` keeps those
# that reach code the kept ones do not. Uses the binaries the campaign built.
#
#   fuzz/minimize.sh [TARGET...]      (default: every target)
set -euo pipefail
cd "$(dirname "$0")"
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    mapfile -t targets < <(ls fuzz_targets | sed 's/\.rs$//')
fi
bin=target/x86_64-unknown-linux-gnu/release
mkdir -p logs
for target in "${targets[@]}"; do
    kept=$(mktemp -d)
    # The committed inputs first, as they are (libFuzzer may have removed some it reduced).
    git checkout HEAD -- "corpus/$target"
    git ls-files -z "corpus/$target" | xargs -0 -r cp -t "$kept"
    before=$(ls "corpus/$target" | wc -l)
    "$bin/$target" -merge=1 -rss_limit_mb=2048 -malloc_limit_mb=64 -timeout=10 \
        "$kept" "corpus/$target" >"logs/$target.merge.log" 2>&1
    rm -rf "corpus/$target"
    mv "$kept" "corpus/$target"
    chmod 755 "corpus/$target"
    echo "$target: $before inputs, $(ls "corpus/$target" | wc -l) kept"
done

#!/usr/bin/env bash
# Runs every cargo-fuzz target for a while (default 20 s each: the brief CI run;
# `scripts/fuzz.sh 600` is the 10-minute local run). The machine has only a stable
# toolchain: RUSTC_BOOTSTRAP=1 lets cargo-fuzz use the sanitizer flags it needs.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-20}
export RUSTC_BOOTSTRAP=1
if ! cargo fuzz --version >/dev/null 2>&1; then
    cargo install --locked cargo-fuzz
fi
for target in $(cargo fuzz list --fuzz-dir fuzz); do
    corpus=$(mktemp -d)
    log=$(mktemp)
    for seeds in fuzz/seeds/"$target" fuzz/corpus/"$target"; do
        if [ -d "$seeds" ]; then cp -r "$seeds"/. "$corpus"/; fi
    done
    echo "== fuzz $target for ${seconds}s"
    status=0
    cargo fuzz run --fuzz-dir fuzz -O "$target" "$corpus" -- \
        -max_total_time="$seconds" -print_final_stats=1 >"$log" 2>&1 || status=$?
    grep -E '^(Done|stat::number_of_executed_units)' "$log" || true
    rm -rf "$corpus"
    if [ "$status" -ne 0 ]; then
        tail -40 "$log" >&2
        echo "fuzz target $target failed (exit $status; artifacts under fuzz/artifacts/$target)" >&2
        rm -f "$log"
        exit "$status"
    fi
    rm -f "$log"
done

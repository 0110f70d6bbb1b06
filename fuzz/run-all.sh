#!/usr/bin/env bash
# Runs every fuzz target for SECONDS each (default 20), one after another, on stable Rust
# (cargo-fuzz with `-s none`: no sanitizer, no nightly). Exits non-zero if any target found a
# crash, a hang or a failed check; every target still runs, so one report shows them all.
# Corpora grow in fuzz/corpus/<target>, crash inputs land in fuzz/artifacts/<target>, and
# each run's log is kept in fuzz/artifacts/run-all/<target>.log (all ignored by git).
#
# Usage: fuzz/run-all.sh [SECONDS]
set -euo pipefail

seconds="${1:-20}"
if ! [[ "$seconds" =~ ^[1-9][0-9]*$ ]]; then
    echo "usage: $0 [SECONDS]  (whole seconds per target, default 20)" >&2
    exit 2
fi
cd "$(dirname "$0")"

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "cargo-fuzz is missing: cargo install cargo-fuzz" >&2
    exit 2
fi

# Build everything first so each target's budget is spent fuzzing, not compiling.
cargo fuzz build -s none

log_dir=artifacts/run-all
mkdir -p "$log_dir"
failed=()
# FUZZ_SKIP: space-separated targets to leave out (each with a reason in .ci/run).
for target in $(cargo fuzz list); do
  case " ${FUZZ_SKIP:-} " in *" $target "*) echo "skipping $target (FUZZ_SKIP)"; continue ;; esac
    log="$log_dir/$target.log"
    echo "=== $target: ${seconds}s"
    # -timeout: one input running 10 s is a hang, and a failure.
    options=(-max_total_time="$seconds" -timeout=10 -print_final_stats=1)
    if [[ -f "dict/$target.dict" ]]; then
        options+=(-dict="dict/$target.dict")
    fi
    if cargo fuzz run -s none "$target" -- "${options[@]}" >"$log" 2>&1; then
        runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
        rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log")
        echo "    ok: ${runs:-?} runs, ${rate:-?} execs/s"
    else
        failed+=("$target")
        echo "    FAILED (full log: fuzz/$log)"
        # The panic message (or libFuzzer's own error) and where the input was saved.
        grep -m1 -A5 -E 'panicked at|ERROR: libFuzzer|ALARM: working' "$log" \
            | grep -v -E '^stack backtrace|^ +[0-9]+: |^ +at ' | sed 's/^/    | /' || true
        grep -m1 'Test unit written to' "$log" | sed 's/^/    | /' || true
    fi
done

if ((${#failed[@]})); then
    echo "fuzz targets that failed: ${failed[*]}" >&2
    echo "reproduce with: cargo fuzz run -s none TARGET fuzz/artifacts/TARGET/<crash file>" >&2
    exit 1
fi
echo "all fuzz targets ran ${seconds}s without a failure"

#!/usr/bin/env bash
# soak-crash.sh: the long version of engine/tests/crash_kill9_during_commit.rs, for humans.
#
# Runs `colossus-engine-torture write` on one store and kills it with SIGKILL at a random
# moment, ROUNDS times; after every kill `colossus-engine-torture verify` reopens the store and
# checks every acknowledged object byte for byte against the writer's log. Rounds vary the
# sync policy, concurrency, delete and compaction rates, and continue the id sequence. Stops
# at the first failure and leaves the store, the log and the writer's stderr in DIR.
#
# usage: scripts/soak-crash.sh [ROUNDS] [DIR]
#   ROUNDS  rounds to run (default 1000)
#   DIR     working directory (default: a new one under ${TMPDIR:-/tmp}); put it on the disk
#           and file system you want to soak
# environment:
#   SOAK_MIN_DELAY_MS, SOAK_MAX_DELAY_MS  kill window after start (default 20 and 400)
#   SOAK_FRESH_EVERY    start a new store every N rounds so disk use stays bounded (100)
#   SOAK_MAX_SIZE       largest object in bytes (1048576)
#   SOAK_PROFILE        cargo profile to build the tool with (release)
#   SOAK_BIN            use this colossus-engine-torture binary instead of building one
set -euo pipefail

rounds=${1:-1000}
dir=${2:-$(mktemp -d "${TMPDIR:-/tmp}/colossus-soak.XXXXXX")}
min_delay_ms=${SOAK_MIN_DELAY_MS:-20}
max_delay_ms=${SOAK_MAX_DELAY_MS:-400}
fresh_every=${SOAK_FRESH_EVERY:-100}
max_size=${SOAK_MAX_SIZE:-1048576}
profile=${SOAK_PROFILE:-release}

if ! [[ $rounds =~ ^[0-9]+$ && $min_delay_ms =~ ^[0-9]+$ && $max_delay_ms =~ ^[0-9]+$ &&
    $fresh_every =~ ^[1-9][0-9]*$ ]] || ((max_delay_ms < min_delay_ms)); then
    sed -n '2,21p' "$0" >&2
    exit 2
fi
mkdir -p "$dir"

bin=${SOAK_BIN:-}
if [[ -z $bin ]]; then
    repo=$(cd "$(dirname "$0")/.." && pwd)
    echo "building colossus-engine-torture ($profile)..." >&2
    bin=$(cd "$repo" && cargo build --profile "$profile" -p colossus-engine \
        --bin colossus-engine-torture --message-format=json-render-diagnostics |
        grep -o '"executable":"[^"]*colossus-engine-torture"' | cut -d'"' -f4)
fi
[[ -x $bin ]] || { echo "no colossus-engine-torture binary at '$bin'" >&2; exit 2; }

echo "soaking $rounds rounds in $dir with $bin"
started=$SECONDS
next_id=1
store=
log=
for ((round = 0; round < rounds; round++)); do
    if ((round % fresh_every == 0)); then
        # The previous store passed every check: drop it before starting the next.
        [[ -n $store ]] && rm -rf "$store" "$log"
        store="$dir/store-$((round / fresh_every))"
        log="$dir/torture-$((round / fresh_every)).log"
        next_id=1
    fi
    seed=$(((RANDOM << 45) ^ (RANDOM << 30) ^ (RANDOM << 15) ^ RANDOM))
    syncs=(always never)
    deletes=(0 2 5)
    compacts=(0 0 4 8)
    args=(--seed "$seed" --start-id "$next_id" --max-size "$max_size"
        --sync "${syncs[round % 2]}" --concurrency $((1 + round % 4))
        --delete-every "${deletes[round % 3]}" --compact-every "${compacts[round % 4]}")
    "$bin" write --dir "$store" "${args[@]}" >>"$log" 2>"$dir/writer.stderr" &
    pid=$!
    delay_ms=$((min_delay_ms + RANDOM % (max_delay_ms - min_delay_ms + 1)))
    sleep "$((delay_ms / 1000)).$(printf '%03d' $((delay_ms % 1000)))"
    kill -KILL "$pid" 2>/dev/null || true
    status=0
    # (stderr: keeps bash from reporting the kill it was asked for)
    wait "$pid" 2>/dev/null || status=$?
    if ((status != 128 + 9)); then
        echo "round $round: the writer exited with status $status before the kill" \
            "(write ${args[*]}); stderr:" >&2
        cat "$dir/writer.stderr" >&2
        exit 1
    fi
    if ! "$bin" verify --dir "$store" --log "$log" >"$dir/verify.out" 2>"$dir/verify.err"; then
        echo "round $round: FAILED after kill at ${delay_ms} ms (write ${args[*]})" >&2
        cat "$dir/verify.out" "$dir/verify.err" >&2
        echo "store: $store  log: $log" >&2
        exit 1
    fi
    next_id=$(awk '$1 == "begin" && $2 + 0 >= m { m = $2 + 1 } END { print m + 0 ? m : 1 }' \
        "$log")
    printf 'round %d/%d (%ds): killed at %3d ms; %s\n' "$((round + 1))" "$rounds" \
        "$((SECONDS - started))" "$delay_ms" "$(tail -n 1 "$dir/verify.out")"
done
echo "soak passed: $rounds rounds in $((SECONDS - started)) s; last store $store, log $log"

#!/usr/bin/env bash
# Measures this machine's ceilings for the engine benchmarks (docs/BENCHMARKS.md), the same
# day as the benches run: sequential write throughput of the filesystem the store lives on
# (fio, io_uring, 1 MiB blocks), single-thread blake3 (b3sum --num-threads 1), a 1 MiB
# memcpy loop, and the latency of a dependent random read over 256 MiB (the floor under an
# index lookup that misses the CPU caches). Installs what it lacks (fio from apt, b3sum from
# crates.io), prints a summary and takes about three minutes; every step is bounded by
# `timeout`.
#
# Usage: benches/ceilings.sh [work-dir]   (default: <repo>/target/bench-ceilings)
# Env:   CEILING_FIO_SIZE (default 4G), CEILING_FIO_SECONDS (default 30),
#        CEILING_HASH_MIB (default 1024).
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
work="${1:-${CARGO_TARGET_DIR:-$repo/target}/bench-ceilings}"
fio_size="${CEILING_FIO_SIZE:-4G}"
fio_seconds="${CEILING_FIO_SECONDS:-30}"
hash_mib="${CEILING_HASH_MIB:-1024}"
mkdir -p "$work"

log() { printf '== %s\n' "$*" >&2; }

# --- tools ---------------------------------------------------------------------------------
apt_updated=0
need_apt() {
    local bin="$1" pkg="$2"
    command -v "$bin" >/dev/null && return 0
    if [ "$apt_updated" = 0 ]; then
        timeout 300 apt-get update -qq >&2
        apt_updated=1
    fi
    log "installing $pkg"
    DEBIAN_FRONTEND=noninteractive timeout 600 apt-get install -y -qq "$pkg" >"$work/apt.log" 2>&1
}
need_apt fio fio
need_apt jq jq
need_apt cc gcc
if ! command -v b3sum >/dev/null; then
    log "installing b3sum (cargo install b3sum)"
    timeout 900 cargo install --quiet --locked b3sum >&2
fi
export PATH="$HOME/.cargo/bin:$PATH"

# --- machine -------------------------------------------------------------------------------
fs_type="$(df --output=fstype "$work" | tail -1 | tr -d ' ')"
fs_dev="$(df --output=source "$work" | tail -1 | tr -d ' ')"
cpu="$(lscpu | sed -n 's/^Model name: *//p' | head -1)"
cores="$(nproc)"

# --- sequential write: direct, and buffered with one fsync at the end ----------------------
# Direct I/O is the device ceiling; buffered + end fsync is what the engine does (page-cache
# writes, fdatasync at commit), so both are reported.
fio_run() { # name direct iodepth -> MiB/s
    local name="$1" direct="$2" depth="$3"
    local out="$work/fio-$name.json"
    timeout $((fio_seconds * 2 + 120)) fio --name="$name" --directory="$work" \
        --ioengine=io_uring --rw=write --bs=1M --size="$fio_size" --direct="$direct" \
        --iodepth="$depth" --numjobs=1 --end_fsync=1 --runtime="$fio_seconds" \
        --fallocate=native --unlink=1 --output-format=json >"$out" 2>"$work/fio-$name.err"
    # bw_bytes is bytes/s over the job's runtime (end_fsync included in the runtime).
    jq '.jobs[0].write.bw_bytes / 1048576 | floor' "$out"
}
log "fio: sequential write, direct=1, 1 MiB blocks, iodepth 8 ($fio_size, <= ${fio_seconds}s)"
direct_qd8="$(fio_run seq-direct-qd8 1 8)"
log "fio: sequential write, direct=1, 1 MiB blocks, iodepth 1"
direct_qd1="$(fio_run seq-direct-qd1 1 1)"
log "fio: sequential write, buffered + end fsync, 1 MiB blocks, iodepth 4"
buffered="$(fio_run seq-buffered 0 4)"

# --- fdatasync after a 64 KiB write ----------------------------------------------------------
# What one group commit waits for: 64 KiB written then fdatasync, at queue depth 1, into
# fallocated (unwritten) extents as the engine's segments are, and over blocks written before.
sync_run() { # name extra-fio-args... -> "mean_us p50_us"
    local name="$1"
    shift
    local out="$work/fio-$name.json"
    timeout 120 fio --name="$name" --directory="$work" --ioengine=io_uring --rw=write \
        --bs=64k --size=256M --runtime=10 --fdatasync=1 --unlink=1 "$@" \
        --output-format=json >"$out" 2>"$work/fio-$name.err"
    jq -r '.jobs[0].sync.lat_ns | "\(.mean / 1000 | floor) \(.percentile["50.000000"] / 1000 | floor)"' "$out"
}
log "fio: 64 KiB write + fdatasync, fallocated extents and overwritten blocks"
read -r sync_alloc_us sync_alloc_p50_us < <(sync_run sync-fallocated --fallocate=native)
read -r sync_over_us sync_over_p50_us < <(sync_run sync-overwrite --overwrite=1)

# --- blake3, one thread ----------------------------------------------------------------------
hash_file="$work/hash-input.bin"
if [ ! -f "$hash_file" ] || [ "$(stat -c %s "$hash_file")" != $((hash_mib << 20)) ]; then
    log "writing ${hash_mib} MiB of random bytes for b3sum"
    timeout 300 head -c $((hash_mib << 20)) /dev/urandom >"$hash_file"
fi
timeout 120 b3sum --num-threads 1 "$hash_file" >/dev/null # warm the page cache
runs_ns=()
for _ in 1 2 3; do
    start=$(date +%s%N)
    timeout 120 b3sum --num-threads 1 "$hash_file" >/dev/null
    runs_ns+=("$(($(date +%s%N) - start))")
done
median_ns="$(printf '%s\n' "${runs_ns[@]}" | sort -n | sed -n 2p)"
b3_mib_s=$((hash_mib * 1000000000 / median_ns))

# --- 1 MiB memcpy loop -------------------------------------------------------------------------
# Copies a 1 GiB source (out of every CPU cache, like the page cache) 1 MiB at a time into one
# reused 1 MiB destination, as a read into a reused buffer would. Also a cache-hot variant
# (1 MiB -> 1 MiB, same buffers) for reference. The median of 7 passes: on a shared VM the
# fastest and slowest pass differ by 1.5x, so a best-of would overstate the ceiling.
cat >"$work/memcpy.c" <<'EOF'
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#define PASSES 7
static double now(void) {
    struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + t.tv_nsec / 1e9;
}
static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b; return (x > y) - (x < y);
}
int main(void) {
    const size_t mib = 1 << 20, total = (size_t)1 << 30;
    char *src = malloc(total), *dst = malloc(mib);
    if (!src || !dst) return 1;
    for (size_t i = 0; i < total; i++) src[i] = (char)(i * 131 + 7);
    memset(dst, 0, mib);
    double cold[PASSES], hot[PASSES]; volatile char sink = 0;
    for (int pass = 0; pass < PASSES; pass++) {
        double t = now();
        for (size_t off = 0; off < total; off += mib) { memcpy(dst, src + off, mib); sink ^= dst[off % mib]; }
        cold[pass] = now() - t;
        t = now();
        for (size_t off = 0; off < total; off += mib) { memcpy(dst, src, mib); sink ^= dst[off % mib]; }
        hot[pass] = now() - t;
    }
    qsort(cold, PASSES, sizeof cold[0], cmp);
    qsort(hot, PASSES, sizeof hot[0], cmp);
    printf("%.0f %.0f %.0f %.0f\n", 1024 / cold[PASSES / 2], 1024 / hot[PASSES / 2],
           1024 / cold[PASSES - 1], 1024 / cold[0]);
    return sink == 42 ? 0 : 0;
}
EOF
cc -O2 -o "$work/memcpy" "$work/memcpy.c"
read -r memcpy_mib_s memcpy_hot_mib_s memcpy_min_mib_s memcpy_max_mib_s < <(timeout 120 "$work/memcpy")

# --- random read latency ---------------------------------------------------------------------
# A pointer chase through one 8-byte word per 128-byte slot of a 256 MiB region (the size of
# the 1M-object index), in one random cycle, so every read waits for the one before: the memory
# latency (TLB walk included) an index lookup pays when its slot is not cached. With 4 KiB
# pages (like the index's file mapping) and with transparent huge pages.
cat >"$work/chase.c" <<'EOF'
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <time.h>
static double now(void) {
    struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + t.tv_nsec / 1e9;
}
int main(void) {
    const size_t len = (size_t)256 << 20, slots = len / 128;
    for (int huge = 0; huge < 2; huge++) {
        uint64_t *p = mmap(0, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        uint32_t *perm = malloc(slots * 4);
        if (p == MAP_FAILED || !perm) return 1;
        madvise(p, len, huge ? MADV_HUGEPAGE : MADV_NOHUGEPAGE);
        for (size_t i = 0; i < slots; i++) perm[i] = (uint32_t)i;
        uint64_t s = 12345;
        for (size_t i = slots - 1; i > 0; i--) { /* Sattolo: one cycle through every slot */
            s ^= s << 13; s ^= s >> 7; s ^= s << 17;
            size_t j = s % i; uint32_t t = perm[i]; perm[i] = perm[j]; perm[j] = t;
        }
        for (size_t i = 0; i < slots; i++)
            p[(size_t)perm[i] * 16] = (size_t)perm[(i + 1) % slots] * 16;
        size_t at = 0; const int n = 4000000;
        for (int i = 0; i < n; i++) at = p[at];
        double t = now();
        for (int i = 0; i < n; i++) at = p[at];
        t = now() - t;
        printf("%.0f ", t / n * 1e9 + (at == 1 ? 1e-9 : 0));
        munmap(p, len); free(perm);
    }
    printf("\n");
    return 0;
}
EOF
cc -O2 -o "$work/chase" "$work/chase.c"
read -r chase_4k_ns chase_thp_ns < <(timeout 120 "$work/chase")

# --- summary -----------------------------------------------------------------------------------
write_ceiling=$direct_qd8
put_ceiling=$((b3_mib_s < write_ceiling ? b3_mib_s : write_ceiling))
cat <<EOF
ceilings $(date -u +%Y-%m-%dT%H:%MZ) on $(hostname): $cpu, $cores cores, kernel $(uname -r)
filesystem: $fs_type on $fs_dev ($work)
seq write direct=1 bs=1M qd=8 (fio io_uring):   $direct_qd8 MiB/s
seq write direct=1 bs=1M qd=1 (fio io_uring):   $direct_qd1 MiB/s
seq write buffered + end fsync bs=1M qd=4:       $buffered MiB/s
64 KiB write + fdatasync, fallocated extents:    mean $sync_alloc_us us, p50 $sync_alloc_p50_us us
64 KiB write + fdatasync, overwriting blocks:    mean $sync_over_us us, p50 $sync_over_p50_us us
blake3 one thread (b3sum --num-threads 1):       $b3_mib_s MiB/s  (median of 3)
memcpy 1 MiB pieces, 1 GiB source (cold):        $memcpy_mib_s MiB/s  (passes $memcpy_min_mib_s..$memcpy_max_mib_s)
memcpy 1 MiB -> 1 MiB, cache-hot:                $memcpy_hot_mib_s MiB/s
dependent random read, 256 MiB, 4 KiB pages:     $chase_4k_ns ns  (at most $((1000 / chase_4k_ns)).$((10000 / chase_4k_ns % 10))M serial misses/s)
dependent random read, 256 MiB, huge pages:      $chase_thp_ns ns
put_stream ceiling min(blake3, direct write):    $put_ceiling MiB/s  (target >= 60%: $((put_ceiling * 60 / 100)) MiB/s)
read_cached ceiling (memcpy, cold source):       $memcpy_mib_s MiB/s  (target >= 50%: $((memcpy_mib_s / 2)) MiB/s)
EOF

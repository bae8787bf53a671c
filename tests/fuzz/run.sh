#!/usr/bin/env bash
# Builds SERC's libFuzzer targets into build-fuzz/, replays every committed regression input, then
# fuzzes each target for SECONDS (docs/robustness.md).
#
#   tests/fuzz/run.sh SECONDS [TARGET...]     TARGET: json safetensors npy manifest config audio
#                                             sernc tokenizer featcache sslconfig
#                                             (default: all); SECONDS = 0 builds and replays only.
# Environment: CC (default clang), JOBS (parallel compiles / fuzz workers, default 1 fuzz job),
#   FUZZ_FLAGS (extra libFuzzer flags), NICE (prefix for every build and fuzz command, default
#   "nice -n 19").
# Each target fuzzes a working copy of its seeds (build-fuzz/corpus/<name>/, seeded from
# tests/fuzz/seeds/<name>/); crash, leak, timeout and OOM inputs are copied to
# tests/fuzz/regressions/<name>/ and the script exits 1. Exit 0: every replay passed and no target failed.
set -u
cd "$(dirname "$0")/../.."
ROOT=$PWD
SECONDS_BUDGET=${1:-}
if [ -z "$SECONDS_BUDGET" ] || ! [[ $SECONDS_BUDGET =~ ^[0-9]+$ ]]; then
    echo "usage: tests/fuzz/run.sh SECONDS [TARGET...]" >&2
    exit 2
fi
shift
ALL_TARGETS="json safetensors npy manifest config audio sernc tokenizer featcache sslconfig"
TARGETS=${*:-$ALL_TARGETS}
CC=${CC:-clang}
NICE=${NICE-nice -n 19}
B=$ROOT/build-fuzz
mkdir -p "$B/obj" "$B/generated" "$B/corpus"

if ! command -v "$CC" >/dev/null; then
    echo "run.sh: $CC not found (Debian: apt-get install clang)" >&2
    exit 2
fi

# max_len per target (bytes)
max_len() {
    case $1 in
    json) echo 4096 ;; safetensors) echo 4096 ;; npy) echo 4096 ;;
    manifest) echo 8192 ;; config) echo 4096 ;; audio) echo 65536 ;;
    sernc) echo 4096 ;; tokenizer) echo 8192 ;; featcache) echo 8192 ;;
    *) echo 4096 ;;
    esac
}

# ---- build ----
if [ -f build/generated/build_info.h ]; then
    cp -p build/generated/build_info.h "$B/generated/build_info.h"
elif [ ! -f "$B/generated/build_info.h" ]; then
    cat >"$B/generated/build_info.h" <<'H'
/* Minimal build_info.h for the fuzz build (tests/fuzz/run.sh). */
#ifndef SERC_BUILD_INFO_H
#define SERC_BUILD_INFO_H
#define SERC_VERSION "fuzz"
#define SERC_BUILD_CUDA "OFF"
#define SERC_BUILD_BLAS "OpenBLAS"
#define SERC_BUILD_OPENMP "fuzz"
#define SERC_BUILD_TYPE "Fuzz"
#define SERC_BUILD_SANITIZE "fuzzer,address,undefined"
#endif
H
fi

PKGS="openblas sndfile soxr espeak-ng"
PKG_CFLAGS=$(pkg-config --cflags $PKGS) || { echo "run.sh: pkg-config failed for $PKGS" >&2; exit 2; }
PKG_LIBS=$(pkg-config --libs $PKGS)
OMP=-fopenmp
if ! echo 'int main(void){return 0;}' | $CC -fopenmp -x c - -o "$B/omp-check" 2>/dev/null; then
    OMP="-Wno-source-uses-openmp -Wno-unknown-pragmas"
    echo "run.sh: $CC -fopenmp does not link (libomp missing?); building without OpenMP" >&2
fi
rm -f "$B/omp-check"
SAN="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer"
CFLAGS="-std=c11 -D_GNU_SOURCE -O1 -g $SAN $OMP -Icore -Itrain -Imodels -Ilosses -I$B/generated $PKG_CFLAGS"

# SERC's sources: every .c of core/ train/ models/ losses/ (no CUDA: kernels/ is left out).
# Rebuilt when the source or any SERC header is newer than the object.
SRCS=$(ls core/*.c train/*.c models/*.c losses/*.c)
newest_header=$(ls -t core/*.h train/*.h models/*.h losses/*.h "$B/generated/build_info.h" | head -1)
todo=()
for s in $SRCS; do
    o=$B/obj/$(echo "$s" | tr / _ | sed 's/\.c$/.o/')
    if [ ! -f "$o" ] || [ "$s" -nt "$o" ] || [ "$newest_header" -nt "$o" ]; then todo+=("$s"); fi
done
if [ ${#todo[@]} -gt 0 ]; then
    echo "run.sh: compiling ${#todo[@]} SERC sources with $CC ($($CC --version | head -1))"
    printf '%s\n' "${todo[@]}" | xargs -P "${JOBS:-2}" -I{} sh -c \
        'o="$0/obj/$(echo "$1" | tr / _ | sed "s/\.c\$/.o/")"; '"$NICE"' '"$CC"' '"$CFLAGS"' -fsanitize=fuzzer-no-link -Wno-unknown-pragmas -c "$1" -o "$o" || { rm -f "$o"; exit 255; }' \
        "$B" {} || { echo "run.sh: compiling SERC sources failed" >&2; exit 2; }
    rm -f "$B/libserc_fuzz.a"
fi
if [ ! -f "$B/libserc_fuzz.a" ]; then
    ar rcs "$B/libserc_fuzz.a" "$B"/obj/*.o || exit 2
fi
for t in $TARGETS; do
    src=tests/fuzz/fuzz_$t.c
    [ -f "$src" ] || { echo "run.sh: no target $t ($src)" >&2; exit 2; }
    if [ ! -x "$B/fuzz_$t" ] || [ "$src" -nt "$B/fuzz_$t" ] || [ tests/fuzz/fuzz_common.h -nt "$B/fuzz_$t" ] ||
        [ "$B/libserc_fuzz.a" -nt "$B/fuzz_$t" ]; then
        echo "run.sh: linking fuzz_$t"
        $NICE $CC $CFLAGS -fsanitize=fuzzer -Wall -Wextra "$src" "$B/libserc_fuzz.a" $PKG_LIBS -lm -o "$B/fuzz_$t" ||
            { echo "run.sh: building fuzz_$t failed" >&2; exit 2; }
    fi
done

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:allocator_may_return_null=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
# leaks inside third-party decoders (libvorbis under libsndfile) are not SERC's to fix: tests/fuzz/lsan.supp
export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$(pwd)/tests/fuzz/lsan.supp:print_suppressions=0}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
export OPENBLAS_NUM_THREADS=${OPENBLAS_NUM_THREADS:-1}
status=0

# ---- replay committed regression inputs (every one must now pass) ----
for t in $TARGETS; do
    d=tests/fuzz/regressions/$t
    [ -d "$d" ] || continue
    files=$(find "$d" -type f ! -name '*.md' ! -name '.*' | sort)
    [ -n "$files" ] || continue
    n=$(echo "$files" | wc -l)
    if $NICE "$B/fuzz_$t" -rss_limit_mb=2048 -timeout=25 $files >"$B/replay_$t.log" 2>&1; then
        echo "replay $t: $n inputs pass"
    else
        echo "replay $t: FAILED (log: $B/replay_$t.log)"
        grep -m1 -B2 -A8 "ERROR: \|runtime error\|^fuzz_[a-z]*: " "$B/replay_$t.log"
        status=1
    fi
done

# ---- fuzz ----
if [ "$SECONDS_BUDGET" -gt 0 ]; then
    for t in $TARGETS; do
        corpus=$B/corpus/$t
        arts=$B/artifacts/$t
        mkdir -p "$corpus" "$arts"
        rm -f "$arts"/*
        dict=()
        [ -f "tests/fuzz/$t.dict" ] && dict=(-dict="tests/fuzz/$t.dict")
        seeds=()
        [ -d "tests/fuzz/seeds/$t" ] && seeds=("tests/fuzz/seeds/$t")
        log=$B/fuzz_$t.log
        echo "fuzz $t: ${SECONDS_BUDGET}s, max_len $(max_len "$t") (log: $log)"
        $NICE "$B/fuzz_$t" "$corpus" "${seeds[@]}" "${dict[@]}" -max_total_time="$SECONDS_BUDGET" \
            -max_len="$(max_len "$t")" -rss_limit_mb=2048 -timeout=25 -print_final_stats=1 \
            -artifact_prefix="$arts/" ${FUZZ_FLAGS:-} >"$log" 2>&1
        rc=$?
        execs=$(grep -m1 '^stat::number_of_executed_units' "$log" | awk '{print $2}')
        speed=$(grep -m1 '^stat::average_exec_per_sec' "$log" | awk '{print $2}')
        found=$(find "$arts" -type f | wc -l)
        echo "fuzz $t: rc $rc, ${execs:-?} executions, ${speed:-?} exec/s, corpus $(ls "$corpus" | wc -l) files"
        if [ "$rc" -ne 0 ] || [ "$found" -gt 0 ]; then
            status=1
            mkdir -p "tests/fuzz/regressions/$t"
            for a in "$arts"/*; do
                [ -f "$a" ] || continue
                cp "$a" "tests/fuzz/regressions/$t/"
                echo "fuzz $t: FAILURE input saved as tests/fuzz/regressions/$t/$(basename "$a")"
            done
            grep -m1 -A25 'ERROR: \|runtime error\|fuzz_[a-z]*: ' "$log" | head -40
        fi
    done
fi
exit $status

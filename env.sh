#!/usr/bin/env bash
# SERC environment: installs the Debian packages SERC needs when they are missing, configures and
# builds into build/, then runs one of:
#
#   ./env.sh run                        the main job: render the embedded demo corpus (once; reused from
#                                       data/synth-demo), train recipes/synth/mll.toml on it, and print WA,
#                                       UA, macro-F1 and the confusion matrix of the held-out speakers
#   ./env.sh demo [serc demo options]   a one-minute check of the core (a generated frame task)
#   ./env.sh test                       the test suite: build/ (CUDA compiled where nvcc exists) under
#                                       ctest, then a CPU-only AddressSanitizer+UBSan build under ctest,
#                                       then every reader's fuzz target: the committed regression
#                                       inputs replayed, then SERC_FUZZ_SECONDS of fuzzing each (default
#                                       0: a time-boxed search is not repeatable, so CI only replays)
#   ./env.sh build                      only install and build
#   ./env.sh serc ARGS...               run build/serc with ARGS
#
# Environment: SERC_CUDA=AUTO|ON|OFF (default AUTO), SERC_THREADS (CPU threads), SERC_SKIP_ASAN=1
# (skip the sanitizer pass of `test`), SERC_FUZZ_SECONDS (fuzzing budget per target in `test`; 0, the
# default, replays the regression inputs only), SERC_JOBS (parallel ctest jobs, default: cores).
set -euo pipefail
cd "$(dirname "$0")"

# OpenMP threads that spin after each parallel region take the cores OpenBLAS's own threads need:
# passive waiting made SERC's encoder forward 4x faster on 2 threads (bench/NOTES.md).
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}

# chromium: the report test renders report.html in a real browser (headless; tests/test_report.c)
PACKAGES=(build-essential cmake ninja-build pkg-config clang libopenblas-dev libcriterion-dev
          libsndfile1-dev libsoxr-dev libespeak-ng-dev chromium)

install_missing() {
    local missing=()
    for p in "${PACKAGES[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    echo "env.sh: installing ${missing[*]}"
    local sudo=""
    [ "$(id -u)" -ne 0 ] && sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# configure_and_build DIR [cmake options...]
configure_and_build() {
    local dir=$1
    shift
    if [ ! -f "$dir/build.ninja" ]; then
        cmake -S . -B "$dir" -G Ninja "$@" >"$dir.configure.log" 2>&1 || { cat "$dir.configure.log"; exit 1; }
    fi
    ninja -C "$dir" >"$dir.build.log" 2>&1 || { tail -n 60 "$dir.build.log"; echo "env.sh: build in $dir failed (log: $dir.build.log)"; exit 1; }
}

cmd=${1:-build}
[ $# -gt 0 ] && shift
install_missing
jobs=${SERC_JOBS:-$(nproc)}
configure_and_build build -DSERC_CUDA="${SERC_CUDA:-AUTO}"

case "$cmd" in
build) echo "env.sh: built build/serc ($(build/serc --version | sed -n 3p))" ;;
demo) exec build/serc demo "$@" ;;
run)
    if [ ! -f data/synth-demo/all.jsonl ]; then
        build/serc synth --preset demo --out data/synth-demo
    else
        echo "env.sh: reusing the demo corpus in data/synth-demo (delete it to render again)"
    fi
    exec build/serc train --config recipes/synth/mll.toml "$@"
    ;;
serc) exec build/serc "$@" ;;
test)
    echo "== tests: build/ ($(build/serc --version | sed -n 3p))"
    (cd build && ctest --output-on-failure -j "$jobs")
    if [ "${SERC_SKIP_ASAN:-0}" != 1 ]; then
        echo "== tests: build-asan/ (CPU-only, AddressSanitizer + UndefinedBehaviorSanitizer)"
        configure_and_build build-asan -DSERC_CUDA=OFF -DSERC_SANITIZE=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo
        (cd build-asan && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
            ctest --output-on-failure -j "$jobs")
    fi
    echo "== fuzz: every reader's libFuzzer target (tests/fuzz/run.sh)"
    tests/fuzz/run.sh "${SERC_FUZZ_SECONDS:-0}"
    ;;
*) echo "usage: ./env.sh [build|run|demo|test|serc ARGS...]" >&2; exit 2 ;;
esac

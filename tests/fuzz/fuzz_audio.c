/* libFuzzer target: core/audio.c (SERC's libsndfile + libsoxr wrapper). The input (at most 64 KiB) is
 * written to an in-memory file read as /proc/self/fd/N, then:
 *   1. audio_probe;
 *   2. audio_load of the whole file resampled to 16 kHz (the libsoxr path);
 *   3. when the probe succeeded, audio_load of the middle half [d/4, 3d/4) at the file's own rate (the
 *      sf_seek segment path).
 * Every output sample is read (AddressSanitizer sees a short buffer) and must be finite (audio.h: a
 * non-finite sample is an error, never a result). SERC_FUZZ_AUDIO_ALLOW_NONFINITE=1 turns the finiteness
 * check off, to keep fuzzing for memory errors while a known non-finite-output bug is open
 * (tests/fuzz/regressions/audio/README.md). */
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "audio.h"
#include "fuzz_common.h"

#define FUZZ_AUDIO_MAX_INPUT 65536

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int allow_nonfinite = -1;

static void check(const float *x, int64_t n, const char *what) {
    if (allow_nonfinite < 0) {
        const char *e = getenv("SERC_FUZZ_AUDIO_ALLOW_NONFINITE");
        allow_nonfinite = e && e[0] == '1';
    }
    volatile float sink = 0;
    for (int64_t i = 0; i < n; i++) {
        sink += x[i];
        if (!allow_nonfinite && !isfinite(x[i])) {
            fprintf(stderr, "fuzz_audio: %s: sample %lld of %lld is not finite\n", what, (long long)i, (long long)n);
            abort();
        }
    }
    (void)sink;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size > FUZZ_AUDIO_MAX_INPUT) return 0;
    const char *path = fuzz_write_file(data, size);
    SercErr err;
    AudioInfo info;
    int probed = audio_probe(path, &info, &err) == 0;

    float *x = NULL;
    int64_t n = 0;
    int sr = 0;
    if (audio_load(path, 0.0, -1.0, 16000, &x, &n, &sr, &err) == 0) {
        if (sr != 16000 || n < 0) abort();
        check(x, n, "whole file at 16 kHz");
        free(x);
    } else if (x != NULL) {
        fprintf(stderr, "fuzz_audio: audio_load failed but left *out set\n");
        abort();
    }

    if (probed && info.duration_s > 0) {
        double d = info.duration_s;
        x = NULL;
        if (audio_load(path, d * 0.25, d * 0.75, 0, &x, &n, &sr, &err) == 0) {
            if (sr != info.sample_rate || n < 0) abort();
            check(x, n, "segment");
            free(x);
        }
    }
    return 0;
}

/* libFuzzer target: core/safetensors.c (safetensors_parse on an in-memory file image). On success every
 * accessor is called on every tensor and metadata pair, and each tensor's first and last data byte is
 * read, so that AddressSanitizer sees a data range that lies outside the buffer. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "safetensors.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    SercErr err;
    SafetensorsFile *f = safetensors_parse(data, size, "fuzz.safetensors", &err);
    if (!f) return 0; /* rejected: fine */
    volatile unsigned sink = 0;
    int n = safetensors_count(f);
    for (int i = 0; i < n; i++) {
        const char *name = safetensors_name(f, i);
        if (safetensors_find(f, name) != i) {
            fprintf(stderr, "fuzz_safetensors: safetensors_find(\"%s\") != %d\n", name, i);
            abort();
        }
        SercDType dt = safetensors_dtype(f, i);
        int nd = safetensors_ndim(f, i);
        const int64_t *shape = safetensors_shape(f, i);
        int64_t numel = 1;
        for (int d = 0; d < nd; d++) {
            if (shape[d] < 0) abort();
            numel *= shape[d];
        }
        if (numel != safetensors_numel(f, i)) {
            fprintf(stderr, "fuzz_safetensors: numel mismatch on tensor %d\n", i);
            abort();
        }
        size_t nb = safetensors_nbytes(f, i);
        if (nb != (size_t)numel * serc_dtype_size(dt)) {
            fprintf(stderr, "fuzz_safetensors: nbytes %zu != numel %lld * %zu on tensor %d\n", nb, (long long)numel,
                    serc_dtype_size(dt), i);
            abort();
        }
        const unsigned char *p = safetensors_data(f, i);
        if (nb > 0) sink += p[0] + p[nb - 1];
    }
    int nm = safetensors_metadata_count(f);
    for (int i = 0; i < nm; i++) {
        const char *k = safetensors_metadata_key(f, i);
        const char *val = safetensors_metadata_value(f, i);
        if (safetensors_metadata(f, k) == NULL) abort();
        sink += (unsigned)strlen(k) + (unsigned)strlen(val);
    }
    (void)sink;
    safetensors_close(f);
    return 0;
}

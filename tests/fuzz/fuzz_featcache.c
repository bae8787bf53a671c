/* libFuzzer target: train/featcache.c (featcache_open of a safetensors file as `serc embed` writes it,
 * with every layer selection form). An accepted cache must read every frame of every item in bounds. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "featcache.h"
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *path = fuzz_write_file(data, size);
    static const char *sel[] = {"all", "last", "0", "0,-1", "1,1"};
    for (int k = 0; k < 5; k++) {
        SercErr err;
        FeatureCache *c = featcache_open(path, sel[k], &err);
        if (!c) continue;
        for (int i = 0; i < c->n_items; i++) {
            if (featcache_find(c, c->ids[i]) != i) abort();
            int64_t T = featcache_frames(c, i);
            if (T < 0) abort();
            if (T > 0 && (int64_t)featcache_width(c) * T < (1 << 22)) {
                float *out = malloc(sizeof(float) * (size_t)(featcache_width(c) * T));
                featcache_read(c, i, 0, T, out);
                free(out);
            }
        }
        featcache_close(c);
    }
    return 0;
}

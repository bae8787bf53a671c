/* libFuzzer target: core/npy.c (npy_parse on an in-memory .npy image). On success the shape is checked
 * against numel and the first and last data byte are read (AddressSanitizer sees short buffers). */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "npy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    SercErr err;
    NpyArray a;
    memset(&a, 0, sizeof a);
    if (npy_parse(data, size, "fuzz.npy", &a, &err) != 0) return 0; /* rejected: fine */
    if (a.ndim < 0 || a.ndim > SERC_MAX_DIMS) abort();
    int64_t numel = 1;
    for (int d = 0; d < a.ndim; d++) {
        if (a.shape[d] < 0) abort();
        numel *= a.shape[d];
    }
    if (numel != a.numel) {
        fprintf(stderr, "fuzz_npy: numel %lld != product of shape %lld\n", (long long)a.numel, (long long)numel);
        abort();
    }
    size_t nb = (size_t)a.numel * serc_dtype_size(a.dtype);
    volatile unsigned sink = 0;
    if (nb > 0) sink += ((const unsigned char *)a.data)[0] + ((const unsigned char *)a.data)[nb - 1];
    (void)sink;
    npy_array_free(&a);
    return 0;
}

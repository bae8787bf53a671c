#include <cuda_runtime.h>
#include <stdio.h>

#include "cuda_info.h"

int serc_cuda_device_count(void) {
    int n = 0;
    if (cudaGetDeviceCount(&n) != cudaSuccess) {
        cudaGetLastError(); /* clear the sticky "no device" error */
        return 0;
    }
    return n;
}

void serc_cuda_describe(char *buf, size_t n) {
    int count = 0, runtime = 0;
    cudaRuntimeGetVersion(&runtime);
    cudaError_t e = cudaGetDeviceCount(&count);
    if (e != cudaSuccess || count == 0) {
        snprintf(buf, n, "none usable (%s), runtime %d.%d", e != cudaSuccess ? cudaGetErrorString(e) : "no device",
                 runtime / 1000, (runtime % 1000) / 10);
        cudaGetLastError();
        return;
    }
    cudaDeviceProp p;
    cudaGetDeviceProperties(&p, 0);
    snprintf(buf, n, "%d x %s (sm_%d%d, %.0f GiB), runtime %d.%d", count, p.name, p.major, p.minor,
             (double)p.totalGlobalMem / (1024.0 * 1024.0 * 1024.0), runtime / 1000, (runtime % 1000) / 10);
}

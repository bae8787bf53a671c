/* CUDA runtime queries for `serc version` and the device selection of later issues. Built only when
 * the CUDA backend is on (SERC_HAVE_CUDA). No kernels live here. */
#ifndef SERC_CUDA_INFO_H
#define SERC_CUDA_INFO_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Number of CUDA devices this process sees; 0 when the driver is absent or no GPU is present. */
int serc_cuda_device_count(void);

/* One line: "2 x NVIDIA H100 (sm_90, 79 GiB), runtime 13.0" or why none is usable. */
void serc_cuda_describe(char *buf, size_t n);

#ifdef __cplusplus
}
#endif

#endif

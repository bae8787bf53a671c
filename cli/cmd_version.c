#include <stdio.h>
#include <stdlib.h>

#include "build_info.h"
#include "cli.h"
#include "context.h"
#ifdef SERC_HAVE_CUDA
#include "cuda_info.h"
#endif

int cmd_version(int argc, char **argv) {
    if (cli_wants_help(argc, argv)) {
        printf("usage: serc version   (or serc --version)\n\n"
               "Prints the version and the build options: CUDA backend on/off (and the GPUs this process\n"
               "sees when it is on), BLAS library, OpenMP, and the CPU thread count SERC_THREADS selects.\n");
        return CLI_OK;
    }
    if (argc > 1) return cli_usage_error("version", "unexpected argument '%s'", argv[1]);
    printf("serc %s\n", SERC_VERSION);
    printf("build: %s", SERC_BUILD_TYPE);
    if (SERC_BUILD_SANITIZE[0] == 'O' && SERC_BUILD_SANITIZE[1] == 'N') printf(" (AddressSanitizer + UBSan)");
    printf("\ncuda: %s\n", SERC_BUILD_CUDA);
#ifdef SERC_HAVE_CUDA
    char buf[512];
    serc_cuda_describe(buf, sizeof buf);
    printf("cuda devices: %s\n", buf);
#endif
    printf("blas: %s\n", SERC_BUILD_BLAS);
    printf("openmp: %s\n", SERC_BUILD_OPENMP);
    printf("threads: %d (SERC_THREADS, default all cores)\n", serc_num_threads());
    const char *wait = getenv("OMP_WAIT_POLICY");
    printf("OpenMP wait policy: %s\n", wait && *wait ? wait : "(runtime default)");
    return CLI_OK;
}

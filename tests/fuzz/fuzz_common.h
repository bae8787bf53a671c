/* Shared helpers for SERC's libFuzzer targets (tests/fuzz/run.sh builds them). */
#ifndef SERC_FUZZ_COMMON_H
#define SERC_FUZZ_COMMON_H

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

/* One in-memory file per process (memfd), rewritten for every input; readers open it by the path
 * /proc/self/fd/N, so nothing touches the disk and nothing is left behind. */
static int fuzz_fd = -1;
static char fuzz_path[64];

static const char *fuzz_write_file(const uint8_t *data, size_t size) {
    if (fuzz_fd < 0) {
        fuzz_fd = memfd_create("serc-fuzz", 0);
        if (fuzz_fd < 0) {
            perror("memfd_create");
            abort();
        }
        snprintf(fuzz_path, sizeof fuzz_path, "/proc/self/fd/%d", fuzz_fd);
    }
    if (ftruncate(fuzz_fd, 0) != 0) {
        perror("ftruncate");
        abort();
    }
    size_t off = 0;
    while (off < size) {
        ssize_t w = pwrite(fuzz_fd, data + off, size - off, (off_t)off);
        if (w < 0) {
            if (errno == EINTR) continue;
            perror("pwrite");
            abort();
        }
        off += (size_t)w;
    }
    return fuzz_path;
}

#endif

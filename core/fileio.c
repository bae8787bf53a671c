/* Atomic file writes (see fileio.h). */
#include "fileio.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void atomic_clear(AtomicFile *af) {
    free(af->tmp);
    free(af->path);
    memset(af, 0, sizeof *af);
}

int atomic_open(AtomicFile *af, const char *path, int flags, SercErr *err) {
    memset(af, 0, sizeof *af);
    size_t n = strlen(path) + 32;
    char *tmp = serc_malloc(n);
    snprintf(tmp, n, "%s.tmp.%ld", path, (long)getpid());
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
    FILE *f = fd >= 0 ? fdopen(fd, "wb") : NULL;
    if (!f) {
        int e = errno;
        if (fd >= 0) {
            close(fd);
            unlink(tmp);
        }
        free(tmp);
        return serc_fail(err, "%s: cannot create a temporary file beside it (%s)", path, strerror(e));
    }
    af->f = f;
    af->tmp = tmp;
    af->path = serc_strdup(path);
    af->flags = flags;
    return 0;
}

/* Makes the rename durable; best effort, as a failure here loses nothing already written. */
static void fsync_parent_dir(const char *path) {
    char *dir = serc_strdup(path);
    char *slash = strrchr(dir, '/');
    if (slash == dir) slash[1] = '\0';
    else if (slash) *slash = '\0';
    else strcpy(dir, ".");
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        (void)fsync(fd);
        close(fd);
    }
    free(dir);
}

int atomic_commit(AtomicFile *af, SercErr *err) {
    const char *step = NULL;
    int e = 0;
    int sync = !(af->flags & ATOMIC_NO_SYNC);
    /* a stream error from an earlier fwrite left its errno; fflush sets its own */
    if (fflush(af->f) != 0 || ferror(af->f)) step = "write failed", e = errno;
    else if (sync && fsync(fileno(af->f)) != 0) step = "fsync failed", e = errno;
    int closed = fclose(af->f);
    af->f = NULL;
    if (!step && closed != 0) step = "close failed", e = errno;
    if (!step && rename(af->tmp, af->path) != 0) step = "cannot rename the temporary file into place", e = errno;
    if (step) {
        unlink(af->tmp);
        serc_fail(err, "%s: %s (%s)", af->path, step, strerror(e ? e : EIO));
        atomic_clear(af);
        return -1;
    }
    if (sync) fsync_parent_dir(af->path);
    atomic_clear(af);
    return 0;
}

void atomic_abort(AtomicFile *af) {
    int e = errno; /* callers often report errno after aborting */
    if (af->f) fclose(af->f);
    if (af->tmp) unlink(af->tmp);
    atomic_clear(af);
    errno = e;
}

int write_file_atomic(const char *path, const void *data, size_t n, int flags, SercErr *err) {
    AtomicFile af;
    if (atomic_open(&af, path, flags, err) != 0) return -1;
    if (n) (void)fwrite(data, 1, n, af.f); /* a short write sets the stream's error flag, which commit reports */
    return atomic_commit(&af, err);
}

char *file_read_all(const char *path, size_t *len, SercErr *err) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        serc_fail(err, "%s: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    size_t cap = 1 << 14, n = 0;
    char *buf = serc_malloc(cap);
    for (;;) {
        if (n + 1 >= cap) buf = serc_realloc(buf, cap *= 2);
        size_t got = fread(buf + n, 1, cap - n - 1, f);
        n += got;
        if (got == 0) break;
    }
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        free(buf);
        serc_fail(err, "%s: read error", path);
        return NULL;
    }
    buf[n] = '\0';
    if (len) *len = n;
    return buf;
}

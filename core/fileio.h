/* Atomic file writes: the one implementation behind every writer that must never leave a partial file.
 *
 * The data goes to a temporary file "<path>.tmp.<pid>" in the same folder (so that rename stays on one
 * file system), is flushed and fsync'd, and the temporary is renamed over path; the folder is then
 * fsync'd, best effort, so that the rename survives a crash. path therefore holds either its old
 * contents or the complete new ones. On any failure the temporary is removed and err says
 * "<path>: <step> (<strerror(errno)>)", the step being one of
 *   cannot create a temporary file beside it | write failed | fsync failed | close failed |
 *   cannot rename the temporary file into place
 *
 * Use:
 *   AtomicFile af;
 *   if (atomic_open(&af, path, 0, err) != 0) return -1;
 *   fwrite(..., af.f);                        (or sf_open_fd(fileno(af.f), ...) and sf_close)
 *   if (failed) { atomic_abort(&af); return serc_fail(err, ...); }
 *   return atomic_commit(&af, err);           (frees af whatever the outcome)
 */
#ifndef SERC_FILEIO_H
#define SERC_FILEIO_H

#include <stddef.h>
#include <stdio.h>

#include "error.h"

/* Flags of atomic_open and write_file_atomic. */
enum {
    /* Skip the fsync of the file and of its folder: still atomic (readers see old or new contents)
     * but not durable across a power loss. For bulk output that can be rendered again. */
    ATOMIC_NO_SYNC = 1,
};

typedef struct AtomicFile {
    FILE *f;    /* open "wb" on tmp; write through it, or through fileno(f) */
    char *tmp;  /* the temporary file's path */
    char *path; /* the target */
    int flags;
} AtomicFile;

/* Creates path's temporary file. 0 on success; -1 with err set (and af cleared) on failure. */
int atomic_open(AtomicFile *af, const char *path, int flags, SercErr *err);

/* Flushes (a stream error counts as a write failure), fsyncs, closes and renames the temporary over
 * the target, then fsyncs the folder (best effort). Removes the temporary on failure. Frees af's
 * members either way. 0 on success, -1 with err set. */
int atomic_commit(AtomicFile *af, SercErr *err);

/* Closes and removes the temporary, leaving the target as it was, and frees af's members. Safe on a
 * cleared or already finished AtomicFile. */
void atomic_abort(AtomicFile *af);

/* Writes data[0..n) to path atomically (see above). 0 on success, -1 with err set. */
int write_file_atomic(const char *path, const void *data, size_t n, int flags, SercErr *err);

/* The whole file, NUL-terminated (free() it); *len (when not NULL) its length without the NUL. NULL with
 * err = "<path>: cannot open: <reason>" or "<path>: read error". Text files of configuration size:
 * JSON configs, vocabularies, logs. */
char *file_read_all(const char *path, size_t *len, SercErr *err);

#endif

/* Tests for core/fileio.c: atomic writes succeed, fail with a message naming the path, the step and
 * strerror, leave the old file intact on failure, and never leave a temporary file behind. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fileio.h"
#include "testutil.h"

static char g_dir[64];

static void make_dir(void) {
    strcpy(g_dir, "/tmp/serc_fio_XXXXXX");
    cr_assert(mkdtemp(g_dir) != NULL, "mkdtemp failed");
}

static void remove_dir(void) { test_remove_tree(g_dir); }

/* Entries of dir (without . and ..); fails the test on any temporary file. */
static int scan_dir(const char *dir) {
    DIR *d = opendir(dir);
    cr_assert(d != NULL, "cannot open %s", dir);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        cr_assert(strstr(e->d_name, ".tmp") == NULL, "temporary file left behind: %s/%s", dir, e->d_name);
        n++;
    }
    closedir(d);
    return n;
}

static char *tpath(const char *name) {
    static char p[4][256];
    static int k;
    char *s = p[k++ % 4];
    snprintf(s, sizeof p[0], "%s/%s", g_dir, name);
    return s;
}

/* The whole file as a NUL-terminated string (NULL if it cannot be read). */
static char *slurp(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    char *buf = calloc(1, 1 << 16);
    size_t n = fread(buf, 1, (1 << 16) - 1, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

static void put(const char *path, const char *text) {
    FILE *f = fopen(path, "wb");
    cr_assert(f != NULL, "cannot create %s", path);
    fputs(text, f);
    cr_assert_eq(fclose(f), 0);
}

static void assert_contents(const char *path, const char *want) {
    char *got = slurp(path);
    cr_assert(got != NULL, "cannot read %s", path);
    cr_assert_str_eq(got, want);
    free(got);
}

TestSuite(fileio, .init = make_dir, .fini = remove_dir);

Test(fileio, write_creates_and_replaces) {
    SercErr err = {{0}};
    const char *p = tpath("a.txt");
    cr_assert_eq(write_file_atomic(p, "hello\n", 6, 0, &err), 0, "%s", err.msg);
    assert_contents(p, "hello\n");
    cr_assert_eq(scan_dir(g_dir), 1);
    /* the mode follows the umask like fopen's, not mkstemp's 0600 */
    struct stat st;
    cr_assert_eq(stat(p, &st), 0);
    mode_t um = umask(0);
    umask(um);
    cr_assert_eq(st.st_mode & 0777, 0666 & ~um);
    /* replace, shorter; then empty */
    cr_assert_eq(write_file_atomic(p, "bye", 3, 0, &err), 0, "%s", err.msg);
    assert_contents(p, "bye");
    cr_assert_eq(write_file_atomic(p, NULL, 0, ATOMIC_NO_SYNC, &err), 0, "%s", err.msg);
    assert_contents(p, "");
    cr_assert_eq(scan_dir(g_dir), 1);
}

Test(fileio, stream_api_writes_through_the_file) {
    SercErr err = {{0}};
    const char *p = tpath("b.txt");
    AtomicFile af;
    cr_assert_eq(atomic_open(&af, p, 0, &err), 0, "%s", err.msg);
    cr_assert(af.f && af.tmp && af.path);
    cr_assert_neq(access(af.tmp, F_OK), -1, "the temporary exists while writing");
    cr_assert_eq(access(p, F_OK), -1, "the target does not exist before the commit");
    fprintf(af.f, "x=%d\n", 42);
    cr_assert_eq(atomic_commit(&af, &err), 0, "%s", err.msg);
    cr_assert_null(af.f);
    cr_assert_null(af.tmp);
    assert_contents(p, "x=42\n");
    cr_assert_eq(scan_dir(g_dir), 1);
}

Test(fileio, missing_folder_fails_and_leaves_nothing) {
    SercErr err = {{0}};
    const char *p = tpath("no/such/dir/c.txt");
    cr_assert_eq(write_file_atomic(p, "data", 4, 0, &err), -1);
    cr_assert(strstr(err.msg, p) == err.msg, "%s", err.msg);
    cr_assert(strstr(err.msg, "cannot create a temporary file beside it"), "%s", err.msg);
    cr_assert(strstr(err.msg, "No such file or directory"), "%s", err.msg);
    AtomicFile af;
    cr_assert_eq(atomic_open(&af, p, 0, &err), -1);
    cr_assert(af.f == NULL && af.tmp == NULL && af.path == NULL);
    atomic_abort(&af); /* harmless on a cleared AtomicFile */
    cr_assert_eq(scan_dir(g_dir), 0);
}

Test(fileio, rename_failure_keeps_the_old_file) {
    SercErr err = {{0}};
    const char *p = tpath("d.txt");
    put(p, "old contents\n");
    AtomicFile af;
    cr_assert_eq(atomic_open(&af, p, 0, &err), 0, "%s", err.msg);
    fputs("new contents\n", af.f);
    cr_assert_eq(unlink(af.tmp), 0); /* the rename has nothing to move */
    cr_assert_eq(atomic_commit(&af, &err), -1);
    cr_assert(strstr(err.msg, p) == err.msg, "%s", err.msg);
    cr_assert(strstr(err.msg, "cannot rename the temporary file into place (No such file or directory)"), "%s",
              err.msg);
    assert_contents(p, "old contents\n");
    cr_assert_eq(scan_dir(g_dir), 1);
}

Test(fileio, target_is_a_folder_fails_and_keeps_it) {
    SercErr err = {{0}};
    const char *p = tpath("sub");
    cr_assert_eq(mkdir(p, 0777), 0);
    put(tpath("sub/inside.txt"), "keep\n");
    cr_assert_eq(write_file_atomic(p, "data", 4, 0, &err), -1);
    cr_assert(strstr(err.msg, p) == err.msg && strstr(err.msg, "cannot rename the temporary file into place"), "%s",
              err.msg);
    assert_contents(tpath("sub/inside.txt"), "keep\n");
    cr_assert_eq(scan_dir(g_dir), 1);
    cr_assert_eq(scan_dir(p), 1);
}

Test(fileio, write_failure_keeps_the_old_file) {
    SercErr err = {{0}};
    const char *p = tpath("e.bin");
    put(p, "old\n");
    /* files may not grow past 1 KiB: the write fails with EFBIG instead of raising SIGXFSZ */
    signal(SIGXFSZ, SIG_IGN);
    struct rlimit rl = {1024, 1024};
    cr_assert_eq(setrlimit(RLIMIT_FSIZE, &rl), 0);
    static char big[1 << 16];
    memset(big, 'z', sizeof big);
    cr_assert_eq(write_file_atomic(p, big, sizeof big, 0, &err), -1);
    cr_assert(strstr(err.msg, p) == err.msg, "%s", err.msg);
    cr_assert(strstr(err.msg, "write failed (File too large)"), "%s", err.msg);
    assert_contents(p, "old\n");
    cr_assert_eq(scan_dir(g_dir), 1);
    /* the same through the stream API, the failure surfacing only at the commit */
    AtomicFile af;
    cr_assert_eq(atomic_open(&af, p, ATOMIC_NO_SYNC, &err), 0, "%s", err.msg);
    for (int i = 0; i < 4; i++) fwrite(big, 1, sizeof big, af.f);
    cr_assert_eq(atomic_commit(&af, &err), -1);
    cr_assert(strstr(err.msg, "write failed"), "%s", err.msg);
    assert_contents(p, "old\n");
    cr_assert_eq(scan_dir(g_dir), 1);
}

Test(fileio, abort_removes_the_temporary) {
    SercErr err = {{0}};
    const char *p = tpath("f.txt");
    AtomicFile af;
    cr_assert_eq(atomic_open(&af, p, 0, &err), 0, "%s", err.msg);
    fputs("never seen", af.f);
    atomic_abort(&af);
    cr_assert_null(af.f);
    cr_assert_eq(access(p, F_OK), -1);
    cr_assert_eq(scan_dir(g_dir), 0);
    /* with an old file: it stays */
    put(p, "old\n");
    cr_assert_eq(atomic_open(&af, p, 0, &err), 0, "%s", err.msg);
    fputs("never seen", af.f);
    errno = EINVAL;
    atomic_abort(&af);
    cr_assert_eq(errno, EINVAL, "abort keeps errno for the caller's message");
    atomic_abort(&af); /* twice is harmless */
    assert_contents(p, "old\n");
    cr_assert_eq(scan_dir(g_dir), 1);
}

Test(fileio, relative_path_in_the_working_folder) {
    SercErr err = {{0}};
    cr_assert_eq(chdir(g_dir), 0);
    cr_assert_eq(write_file_atomic("g.txt", "rel", 3, 0, &err), 0, "%s", err.msg);
    assert_contents(tpath("g.txt"), "rel");
    cr_assert_eq(scan_dir(g_dir), 1);
}

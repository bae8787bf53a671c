#include "error.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int serc_fail(SercErr *err, const char *fmt, ...) {
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
    }
    return -1;
}

int serc_fail_prefix(SercErr *err, const char *fmt, ...) {
    if (err) {
        char prefix[SERC_ERR_MSG_MAX], old[SERC_ERR_MSG_MAX];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(prefix, sizeof prefix, fmt, ap);
        va_end(ap);
        memcpy(old, err->msg, sizeof old);
        /* "prefix: old", cut at the buffer's end */
        size_t np = strlen(prefix), no = strlen(old), cap = sizeof err->msg - 1, k = 0;
        for (size_t i = 0; i < np && k < cap; i++) err->msg[k++] = prefix[i];
        for (size_t i = 0; i < 2 && k < cap; i++) err->msg[k++] = ": "[i];
        for (size_t i = 0; i < no && k < cap; i++) err->msg[k++] = old[i];
        err->msg[k] = '\0';
    }
    return -1;
}

void serc_die_at(const char *file, int line, const char *fmt, ...) {
    va_list ap;
    fprintf(stderr, "serc: internal error at %s:%d: ", file, line);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    fflush(stderr);
    abort();
}

void *serc_malloc(size_t n) {
    void *p = malloc(n ? n : 1);
    if (!p) serc_die("out of memory allocating %zu bytes", n);
    return p;
}

void *serc_calloc(size_t count, size_t size) {
    void *p = calloc(count ? count : 1, size ? size : 1);
    if (!p) serc_die("out of memory allocating %zu x %zu bytes", count, size);
    return p;
}

void *serc_realloc(void *p, size_t n) {
    void *q = realloc(p, n ? n : 1);
    if (!q) serc_die("out of memory reallocating to %zu bytes", n);
    return q;
}

char *serc_strdup(const char *s) {
    size_t n = strlen(s) + 1;
    char *d = serc_malloc(n);
    memcpy(d, s, n);
    return d;
}

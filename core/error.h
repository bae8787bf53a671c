/* SERC errors.
 *
 * Two kinds of failure, treated differently:
 *  - failures caused by user input (files, configs, manifests, checkpoints, shapes of imported weights)
 *    are returned: a function takes a SercErr *err, fills it with a message naming the file, line or
 *    tensor and the problem, and returns -1 (0 on success). `serc` prints the message and exits 1.
 *  - internal invariant violations (two ops given mismatched shapes by model code) abort at once with
 *    the offending shapes printed: they are bugs, not conditions to recover from.
 */
#ifndef SERC_ERROR_H
#define SERC_ERROR_H

#include <stddef.h>

#define SERC_ERR_MSG_MAX 1024

typedef struct SercErr {
    char msg[SERC_ERR_MSG_MAX];
} SercErr;

#if defined(__GNUC__)
#define SERC_PRINTF(a, b) __attribute__((format(printf, a, b)))
#define SERC_NORETURN __attribute__((noreturn))
#else
#define SERC_PRINTF(a, b)
#define SERC_NORETURN
#endif

/* Fills err (when not NULL) with the formatted message and returns -1, so that a reader can write
 * `return serc_fail(err, "%s: header length %llu past end of file", path, n);`. */
int serc_fail(SercErr *err, const char *fmt, ...) SERC_PRINTF(2, 3);

/* Prefixes an existing message: "context: old message". Returns -1. */
int serc_fail_prefix(SercErr *err, const char *fmt, ...) SERC_PRINTF(2, 3);

/* Aborts with "serc: internal error at file:line: message". For invariant violations only. */
SERC_NORETURN void serc_die_at(const char *file, int line, const char *fmt, ...) SERC_PRINTF(3, 4);
#define serc_die(...) serc_die_at(__FILE__, __LINE__, __VA_ARGS__)

/* SERC_ASSERT(cond, fmt, ...): abort with a message when an invariant does not hold. */
#define SERC_ASSERT(cond, ...) \
    do { \
        if (!(cond)) serc_die_at(__FILE__, __LINE__, __VA_ARGS__); \
    } while (0)

/* malloc/calloc/realloc that abort on exhaustion (out of memory is not a user-input error). */
void *serc_malloc(size_t n);
void *serc_calloc(size_t count, size_t size);
void *serc_realloc(void *p, size_t n);
char *serc_strdup(const char *s);

#endif

/* The table-driven op harness. Each op under test is one OpCase: input specs, a function that builds
 * the op's output from f32 tensors, and an independent double-precision reference of its forward.
 * opcheck_run() then checks, for the case:
 *   1. forward: the op's f32 output against the double reference (|a - r| <= atol + rtol |r|), on
 *      arena memory poisoned with NaN so that an unwritten element fails;
 *   2. backward: with L = sum(out * R) for random R, the op's gradient for every real input against
 *      central finite differences of L computed in double precision on the reference.
 * Inputs are drawn from a stream seeded by the case name; masks and lengths always include a full row
 * and (when the batch has more than one item) a fully padded one.
 */
#ifndef SERC_TESTS_OPCHECK_H
#define SERC_TESTS_OPCHECK_H

#include <stdint.h>

#include <criterion/criterion.h>
#include <criterion/parameterized.h>

#include "ops.h"

typedef enum InputKind {
    IN_REAL = 0,    /* f32 in [lo, hi), differentiable */
    IN_CONST,       /* f32 in [lo, hi), not differentiated (running statistics, fixed tables) */
    IN_MASK,        /* u8 (B, N): row 0 all valid, row 1 all padding, others a random valid prefix */
    IN_LENGTHS,     /* i32 (B) in [0, hi]: item 0 = hi, item 1 = 0, others random */
    IN_IDS,         /* i64 any shape in [0, hi) */
} InputKind;

typedef struct InputSpec {
    InputKind kind;
    int ndim;
    int64_t shape[SERC_MAX_DIMS];
    double lo, hi;
    int nonzero; /* IN_REAL: keep |x| >= 0.2 (denominators, kinks at 0) */
} InputSpec;

#define OPCHECK_MAX_IN 6

/* The reference gets every input as doubles (masks, lengths and ids converted), their specs, the
 * case's attributes, and writes out_numel doubles. */
typedef void (*RefFn)(const double *const *in, const InputSpec *spec, const void *attr, double *out,
                      int64_t out_numel);
typedef Tensor *(*BuildFn)(Ctx *g, Tensor *const *in, const void *attr);

typedef struct OpCase {
    const char *name;
    BuildFn build;
    RefFn reference;
    const void *attr;
    int n_in;
    InputSpec in[OPCHECK_MAX_IN];
    int training;        /* ctx->training during the case (default 0 = eval) */
    double atol, rtol;   /* forward tolerance; 0 = defaults 1e-5, 1e-4 */
    double grad_tol;     /* backward: |analytic - numeric| <= grad_tol * max(1, |numeric|); 0 = 2e-3 */
    int skip_grad;       /* forward-only case (documented reason at the table entry) */
} OpCase;

/* Seed of the harness context (dropout and other RNG ops draw from it at counter offset 0). */
#define OPCHECK_SEED 0x5e7cull

/* Runs one case; fails the current Criterion test with the case name, the element and both values. */
void opcheck_run(const OpCase *c);

/* Spec shorthands. */
/* Spec shorthands: REAL(2, 3) is a differentiable f32 (2, 3) input in [-1, 1). */
#define SPEC_(kind, lo, hi, nz, ...) {kind, SERC_NARGS(__VA_ARGS__), {__VA_ARGS__}, lo, hi, nz}
#define REAL(...) SPEC_(IN_REAL, -1.0, 1.0, 0, __VA_ARGS__)
#define REALR(lo, hi, ...) SPEC_(IN_REAL, lo, hi, 0, __VA_ARGS__)
#define REALNZ(...) SPEC_(IN_REAL, -1.0, 1.0, 1, __VA_ARGS__)
#define CONSTR(lo, hi, ...) SPEC_(IN_CONST, lo, hi, 0, __VA_ARGS__)
#define MASK(B, N) SPEC_(IN_MASK, 0, 0, 0, B, N)
#define LENGTHS(B, T) SPEC_(IN_LENGTHS, 0, T, 0, B)
#define IDS(V, ...) SPEC_(IN_IDS, 0, V, 0, __VA_ARGS__)

/* One table row with designated initialisers (positional ones trip -Wmissing-field-initializers). */
#define OPCASE(nm, bf, rf, at, n, ...) \
    {.name = nm, .build = bf, .reference = rf, .attr = at, .n_in = n, .in = {__VA_ARGS__}}

/* OPCHECK_TABLE(suite, test, cases): one Criterion test per row of the static array `cases`.
 * The parameters are row indices, not copies of the rows: Criterion runs each test in a fresh
 * process of the same binary loaded at another address, where the function and string pointers
 * inside a copied OpCase would dangle; each process reads the row from its own copy of the table. */
#define OPCHECK_TABLE(suite, test, cases) \
    ParameterizedTestParameters(suite, test) { \
        static int idx_[sizeof cases / sizeof cases[0]]; \
        for (size_t i_ = 0; i_ < sizeof cases / sizeof cases[0]; i_++) idx_[i_] = (int)i_; \
        return cr_make_param_array(int, idx_, sizeof cases / sizeof cases[0]); \
    } \
    ParameterizedTest(int *row_, suite, test) { opcheck_run(&cases[*row_]); }

/* Index helpers for references: row-major offset of a multi-index. */
static inline int64_t ref_numel(const InputSpec *s) {
    int64_t n = 1;
    for (int d = 0; d < s->ndim; d++) n *= s->shape[d];
    return n;
}

#endif

/* Multiblock PLS against mbpls 1.0.4: tests/fixtures/make_mbpls_fixtures.py fits MBPLS(method='NIPALS')
 * on the inputs in tests/fixtures/mbpls/<case>/ and stores every attribute; mbpls_fit on the same inputs
 * must give each of them, and transform/predict of held-out rows, to 1e-9 (relative to the attribute's
 * largest magnitude).
 *
 * Sign alignment: a PLS component is defined up to its sign. One sign s_k per component k is taken from
 * the super scores, s_k = sign(<Ts_c[:, k], Ts_ref[:, k]>) with |<.,.>| = 1 required (both unit vectors),
 * and every signed attribute of component k (Ts_, T_.b, W_.b, P_.b, U_, V_, R_ and transform's column k)
 * is compared as s_k * column against the reference with that same s_k; sign-free attributes (A_,
 * A_corrected_, beta_, explained variances, scalers, predict) are compared as they are. The NIPALS here
 * starts from the same vector as mbpls, so s_k is also required to be +1 for the fit itself; a fit with one
 * component negated throughout passes with s_k = -1, and an attribute negated alone is rejected.
 *
 * Then: save/load round trips, the F32 checkpoint path, the bad-input table through the API and through
 * `serc mbpls` (exit status and message naming the file and the problem). */
#include <criterion/criterion.h>
#include <ftw.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "mbpls.h"
#include "npy.h"
#include "safetensors.h"

#define FIX SERC_FIXTURES_DIR "/mbpls"
#define TOL 1e-9

static char g_dir[256];

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
    (void)st, (void)flag, (void)ftw;
    return remove(path);
}
static void cleanup(void) {
    if (g_dir[0]) nftw(g_dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    g_dir[0] = 0;
}
static void make_dir(void) {
    snprintf(g_dir, sizeof g_dir, "/tmp/serc_mbpls_XXXXXX");
    cr_assert_not_null(mkdtemp(g_dir));
}
TestSuite(mbpls, .fini = cleanup);

typedef struct Mat {
    double *d;
    int64_t r, c;
} Mat;

static Mat load(const char *c, const char *name) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s/%s.npy", FIX, c, name);
    Mat m;
    SercErr err = {{0}};
    cr_assert_eq(mbpls_read_npy(path, 1, &m.d, &m.r, &m.c, &err), 0, "%s", err.msg);
    return m;
}

typedef struct Case {
    int B, K, standardize;
    Mat X[8], Xt[8], Y;
    int p[8];
    const double *Xp[8], *Xtp[8];
} Case;

static Case load_case(const char *c) {
    Case k;
    char path[512];
    snprintf(path, sizeof path, "%s/%s/case.txt", FIX, c);
    FILE *f = fopen(path, "r");
    cr_assert_not_null(f, "%s", path);
    cr_assert_eq(fscanf(f, "%d %d %d", &k.B, &k.K, &k.standardize), 3);
    fclose(f);
    for (int b = 0; b < k.B; b++) {
        char nm[16];
        snprintf(nm, sizeof nm, "X%d", b);
        k.X[b] = load(c, nm);
        snprintf(nm, sizeof nm, "Xt%d", b);
        k.Xt[b] = load(c, nm);
        k.p[b] = (int)k.X[b].c;
        k.Xp[b] = k.X[b].d, k.Xtp[b] = k.Xt[b].d;
    }
    k.Y = load(c, "Y");
    return k;
}

static void free_case(Case *k) {
    for (int b = 0; b < k->B; b++) free(k->X[b].d), free(k->Xt[b].d);
    free(k->Y.d);
}

/* Whether got (rows x cols), column j multiplied by sign[j] when sign is given, is within TOL of ref
 * (relative to ref's largest magnitude); the first mismatch goes to why. */
static int mat_close(const double *got, const Mat *ref, int64_t rows, int64_t cols, const double *sign, char *why,
                     size_t why_n) {
    if (ref->r != rows || ref->c != cols) {
        snprintf(why, why_n, "shape %lld x %lld, reference %lld x %lld", (long long)rows, (long long)cols,
                 (long long)ref->r, (long long)ref->c);
        return 0;
    }
    double scale = 1.0;
    for (int64_t i = 0; i < rows * cols; i++) scale = fmax(scale, fabs(ref->d[i]));
    for (int64_t i = 0; i < rows; i++)
        for (int64_t j = 0; j < cols; j++) {
            double g = got[i * cols + j] * (sign ? sign[j] : 1.0), r = ref->d[i * cols + j];
            if (!(fabs(g - r) <= TOL * scale)) {
                snprintf(why, why_n, "[%lld, %lld]: %.17g, mbpls %.17g", (long long)i, (long long)j, g, r);
                return 0;
            }
        }
    return 1;
}

static void check_mat(const char *c, const char *name, const double *got, const Mat *ref, int64_t rows, int64_t cols,
                      const double *sign) {
    char why[256];
    cr_assert(mat_close(got, ref, rows, cols, sign, why, sizeof why), "%s %s%s", c, name, why);
}

static void check_attr(const char *c, const char *name, const double *got, int64_t rows, int64_t cols, const double *sign) {
    Mat ref = load(c, name);
    check_mat(c, name, got, &ref, rows, cols, sign);
    free(ref.d);
}

/* Negates component k in every signed attribute: an equally valid fit. */
static void flip_component(MbplsModel *m, int k) {
    const int K = m->components;
    for (int64_t i = 0; i < m->n_samples; i++) m->Ts[i * K + k] *= -1, m->U[i * K + k] *= -1;
    for (int b = 0; b < m->n_blocks; b++) {
        for (int64_t i = 0; i < m->n_samples; i++) m->T[b][i * K + k] *= -1;
        for (int j = 0; j < m->block_dims[b]; j++) m->W[b][j * K + k] *= -1, m->P[b][j * K + k] *= -1;
        m->V[b * K + k] *= -1;
    }
    for (int j = 0; j < m->n_targets; j++) m->Vy[j * K + k] *= -1;
    for (int64_t j = 0; j < m->n_features; j++) m->R[j * K + k] *= -1;
}

/* flip >= 0: negate that component after fitting, to show the alignment takes s_k = -1 for all of it. */
static void parity(const char *c, int flip) {
    Case k = load_case(c);
    MbplsOptions o = mbpls_default_options();
    o.components = k.K, o.standardize = k.standardize;
    MbplsModel m;
    SercErr err = {{0}};
    int64_t n = k.Y.r;
    int q = (int)k.Y.c, K = k.K;
    cr_assert_eq(mbpls_fit(&m, k.Xp, k.p, k.B, n, k.Y.d, q, &o, &err), 0, "%s: %s", c, err.msg);
    cr_assert(m.converged, "%s: did not converge", c);
    if (flip >= 0) flip_component(&m, flip);

    /* one sign per component, from the super scores */
    Mat ts = load(c, "Ts_");
    double sign[64];
    for (int j = 0; j < K; j++) {
        double dot = 0;
        for (int64_t i = 0; i < n; i++) dot += m.Ts[i * K + j] * ts.d[i * K + j];
        cr_assert(fabs(fabs(dot) - 1.0) < 1e-9, "%s: super score %d is not +-mbpls's (<t, t_ref> = %g)", c, j, dot);
        sign[j] = dot > 0 ? 1.0 : -1.0;
        cr_assert_eq(sign[j], j == flip ? -1.0 : 1.0, "%s: component %d has sign %g", c, j, sign[j]);
    }
    free(ts.d);
    check_attr(c, "Ts_", m.Ts, n, K, sign);
    for (int b = 0; b < k.B; b++) {
        char nm[32];
        snprintf(nm, sizeof nm, "T_.%d", b);
        check_attr(c, nm, m.T[b], n, K, sign);
        snprintf(nm, sizeof nm, "W_.%d", b);
        check_attr(c, nm, m.W[b], k.p[b], K, sign);
        snprintf(nm, sizeof nm, "P_.%d", b);
        check_attr(c, nm, m.P[b], k.p[b], K, sign);
        if (k.standardize) {
            snprintf(nm, sizeof nm, "x_scalers_.%d.mean_", b);
            check_attr(c, nm, m.x_mean[b], k.p[b], 1, NULL);
            snprintf(nm, sizeof nm, "x_scalers_.%d.scale_", b);
            check_attr(c, nm, m.x_std[b], k.p[b], 1, NULL);
        }
    }
    check_attr(c, "U_", m.U, n, K, sign);
    check_attr(c, "V_", m.Vy, q, K, sign);
    check_attr(c, "R_", m.R, m.n_features, K, sign);
    check_attr(c, "A_", m.A, k.B, K, NULL);
    check_attr(c, "A_corrected_", m.A_corrected, k.B, K, NULL);
    check_attr(c, "beta_", m.beta, m.n_features, q, NULL);
    check_attr(c, "explained_var_x_", m.explained_var_x, K, 1, NULL);
    check_attr(c, "explained_var_y_", m.explained_var_y, K, 1, NULL);
    check_attr(c, "explained_var_xblocks_", m.explained_var_xblocks, k.B, K, NULL);
    if (k.standardize) {
        check_attr(c, "y_scaler_.mean_", m.y_mean, q, 1, NULL);
        check_attr(c, "y_scaler_.scale_", m.y_std, q, 1, NULL);
    }
    for (int i = 0; i < k.B * K; i++) cr_assert(fabs(m.V[i] * m.V[i] - m.A[i]) < 1e-15, "%s: A_ != superweights^2", c);

    /* held-out rows */
    int64_t nt = k.Xt[0].r;
    double *t = malloc(sizeof(double) * (size_t)(nt * (K > q ? K : q)));
    cr_assert_eq(mbpls_transform(&m, k.Xtp, nt, t, &err), 0, "%s", err.msg);
    check_attr(c, "transform", t, nt, K, sign);
    cr_assert_eq(mbpls_predict(&m, k.Xtp, nt, t, &err), 0, "%s", err.msg);
    check_attr(c, "predict", t, nt, q, NULL);
    free(t);
    /* transform of the training rows gives back the super scores */
    double *tr = malloc(sizeof(double) * (size_t)(n * K));
    cr_assert_eq(mbpls_transform(&m, k.Xp, n, tr, &err), 0, "%s", err.msg);
    for (int64_t i = 0; i < n * K; i++) cr_assert(fabs(tr[i] - m.Ts[i]) < 1e-10, "%s: transform(train) != Ts_", c);
    free(tr);
    mbpls_free(&m);
    free_case(&k);
}

Test(mbpls, parity_standardised_multi_response) { parity("std_multi", -1); }
Test(mbpls, parity_not_standardised_f32_inputs_1d_response) { parity("nostd_f32", -1); }
Test(mbpls, parity_block_wider_than_samples) { parity("wide", -1); }
Test(mbpls, parity_rank_deficient_and_constant_column) { parity("rankdef", -1); }
Test(mbpls, parity_one_block) { parity("one_block", -1); }
Test(mbpls, parity_holds_under_a_consistent_flip) { parity("wide", 1); }

/* The rule rejects a component flipped in one attribute only: after negating column 1 of W_.0 alone,
 * the sign taken from the super scores (+1) no longer matches W_.0, while negating component 1 in every
 * attribute (flip_component) matches with s_1 = -1 throughout (parity_holds_under_a_consistent_flip). */
Test(mbpls, sign_rule_rejects_a_lone_flip) {
    Case k = load_case("std_multi");
    MbplsOptions o = mbpls_default_options();
    o.components = k.K;
    MbplsModel m;
    SercErr err = {{0}};
    cr_assert_eq(mbpls_fit(&m, k.Xp, k.p, k.B, k.Y.r, k.Y.d, (int)k.Y.c, &o, &err), 0, "%s", err.msg);
    Mat w = load("std_multi", "W_.0");
    double plus[3] = {1, 1, 1}, minus1[3] = {1, -1, 1};
    char why[256];
    cr_assert(mat_close(m.W[0], &w, w.r, k.K, plus, why, sizeof why), "%s", why);
    for (int64_t i = 0; i < w.r; i++) m.W[0][i * k.K + 1] *= -1;
    cr_assert_not(mat_close(m.W[0], &w, w.r, k.K, plus, why, sizeof why), "a lone flip passed with s = +1");
    cr_assert(mat_close(m.W[0], &w, w.r, k.K, minus1, why, sizeof why), "%s", why); /* only a per-attribute sign would hide it */
    free(w.d);
    mbpls_free(&m);
    free_case(&k);
}

static int models_equal(const MbplsModel *a, const MbplsModel *b) {
    int64_t n = a->n_samples, K = a->components, q = a->n_targets, p = a->n_features;
    if (a->n_blocks != b->n_blocks || K != b->components || q != b->n_targets || n != b->n_samples ||
        p != b->n_features || a->standardize != b->standardize)
        return 0;
    int ok = !memcmp(a->Ts, b->Ts, sizeof(double) * (size_t)(n * K)) && !memcmp(a->R, b->R, sizeof(double) * (size_t)(p * K)) &&
             !memcmp(a->beta, b->beta, sizeof(double) * (size_t)(p * q)) && !memcmp(a->U, b->U, sizeof(double) * (size_t)(n * K)) &&
             !memcmp(a->Vy, b->Vy, sizeof(double) * (size_t)(q * K)) && !memcmp(a->y_std, b->y_std, sizeof(double) * (size_t)q) &&
             !memcmp(a->A_corrected, b->A_corrected, sizeof(double) * (size_t)(a->n_blocks * K)) &&
             !memcmp(a->n_iter, b->n_iter, sizeof(int) * (size_t)K);
    for (int bb = 0; bb < a->n_blocks; bb++) {
        int pb = a->block_dims[bb];
        ok = ok && pb == b->block_dims[bb] && !memcmp(a->W[bb], b->W[bb], sizeof(double) * (size_t)(pb * K)) &&
             !memcmp(a->P[bb], b->P[bb], sizeof(double) * (size_t)(pb * K)) &&
             !memcmp(a->T[bb], b->T[bb], sizeof(double) * (size_t)(n * K)) &&
             !memcmp(a->x_mean[bb], b->x_mean[bb], sizeof(double) * (size_t)pb) &&
             !memcmp(a->x_std[bb], b->x_std[bb], sizeof(double) * (size_t)pb);
    }
    return ok;
}

Test(mbpls, save_load_bitwise_and_f32_checkpoint) {
    make_dir();
    Case k = load_case("rankdef");
    MbplsOptions o = mbpls_default_options();
    o.components = k.K;
    MbplsModel m, l;
    SercErr err = {{0}};
    cr_assert_eq(mbpls_fit(&m, k.Xp, k.p, k.B, k.Y.r, k.Y.d, (int)k.Y.c, &o, &err), 0, "%s", err.msg);
    char path[512];
    snprintf(path, sizeof path, "%s/m.safetensors", g_dir);
    cr_assert_eq(mbpls_to_safetensors(&m, "mea.", path, &err), 0, "%s", err.msg);
    cr_assert_eq(mbpls_load(&l, path, "mea.", &err), 0, "%s", err.msg);
    cr_assert(models_equal(&m, &l), "reloaded model differs");
    MbplsModel none;
    cr_assert_eq(mbpls_load(&none, path, "", &err), -1);
    cr_assert(strstr(err.msg, "\"Ts_\" missing"), "%s", err.msg);
    cr_assert_eq(mbpls_to_safetensors(&m, "bad\"prefix", path, &err), -1);

    /* The same tensors as F32 through core's writer (what a checkpoint holds) load with mbpls_from_safetensors. */
    SafetensorsFile *f = NULL;
    {
        int na = 0;
        SafetensorsEntry e[64];
        float *store[64];
        const char *names[64];
        char nb[64][80];
        const double *src[64];
        int64_t sh[64][2];
        int nd[64];
#define ADD(nm, d, r, c, ndim) \
    (snprintf(nb[na], sizeof nb[na], "ck.%s", nm), names[na] = nb[na], src[na] = d, sh[na][0] = r, sh[na][1] = c, nd[na] = ndim, na++)
        int64_t n = m.n_samples, K = m.components, q = m.n_targets, B = m.n_blocks;
        char t[64];
        ADD("Ts_", m.Ts, n, K, 2);
        for (int b = 0; b < B; b++) {
            snprintf(t, 64, "T_.%d", b), ADD(t, m.T[b], n, K, 2);
            snprintf(t, 64, "W_.%d", b), ADD(t, m.W[b], m.block_dims[b], K, 2);
            snprintf(t, 64, "P_.%d", b), ADD(t, m.P[b], m.block_dims[b], K, 2);
            snprintf(t, 64, "x_scalers_.%d.mean_", b), ADD(t, m.x_mean[b], m.block_dims[b], 0, 1);
            snprintf(t, 64, "x_scalers_.%d.scale_", b), ADD(t, m.x_std[b], m.block_dims[b], 0, 1);
        }
        ADD("A_", m.A, B, K, 2);
        ADD("A_corrected_", m.A_corrected, B, K, 2);
        ADD("superweights", m.V, B, K, 2);
        ADD("U_", m.U, n, K, 2);
        ADD("V_", m.Vy, q, K, 2);
        ADD("R_", m.R, m.n_features, K, 2);
        ADD("beta_", m.beta, m.n_features, q, 2);
        ADD("explained_var_x_", m.explained_var_x, K, 0, 1);
        ADD("explained_var_y_", m.explained_var_y, K, 0, 1);
        ADD("explained_var_xblocks_", m.explained_var_xblocks, B, K, 2);
        ADD("y_scaler_.mean_", m.y_mean, q, 0, 1);
        ADD("y_scaler_.scale_", m.y_std, q, 0, 1);
#undef ADD
        for (int i = 0; i < na; i++) {
            int64_t numel = nd[i] == 2 ? sh[i][0] * sh[i][1] : sh[i][0];
            store[i] = malloc(sizeof(float) * (size_t)numel);
            for (int64_t j = 0; j < numel; j++) store[i][j] = (float)src[i][j];
            e[i] = (SafetensorsEntry){.name = names[i], .dtype = SERC_F32, .ndim = nd[i], .data = store[i]};
            e[i].shape[0] = sh[i][0], e[i].shape[1] = sh[i][1];
        }
        const char *meta[] = {"mbpls.components", "3", "mbpls.standardize", "1", "mbpls.block_dims", "[6, 4, 2]",
                              "mbpls.n_targets", "1", "mbpls.n_samples", "24", NULL};
        char ck[512];
        snprintf(ck, sizeof ck, "%s/ck.safetensors", g_dir);
        cr_assert_eq(safetensors_write(ck, e, na, meta, &err), 0, "%s", err.msg);
        for (int i = 0; i < na; i++) free(store[i]);
        f = safetensors_open(ck, &err);
        cr_assert_not_null(f, "%s", err.msg);
    }
    MbplsModel c;
    cr_assert_eq(mbpls_from_safetensors(&c, f, "ck.", &err), 0, "%s", err.msg);
    safetensors_close(f);
    int64_t nt = k.Xt[0].r;
    double y1[64], y2[64];
    cr_assert_eq(mbpls_predict(&m, k.Xtp, nt, y1, &err), 0);
    cr_assert_eq(mbpls_predict(&c, k.Xtp, nt, y2, &err), 0);
    for (int64_t i = 0; i < nt; i++) cr_assert(fabs(y1[i] - y2[i]) < 1e-5 * (1 + fabs(y1[i])), "f32 checkpoint predict");
    mbpls_free(&c), mbpls_free(&l), mbpls_free(&m);
    free_case(&k);
}

/* ---- bad input through the API ---- */

typedef struct BadApi {
    const char *what, *expect;
} BadApi;

Test(mbpls, bad_input_api) {
    Mat a = load("bad", "small0"), b = load("bad", "small1"), y = load("bad", "smallY");
    double *a2 = malloc(sizeof(double) * 12), *yc = malloc(sizeof(double) * 6), *cst = malloc(sizeof(double) * 12);
    for (int i = 0; i < 12; i++) cst[i] = 2.0;
    for (int i = 0; i < 6; i++) yc[i] = 1.5;
    const BadApi cases[] = {
        {"K above the rank", "above the rank"}, {"K = 0", "at least 1"},      {"NaN in a block", "block 1: row 2, column 1 is NaN"},
        {"Inf in Y", "response: row 3, column 0 is Inf"}, {"empty block", "block 1 is empty"},
        {"constant block", "block 0 has no variance"},     {"constant response", "first column has no variance"},
        {"one sample", "at least 2 samples"},              {"no blocks", "no blocks"},
    };
    for (size_t t = 0; t < sizeof cases / sizeof cases[0]; t++) {
        const double *X[2] = {a.d, b.d};
        int p[2] = {2, 2}, B = 2, K = 2;
        int64_t n = 6;
        const double *Y = y.d;
        memcpy(a2, b.d, sizeof(double) * 12);
        if (t == 0) K = 5;
        if (t == 1) K = 0;
        if (t == 2) a2[2 * 2 + 1] = NAN, X[1] = a2;
        if (t == 3) {
            memcpy(yc, y.d, sizeof(double) * 6);
            yc[3] = INFINITY, Y = yc;
        }
        if (t == 4) p[1] = 0;
        if (t == 5) X[0] = cst;
        if (t == 6) {
            for (int i = 0; i < 6; i++) yc[i] = 1.5;
            Y = yc;
        }
        if (t == 7) n = 1;
        if (t == 8) B = 0;
        MbplsOptions o = mbpls_default_options();
        o.components = K;
        MbplsModel m;
        SercErr err = {{0}};
        cr_assert_eq(mbpls_fit(&m, X, p, B, n, Y, 1, &o, &err), -1, "%s: accepted", cases[t].what);
        cr_assert(strstr(err.msg, cases[t].expect), "%s: message '%s' lacks '%s'", cases[t].what, err.msg, cases[t].expect);
        cr_assert_null(m.Ts, "%s: model not left empty", cases[t].what);
    }
    /* K equal to the rank (4) is fine */
    const double *X[2] = {a.d, b.d};
    int p[2] = {2, 2};
    MbplsOptions o = mbpls_default_options();
    o.components = 4;
    MbplsModel m;
    SercErr err = {{0}};
    cr_assert_eq(mbpls_fit(&m, X, p, 2, 6, y.d, 1, &o, &err), 0, "%s", err.msg);
    double ts[24];
    const double *bad[2] = {a.d, a2};
    a2[0] = NAN;
    cr_assert_eq(mbpls_transform(&m, bad, 6, ts, &err), -1);
    cr_assert(strstr(err.msg, "block 1: row 0, column 0 is NaN"), "%s", err.msg);
    mbpls_free(&m);
    free(a.d), free(b.d), free(y.d), free(a2), free(yc), free(cst);
}

/* ---- the serc mbpls command ---- */

static int run_serc(const char *args) {
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "cd '%s' && '%s' mbpls %s > out.txt 2> err.txt", g_dir, SERC_BINARY, args);
    int st = system(cmd);
    cr_assert(WIFEXITED(st), "serc did not exit normally");
    return WEXITSTATUS(st);
}

static char *read_text(const char *name) {
    static char buf[8192];
    char p[512];
    snprintf(p, sizeof p, "%s/%s", g_dir, name);
    FILE *f = fopen(p, "rb");
    cr_assert_not_null(f, "%s", p);
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = 0;
    fclose(f);
    return buf;
}

Test(mbpls, cli_fit_transform_predict) {
    make_dir();
    cr_assert_eq(run_serc("--help"), 0);
    cr_assert(strstr(read_text("out.txt"), "usage: serc mbpls fit"));
    cr_assert_eq(run_serc("fit --help"), 0);
    cr_assert_eq(run_serc("transform --help"), 0);
    cr_assert_eq(run_serc("fit --block " FIX "/nostd_f32/X0.npy --block " FIX "/nostd_f32/X1.npy --response " FIX
                          "/nostd_f32/Y.npy --components 2 --no-standardize --out m.safetensors"),
                 0, "%s", read_text("err.txt"));
    cr_assert_eq(run_serc("transform --model m.safetensors --block " FIX "/nostd_f32/Xt0.npy --block " FIX
                          "/nostd_f32/Xt1.npy --out ts.npy"),
                 0, "%s", read_text("err.txt"));
    cr_assert_eq(run_serc("predict --model m.safetensors --block " FIX "/nostd_f32/Xt0.npy --block " FIX
                          "/nostd_f32/Xt1.npy --out y.npy"),
                 0, "%s", read_text("err.txt"));
    char p[512];
    SercErr err = {{0}};
    Mat ts, yh;
    snprintf(p, sizeof p, "%s/ts.npy", g_dir);
    cr_assert_eq(mbpls_read_npy(p, 0, &ts.d, &ts.r, &ts.c, &err), 0, "%s", err.msg);
    snprintf(p, sizeof p, "%s/y.npy", g_dir);
    cr_assert_eq(mbpls_read_npy(p, 0, &yh.d, &yh.r, &yh.c, &err), 0, "%s", err.msg);
    /* the fixture's signs are +1 (checked in parity_*); no flip is allowed through the file either */
    double one[2] = {1, 1};
    check_attr("nostd_f32", "transform", ts.d, ts.r, ts.c, one);
    check_attr("nostd_f32", "predict", yh.d, yh.r, yh.c, NULL);
    free(ts.d), free(yh.d);
    /* the model file's names and metadata */
    MbplsModel m;
    snprintf(p, sizeof p, "%s/m.safetensors", g_dir);
    cr_assert_eq(mbpls_load(&m, p, "", &err), 0, "%s", err.msg);
    cr_assert_eq(m.standardize, 0);
    cr_assert_eq(m.n_blocks, 2);
    mbpls_free(&m);
}

static void write_mat(const char *name, const double *d, int64_t r, int64_t c) {
    char p[512];
    snprintf(p, sizeof p, "%s/%s", g_dir, name);
    SercErr err = {{0}};
    cr_assert_eq(mbpls_write_npy(p, d, r, c, &err), 0, "%s", err.msg);
}

static void write_f32(const char *name, int ndim, const int64_t *shape, SercDType dt) {
    char p[512];
    snprintf(p, sizeof p, "%s/%s", g_dir, name);
    int64_t numel = 1;
    for (int i = 0; i < ndim; i++) numel *= shape[i];
    void *d = calloc((size_t)(numel ? numel : 1), 8);
    SercErr err = {{0}};
    cr_assert_eq(npy_write(p, dt, ndim, shape, d, &err), 0, "%s", err.msg);
    free(d);
}

typedef struct BadCli {
    const char *what, *args;
    int status;
    const char *expect;
} BadCli;

Test(mbpls, bad_input_cli) {
    make_dir();
    Mat a = load("bad", "small0"), b = load("bad", "small1"), y = load("bad", "smallY");
    write_mat("a.npy", a.d, 6, 2);
    write_mat("b.npy", b.d, 6, 2);
    write_mat("y.npy", y.d, 6, 1);
    write_mat("short.npy", b.d, 5, 2);
    write_mat("yshort.npy", y.d, 4, 1);
    b.d[3] = NAN;
    write_mat("nan.npy", b.d, 6, 2);
    write_f32("empty.npy", 2, (int64_t[]){6, 0}, SERC_F32);
    write_f32("cube.npy", 3, (int64_t[]){6, 2, 2}, SERC_F32);
    write_f32("vec.npy", 1, (int64_t[]){6}, SERC_F32);
    write_f32("int.npy", 2, (int64_t[]){6, 2}, SERC_I64);
    double wide[18] = {0};
    write_mat("wide.npy", wide, 6, 3);
    const BadCli cases[] = {
        {"different row counts", "fit --block a.npy --block short.npy --response y.npy --components 2 --out m.st", 1,
         "short.npy has 5 rows but a.npy has 6"},
        {"NaN", "fit --block a.npy --block nan.npy --response y.npy --components 2 --out m.st", 1,
         "nan.npy: row 1, column 1 is NaN"},
        {"K above the rank", "fit --block a.npy --block b.npy --response y.npy --components 5 --out m.st", 1,
         "components=5 is above the rank"},
        {"empty block", "fit --block a.npy --block empty.npy --response y.npy --components 1 --out m.st", 1,
         "empty.npy: the block is empty"},
        {"response rows", "fit --block a.npy --block b.npy --response yshort.npy --components 1 --out m.st", 1,
         "yshort.npy has 4 rows but the blocks have 6"},
        {"3-D block", "fit --block cube.npy --response y.npy --components 1 --out m.st", 1,
         "cube.npy: expected a 2-D array (samples x features), got 3-D"},
        {"1-D block", "fit --block vec.npy --response y.npy --components 1 --out m.st", 1, "vec.npy: expected a 2-D array"},
        {"3-D response", "fit --block a.npy --response cube.npy --components 1 --out m.st", 1,
         "cube.npy: expected a 2-D array"},
        {"int64 block", "fit --block int.npy --response y.npy --components 1 --out m.st", 1,
         "int.npy: dtype I64; mbpls reads float32 or float64"},
        {"missing file", "fit --block nothere.npy --response y.npy --components 1 --out m.st", 1, "nothere.npy"},
        {"K = 0", "fit --block a.npy --response y.npy --components 0 --out m.st", 2, "--components must be at least 1"},
        {"no K", "fit --block a.npy --response y.npy --out m.st", 2, "--components is required"},
        {"no response", "fit --block a.npy --components 1 --out m.st", 2, "--response is required"},
        {"unknown subcommand", "fitt --block a.npy", 2, "unknown subcommand 'fitt'"},
        {"transform: model missing", "transform --model none.st --block a.npy --out t.npy", 1, "none.st"},
        {"transform: not a model", "transform --model a.npy --block a.npy --out t.npy", 1, "a.npy"},
    };
    for (size_t t = 0; t < sizeof cases / sizeof cases[0]; t++) {
        int st = run_serc(cases[t].args);
        const char *e = read_text("err.txt");
        cr_assert_eq(st, cases[t].status, "%s: exit %d (%s)", cases[t].what, st, e);
        cr_assert(strstr(e, cases[t].expect), "%s: stderr '%s' lacks '%s'", cases[t].what, e, cases[t].expect);
        char p[512];
        snprintf(p, sizeof p, "%s/m.st", g_dir);
        cr_assert(access(p, F_OK) != 0, "%s: an output was written", cases[t].what);
    }
    /* transform with the wrong blocks */
    cr_assert_eq(run_serc("fit --block a.npy --block b.npy --response y.npy --components 2 --out m.safetensors"), 0, "%s",
                 read_text("err.txt"));
    cr_assert_eq(run_serc("transform --model m.safetensors --block a.npy --out t.npy"), 1);
    cr_assert(strstr(read_text("err.txt"), "m.safetensors was fitted on 2 blocks, 1 given"), "%s", read_text("err.txt"));
    cr_assert_eq(run_serc("transform --model m.safetensors --block a.npy --block wide.npy --out t.npy"), 1);
    cr_assert(strstr(read_text("err.txt"), "wide.npy has 3 features but block 1 of m.safetensors has 2"), "%s",
              read_text("err.txt"));
    cr_assert_eq(run_serc("transform --model m.safetensors --block a.npy --block nan.npy --out t.npy"), 1);
    cr_assert(strstr(read_text("err.txt"), "nan.npy: row 1, column 1 is NaN"), "%s", read_text("err.txt"));
    free(a.d), free(b.d), free(y.d);
}

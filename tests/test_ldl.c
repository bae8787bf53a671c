/* Label-distribution learning (issue 13): the EM2LDL loss KL + w (1 - cos) against PyTorch fixtures and
 * finite differences, the six LDL metrics against a direct numpy computation, and a training run with
 * the loss.ldl term.
 *
 * Fixtures: tests/fixtures/ldl/ldl.json from tests/fixtures/make_ldl_fixtures.py (torch 1.13).
 */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "losses.h"
#include "metrics.h"
#include "opcheck.h"
#include "testutil.h"
#include "trainer.h"

#define LDL_FIXTURE SERC_FIXTURES_DIR "/ldl/ldl.json"

static JsonValue *load_fixture(char **text) {
    size_t n = 0;
    *text = test_read_file(LDL_FIXTURE, &n);
    cr_assert(*text, "cannot read %s (run tests/fixtures/make_ldl_fixtures.py)", LDL_FIXTURE);
    SercErr err = {{0}};
    JsonValue *v = json_parse(*text, n, &err);
    cr_assert(v, "%s: %s", LDL_FIXTURE, err.msg);
    return v;
}

/* An arena f32 tensor from {"shape": [...], "data": [...]}. */
static Tensor *fixture_f32(Ctx *g, const JsonValue *v) {
    cr_assert(v);
    const JsonValue *shape = json_get(v, "shape"), *data = json_get(v, "data");
    int64_t sh[SERC_MAX_DIMS];
    int nd = (int)json_len(shape);
    for (int d = 0; d < nd; d++) sh[d] = json_int(json_at(shape, (size_t)d));
    Tensor *t = tensor_empty(g, SERC_F32, nd, sh);
    cr_assert_eq((int64_t)json_len(data), tensor_numel(t));
    for (int64_t i = 0; i < tensor_numel(t); i++) tensor_f32(t)[i] = (float)json_number(json_at(data, (size_t)i));
    return t;
}

static void expect_close(const char *what, const char *name, double ours, double ref, double rtol, double atol) {
    cr_expect(fabs(ours - ref) <= atol + rtol * fabs(ref), "%s: %s: ours %.9g, reference %.9g", name, what, ours, ref);
}

Test(ldl, loss_matches_pytorch) {
    char *text;
    JsonValue *fx = load_fixture(&text);
    const JsonValue *cases = json_get(fx, "cases");
    int n = 0;
    for (size_t i = 0; i < json_len(cases); i++) {
        const JsonValue *c = json_at(cases, i);
        if (strcmp(json_string(json_get(c, "kind")), "loss")) continue;
        const char *name = json_string(json_get(c, "name"));
        Ctx *g = ctx_new(1);
        ctx_step_begin(g);
        Tensor *z = fixture_f32(g, json_get(c, "logits")), *t = fixture_f32(g, json_get(c, "targets"));
        z->requires_grad = 1;
        float w = (float)json_number(json_get(c, "cos_weight"));
        Tensor *loss = loss_ldl(g, z, t, w);
        expect_close("value", name, tensor_f32(loss)[0], json_number(json_get(c, "value")), 1e-4, 1e-6);
        Tensor *cosl = loss_ldl_cosine(g, z, t);
        expect_close("1 - cos", name, tensor_f32(cosl)[0], json_number(json_get(c, "cosine")), 1e-4, 1e-6);
        serc_backward(g, loss, NULL);
        const float *gz = tensor_f32(z->grad);
        const JsonValue *gd = json_get(json_get(c, "grad"), "data");
        cr_assert_eq((int64_t)json_len(gd), tensor_numel(z));
        for (int64_t k = 0; k < tensor_numel(z); k++)
            expect_close("d loss / d logits", name, gz[k], json_number(json_at(gd, (size_t)k)), 1e-4, 1e-6);
        ctx_free(g);
        n++;
    }
    cr_expect_eq(n, 4);
    json_free(fx);
    free(text);
}

Test(ldl, metrics_match_numpy) {
    char *text;
    JsonValue *fx = load_fixture(&text);
    const JsonValue *cases = json_get(fx, "cases");
    int n = 0;
    for (size_t i = 0; i < json_len(cases); i++) {
        const JsonValue *c = json_at(cases, i);
        if (strcmp(json_string(json_get(c, "kind")), "metrics")) continue;
        const char *name = json_string(json_get(c, "name"));
        Ctx *g = ctx_new(1);
        ctx_step_begin(g);
        Tensor *P = fixture_f32(g, json_get(c, "truth")), *Q = fixture_f32(g, json_get(c, "pred"));
        int64_t N = P->shape[0];
        int L = (int)P->shape[1];
        LdlMetrics m;
        ldl_metrics(tensor_f32(P), tensor_f32(Q), N, L, &m);
        const char *keys[6] = {"kl", "chebyshev", "clark", "canberra", "cosine", "intersection"};
        double ours[6] = {m.kl, m.chebyshev, m.clark, m.canberra, m.cosine, m.intersection};
        for (int k = 0; k < 6; k++) expect_close(keys[k], name, ours[k], json_number(json_get(c, keys[k])), 1e-5, 1e-7);
        if (json_get(c, "logits")) {
            /* the same scores from the logits: softmax inside */
            Tensor *z = fixture_f32(g, json_get(c, "logits"));
            LdlMetrics ml;
            ldl_metrics_logits(tensor_f32(P), tensor_f32(z), N, L, &ml);
            double o2[6] = {ml.kl, ml.chebyshev, ml.clark, ml.canberra, ml.cosine, ml.intersection};
            for (int k = 0; k < 6; k++)
                expect_close(keys[k], "from logits", o2[k], json_number(json_get(c, keys[k])), 1e-5, 1e-7);
        }
        ctx_free(g);
        n++;
    }
    cr_expect_eq(n, 3);
    json_free(fx);
    free(text);
}

Test(ldl, perfect_prediction_scores_best) {
    const float P[6] = {0.2f, 0.3f, 0.5f, 0.0f, 1.0f, 0.0f};
    LdlMetrics m;
    ldl_metrics(P, P, 2, 3, &m);
    cr_expect_float_eq(m.kl, 0.0, 1e-12);
    cr_expect_float_eq(m.chebyshev, 0.0, 1e-12);
    cr_expect_float_eq(m.clark, 0.0, 1e-12);
    cr_expect_float_eq(m.canberra, 0.0, 1e-12);
    cr_expect_float_eq(m.cosine, 1.0, 1e-7);
    cr_expect_float_eq(m.intersection, 1.0, 1e-7);
}

/* ---- finite differences (opcheck): the cosine term and the whole loss ---- */

static void ref_softmax(const double *z, int64_t C, double *p) {
    double mx = z[0], s = 0;
    for (int64_t c = 1; c < C; c++) mx = z[c] > mx ? z[c] : mx;
    for (int64_t c = 0; c < C; c++) s += exp(z[c] - mx);
    for (int64_t c = 0; c < C; c++) p[c] = exp(z[c] - mx) / s;
}

/* in[1] is drawn in [0.05, 1) and normalised to a distribution per row here and in the build */
static void ref_ldl(const double *const *in, const InputSpec *s, const void *attr, double *out, int64_t n) {
    (void)n;
    double w = *(const double *)attr;
    int64_t B = s[0].shape[0], C = s[0].shape[1];
    double acc = 0;
    for (int64_t b = 0; b < B; b++) {
        double p[64], t[64], ts = 0, kl = 0, dot = 0, np = 0, nt = 0;
        ref_softmax(in[0] + b * C, C, p);
        for (int64_t c = 0; c < C; c++) ts += in[1][b * C + c];
        for (int64_t c = 0; c < C; c++) t[c] = (double)(float)(in[1][b * C + c] / ts);
        for (int64_t c = 0; c < C; c++) {
            if (t[c] > 0) kl += t[c] * (log(t[c]) - log(p[c]));
            dot += p[c] * t[c], np += p[c] * p[c], nt += t[c] * t[c];
        }
        acc += (w < 0 ? 0 : kl) + fabs(w) * (1.0 - dot / sqrt(np * nt));
    }
    out[0] = acc / (double)B;
}

static Tensor *normalised_target(Ctx *g, Tensor *raw) {
    int64_t B = raw->shape[0], C = raw->shape[1];
    Tensor *t = tensor_empty(g, SERC_F32, SHAPE(B, C));
    for (int64_t b = 0; b < B; b++) {
        double s = 0;
        for (int64_t c = 0; c < C; c++) s += tensor_f32(raw)[b * C + c];
        for (int64_t c = 0; c < C; c++) tensor_f32(t)[b * C + c] = (float)(tensor_f32(raw)[b * C + c] / s);
    }
    return t;
}

/* attr w >= 0: loss_ldl with cos weight w; w < 0: loss_ldl_cosine alone scaled by |w| = 1 */
static Tensor *build_ldl(Ctx *g, Tensor *const *in, const void *attr) {
    double w = *(const double *)attr;
    Tensor *t = normalised_target(g, in[1]);
    return w < 0 ? loss_ldl_cosine(g, in[0], t) : loss_ldl(g, in[0], t, (float)w);
}

static const double W_COS_ONLY = -1.0, W_03 = 0.3, W_2 = 2.0;
static const OpCase cases[] = {
    OPCASE("cosine (4, 5)", build_ldl, ref_ldl, &W_COS_ONLY, 2, REALR(-2, 2, 4, 5), CONSTR(0.05, 1, 4, 5)),
    OPCASE("ldl w0.3 (3, 8)", build_ldl, ref_ldl, &W_03, 2, REALR(-2, 2, 3, 8), CONSTR(0.05, 1, 3, 8)),
    OPCASE("ldl w2 (2, 32)", build_ldl, ref_ldl, &W_2, 2, REALR(-3, 3, 2, 32), CONSTR(0.05, 1, 2, 32)),
};
OPCHECK_TABLE(ldl, finite_differences, cases)

/* ---- training with loss.ldl ---- */

static char corpus[] = "/tmp/serc-ldl-XXXXXX";
static void render(void) { test_render_small_corpus(corpus); }

Test(ldl, training_with_the_ldl_term, .init = render, .timeout = 0) {
    char out[600], mpath[700];
    snprintf(out, sizeof out, "%s/run-ldl", corpus);
    snprintf(mpath, sizeof mpath, "%s/metrics.jsonl", out);
    const char *extra[] = {"loss.ce=0.0", "loss.focal=0.0", "loss.center=0.0", "loss.ldl=1.0", "loss.ldl_cos=0.3",
                           "optim.epochs=1", NULL};
    TrainConfig cfg;
    test_small_train_config(&cfg, corpus, out, extra);
    SercErr err;
    FILE *null = fopen("/dev/null", "w");
    TrainOptions opt = {NULL, 0, 1, null};
    TrainResult res;
    cr_assert_eq(train_run(&cfg, &opt, &res, &err), 0, "%s", err.msg);
    cr_expect_eq(res.epochs_done, 1);
    char *log = test_read_file(mpath, NULL);
    cr_assert(log);
    cr_expect(strstr(log, "\"event\": \"epoch\""));
    free(log);
    train_result_free(&res);
    config_free(&cfg);
    fclose(null);
}

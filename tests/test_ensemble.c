/* The uncertainty-aware ensemble (train/ensemble.h): the objective's gradient against central
 * differences, the fit on synthetic members (a noisy member and a useless one get lower reliabilities
 * than an accurate one; members confident on different halves give beta > 0 and weight the confident
 * one), the fitted NLL never above plain averaging's on the dev set it was fitted on, members missing
 * for some utterances, and `serc ensemble` end to end on tiny MATER and audio-only checkpoints with its
 * bad inputs. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include <criterion/criterion.h>

#include "ensemble.h"
#include "rng.h"
#include "testutil.h"
#include "trainer.h"

/* ---- synthetic members ---- */

/* Targets: a random distribution per utterance, sharp on a random class with probability 0.6 for
 * about half of them (raters agree) and spread otherwise; labels its argmax. */
static void synth_targets(EnsembleData *d, uint64_t seed) {
    const int C = d->C;
    float *u = malloc(sizeof(float) * (size_t)d->n * (C + 1));
    serc_rng_fill_uniform(u, (int64_t)d->n * (C + 1), seed, 0, 0.0f, 1.0f);
    for (int i = 0; i < d->n; i++) {
        float *P = d->target + (int64_t)i * C;
        const float *r = u + (int64_t)i * (C + 1);
        const int k = (int)(r[C] * C) % C;
        double s = 0;
        for (int c = 0; c < C; c++) s += (P[c] = 0.05f + r[c] + (c == k ? (i % 2 ? 6.0f : 1.0f) : 0.0f));
        int best = 0;
        for (int c = 0; c < C; c++) {
            P[c] = (float)(P[c] / s);
            if (P[c] > P[best]) best = c;
        }
        d->label[i] = best;
    }
    free(u);
}

/* Member m's logits: scale * ln P + noise N(0, sd); scale 0 for a member that knows nothing. */
static void synth_member(EnsembleData *d, int m, float scale, float sd, uint64_t seed) {
    const int C = d->C;
    float *e = malloc(sizeof(float) * (size_t)d->n * C);
    serc_rng_fill_normal(e, (int64_t)d->n * C, seed, 0, 0.0f, sd);
    for (int i = 0; i < d->n; i++) {
        for (int c = 0; c < C; c++)
            d->logits[((int64_t)i * d->M + m) * C + c] = scale * logf(d->target[(int64_t)i * C + c]) + e[(int64_t)i * C + c];
        d->avail[(int64_t)i * d->M + m] = 1;
    }
    free(e);
}

Test(ensemble, objective_gradient_matches_central_differences) {
    EnsembleData d;
    ensemble_data_alloc(&d, 40, 3, 5);
    synth_targets(&d, 1);
    synth_member(&d, 0, 1.0f, 0.5f, 2);
    synth_member(&d, 1, 0.5f, 1.5f, 3);
    synth_member(&d, 2, 0.0f, 1.0f, 4);
    for (int i = 0; i < d.n; i += 3) d.avail[(int64_t)i * d.M + 0] = 0; /* member 0 missing on a third */
    EnsembleParams p;
    ensemble_params_plain(&p, 3);
    const double a[3] = {0.3, -0.2, 0.5}, t[3] = {0.2, -0.4, 0.1};
    for (int m = 0; m < 3; m++) p.a[m] = a[m], p.t[m] = t[m];
    p.beta = 1.7;
    double ga[3], gt[3], gb;
    ensemble_objective(&d, &p, ga, gt, &gb);
    const double h = 1e-5;
    for (int k = 0; k < 7; k++) {
        double *v = k < 3 ? &p.a[k] : k < 6 ? &p.t[k - 3] : &p.beta, ana = k < 3 ? ga[k] : k < 6 ? gt[k - 3] : gb;
        const double save = *v;
        *v = save + h;
        const double lp = ensemble_objective(&d, &p, NULL, NULL, NULL);
        *v = save - h;
        const double lm = ensemble_objective(&d, &p, NULL, NULL, NULL);
        *v = save;
        const double num = (lp - lm) / (2 * h);
        cr_expect(fabs(num - ana) < 1e-6 + 1e-5 * fabs(num), "parameter %d: analytic %.9g, numeric %.9g", k, ana, num);
    }
    ensemble_data_free(&d);
}

Test(ensemble, fit_recovers_reliabilities_and_beats_plain_averaging_on_dev) {
    EnsembleData d;
    ensemble_data_alloc(&d, 1500, 3, 4);
    synth_targets(&d, 11);
    synth_member(&d, 0, 1.0f, 0.2f, 12); /* accurate */
    synth_member(&d, 1, 1.0f, 2.0f, 13); /* noisy */
    synth_member(&d, 2, 0.0f, 1.5f, 14); /* knows nothing */
    EnsembleReport r;
    SercErr err;
    cr_assert_eq(ensemble_run(&d, &d, &r, &err), 0, "%s", err.msg);
    const double *a = r.uncertainty.a;
    fprintf(stderr, "synthetic: a %.3f %.3f %.3f, T %.3f %.3f %.3f, beta %.3f; dev NLL plain %.4f, calibrated %.4f, "
                    "uncertainty %.4f\n", a[0], a[1], a[2], exp(r.uncertainty.t[0]), exp(r.uncertainty.t[1]),
            exp(r.uncertainty.t[2]), r.uncertainty.beta, r.dev_nll[0], r.dev_nll[1], r.dev_nll[2]);
    cr_expect_gt(a[0], a[1] + 0.5, "accurate %.3f, noisy %.3f", a[0], a[1]);
    cr_expect_gt(a[0], a[2] + 0.5, "accurate %.3f, useless %.3f", a[0], a[2]);
    cr_expect_gt(r.mean_weight[0], 0.6, "the accurate member's mean weight %.3f", r.mean_weight[0]);
    cr_expect_leq(r.dev_nll[1], r.dev_nll[0] + 1e-12);
    cr_expect_leq(r.dev_nll[2], r.dev_nll[1] + 1e-12);
    cr_expect_lt(r.dev_nll[2], r.dev_nll[0] - 0.05, "uncertainty %.4f, plain %.4f", r.dev_nll[2], r.dev_nll[0]);
    /* the same on test (the scores as ensemble_run reports them) */
    cr_expect_lt(r.test[3][0].nll, r.test[1][0].nll);
    cr_expect_geq(r.test[3][0].ua, r.test[1][0].ua - 1e-12);
    ensemble_data_free(&d);
}

/* Two members equally reliable overall, each confident and right on its half and near uniform on the
 * other: only the entropy tells them apart, so beta > 0 and the confident member takes the weight. */
Test(ensemble, entropy_weighting_prefers_the_confident_member) {
    EnsembleData d;
    ensemble_data_alloc(&d, 1000, 2, 4);
    synth_targets(&d, 21);
    synth_member(&d, 0, 3.0f, 0.3f, 22);
    synth_member(&d, 1, 3.0f, 0.3f, 23);
    float *noise = malloc(sizeof(float) * (size_t)d.n * d.C);
    serc_rng_fill_normal(noise, (int64_t)d.n * d.C, 24, 0, 0.0f, 0.2f);
    for (int i = 0; i < d.n; i++) {
        const int unsure = (i / 2) % 2; /* member `unsure` knows nothing about utterance i */
        for (int c = 0; c < d.C; c++) d.logits[((int64_t)i * 2 + unsure) * d.C + c] = noise[(int64_t)i * d.C + c];
    }
    free(noise);
    EnsembleReport r;
    SercErr err;
    cr_assert_eq(ensemble_run(&d, &d, &r, &err), 0, "%s", err.msg);
    cr_expect_gt(r.uncertainty.beta, 1.0, "beta %.3f", r.uncertainty.beta);
    cr_expect(fabs(r.uncertainty.a[0] - r.uncertainty.a[1]) < 0.3, "a %.3f %.3f", r.uncertainty.a[0], r.uncertainty.a[1]);
    cr_expect_lt(r.dev_nll[2], r.dev_nll[1] - 0.05, "uncertainty %.4f, calibrated %.4f", r.dev_nll[2], r.dev_nll[1]);
    int right = 0;
    for (int i = 0; i < d.n; i++) {
        double q[4], w[2];
        ensemble_predict(&d, &r.uncertainty, i, q, w);
        cr_expect(fabs(w[0] + w[1] - 1.0) < 1e-12);
        right += w[1 - (i / 2) % 2] > 0.5;
    }
    cr_expect_gt(right, d.n * 9 / 10, "the confident member outweighs the other on %d of %d", right, d.n);
    ensemble_data_free(&d);
}

/* Random members of every kind, several seeds: the fitted NLL on dev never exceeds plain averaging's;
 * a member missing for an utterance has weight 0 there and the weights sum to 1. */
Test(ensemble, never_worse_than_plain_averaging_on_dev_and_missing_members) {
    for (uint64_t seed = 0; seed < 6; seed++) {
        EnsembleData d;
        const int M = 2 + (int)(seed % 4);
        ensemble_data_alloc(&d, 200, M, 3 + (int)(seed % 3));
        synth_targets(&d, 100 + seed);
        for (int m = 0; m < M; m++) synth_member(&d, m, (float)(m % 3) * 0.7f, 0.3f + (float)m, 200 + 10 * seed + m);
        for (int i = 0; i < d.n; i += 4) d.avail[(int64_t)i * M + (i / 4) % M] = 0;
        EnsembleReport r;
        SercErr err;
        cr_assert_eq(ensemble_run(&d, &d, &r, &err), 0, "%s", err.msg);
        cr_expect_leq(r.dev_nll[2], r.dev_nll[0] + 1e-12, "seed %llu: uncertainty %.6f, plain %.6f", (unsigned long long)seed,
                      r.dev_nll[2], r.dev_nll[0]);
        cr_expect_leq(r.dev_nll[1], r.dev_nll[0] + 1e-12);
        cr_expect_geq(r.uncertainty.beta, 0.0);
        double q[8], w[8];
        for (int i = 0; i < d.n; i++) {
            ensemble_predict(&d, &r.uncertainty, i, q, w);
            double sw = 0, sq = 0;
            for (int m = 0; m < M; m++) {
                if (!d.avail[(int64_t)i * M + m]) cr_expect_eq(w[m], 0.0);
                sw += w[m];
            }
            for (int c = 0; c < d.C; c++) sq += q[c];
            cr_expect(fabs(sw - 1) < 1e-12 && fabs(sq - 1) < 1e-9);
        }
        ensemble_data_free(&d);
    }
}

Test(ensemble, scores_on_the_disagreement_subset) {
    EnsembleData d;
    ensemble_data_alloc(&d, 3, 1, 2);
    const float P[3][2] = {{1.0f, 0.0f}, {0.5f, 0.5f}, {0.2f, 0.8f}};
    const int32_t lab[3] = {0, 0, 1};
    double q[6] = {0.9, 0.1, 0.7, 0.3, 0.4, 0.6};
    for (int i = 0; i < 3; i++) {
        memcpy(d.target + 2 * i, P[i], sizeof P[i]);
        d.label[i] = lab[i];
    }
    EnsembleScore all, dis;
    ensemble_score(&d, q, 0, NULL, &all);
    ensemble_score(&d, q, 1, NULL, &dis);
    cr_expect_eq(all.n, 3);
    cr_expect_eq(dis.n, 1); /* only the 0.5/0.5 utterance has no 60% majority */
    const double nll1 = -(0.5 * log(0.7) + 0.5 * log(0.3));
    cr_expect(fabs(dis.nll - nll1) < 1e-12);
    cr_expect(fabs(dis.kl - (nll1 - log(2.0))) < 1e-12);
    const double nll_all = (-log(0.9) + nll1 - (0.2 * log(0.4) + 0.8 * log(0.6))) / 3;
    cr_expect(fabs(all.nll - nll_all) < 1e-6); /* P in float */
    cr_expect(fabs(all.wa - 1.0) < 1e-12);
    ensemble_data_free(&d);
}

/* ---- the command end to end ---- */

#define TINY_BERT SERC_FIXTURES_DIR "/text/tiny_bert"
static char corpus[] = "/tmp/serc-ensemble-XXXXXX";

static void train_tiny(const char *name, const char *const *extra) {
    char out[600];
    snprintf(out, sizeof out, "%s/run-%s", corpus, name);
    test_train_small(corpus, out, extra);
}

static void setup(void) {
    test_render_small_corpus(corpus);
    static const char *const mater[] = {"model.text_encoder=" TINY_BERT, "model.mater_dim=16", "model.mater_heads=2",
                                        "loss.center=0", "optim.epochs=1", NULL};
    train_tiny("mater", mater);
    static const char *const audio[] = {"optim.epochs=1", NULL};
    train_tiny("audio", audio);
}
static void teardown(void) { test_remove_tree(corpus); }

static int run_ensemble(const char *args) {
    char a[4096];
    snprintf(a, sizeof a, "ensemble %s", args);
    return test_run_serc(corpus, a);
}
static char *slurp(const char *name) {
    char p[800];
    snprintf(p, sizeof p, "%s/%s", corpus, name);
    return test_read_file(p, NULL);
}

Test(ensemble, command_end_to_end_and_bad_inputs, .init = setup, .fini = teardown, .timeout = 0) {
    char args[3000];
    snprintf(args, sizeof args, "--ckpt run-mater/best.safetensors --dev dev.jsonl --test test.jsonl --out ens");
    cr_assert_eq(run_ensemble(args), 0, "%s", slurp("err.txt"));
    char *md = slurp("ens/ensemble.md"), *json = slurp("ens/ensemble.json"), *out = slurp("out.txt");
    cr_expect(strstr(out, "| uncertainty-weighted | all |") && strstr(out, "raters disagree"), "%s", out);
    cr_expect(strstr(md, "| plain average | all |"), "%s", md);
    SercErr err;
    JsonValue *j = json_parse(json, strlen(json), &err);
    cr_assert(j, "%s: %s", err.msg, json);
    const JsonValue *members = json_get(j, "members");
    cr_assert(members && json_type(members) == JSON_ARRAY);
    static const char *const heads[] = {"word", "utterance", "embedding", "audio", "text"};
    cr_assert_eq(json_len(members), 5);
    double rsum = 0;
    for (int m = 0; m < 5; m++) {
        cr_expect_str_eq(json_string(json_get(json_at(members, (size_t)m), "name")), heads[m]);
        rsum += json_number(json_get(json_at(members, (size_t)m), "reliability"));
    }
    cr_expect(fabs(rsum - 1) < 1e-4, "reliabilities sum to %g", rsum);
    const JsonValue *dn = json_get(j, "dev_nll");
    cr_expect_leq(json_number(json_get(dn, "uncertainty")), json_number(json_get(dn, "plain")) + 1e-6);
    const JsonValue *ts = json_get(json_get(j, "test_scores"), "all");
    cr_expect_gt(json_number(json_get(json_get(ts, "uncertainty"), "n")), 0);
    cr_expect(json_get(ts, "model_output") && json_get(ts, "plain") && json_get(ts, "calibrated"));
    json_free(j);
    free(md), free(json), free(out);

    /* two checkpoints: MATER's five heads and the audio-only model's output */
    snprintf(args, sizeof args, "--ckpt run-mater/best.safetensors --ckpt run-audio/best.safetensors --dev dev.jsonl "
                                "--test test.jsonl --out ens2 --workers 0");
    cr_assert_eq(run_ensemble(args), 0, "%s", slurp("err.txt"));
    json = slurp("ens2/ensemble.json");
    cr_expect(strstr(json, "\"name\": \"1:word\"") && strstr(json, "\"name\": \"2:output\""), "%s", json);
    free(json);

    /* bad inputs */
    static const struct {
        const char *args;
        int rc;
        const char *want;
    } bad[] = {
        {"--dev dev.jsonl --test test.jsonl", 2, "--ckpt is required"},
        {"--ckpt run-mater/best.safetensors --test test.jsonl", 2, "--dev and --test"},
        {"--ckpt run-mater/best.safetensors --dev dev.jsonl --test test.jsonl --frobnicate", 2, "--frobnicate"},
        {"--ckpt absent.safetensors --dev dev.jsonl --test test.jsonl", 1, "absent.safetensors"},
        {"--ckpt run-mater/best.safetensors --dev absent.jsonl --test test.jsonl", 1, "absent.jsonl"},
        {"--ckpt run-mater/best.safetensors --dev bored.jsonl --test test.jsonl", 1, "no utterance with a label"},
        {"--ckpt run-mater/best.safetensors --dev broken.jsonl --test test.jsonl", 1, "broken.jsonl:1"},
    };
    /* a manifest whose only class the checkpoints do not know, and a broken one */
    char *t = slurp("test.jsonl");
    char *nl = strchr(t, '\n');
    *nl = '\0';
    char line[8192];
    char *lab = strstr(t, "\"label\":\"");
    cr_assert(lab);
    char *end = strstr(t, "\"arousal\"");
    cr_assert(end);
    snprintf(line, sizeof line, "%.*s\"label\":\"bored\",\"label_dist\":{\"bored\":1},%s\n", (int)(lab - t), t, end);
    test_put_file(corpus, "bored.jsonl", line);
    test_put_file(corpus, "broken.jsonl", "{\"id\": \"x\", \"audio\": \n");
    free(t);
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        int rc = run_ensemble(bad[k].args);
        char *e = slurp("err.txt");
        cr_expect_eq(rc, bad[k].rc, "%s: exit %d: %s", bad[k].args, rc, e);
        cr_expect(strstr(e, bad[k].want), "%s: want '%s' in: %s", bad[k].args, bad[k].want, e);
        free(e);
    }
}

/* AdamW against torch.optim.AdamW (fixture), learning-rate schedules, and checkpoints: bitwise round
 * trip and a table of bad checkpoints each rejected with the file and the tensor named. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "checkpoint.h"
#include "json.h"
#include "optim.h"
#include "safetensors.h"
#include "testutil.h"

static void json_floats(const JsonValue *arr, float *out, size_t n) {
    cr_assert_eq(json_len(arr), n);
    for (size_t i = 0; i < n; i++) out[i] = (float)json_number(json_at(arr, i));
}

Test(adamw, matches_torch_with_groups) {
    size_t len;
    char *buf = test_read_file(SERC_FIXTURES_DIR "/optim/adamw.json", &len);
    SercErr err;
    JsonValue *j = json_parse(buf, len, &err);
    cr_assert_not_null(j, "%s", err.msg);
    float p[7], g[7], want[7];
    json_floats(json_get(j, "params"), p, 7);
    json_floats(json_get(j, "result"), want, 7);
    AdamW o;
    adamw_init(&o, 7, (float)json_number(json_get(j, "lr")), (float)json_number(json_get(j, "weight_decay")));
    adamw_add_group(&o, 5, 2, (float)(json_number(json_get(j, "group_lr")) / json_number(json_get(j, "lr"))),
                    (float)json_number(json_get(j, "group_weight_decay")));
    const JsonValue *grads = json_get(j, "grads");
    for (size_t s = 0; s < json_len(grads); s++) {
        json_floats(json_at(grads, s), g, 7);
        adamw_step(&o, p, g);
    }
    for (int i = 0; i < 7; i++) cr_expect(fabsf(p[i] - want[i]) < 2e-6f * fmaxf(1.0f, fabsf(want[i])), "param %d: %.8g vs torch %.8g", i, p[i], want[i]);
    adamw_free(&o);
    json_free(j);
    free(buf);
}

Test(lr_schedule, warmup_exp_cosine) {
    LrSchedule s = {LR_EXP, 1e-3, 0.875, 10, 1000};
    cr_expect(fabs(lr_schedule_at(&s, 0, 0) - 1e-4) < 1e-12);
    cr_expect(fabs(lr_schedule_at(&s, 9, 0) - 1e-3) < 1e-12);
    cr_expect(fabs(lr_schedule_at(&s, 500, 3) - 1e-3 * 0.875 * 0.875 * 0.875) < 1e-12);
    LrSchedule c = {LR_COSINE, 2.0, 0, 0, 100};
    cr_expect(fabs(lr_schedule_at(&c, 0, 0) - 2.0) < 1e-12);
    cr_expect(fabs(lr_schedule_at(&c, 50, 0) - 1.0) < 1e-12);
    cr_expect(fabs(lr_schedule_at(&c, 100, 0)) < 1e-12);
    LrSchedule k = {LR_CONSTANT, 0.5, 0, 0, 0};
    cr_expect_eq(lr_schedule_at(&k, 77, 5), 0.5);
}

/* A small model: two parameters and a buffer. */
static ParamStore *model(int wide) {
    ParamStore *ps = params_new();
    params_add(ps, "encoder.weight", SHAPE(3, wide ? 5 : 4));
    params_add(ps, "encoder.bias", SHAPE(3));
    params_add_buffer(ps, "bn.running_mean", SHAPE(2));
    params_finalize(ps);
    for (int i = 0; i < params_len(ps); i++) {
        Tensor *t = params_at(ps, i);
        for (int64_t k = 0; k < tensor_numel(t); k++) tensor_f32(t)[k] = (float)(0.1 * i + 0.01 * (double)k - 0.3);
    }
    return ps;
}

static char tmpdir[] = "/tmp/serc-ckpt-XXXXXX";

static void setup(void) { cr_assert_not_null(mkdtemp(tmpdir)); }

Test(checkpoint, round_trip_is_bitwise, .init = setup) {
    ParamStore *a = model(0);
    AdamW o;
    adamw_init(&o, params_count(a), 1e-3f, 0.01f);
    for (int64_t i = 0; i < o.n; i++) {
        o.m[i] = (float)i * 0.5f;
        o.v[i] = (float)i * 0.25f;
    }
    o.t = 17;
    CheckpointState st = {3, 9, 120, 987654321012345ull, 0.6125, 2, 1};
    char path[256];
    snprintf(path, sizeof path, "%s/last.safetensors", tmpdir);
    const char *meta[] = {"serc.labels", "[\"neutral\", \"happy\"]", NULL};
    SercErr err;
    cr_assert_eq(checkpoint_save(path, a, &o, &st, meta, &err), 0, "%s", err.msg);

    ParamStore *b = model(0);
    for (int64_t k = 0; k < params_count(b); k++) params_data(b)[k] = 0;
    AdamW o2;
    adamw_init(&o2, params_count(b), 1e-3f, 0.01f);
    CheckpointState st2;
    cr_assert_eq(checkpoint_load(path, b, &o2, &st2, &err), 0, "%s", err.msg);
    cr_expect_eq(memcmp(params_data(a), params_data(b), (size_t)params_count(a) * 4), 0);
    cr_expect_eq(memcmp(params_get(a, "bn.running_mean")->data, params_get(b, "bn.running_mean")->data, 8), 0);
    cr_expect_eq(memcmp(o.m, o2.m, (size_t)o.n * 4), 0);
    cr_expect_eq(memcmp(o.v, o2.v, (size_t)o.n * 4), 0);
    cr_expect_eq(o2.t, 17);
    cr_expect_eq(st2.epoch, 3);
    cr_expect_eq(st2.epoch_batch, 9);
    cr_expect_eq(st2.step, 120);
    cr_expect_eq(st2.rng_offset, 987654321012345ull);
    cr_expect_eq(st2.best_metric, 0.6125);
    cr_expect_eq(st2.best_epoch, 2);
    cr_expect_eq(st2.bad_epochs, 1);
    char *labels = checkpoint_read_meta(path, "serc.labels", &err);
    cr_expect_str_eq(labels, "[\"neutral\", \"happy\"]");
    free(labels);
    cr_expect_null(checkpoint_read_meta(path, "serc.missing", &err));
    adamw_free(&o);
    adamw_free(&o2);
    params_free(a);
    params_free(b);
}

Test(checkpoint, bad_checkpoints_rejected, .init = setup) {
    SercErr err;
    char path[256], other[256];
    ParamStore *a = model(0), *wide = model(1);
    snprintf(path, sizeof path, "%s/a.safetensors", tmpdir);
    snprintf(other, sizeof other, "%s/wide.safetensors", tmpdir);
    CheckpointState st = {0};
    cr_assert_eq(checkpoint_save(path, a, NULL, &st, NULL, &err), 0, "%s", err.msg);
    cr_assert_eq(checkpoint_save(other, wide, NULL, &st, NULL, &err), 0, "%s", err.msg);

    /* shape mismatch names the tensor */
    cr_expect_eq(checkpoint_load(other, a, NULL, NULL, &err), -1);
    cr_expect(strstr(err.msg, other) && strstr(err.msg, "encoder.weight") && strstr(err.msg, "shape"), "%s", err.msg);
    /* optimizer state asked for but absent */
    AdamW o;
    adamw_init(&o, params_count(a), 1e-3f, 0);
    cr_expect_eq(checkpoint_load(path, a, &o, NULL, &err), -1);
    cr_expect(strstr(err.msg, "optimizer.exp_avg") && strstr(err.msg, "missing"), "%s", err.msg);
    adamw_free(&o);
    /* a tensor the model lacks */
    ParamStore *small = params_new();
    params_add(small, "encoder.bias", SHAPE(3));
    params_finalize(small);
    cr_expect_eq(checkpoint_load(path, small, NULL, NULL, &err), -1);
    cr_expect(strstr(err.msg, "encoder.weight") && strstr(err.msg, "not part of this model"), "%s", err.msg);
    /* a model tensor the file lacks */
    ParamStore *big = params_new();
    params_add(big, "encoder.bias", SHAPE(3));
    params_add(big, "decoder.bias", SHAPE(3));
    params_finalize(big);
    cr_expect_eq(checkpoint_load(path, big, NULL, NULL, &err), -1);
    cr_expect(strstr(err.msg, "decoder.bias") && strstr(err.msg, "missing"), "%s", err.msg);
    /* a plain safetensors file without SERC state */
    char plain[256];
    snprintf(plain, sizeof plain, "%s/plain.safetensors", tmpdir);
    float one = 1;
    SafetensorsEntry e = {.name = "encoder.bias", .dtype = SERC_F32, .ndim = 1, .shape = {1}, .data = &one};
    cr_assert_eq(safetensors_write(plain, &e, 1, NULL, &err), 0);
    ParamStore *tiny = params_new();
    params_add(tiny, "encoder.bias", SHAPE(1));
    params_finalize(tiny);
    CheckpointState st2;
    cr_expect_eq(checkpoint_load(plain, tiny, NULL, &st2, &err), -1);
    cr_expect(strstr(err.msg, "not a SERC checkpoint"), "%s", err.msg);
    /* truncated file */
    size_t n;
    char *buf = test_read_file(path, &n);
    FILE *f = fopen(plain, "wb");
    fwrite(buf, 1, n - 5, f);
    fclose(f);
    free(buf);
    cr_expect_eq(checkpoint_load(plain, a, NULL, NULL, &err), -1);
    cr_expect(strstr(err.msg, plain) != NULL, "%s", err.msg);
    /* missing file */
    cr_expect_eq(checkpoint_load("/nonexistent/ckpt.safetensors", a, NULL, NULL, &err), -1);
    cr_expect(strstr(err.msg, "/nonexistent/ckpt.safetensors") != NULL, "%s", err.msg);
    params_free(a);
    params_free(wide);
    params_free(small);
    params_free(big);
    params_free(tiny);
}

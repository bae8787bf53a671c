/* TensorBoard event files: CRC-32C and varint known answers, the exact bytes of an Event, a written
 * file parsed back by the small reader below (framing, both CRCs, field tags and values), and, where
 * python3 has the `tensorboard` package, tests/fixtures/check_tensorboard.py on a hand-written run
 * directory and on a real (stopped and resumed) training run. */
#include <criterion/criterion.h>
#include <glob.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "tensorboard.h"
#include "testutil.h"
#include "trainer.h"

/* ---- known answers ---- */

Test(tensorboard, crc32c_known_answers) {
    cr_expect_eq(tb_crc32c("123456789", 9), 0xE3069283u);
    uint8_t zeros[32] = {0};
    cr_expect_eq(tb_crc32c(zeros, 32), 0x8A9136AAu);
    uint8_t ones[32];
    memset(ones, 0xFF, sizeof ones);
    cr_expect_eq(tb_crc32c(ones, 32), 0x62A8AB43u); /* RFC 3720 B.4 */
    cr_expect_eq(tb_crc32c("", 0), 0u);
    uint32_t c = 0xE3069283u;
    cr_expect_eq(tb_masked_crc(c), (((c >> 15) | (c << 17)) + 0xa282ead8u));
}

static void expect_varint(uint64_t v, const char *hex) {
    uint8_t out[10];
    size_t n = tb_varint(out, v);
    char got[32] = {0};
    for (size_t i = 0; i < n; i++) sprintf(got + 2 * i, "%02x", out[i]);
    cr_expect_str_eq(got, hex, "varint(%llu)", (unsigned long long)v);
}

Test(tensorboard, varint_encoding) {
    expect_varint(0, "00");
    expect_varint(1, "01");
    expect_varint(127, "7f");
    expect_varint(128, "8001");
    expect_varint(300, "ac02");
    expect_varint(16383, "ff7f");
    expect_varint(16384, "808001");
    expect_varint(UINT32_MAX, "ffffffff0f");
    expect_varint((uint64_t)(int64_t)-1, "ffffffffffffffffff01"); /* a negative int64: ten bytes */
}

Test(tensorboard, event_bytes) {
    uint8_t buf[64];
    size_t n = tb_encode_event(buf, sizeof buf, 1.0, 3, "a", 0.5f);
    static const uint8_t want[] = {0x09, 0, 0, 0, 0, 0, 0, 0xf0, 0x3f, /* wall_time 1.0 */
                                   0x10, 0x03,                         /* step 3 */
                                   0x2a, 0x0a,                         /* summary, 10 bytes */
                                   0x0a, 0x08,                         /*   value, 8 bytes */
                                   0x0a, 0x01, 'a',                    /*     tag "a" */
                                   0x15, 0, 0, 0, 0x3f};               /*     simple_value 0.5f */
    cr_assert_eq(n, sizeof want);
    cr_expect_eq(memcmp(buf, want, n), 0);
    n = tb_encode_event(buf, sizeof buf, 0.0, 0, NULL, 0);
    cr_assert_eq(n, 9 + 2 + 13);
    cr_expect_eq(buf[9], 0x1a);
    cr_expect_eq(buf[10], 13);
    cr_expect_eq(memcmp(buf + 11, "brain.Event:2", 13), 0);
    cr_expect_eq(tb_encode_event(buf, 10, 1.0, 3, "a", 0.5f), 0u, "too small a buffer");
}

/* ---- a small reader ---- */

static uint32_t crc_bitwise(const uint8_t *p, size_t n) { /* independent of the table */
    uint32_t c = 0xFFFFFFFFu;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++) c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
    }
    return c ^ 0xFFFFFFFFu;
}

static uint64_t le(const uint8_t *p, int bytes) {
    uint64_t v = 0;
    for (int i = bytes - 1; i >= 0; i--) v = v << 8 | p[i];
    return v;
}

static uint64_t get_varint(const uint8_t *p, size_t n, size_t *pos) {
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
        cr_assert_lt(*pos, n, "varint past the end");
        uint8_t b = p[(*pos)++];
        v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) return v;
    }
    cr_assert_fail("varint longer than 10 bytes");
    return 0;
}

typedef struct Ev {
    int has_wall, has_step, has_version, has_value;
    double wall;
    int64_t step;
    char version[32], tag[600];
    float value;
} Ev;

/* Parses one Event; every field must be one this writer uses, with its wire type. */
static void parse_event(const uint8_t *p, size_t n, Ev *e) {
    memset(e, 0, sizeof *e);
    size_t pos = 0;
    while (pos < n) {
        uint64_t key = get_varint(p, n, &pos);
        if (key == 0x09) { /* wall_time, fixed64 */
            cr_assert_leq(pos + 8, n);
            uint64_t bits = le(p + pos, 8);
            memcpy(&e->wall, &bits, 8);
            pos += 8;
            e->has_wall = 1;
        } else if (key == 0x10) { /* step, varint */
            e->step = (int64_t)get_varint(p, n, &pos);
            e->has_step = 1;
        } else if (key == 0x1a) { /* file_version, string */
            uint64_t len = get_varint(p, n, &pos);
            cr_assert(len < sizeof e->version && pos + len <= n);
            memcpy(e->version, p + pos, len);
            pos += len;
            e->has_version = 1;
        } else if (key == 0x2a) { /* summary */
            uint64_t slen = get_varint(p, n, &pos);
            cr_assert_eq(pos + slen, n, "summary is the last field and fills the event");
            cr_assert_eq(get_varint(p, n, &pos), 0x0a, "Summary.value");
            uint64_t vlen = get_varint(p, n, &pos);
            cr_assert_eq(pos + vlen, n, "one value fills the summary");
            cr_assert_eq(get_varint(p, n, &pos), 0x0a, "Value.tag");
            uint64_t tlen = get_varint(p, n, &pos);
            cr_assert(tlen < sizeof e->tag && pos + tlen <= n);
            memcpy(e->tag, p + pos, tlen);
            pos += tlen;
            cr_assert_eq(get_varint(p, n, &pos), 0x15, "Value.simple_value");
            cr_assert_eq(pos + 4, n);
            uint32_t bits = (uint32_t)le(p + pos, 4);
            memcpy(&e->value, &bits, 4);
            pos += 4;
            e->has_value = 1;
        } else {
            cr_assert_fail("unexpected field key 0x%llx", (unsigned long long)key);
        }
    }
}

/* Reads every record of path into evs (at most cap); returns the count. */
static int read_events(const char *path, Ev *evs, int cap) {
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "%s", path);
    int count = 0;
    uint8_t head[12];
    size_t got;
    while ((got = fread(head, 1, 12, f)) == 12) {
        uint64_t len = le(head, 8);
        cr_assert_eq((uint32_t)le(head + 8, 4), tb_masked_crc(crc_bitwise(head, 8)), "record %d: length CRC", count);
        cr_assert_lt(len, 4096u, "record %d: length %llu", count, (unsigned long long)len);
        uint8_t data[4096], tail[4];
        cr_assert_eq(fread(data, 1, len, f), len, "record %d: truncated", count);
        cr_assert_eq(fread(tail, 1, 4, f), 4u, "record %d: no data CRC", count);
        cr_assert_eq((uint32_t)le(tail, 4), tb_masked_crc(crc_bitwise(data, len)), "record %d: data CRC", count);
        cr_assert_lt(count, cap);
        parse_event(data, len, &evs[count++]);
    }
    cr_assert_eq(got, 0u, "trailing bytes");
    fclose(f);
    return count;
}

static int glob_events(const char *dir, glob_t *g) {
    char pat[700];
    snprintf(pat, sizeof pat, "%s/events.out.tfevents.*", dir);
    int r = glob(pat, 0, NULL, g);
    return r == 0 ? (int)g->gl_pathc : 0;
}

static char tmpdir[] = "/tmp/serc-tb-XXXXXX";

static void make_tmp(void) { cr_assert_not_null(mkdtemp(tmpdir)); }

static void remove_dir(const char *dir) {
    char cmd[700];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (strncmp(dir, "/tmp/serc-tb", 12) == 0 && !strchr(dir, '\'') && system(cmd) != 0) fprintf(stderr, "cannot remove %s\n", dir);
}

static void rm_tmp(void) { remove_dir(tmpdir); }

Test(tensorboard, file_parsed_back, .init = make_tmp, .fini = rm_tmp) {
    SercErr err;
    double t0 = (double)time(NULL) - 1;
    TbWriter *w = tb_open(tmpdir, &err);
    cr_assert_not_null(w, "%s", err.msg);
    char long_tag[520];
    memset(long_tag, 'x', sizeof long_tag - 1);
    long_tag[sizeof long_tag - 1] = '\0';
    cr_expect_eq(tb_scalar(w, "train/loss", 1, 2.5), 0);
    cr_expect_eq(tb_scalar(w, "train/lr", 300, 1e-3), 0);
    cr_expect_eq(tb_scalarf(w, 1LL << 40, -7.25, "dev/ccc_%s", "arousal"), 0);
    cr_expect_eq(tb_scalar(w, "neg", -2, 0.0), 0);
    cr_expect_eq(tb_scalar(w, long_tag, 5, 1.0), 0); /* past tb_scalar's stack buffer */
    tb_flush(w);
    cr_expect_not(tb_failed(w));
    char path[600];
    snprintf(path, sizeof path, "%s", tb_path(w));
    tb_close(w);
    cr_expect(strstr(path, "/events.out.tfevents.") && strstr(path, ".serc"), "%s", path);
    cr_expect_eq(tb_scalar(NULL, "x", 0, 0), 0, "a NULL writer does nothing");

    Ev evs[8];
    int n = read_events(path, evs, 8);
    double t1 = (double)time(NULL) + 1;
    cr_assert_eq(n, 6);
    cr_expect(evs[0].has_version && !evs[0].has_value);
    cr_expect_str_eq(evs[0].version, "brain.Event:2");
    struct {
        const char *tag;
        int64_t step;
        float value;
    } want[] = {{"train/loss", 1, 2.5f}, {"train/lr", 300, 1e-3f}, {"dev/ccc_arousal", 1LL << 40, -7.25f},
                {"neg", -2, 0.0f}, {long_tag, 5, 1.0f}};
    for (int i = 0; i < n; i++) {
        cr_expect(evs[i].has_wall && evs[i].wall >= t0 && evs[i].wall <= t1, "wall_time %f", evs[i].wall);
        if (i == 0) continue;
        cr_expect(evs[i].has_step && evs[i].has_value && !evs[i].has_version);
        cr_expect_str_eq(evs[i].tag, want[i - 1].tag);
        cr_expect_eq(evs[i].step, want[i - 1].step);
        cr_expect_eq(evs[i].value, want[i - 1].value);
    }

    /* a second writer in the same second (a resumed run) gets a file of its own */
    TbWriter *w2 = tb_open(tmpdir, &err);
    cr_assert_not_null(w2, "%s", err.msg);
    cr_expect_str_neq(tb_path(w2), path);
    tb_close(w2);
    glob_t g;
    cr_expect_eq(glob_events(tmpdir, &g), 2);
    globfree(&g);
    cr_expect_null(tb_open("/nonexistent/dir", &err));
    cr_expect(strstr(err.msg, "/nonexistent/dir"), "%s", err.msg);
}

/* ---- the committed reader script (PyPI tensorboard) ---- */

static int have_tensorboard(void) { return system("python3 -c 'import tensorboard' >/dev/null 2>&1") == 0; }

static int run_check(const char *dir) {
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "python3 %s/check_tensorboard.py '%s'", SERC_FIXTURES_DIR, dir);
    return system(cmd);
}

/* Scalars through the API and the metrics.jsonl lines that match them, including the ccc tags a
 * categorical training run does not produce; then one value changed must fail the check. */
Test(tensorboard, check_script_on_written_run, .fini = rm_tmp) {
    if (!have_tensorboard()) cr_skip_test("python3 has no tensorboard package (pip install tensorboard)");
    make_tmp();
    SercErr err;
    TbWriter *w = tb_open(tmpdir, &err);
    cr_assert_not_null(w, "%s", err.msg);
    char p[600];
    snprintf(p, sizeof p, "%s/metrics.jsonl", tmpdir);
    FILE *m = fopen(p, "w");
    cr_assert_not_null(m);
    for (int s = 1; s <= 4; s++) {
        double loss = 2.0 / s, lr = 1e-4 * s, gn = 3.14159 * s, ups = 123.456 * s, ce = 0.7 / s;
        fprintf(m, "{\"event\": \"step\", \"epoch\": 1, \"step\": %d, \"loss\": %.6f, \"lr\": %.6g, \"grad_norm\": %.6g, "
                   "\"utt_per_s\": %.2f, \"loss_ce\": %.6f}\n", s, loss, lr, gn, ups, ce);
        tb_scalar(w, "train/loss", s, loss);
        tb_scalar(w, "train/lr", s, lr);
        tb_scalar(w, "train/grad_norm", s, gn);
        tb_scalar(w, "train/utt_per_s", s, ups);
        tb_scalar(w, "train/loss_ce", s, ce);
    }
    fprintf(m, "{\"event\": \"epoch\", \"epoch\": 1, \"step\": 4, \"loss\": %.6f, \"utterances\": 10}\n", 1.234567891);
    tb_scalar(w, "train/epoch_loss", 4, 1.234567891);
    const double ccc[3] = {0.5, -0.25, 0.125};
    fprintf(m, "{\"event\": \"eval\", \"split\": \"dev\", \"epoch\": 1, \"step\": 4, \"wa\": 0.500000, \"ua\": 0.400000, "
               "\"macro_f1\": 0.300000, \"ccc\": [%.6f, %.6f, %.6f]}\n", ccc[0], ccc[1], ccc[2]);
    tb_scalar(w, "dev/wa", 4, 0.5);
    tb_scalar(w, "dev/ua", 4, 0.4);
    tb_scalar(w, "dev/macro_f1", 4, 0.3);
    tb_scalar(w, "dev/ccc_arousal", 4, ccc[0]);
    tb_scalar(w, "dev/ccc_valence", 4, ccc[1]);
    tb_scalar(w, "dev/ccc_dominance", 4, ccc[2]);
    tb_close(w);
    fclose(m);
    cr_expect_eq(run_check(tmpdir), 0);

    m = fopen(p, "a");
    fprintf(m, "{\"event\": \"test\", \"split\": \"test\", \"epoch\": 1, \"step\": 4, \"wa\": 0.5, \"ua\": 0.4, "
               "\"macro_f1\": 0.3}\n");
    fclose(m);
    cr_expect_neq(run_check(tmpdir), 0, "test/* scalars are missing from the events files: the check must fail");
}

/* A real training run, stopped after 3 steps and resumed (two events files), as test_train.c sets it up. */
static char corpus[] = "/tmp/serc-tbtrain-XXXXXX";

static void rm_corpus(void) { remove_dir(corpus); }

static void render(void) { test_render_small_corpus(corpus); }

static void small_config(TrainConfig *cfg, const char *out) {
    static const char *const extra[] = {"run.log_every=2", NULL};
    test_small_train_config(cfg, corpus, out, extra);
}

Test(tensorboard, check_script_on_resumed_training_run, .fini = rm_corpus, .timeout = 0) {
    if (!have_tensorboard()) cr_skip_test("python3 has no tensorboard package (pip install tensorboard)");
    render();
    char run[200];
    snprintf(run, sizeof run, "%s/run", corpus);
    SercErr err;
    TrainConfig cfg;
    TrainResult res;
    FILE *null = fopen("/dev/null", "w");
    small_config(&cfg, run);
    TrainOptions stop = {NULL, 3, 1, null};
    cr_assert_eq(train_run(&cfg, &stop, &res, &err), 0, "%s", err.msg);
    cr_expect(res.interrupted);
    train_result_free(&res);
    config_free(&cfg);
    TrainOptions resume = {run, 0, 1, null};
    config_default(&cfg);
    cr_assert_eq(train_run(&cfg, &resume, &res, &err), 0, "%s", err.msg);
    cr_expect(res.has_dev && res.has_test);
    train_result_free(&res);
    config_free(&cfg);
    fclose(null);
    glob_t g;
    cr_expect_eq(glob_events(run, &g), 2, "one events file per run of the trainer");
    globfree(&g);
    cr_expect_eq(run_check(run), 0);
}

/* Tests for train/config.c: a full file, the defaults, --set overrides, a table of malformed inputs
 * (each rejected with FILE:LINE and what is wrong), write-then-read round trips, cross-key validation,
 * and docs/config.md being the current output of config_print_doc.
 *
 * After changing the schema, regenerate the reference with
 *   SERC_UPDATE_CONFIG_DOC=1 build/tests/test_config --filter 'config/doc*'
 * which keeps the preamble of docs/config.md (everything before the first "## [") and replaces the rest. */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"

#define DOC_PATH SERC_FIXTURES_DIR "/../../docs/config.md"

static int parse_text(TrainConfig *cfg, const char *text, SercErr *err) {
    config_default(cfg);
    return config_parse(cfg, text, strlen(text), "test.toml", err);
}

static const char *FULL =
    "# a full configuration\n"
    "[data]\n"
    "train = \"data/train.jsonl\"   # comment after a value\n"
    "dev = \"data/dev.jsonl\"\n"
    "test = \"\"\n"
    "labels = \"labels.txt\"\n"
    "classes = [\"angry\", \"happy\", \"neutral\", \"sad\"]\n"
    "preset = \"whisper\"\n"
    "n_mels = 64\n"
    "sample_rate = 22050\n"
    "max_seconds = 4\n"
    "eval_max_seconds = 12.5\n"
    "workers = 0\n"
    "bucket = false\n"
    "skip_bad = false\n"
    "\n"
    "  [ model ]  \n"
    "frontend = \"tdnn\"\n"
    "cnn_channels = [16, 32, 64, ]\n"
    "freq_pool_only = true\n"
    "tdnn_dims = [256]\n"
    "dim = 256\n"
    "flam = false\n"
    "heads = 8\n"
    "pooling = \"stats\"\n"
    "head_hidden = 0\n"
    "dropout = 0.5\n"
    "proj_dim = 32\n"
    "avd = true\n"
    "[loss]\n"
    "ce = 0.5\n"
    "focal = 1\n"
    "focal_gamma = 1.5\n"
    "kl = 1.0\n"
    "center = 0.01\n"
    "center_lr = 5e-3\n"
    "supcon = 0.1\n"
    "temperature = 0.07\n"
    "ccc = 1.0\n"
    "label_smoothing = 0.1\n"
    "class_weights = false\n"
    "normalise = true\n"
    "[eam]\n"
    "enabled = true\n"
    "prob = 1.0\n"
    "snr_min = -10\n"
    "snr_max = 5.5\n"
    "min_fraction = 0.2\n"
    "[optim]\n"
    "lr = 1e-4\n"
    "weight_decay = 0.0\n"
    "schedule = \"cosine\"\n"
    "decay = 1.0\n"
    "warmup_steps = 100\n"
    "clip = 0\n"
    "accumulate = 4\n"
    "batch = 32\n"
    "epochs = 3\n"
    "early_stop = \"macro_f1\"\n"
    "patience = 2\n"
    "[run]\n"
    "seed = 1234\n"
    "out = \"runs/m\\u00e9l \\\"x\\\"\"\n"
    "log_every = 1\n"
    "threads = 2\n";

Test(config, full_file) {
    TrainConfig c;
    SercErr err = {{0}};
    cr_assert_eq(parse_text(&c, FULL, &err), 0, "%s", err.msg);
    cr_assert_str_eq(c.data.train, "data/train.jsonl");
    cr_assert_str_eq(c.data.dev, "data/dev.jsonl");
    cr_assert_str_eq(c.data.test, "");
    cr_assert_str_eq(c.data.labels, "labels.txt");
    cr_assert_eq(c.data.classes.n, 4);
    cr_assert_str_eq(c.data.classes.v[3], "sad");
    cr_assert_str_eq(c.data.preset, "whisper");
    cr_assert_eq(c.data.n_mels, 64);
    cr_assert_eq(c.data.sample_rate, 22050);
    cr_assert_eq(c.data.max_seconds, 4.0);
    cr_assert_eq(c.data.eval_max_seconds, 12.5);
    cr_assert_eq(c.data.workers, 0);
    cr_assert_eq(c.data.bucket, 0);
    cr_assert_eq(c.data.skip_bad, 0);
    cr_assert_str_eq(c.model.frontend, "tdnn");
    cr_assert_eq(c.model.cnn_channels.n, 3);
    cr_assert_eq(c.model.cnn_channels.v[2], 64);
    cr_assert_eq(c.model.freq_pool_only, 1);
    cr_assert_eq(c.model.tdnn_dims.n, 1);
    cr_assert_eq(c.model.tdnn_dims.v[0], 256);
    cr_assert_eq(c.model.dim, 256);
    cr_assert_eq(c.model.flam, 0);
    cr_assert_eq(c.model.heads, 8);
    cr_assert_str_eq(c.model.pooling, "stats");
    cr_assert_eq(c.model.head_hidden, 0);
    cr_assert_eq(c.model.dropout, 0.5);
    cr_assert_eq(c.model.proj_dim, 32);
    cr_assert_eq(c.model.avd, 1);
    cr_assert_eq(c.loss.ce, 0.5);
    cr_assert_eq(c.loss.focal, 1.0);
    cr_assert_eq(c.loss.focal_gamma, 1.5);
    cr_assert_eq(c.loss.kl, 1.0);
    cr_assert_eq(c.loss.center, 0.01);
    cr_assert_eq(c.loss.center_lr, 5e-3);
    cr_assert_eq(c.loss.supcon, 0.1);
    cr_assert_eq(c.loss.temperature, 0.07);
    cr_assert_eq(c.loss.ccc, 1.0);
    cr_assert_eq(c.loss.label_smoothing, 0.1);
    cr_assert_eq(c.loss.class_weights, 0);
    cr_assert_eq(c.loss.normalise, 1);
    cr_assert_eq(c.eam.enabled, 1);
    cr_assert_eq(c.eam.prob, 1.0);
    cr_assert_eq(c.eam.snr_min, -10.0);
    cr_assert_eq(c.eam.snr_max, 5.5);
    cr_assert_eq(c.eam.min_fraction, 0.2);
    cr_assert_eq(c.optim.lr, 1e-4);
    cr_assert_eq(c.optim.weight_decay, 0.0);
    cr_assert_str_eq(c.optim.schedule, "cosine");
    cr_assert_eq(c.optim.decay, 1.0);
    cr_assert_eq(c.optim.warmup_steps, 100);
    cr_assert_eq(c.optim.clip, 0.0);
    cr_assert_eq(c.optim.accumulate, 4);
    cr_assert_eq(c.optim.batch, 32);
    cr_assert_eq(c.optim.epochs, 3);
    cr_assert_str_eq(c.optim.early_stop, "macro_f1");
    cr_assert_eq(c.optim.patience, 2);
    cr_assert_eq(c.run.seed, 1234);
    cr_assert_str_eq(c.run.out, "runs/m\xc3\xa9l \"x\"");
    cr_assert_eq(c.run.log_every, 1);
    cr_assert_eq(c.run.threads, 2);
    cr_assert_eq(config_validate(&c, &err), 0, "%s", err.msg);
    config_free(&c);
}

Test(config, defaults) {
    TrainConfig c;
    SercErr err = {{0}};
    cr_assert_eq(parse_text(&c, "", &err), 0);
    cr_assert_str_eq(c.data.train, "");
    cr_assert_str_eq(c.data.preset, "kaldi");
    cr_assert_eq(c.data.classes.n, 0);
    cr_assert_eq(c.data.n_mels, 80);
    cr_assert_eq(c.data.sample_rate, 16000);
    cr_assert_eq(c.data.max_seconds, 6.0);
    cr_assert_eq(c.data.eval_max_seconds, 0.0);
    cr_assert_eq(c.data.workers, 2);
    cr_assert(c.data.bucket && c.data.skip_bad);
    cr_assert_str_eq(c.model.frontend, "cnn2d");
    cr_assert_eq(c.model.cnn_channels.n, 2);
    cr_assert(c.model.cnn_channels.v[0] == 32 && c.model.cnn_channels.v[1] == 64);
    cr_assert_eq(c.model.freq_pool_only, 0);
    cr_assert_eq(c.model.tdnn_dims.n, 3);
    cr_assert(c.model.dim == 128 && c.model.flam == 1 && c.model.heads == 16);
    cr_assert_str_eq(c.model.pooling, "attention");
    cr_assert(c.model.head_hidden == 128 && c.model.dropout == 0.3 && c.model.proj_dim == 64 && !c.model.avd);
    cr_assert(c.loss.ce == 1.0 && c.loss.focal == 0.0 && c.loss.focal_gamma == 2.0 && c.loss.kl == 0.0);
    cr_assert(c.loss.center == 0.0 && c.loss.center_lr == 5e-3 && c.loss.supcon == 0.0 && c.loss.temperature == 0.1);
    cr_assert(c.loss.ccc == 0.0 && c.loss.label_smoothing == 0.0 && c.loss.class_weights && !c.loss.normalise);
    EamConfig e = eam_config_default();
    cr_assert(c.eam.enabled == e.enabled && c.eam.prob == e.prob && c.eam.snr_min == e.snr_min &&
              c.eam.snr_max == e.snr_max && c.eam.min_fraction == e.min_fraction);
    cr_assert(c.eam.snr_min == -5.0 && c.eam.snr_max == 10.0 && c.eam.prob == 0.5 && !c.eam.enabled);
    cr_assert(c.optim.lr == 1e-3 && c.optim.weight_decay == 0.01 && c.optim.decay == 0.875);
    cr_assert_str_eq(c.optim.schedule, "exp");
    cr_assert(c.optim.warmup_steps == 0 && c.optim.clip == 5.0 && c.optim.accumulate == 1 && c.optim.batch == 16);
    cr_assert(c.optim.epochs == 20 && c.optim.patience == 5);
    cr_assert_str_eq(c.optim.early_stop, "ua");
    cr_assert(c.run.seed == 0 && c.run.log_every == 10 && c.run.threads == 0);
    cr_assert_str_eq(c.run.out, "runs/default");
    cr_assert_eq(config_validate(&c, &err), 0, "%s", err.msg);
    /* comments, blank lines, CRLF line ends and a byte-order mark change nothing */
    TrainConfig d;
    cr_assert_eq(parse_text(&d, "\xEF\xBB\xBF# only comments\r\n\r\n   # indented\r\n[run]\r\n", &err), 0, "%s",
                 err.msg);
    cr_assert(config_equal(&c, &d));
    config_free(&d);
    config_free(&c);
}

Test(config, set_overrides) {
    TrainConfig c;
    SercErr err = {{0}};
    cr_assert_eq(parse_text(&c, FULL, &err), 0, "%s", err.msg);
    cr_assert_eq(config_set(&c, "optim.lr=3e-4", &err), 0, "%s", err.msg);
    cr_assert_eq(c.optim.lr, 3e-4);
    cr_assert_eq(config_set(&c, "  optim.batch = 8 ", &err), 0, "%s", err.msg);
    cr_assert_eq(c.optim.batch, 8);
    cr_assert_eq(config_set(&c, "model.cnn_channels=[8, 8, 8, 8]", &err), 0, "%s", err.msg);
    cr_assert_eq(c.model.cnn_channels.n, 4);
    cr_assert_eq(config_set(&c, "eam.enabled=false", &err), 0, "%s", err.msg);
    cr_assert_eq(c.eam.enabled, 0);
    cr_assert_eq(config_set(&c, "run.out=runs/with space=and equals", &err), 0, "%s", err.msg);
    cr_assert_str_eq(c.run.out, "runs/with space=and equals");
    cr_assert_eq(config_set(&c, "run.out=\"quoted\\tout\"", &err), 0, "%s", err.msg);
    cr_assert_str_eq(c.run.out, "quoted\tout");
    cr_assert_eq(config_set(&c, "data.classes=[]", &err), 0, "%s", err.msg);
    cr_assert_eq(c.data.classes.n, 0);
    cr_assert_eq(config_set(&c, "optim.schedule=constant", &err), 0, "%s", err.msg);
    cr_assert_str_eq(c.optim.schedule, "constant");
    /* rejected overrides leave a message naming the override */
    struct {
        const char *set, *keyword;
    } bad[] = {
        {"optim.lr", "expected SECTION.KEY=VALUE"},
        {"lr=1", "expected SECTION.KEY=VALUE"},
        {"optimm.lr=1", "did you mean 'optim'"},
        {"optim.lrr=1", "did you mean 'lr'"},
        {"optim.zzzzzz=1", "valid keys: lr, weight_decay"},
        {"optim.lr=abc", "expected a value"},
        {"optim.lr=-1", "must be > 0"},
        {"optim.batch=1.5", "must be an integer"},
        {"optim.schedule=linear", "must be one of exp,cosine,constant"},
        {"data.bucket=yes", "expected a value"},
        {"optim.lr=1e-3 junk", "unexpected 'junk'"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        err.msg[0] = 0;
        cr_assert_eq(config_set(&c, bad[i].set, &err), -1, "accepted %s", bad[i].set);
        cr_assert(strstr(err.msg, "--set ") == err.msg && strstr(err.msg, bad[i].keyword) != NULL,
                  "--set %s: message '%s' lacks '%s'", bad[i].set, err.msg, bad[i].keyword);
    }
    cr_assert_eq(c.optim.lr, 3e-4, "a rejected override changes nothing");
    config_free(&c);
}

typedef struct BadCase {
    const char *text;
    int line;
    const char *keyword;
} BadCase;

static const BadCase BAD[] = {
    {"[optim]\nlrr = 1e-3\n", 2, "unknown key 'lrr' in [optim]; did you mean 'lr'?"},
    {"[optim]\nbananas = 1\n", 2, "valid keys: lr, weight_decay, schedule"},
    {"[data]\n[optimiser]\n", 2, "unknown section [optimiser]"},
    {"[optim]\nbatch = \"16\"\n", 2, "optim.batch must be an integer, got a string"},
    {"[optim]\nbatch = 16.0\n", 2, "must be an integer, got a float"},
    {"[data]\nbucket = 1\n", 2, "must be true or false"},
    {"[optim]\nlr = 1e-3\n\nlr = 2e-3\n", 4, "duplicate key 'optim.lr' (first set at line 2)"},
    {"[optim]\n[run]\n[optim]\n", 3, "duplicate section [optim] (first at line 1)"},
    {"[run]\nout = \"abc\n", 2, "unterminated string"},
    {"[run]\nout = \"a\\qb\"\n", 2, "bad escape '\\q'"},
    {"[run]\nout = \"a\\u12\"\n", 2, "\\u needs 4 hex digits"},
    {"[run]\nout = \"\\uD800\"\n", 2, "surrogate"},
    {"[data]\nclasses = [\"a\", 1]\n", 2, "array mixes strings and numbers"},
    {"[optim]\nlr = -1e-4\n", 2, "optim.lr must be > 0, got -0.0001"},
    {"[model]\ndropout = 1.0\n", 2, "must be in [0, 1)"},
    {"[data]\nn_mels = 0\n", 2, "must be in [1, 512], got 0"},
    {"[optim]\nlr 1e-3\n", 2, "expected '=' after key 'lr'"},
    {"[optim]\nlr = 1e-3 1e-4\n", 2, "unexpected '1e-4' after the value"},
    {"[optim]\nlr = {value = 1}\n", 2, "inline tables"},
    {"[optim]\nlr.value = 1\n", 2, "dotted keys"},
    {"[model]\ncnn_channels = [32,\n64]\n", 2, "multi-line arrays are not supported"},
    {"[model]\ncnn_channels = [32, 64\n", 2, "multi-line arrays are not supported"},
    {"[model]\ncnn_channels = [[32]]\n", 2, "nested arrays"},
    {"[model]\ncnn_channels = []\n", 2, "must not be empty"},
    {"[model]\ntdnn_dims = [128, 0]\n", 2, "element 2 must be in [1, 4096]"},
    {"[model]\ncnn_channels = [32.0]\n", 2, "element 1 is a float"},
    {"[model]\ncnn_channels = [1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17]\n", 2, "at most 16"},
    {"[data]\nclasses = [true]\n", 2, "arrays of booleans"},
    {"[run]\nseed = 2024-01-01\n", 2, "dates and times are not supported"},
    {"[run]\nseed = 07\n", 2, "leading zeros"},
    {"[run]\nseed = 0x10\n", 2, "hexadecimal"},
    {"[run]\nseed = 1_000\n", 2, "underscores"},
    {"[run]\nseed = 99999999999999999999\n", 2, "out of range"},
    {"[run]\nseed = 3000000000\n", 2, "must be in [0, 2147483647]"},
    {"[optim]\nlr = nan\n", 2, "inf and nan"},
    {"[optim]\nlr = 1.\n", 2, "expected a digit after '.'"},
    {"[optim]\nlr = 1e\n", 2, "exponent"},
    {"[optim]\nlr =\n", 2, "missing value"},
    {"[optim]\nlr = yes\n", 2, "expected a value (string, number, boolean or array), got 'yes'"},
    {"[optim]\nschedule = \"linear\"\n", 2, "must be one of exp,cosine,constant, got \"linear\""},
    {"[run]\nout = 'runs/x'\n", 2, "literal strings"},
    {"[run]\nout = \"\"\"x\"\"\"\n", 2, "multi-line strings"},
    {"[run]\n\"out\" = \"x\"\n", 2, "quoted keys"},
    {"lr = 1e-3\n", 1, "outside a section"},
    {"[optim.adam]\n", 1, "nested sections"},
    {"[[run]]\n", 1, "arrays of tables"},
    {"[run] seed = 1\n", 1, "after the section header"},
    {"[run\n", 1, "malformed section header"},
    {"[run]\n= 3\n", 2, "expected a key or a [section]"},
    {"[run]\nout = \"a\x01b\"\n", 2, "control character"},
    {"[run]\nout = \"\xff\"\n", 2, "not valid UTF-8"},
};

Test(config, bad_inputs) {
    char prefix[64];
    for (size_t i = 0; i < sizeof BAD / sizeof *BAD; i++) {
        TrainConfig c;
        SercErr err = {{0}};
        int rc = parse_text(&c, BAD[i].text, &err);
        cr_expect_eq(rc, -1, "case %zu accepted: %s", i, BAD[i].text);
        snprintf(prefix, sizeof prefix, "test.toml:%d: ", BAD[i].line);
        cr_expect(strncmp(err.msg, prefix, strlen(prefix)) == 0, "case %zu: '%s' does not start with '%s'", i,
                  err.msg, prefix);
        cr_expect(strstr(err.msg, BAD[i].keyword) != NULL, "case %zu: '%s' lacks '%s'", i, err.msg, BAD[i].keyword);
        config_free(&c);
    }
}

Test(config, nul_byte_in_file) {
    const char text[] = "[run]\nout = \"a\0b\"\n";
    TrainConfig c;
    SercErr err = {{0}};
    config_default(&c);
    cr_assert_eq(config_parse(&c, text, sizeof text - 1, "nul.toml", &err), -1);
    cr_assert(strstr(err.msg, "nul.toml:2: NUL byte") != NULL, "%s", err.msg);
    config_free(&c);
}

Test(config, validate_relations) {
    TrainConfig c;
    SercErr err = {{0}};
    config_default(&c);
    cr_assert_eq(config_set(&c, "eam.snr_min=20", &err), 0);
    cr_assert_eq(config_validate(&c, &err), -1);
    cr_assert(strstr(err.msg, "eam.snr_min") != NULL, "%s", err.msg);
    cr_assert_eq(config_set(&c, "eam.snr_max=30", &err), 0);
    cr_assert_eq(config_validate(&c, &err), 0, "%s", err.msg);
    cr_assert_eq(config_set(&c, "model.heads=12", &err), 0);
    cr_assert_eq(config_validate(&c, &err), -1);
    cr_assert(strstr(err.msg, "divisible by model.heads") != NULL, "%s", err.msg);
    cr_assert_eq(config_set(&c, "model.flam=false", &err), 0);
    cr_assert_eq(config_validate(&c, &err), 0, "%s", err.msg);
    cr_assert_eq(config_set(&c, "data.classes=[\"a\", \"b\", \"a\"]", &err), 0);
    cr_assert_eq(config_validate(&c, &err), -1);
    cr_assert(strstr(err.msg, "\"a\" twice") != NULL, "%s", err.msg);
    config_free(&c);
}

static char *write_to_string(const TrainConfig *c) {
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    config_write_file(c, f);
    fclose(f);
    return buf;
}

Test(config, write_then_read_round_trip) {
    TrainConfig c, d, e;
    SercErr err = {{0}};
    cr_assert_eq(parse_text(&c, FULL, &err), 0, "%s", err.msg);
    /* values that are hard to print: thirds, tiny and huge numbers, every escape */
    cr_assert_eq(config_set(&c, "optim.lr=0.3333333333333333", &err), 0, "%s", err.msg);
    cr_assert_eq(config_set(&c, "loss.center_lr=1e-300", &err), 0, "%s", err.msg);
    cr_assert_eq(config_set(&c, "loss.focal=1.7976931348623157e308", &err), 0, "%s", err.msg);
    cr_assert_eq(config_set(&c, "eam.snr_min=-0.1", &err), 0, "%s", err.msg);
    cr_assert_eq(config_set(&c, "data.train=\"tab\\there\\nnewline \\\\ \\\"q\\\" \\u0001 \\u20ac\"", &err), 0, "%s",
                 err.msg);
    cr_assert_eq(config_set(&c, "data.classes=[\"x,y\", \"\\\"z\\\"\"]", &err), 0, "%s", err.msg);
    char *text = write_to_string(&c);
    cr_assert_eq(parse_text(&d, text, &err), 0, "%s\n%s", err.msg, text);
    cr_assert(config_equal(&c, &d), "round trip differs:\n%s", text);
    char *again = write_to_string(&d);
    cr_assert_str_eq(text, again, "writing twice gives different bytes");
    /* every key appears in the written file */
    for (int i = 0; i < config_key_count(); i++) {
        char name[96], line[96];
        const char *dot = strchr(config_key_name(i, name, sizeof name), '.');
        snprintf(line, sizeof line, "\n%s = ", dot + 1);
        cr_assert(strstr(text, line) != NULL, "%s missing", name);
    }
    /* through a file, atomically; and a copy is equal */
    char dir[] = "/tmp/serc_config_XXXXXX";
    cr_assert(mkdtemp(dir) != NULL);
    char path[256];
    snprintf(path, sizeof path, "%s/config.toml", dir);
    cr_assert_eq(config_write(&c, path, &err), 0, "%s", err.msg);
    config_free(&d);
    cr_assert_eq(config_load(&d, path, &err), 0, "%s", err.msg);
    cr_assert(config_equal(&c, &d));
    config_copy(&e, &d);
    cr_assert(config_equal(&e, &c));
    cr_assert_eq(config_set(&e, "data.classes=[\"other\"]", &err), 0);
    cr_assert(!config_equal(&e, &c) && config_equal(&d, &c), "the copy is deep");
    unlink(path);
    rmdir(dir);
    cr_assert_eq(config_load(&d, "/nonexistent/x.toml", &err), -1);
    cr_assert(strstr(err.msg, "/nonexistent/x.toml: cannot open") != NULL, "%s", err.msg);
    free(text), free(again);
    config_free(&c), config_free(&d), config_free(&e);
}

static char *read_file(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    size_t got = fread(buf, 1, (size_t)n, f);
    buf[got] = 0;
    fclose(f);
    return buf;
}

Test(config, doc_is_current) {
    char *ref = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&ref, &len);
    config_print_doc(f);
    fclose(f);
    char *doc = read_file(DOC_PATH);
    cr_assert(doc != NULL, "cannot read %s", DOC_PATH);
    if (getenv("SERC_UPDATE_CONFIG_DOC")) {
        char *cut = strstr(doc, "## [");
        if (cut) *cut = 0;
        FILE *o = fopen(DOC_PATH, "wb");
        cr_assert(o != NULL);
        fputs(doc, o);
        fputs(ref, o);
        fclose(o);
        free(doc);
        doc = read_file(DOC_PATH);
    }
    for (int i = 0; i < config_key_count(); i++) {
        char name[96], cell[112];
        snprintf(cell, sizeof cell, "| `%s` |", config_key_name(i, name, sizeof name));
        cr_assert(strstr(doc, cell) != NULL, "docs/config.md does not document %s", name);
    }
    cr_assert(strstr(doc, ref) != NULL,
              "docs/config.md is not config_print_doc's output; regenerate it (see tests/test_config.c)");
    free(doc);
    free(ref);
}

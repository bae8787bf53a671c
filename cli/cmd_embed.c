/* serc embed: run a pretrained encoder (speech or text, from its Hugging Face checkpoint folder) over
 * audio files, a manifest or lines of text, and write every hidden state to one safetensors file. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "audio.h"
#include "cli.h"
#include "context.h"
#include "fileio.h"
#include "json.h"
#include "manifest.h"
#include "safetensors.h"
#include "ssl.h"
#include "text_encoder.h"

static void print_help(void) {
    printf("usage: serc embed --encoder DIR [--layers all|N,M,...] FILE.wav... --out OUT.safetensors\n"
           "       serc embed --encoder DIR [--layers ...] --manifest MANIFEST.jsonl --out OUT.safetensors\n"
           "       serc embed --encoder DIR [--layers ...] --text FILE.txt --out OUT.safetensors\n"
           "\n"
           "Runs the encoder in DIR (a Hugging Face checkpoint folder: config.json, model.safetensors or its\n"
           "shards, and for text the tokenizer files; docs/encoders.md lists the architectures) on each input\n"
           "item alone and writes, for item i (0-based, in input order), tensors\n"
           "  {i}.hidden_states.{L}   f32 (frames or tokens, hidden size), L = 0 .. number of layers\n"
           "exactly Hugging Face's output_hidden_states=True for that item, and for text also\n"
           "  {i}.input_ids           i64 (tokens), special tokens included\n"
           "with metadata serc.ids (JSON array: utterance ids for a manifest, the paths given, or \"line N\"),\n"
           "serc.kind (speech | text), serc.encoder, serc.model_type, serc.num_hidden, serc.dim and, for\n"
           "speech, serc.frame_rate (frames per second). A file made from a manifest can be given to training\n"
           "as data.features (docs/config.md): the frozen encoder then runs once, not once per epoch.\n"
           "\n"
           "Speech inputs are decoded with libsndfile, mixed to mono and resampled to 16 kHz (a manifest's\n"
           "start/end segments respected). Text: one item per line of FILE.txt (UTF-8), empty lines included;\n"
           "a line longer than the model's maximum is truncated (first max-2 tokens, then the closing special\n"
           "token, as transformers' truncation=True). The file is written tensor by tensor (memory: one item)\n"
           "and atomically; an input that cannot be read stops the run with its name, and no file is written.\n"
           "\n"
           "options:\n"
           "  --encoder DIR      checkpoint folder (required)\n"
           "  --layers SPEC      hidden states to write: all (default) or indices, e.g. 0,6,12 (-1 = last)\n"
           "  --manifest FILE    embed every utterance of a manifest (docs/manifest.md)\n"
           "  --text FILE        embed every line of a text file with a text encoder\n"
           "  --out FILE         output safetensors (required)\n"
           "  --quiet            no progress lines\n");
}

typedef struct EmbedOut {
    SafetensorsStream *s;
    JsonBuf ids;
    int n;
} EmbedOut;

static int add_tensor(EmbedOut *o, const char *name, SercDType dt, int64_t rows, int64_t cols, const void *data,
                      SercErr *err) {
    SafetensorsEntry e = {name, dt, cols > 0 ? 2 : 1, {rows, cols > 0 ? cols : 0}, data};
    return safetensors_stream_add(o->s, &e, err);
}

static void add_id(EmbedOut *o, const char *id) {
    jsonbuf_append(&o->ids, o->n ? "," : "[", 1);
    jsonbuf_string(&o->ids, id, strlen(id));
    o->n++;
}

/* Which hidden states to write: sel[0..*n) from "all" or a list, against H states. */
static int parse_layers(const char *spec, int H, int *sel, int *n, SercErr *err) {
    *n = 0;
    if (!spec || strcmp(spec, "all") == 0) {
        for (int i = 0; i < H; i++) sel[(*n)++] = i;
        return 0;
    }
    const char *p = spec;
    for (;;) {
        char *end;
        long v = strtol(p, &end, 10);
        if (end == p || (*end && *end != ',')) return serc_fail(err, "--layers \"%s\": want all or indices such as 0,6,-1", spec);
        if (v < 0) v += H;
        if (v < 0 || v >= H) return serc_fail(err, "--layers \"%s\": index out of range (the encoder has %d hidden states)", spec, H);
        if (*n >= H) return serc_fail(err, "--layers \"%s\": more indices than hidden states", spec);
        sel[(*n)++] = (int)v;
        if (!*end) return 0;
        p = end + 1;
    }
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void progress(int quiet, int done, int total, double t0, const char *what) {
    if (quiet || !(done % 25 == 0 || done == total)) return;
    double dt = now_s() - t0;
    fprintf(stderr, "embed: %d/%d %s, %.1f per second\n", done, total, what, dt > 0 ? done / dt : 0.0);
}

/* Model type from DIR/config.json. */
static int model_type(const char *dir, char *out, size_t n, SercErr *err) {
    char path[4096];
    snprintf(path, sizeof path, "%s/config.json", dir);
    size_t len;
    char *buf = file_read_all(path, &len, err);
    if (!buf) return serc_fail_prefix(err, "encoder %s (a Hugging Face checkpoint folder)", dir);
    JsonValue *j = json_parse(buf, len, err);
    free(buf);
    if (!j) return serc_fail_prefix(err, "%s", path);
    const JsonValue *t = json_get(j, "model_type");
    int rc = 0;
    if (!t || json_type(t) != JSON_STRING) rc = serc_fail(err, "%s: no \"model_type\" string", path);
    else snprintf(out, n, "%s", json_string(t));
    json_free(j);
    return rc;
}

static const char *base_name(const char *dir) {
    size_t n = strlen(dir);
    while (n > 1 && dir[n - 1] == '/') n--;
    const char *p = dir + n;
    while (p > dir && p[-1] != '/') p--;
    return p;
}

/* ---- speech ---- */

typedef struct SpeechItem {
    const char *id, *path;
    double start, end;
} SpeechItem;

static int embed_speech(const char *dir, const char *layers, const SpeechItem *items, int n_items, EmbedOut *o,
                        int *num_hidden, int *dim, double *frame_rate, int quiet, SercErr *err) {
    char path[4096];
    snprintf(path, sizeof path, "%s/config.json", dir);
    SslConfig cfg;
    if (ssl_config_load(&cfg, path, err) < 0) return -1;
    ParamStore *ps = params_new();
    SslModel *m = ssl_new(&cfg, ps, "", SSL_FROZEN);
    params_finalize(ps);
    int rc = -1;
    Ctx *g = NULL;
    int *sel = NULL, n_sel = 0;
    if (ssl_load_weights(m, dir, err) < 0) goto out;
    *num_hidden = cfg.num_hidden_layers + 1;
    *dim = cfg.hidden_size;
    int64_t stride = 1;
    for (int i = 0; i < cfg.num_conv_layers; i++) stride *= cfg.conv_stride[i];
    *frame_rate = 16000.0 / (double)stride;
    sel = serc_malloc(sizeof(int) * (size_t)*num_hidden);
    if (parse_layers(layers, *num_hidden, sel, &n_sel, err) < 0) goto out;
    g = ctx_new(0);
    g->training = 0;
    ctx_no_grad(g);
    double t0 = now_s();
    for (int i = 0; i < n_items; i++) {
        float *x = NULL;
        int64_t n = 0;
        int sr = 0;
        if (audio_load(items[i].path, items[i].start, items[i].end, 16000, &x, &n, &sr, err) < 0) {
            serc_fail_prefix(err, "item %d (%s)", i, items[i].id);
            goto out;
        }
        ctx_step_begin(g);
        Tensor *wav = tensor_empty(g, SERC_F32, SHAPE(1, n));
        memcpy(wav->data, x, sizeof(float) * (size_t)n);
        free(x);
        SslOutput so;
        if (ssl_forward(g, m, wav, NULL, &so, err) < 0) {
            serc_fail_prefix(err, "item %d (%s)", i, items[i].id);
            goto out;
        }
        for (int s = 0; s < n_sel; s++) {
            Tensor *h = so.hidden[sel[s]];
            char name[64];
            snprintf(name, sizeof name, "%d.hidden_states.%d", i, sel[s]);
            if (add_tensor(o, name, SERC_F32, h->shape[1], h->shape[2], h->data, err) < 0) goto out;
        }
        add_id(o, items[i].id);
        progress(quiet, i + 1, n_items, t0, "utterances");
    }
    rc = 0;
out:
    free(sel);
    ctx_free(g);
    ssl_free(m);
    params_free(ps);
    return rc;
}

/* ---- text ---- */

static int embed_text(const char *dir, const char *layers, const char *file, EmbedOut *o, int *num_hidden, int *dim,
                      int quiet, SercErr *err) {
    FILE *f = fopen(file, "rb");
    if (!f) return serc_fail(err, "%s: cannot open", file);
    TextEncoder *enc = text_encoder_load(dir, err);
    if (!enc) {
        fclose(f);
        return -1;
    }
    const TextEncoderConfig *c = text_encoder_config(enc);
    *num_hidden = c->num_layers + 1;
    *dim = c->hidden_size;
    int *sel = serc_malloc(sizeof(int) * (size_t)*num_hidden), n_sel = 0, rc = -1;
    Tensor **hidden = serc_malloc(sizeof(Tensor *) * (size_t)*num_hidden);
    Ctx *g = ctx_new(0);
    g->training = 0;
    ctx_no_grad(g);
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    int i = 0;
    double t0 = now_s();
    if (parse_layers(layers, *num_hidden, sel, &n_sel, err) < 0) goto out;
    while ((len = getline(&line, &cap, f)) >= 0) {
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r')) line[--len] = '\0';
        ctx_step_begin(g);
        TextBatch tb;
        const char *texts[1] = {line};
        if (text_batch_encode(g, text_encoder_tokenizer(enc), texts, 1, 0, &tb, err) < 0 ||
            text_encoder_forward(g, enc, tb.ids, tb.mask, NULL, hidden, err) < 0) {
            serc_fail_prefix(err, "%s:%d", file, i + 1);
            goto out;
        }
        char name[64];
        for (int s = 0; s < n_sel; s++) {
            snprintf(name, sizeof name, "%d.hidden_states.%d", i, sel[s]);
            if (add_tensor(o, name, SERC_F32, hidden[sel[s]]->shape[1], hidden[sel[s]]->shape[2], hidden[sel[s]]->data, err) < 0)
                goto out;
        }
        int64_t T = tb.ids->shape[1];
        int64_t *ids = serc_malloc(sizeof(int64_t) * (size_t)(T + 1));
        for (int64_t t = 0; t < T; t++) ids[t] = tensor_get_index(tb.ids, t);
        snprintf(name, sizeof name, "%d.input_ids", i);
        int bad = add_tensor(o, name, SERC_I64, T, 0, ids, err);
        free(ids);
        if (bad < 0) goto out;
        char id[32];
        snprintf(id, sizeof id, "line %d", i + 1);
        add_id(o, id);
        i++;
        progress(quiet, i, i, t0, "lines");
    }
    if (ferror(f)) {
        serc_fail(err, "%s: read error", file);
        goto out;
    }
    rc = 0;
out:
    free(line);
    fclose(f);
    free(sel);
    free(hidden);
    ctx_free(g);
    text_encoder_free(enc);
    return rc;
}

int cmd_embed(int argc, char **argv) {
    const char *cmd = "embed";
    if (cli_wants_help(argc, argv)) {
        print_help();
        return CLI_OK;
    }
    const char *encoder = NULL, *layers = "all", *manifest = NULL, *text = NULL, *out = NULL;
    int quiet = 0;
    const char **files = calloc((size_t)argc, sizeof(char *));
    int n_files = 0;
    for (int i = 1; i < argc; i++) {
        int r;
        if ((r = cli_opt_str(argc, argv, &i, "--encoder", &encoder)) || (r = cli_opt_str(argc, argv, &i, "--layers", &layers)) ||
            (r = cli_opt_str(argc, argv, &i, "--manifest", &manifest)) || (r = cli_opt_str(argc, argv, &i, "--text", &text)) ||
            (r = cli_opt_str(argc, argv, &i, "--out", &out))) {
            if (r < 0) {
                free(files);
                return CLI_USAGE;
            }
            continue;
        }
        if (strcmp(argv[i], "--quiet") == 0) {
            quiet = 1;
        } else if (argv[i][0] == '-' && argv[i][1]) {
            free(files);
            return cli_usage_error(cmd, "unknown option %s", argv[i]);
        } else {
            files[n_files++] = argv[i];
        }
    }
    int sources = (n_files > 0) + (manifest != NULL) + (text != NULL);
    if (!encoder || !out || sources != 1) {
        free(files);
        return cli_usage_error(cmd, "%s", !encoder ? "--encoder is required"
                                          : !out   ? "--out is required"
                                                   : "give audio files, --manifest or --text (exactly one)");
    }
    SercErr err = {{0}};
    char type[64];
    if (model_type(encoder, type, sizeof type, &err) < 0) {
        free(files);
        return cli_fail(cmd, "%s", err.msg);
    }
    int is_text = strcmp(type, "bert") == 0 || strcmp(type, "roberta") == 0;
    int is_speech = strcmp(type, "wav2vec2") == 0 || strcmp(type, "hubert") == 0 || strcmp(type, "wavlm") == 0;
    if (!is_text && !is_speech) {
        free(files);
        return cli_fail(cmd, "%s/config.json: model_type \"%s\" is not supported (speech: wav2vec2, hubert, wavlm; "
                             "text: bert, roberta)", encoder, type);
    }
    if (is_text != (text != NULL)) {
        free(files);
        return cli_usage_error(cmd, "%s is a %s encoder: give %s", encoder, is_text ? "text" : "speech",
                               is_text ? "--text FILE" : "audio files or --manifest");
    }
    EmbedOut o = {0};
    o.s = safetensors_stream_open(out, &err);
    if (!o.s) {
        free(files);
        return cli_fail(cmd, "%s", err.msg);
    }
    int num_hidden = 0, dim = 0, rc;
    double frame_rate = 0;
    Manifest *m = NULL;
    if (is_text) {
        rc = embed_text(encoder, layers, text, &o, &num_hidden, &dim, quiet, &err);
    } else {
        SpeechItem *items = NULL;
        int n = n_files;
        if (manifest) {
            m = manifest_read(manifest, &err);
            if (!m) {
                safetensors_stream_abort(o.s);
                jsonbuf_free(&o.ids);
                free(files);
                return cli_fail(cmd, "%s", err.msg);
            }
            n = m->n;
        }
        items = calloc((size_t)n + 1, sizeof *items);
        for (int i = 0; i < n; i++) {
            if (m) {
                const Utterance *u = &m->utts[i];
                items[i] = (SpeechItem){u->id, u->audio_path, u->has_start ? u->start : 0.0, u->has_end ? u->end : -1.0};
            } else {
                items[i] = (SpeechItem){files[i], files[i], 0.0, -1.0};
            }
        }
        rc = embed_speech(encoder, layers, items, n, &o, &num_hidden, &dim, &frame_rate, quiet, &err);
        free(items);
    }
    free(files);
    if (rc < 0) {
        safetensors_stream_abort(o.s);
        jsonbuf_free(&o.ids);
        manifest_free(m);
        return cli_fail(cmd, "%s", err.msg);
    }
    jsonbuf_append(&o.ids, o.n ? "]" : "[]", o.n ? 1 : 2);
    char *ids = calloc(1, o.ids.len + 1);
    memcpy(ids, o.ids.data, o.ids.len);
    char nh[16], d[16], fr[32];
    snprintf(nh, sizeof nh, "%d", num_hidden);
    snprintf(d, sizeof d, "%d", dim);
    snprintf(fr, sizeof fr, "%.9g", frame_rate);
    const char *meta[] = {"serc.ids", ids, "serc.kind", is_text ? "text" : "speech", "serc.encoder", base_name(encoder),
                          "serc.model_type", type, "serc.num_hidden", nh, "serc.dim", d,
                          is_text ? NULL : "serc.frame_rate", fr, NULL};
    int wr = safetensors_stream_close(o.s, meta, &err);
    if (!quiet && wr == 0)
        fprintf(stderr, "embed: wrote %s: %d items, %d hidden states of %d (%s)\n", out, o.n, num_hidden, dim, type);
    free(ids);
    jsonbuf_free(&o.ids);
    manifest_free(m);
    return wr == 0 ? CLI_OK : cli_fail(cmd, "%s", err.msg);
}

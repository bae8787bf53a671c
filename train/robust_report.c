/* What `serc robust` writes (train/robust.h): the report as Markdown, JSON and an SVG plot of UA
 * against SNR, and, on request, the noisy test sets as WAV files with manifests. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "audio.h"
#include "fileio.h"
#include "import.h"
#include "noise.h"
#include "robust.h"

/* Appends a string literal (its length from sizeof). */
#define APPEND_LIT(b, lit) jsonbuf_append((b), (lit), sizeof(lit) - 1)

/* ---- Markdown ---- */

static void md_level(const RobustRow *r, char *out, size_t n) {
    if (isnan(r->level)) snprintf(out, n, "-");
    else if (!strcmp(r->condition, "reverb")) snprintf(out, n, "RT60 %g s", r->level);
    else snprintf(out, n, "%g dB", r->level);
}

/* Row j of model k that matches (condition, level) of the first model's row, or NULL. */
static const RobustRow *find_row(const RobustModel *md, const RobustRow *like) {
    for (int j = 0; j < md->n_rows; j++) {
        const RobustRow *r = &md->rows[j];
        if (!strcmp(r->condition, like->condition) &&
            ((isnan(r->level) && isnan(like->level)) || r->level == like->level))
            return r;
    }
    return NULL;
}

static void md_mapping(JsonBuf *out, const RobustMapping *mp) {
    for (int i = 0; i < mp->used.n; i++)
        jsonbuf_appendf(out, "%s`%s` -> %s%s%s (%lld)", i ? ", " : "", mp->used.from[i], mp->used.to[i] ? "`" : "",
                        mp->used.to[i] ? mp->used.to[i] : "nothing", mp->used.to[i] ? "`" : "",
                        (long long)mp->count[i]);
    jsonbuf_appendf(out, ". Scored %lld, skipped %lld (label maps to nothing)", (long long)mp->kept, (long long)mp->skipped);
    if (mp->unlabeled) jsonbuf_appendf(out, ", %lld without a label", (long long)mp->unlabeled);
    APPEND_LIT(out, ".\n");
}

void robust_markdown(const RobustReport *rep, JsonBuf *out) {
    jsonbuf_appendf(out, "# Robustness: serc robust\n\nTest manifest: `%s`. Seed %llu. Noise is added at the SNR "
                         "over speech-active samples (%g ms frames within %g dB of the utterance's loudest frame); "
                         "docs/robustness.md describes the protocol.\n\n",
                    rep->manifest, (unsigned long long)rep->seed, 1000 * ROBUST_VAD_FRAME_S, ROBUST_VAD_THRESHOLD_DB);
    if (rep->n_models == 0) return;
    APPEND_LIT(out, "| condition | level |");
    for (int k = 0; k < rep->n_models; k++)
        jsonbuf_appendf(out, " %s UA | %s macro-F1 |", rep->models[k].name, rep->models[k].name);
    APPEND_LIT(out, " utterances |\n| --- | --- |");
    for (int k = 0; k < rep->n_models; k++) APPEND_LIT(out, " ---: | ---: |");
    APPEND_LIT(out, " ---: |\n");
    const RobustModel *m0 = &rep->models[0];
    for (int j = 0; j < m0->n_rows; j++) {
        const RobustRow *like = &m0->rows[j];
        char lv[48];
        md_level(like, lv, sizeof lv);
        if (!strcmp(like->condition, "cross")) jsonbuf_appendf(out, "| cross-corpus: `%s` | %s |", rep->cross, lv);
        else jsonbuf_appendf(out, "| %s | %s |", like->condition, lv);
        for (int k = 0; k < rep->n_models; k++) {
            const RobustRow *r = find_row(&rep->models[k], like);
            if (r) jsonbuf_appendf(out, " %.4f | %.4f |", r->ua, r->macro_f1);
            else APPEND_LIT(out, " - | - |");
        }
        jsonbuf_appendf(out, " %lld |\n", (long long)like->utterances);
    }
    APPEND_LIT(out, "\nUA: unweighted average recall; macro-F1 over the checkpoint's classes (docs/metrics.md).\n");
    for (int k = 0; k < rep->n_models; k++) {
        const RobustModel *md = &rep->models[k];
        jsonbuf_appendf(out, "\n## %s\n\nCheckpoint `%s`, classes:", md->name, md->ckpt);
        for (int c = 0; c < md->n_labels; c++) jsonbuf_appendf(out, " %s", md->labels[c]);
        APPEND_LIT(out, ".\n\nTest set labels: ");
        md_mapping(out, &md->test_map);
        if (md->has_cross) {
            jsonbuf_appendf(out, "\nCross-corpus label mapping (%s): ",
                            md->cross_map.identity ? "identity on shared names" : "--map");
            md_mapping(out, &md->cross_map);
        }
    }
}

/* ---- JSON ---- */

static void json_str(JsonBuf *b, const char *s) {
    if (s) jsonbuf_string(b, s, strlen(s));
    else APPEND_LIT(b, "null");
}

static void json_num(JsonBuf *b, double v) {
    if (isfinite(v)) jsonbuf_appendf(b, "%.6g", v);
    else APPEND_LIT(b, "null");
}

static void json_mapping(JsonBuf *b, const RobustMapping *mp) {
    jsonbuf_appendf(b, "{\"identity\": %s, \"mapping\": {", mp->identity ? "true" : "false");
    for (int i = 0; i < mp->used.n; i++) {
        if (i) APPEND_LIT(b, ", ");
        json_str(b, mp->used.from[i]);
        APPEND_LIT(b, ": ");
        json_str(b, mp->used.to[i]);
    }
    APPEND_LIT(b, "}, \"count\": {");
    for (int i = 0; i < mp->used.n; i++) {
        if (i) APPEND_LIT(b, ", ");
        json_str(b, mp->used.from[i]);
        jsonbuf_appendf(b, ": %lld", (long long)mp->count[i]);
    }
    jsonbuf_appendf(b, "}, \"scored\": %lld, \"skipped_unmapped\": %lld, \"unlabeled\": %lld}", (long long)mp->kept,
                    (long long)mp->skipped, (long long)mp->unlabeled);
}

void robust_json(const RobustReport *rep, JsonBuf *b) {
    APPEND_LIT(b, "{\"manifest\": ");
    json_str(b, rep->manifest);
    APPEND_LIT(b, ", \"cross\": ");
    json_str(b, rep->cross);
    jsonbuf_appendf(b, ", \"seed\": %llu, \"snr_db\": [", (unsigned long long)rep->seed);
    for (int i = 0; i < rep->n_snr; i++) {
        if (i) APPEND_LIT(b, ", ");
        json_num(b, rep->snr_db[i]);
    }
    APPEND_LIT(b, "], \"noise\": [");
    for (int i = 0; i < rep->n_noise_names; i++) {
        if (i) APPEND_LIT(b, ", ");
        json_str(b, rep->noise_names[i]);
    }
    jsonbuf_appendf(b, "],\n \"speech_activity\": {\"frame_s\": %g, \"threshold_db\": %g},\n \"models\": [",
                    ROBUST_VAD_FRAME_S, ROBUST_VAD_THRESHOLD_DB);
    for (int k = 0; k < rep->n_models; k++) {
        const RobustModel *md = &rep->models[k];
        if (k) APPEND_LIT(b, ",");
        APPEND_LIT(b, "\n  {\"name\": ");
        json_str(b, md->name);
        APPEND_LIT(b, ", \"checkpoint\": ");
        json_str(b, md->ckpt);
        APPEND_LIT(b, ", \"classes\": [");
        for (int c = 0; c < md->n_labels; c++) {
            if (c) APPEND_LIT(b, ", ");
            json_str(b, md->labels[c]);
        }
        APPEND_LIT(b, "],\n   \"test_labels\": ");
        json_mapping(b, &md->test_map);
        APPEND_LIT(b, ",\n   \"rows\": [");
        for (int j = 0; j < md->n_rows; j++) {
            const RobustRow *r = &md->rows[j];
            const int reverb = !strcmp(r->condition, "reverb");
            if (j) APPEND_LIT(b, ",");
            APPEND_LIT(b, "\n    {\"condition\": ");
            json_str(b, r->condition);
            APPEND_LIT(b, ", \"snr_db\": ");
            json_num(b, reverb ? NAN : r->level);
            APPEND_LIT(b, ", \"rt60_s\": ");
            json_num(b, reverb ? r->level : NAN);
            APPEND_LIT(b, ", \"ua\": ");
            json_num(b, r->ua);
            APPEND_LIT(b, ", \"wa\": ");
            json_num(b, r->wa);
            APPEND_LIT(b, ", \"macro_f1\": ");
            json_num(b, r->macro_f1);
            jsonbuf_appendf(b, ", \"utterances\": %lld, \"bad_skipped\": %lld}", (long long)r->utterances,
                            (long long)r->bad_skipped);
        }
        APPEND_LIT(b, "]");
        if (md->has_cross) {
            APPEND_LIT(b, ",\n   \"cross_labels\": ");
            json_mapping(b, &md->cross_map);
        }
        APPEND_LIT(b, "}");
    }
    APPEND_LIT(b, "]}\n");
}

/* ---- SVG: UA against SNR ---- */

static void svg_text(JsonBuf *b, const char *s) {
    for (; *s; s++) {
        switch (*s) {
        case '&': APPEND_LIT(b, "&amp;"); break;
        case '<': APPEND_LIT(b, "&lt;"); break;
        case '>': APPEND_LIT(b, "&gt;"); break;
        case '"': APPEND_LIT(b, "&quot;"); break;
        default: jsonbuf_append(b, s, 1);
        }
    }
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* x: the SNRs in increasing order at equal steps, then "clean" one step to the right; y: UA, the axis
 * from the lowest to the highest value shown, widened to tenths. One colour per noise, one dash
 * pattern per model; every line ends at its model's clean UA. */
void robust_svg(const RobustReport *rep, JsonBuf *b) {
    static const char *const COLOURS[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd",
                                          "#8c564b", "#e377c2", "#17becf", "#7f7f7f", "#bcbd22"};
    static const char *const DASHES[] = {"", "6 3", "2 3", "8 3 2 3", "12 4"};
    const int W = 760, H = 460, L = 70, R = 250, T = 50, B = 60, pw = W - L - R, ph = H - T - B;
    double snr[ROBUST_MAX_LEVELS];
    const int ns = rep->n_snr;
    memcpy(snr, rep->snr_db, sizeof(double) * (size_t)ns);
    qsort(snr, (size_t)ns, sizeof *snr, cmp_double);
    double lo = 1, hi = 0;
    for (int k = 0; k < rep->n_models; k++)
        for (int j = 0; j < rep->models[k].n_rows; j++) {
            const RobustRow *r = &rep->models[k].rows[j];
            if (!strcmp(r->condition, "reverb") || !strcmp(r->condition, "cross")) continue;
            lo = fmin(lo, r->ua), hi = fmax(hi, r->ua);
        }
    if (lo > hi) lo = 0, hi = 1;
    lo = fmax(0, floor(lo * 10 - 1e-9) / 10), hi = fmin(1, ceil(hi * 10 + 1e-9) / 10);
    if (hi - lo < 0.1) hi = fmin(1, lo + 0.1), lo = hi - 0.1;
    const int nx = ns + 1; /* SNR points plus clean */
#define PX(i) (L + (nx > 1 ? (double)(i) * pw / (nx - 1) : pw / 2.0))
#define PY(u) (T + ph - ((u) - lo) / (hi - lo) * ph)
    jsonbuf_appendf(b,
                    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                    "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" "
                    "font-family=\"sans-serif\" font-size=\"12\">\n"
                    "<rect width=\"100%%\" height=\"100%%\" fill=\"#ffffff\"/>\n"
                    "<text x=\"%d\" y=\"24\" font-size=\"15\" font-weight=\"bold\">UA against SNR (speech-active)</text>\n",
                    W, H, W, H, L);
    /* grid and axes */
    const double step = hi - lo > 0.3 ? 0.1 : 0.05;
    for (int t = 0; lo + t * step <= hi + 1e-9; t++) {
        const double u = lo + t * step;
        jsonbuf_appendf(b, "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" stroke=\"#dddddd\"/>\n"
                           "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\">%.2f</text>\n",
                        L, PY(u), L + pw, PY(u), L - 6, PY(u) + 4, u);
    }
    for (int i = 0; i < nx; i++) {
        jsonbuf_appendf(b, "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" stroke=\"#eeeeee\"/>\n", PX(i), T, PX(i), T + ph);
        if (i < ns) jsonbuf_appendf(b, "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">%g</text>\n", PX(i), T + ph + 18, snr[i]);
        else jsonbuf_appendf(b, "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">clean</text>\n", PX(i), T + ph + 18);
    }
    jsonbuf_appendf(b,
                    "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"none\" stroke=\"#333333\"/>\n"
                    "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\">SNR (dB)</text>\n"
                    "<text x=\"18\" y=\"%d\" text-anchor=\"middle\" transform=\"rotate(-90 18 %d)\">UA</text>\n",
                    L, T, pw, ph, L + pw / 2, H - 16, T + ph / 2, T + ph / 2);
    /* one polyline per (model, noise) */
    int legend = 0;
    for (int k = 0; k < rep->n_models; k++) {
        const RobustModel *md = &rep->models[k];
        const RobustRow *clean = NULL;
        for (int j = 0; j < md->n_rows; j++)
            if (!strcmp(md->rows[j].condition, "clean")) clean = &md->rows[j];
        for (int q = 0; q < rep->n_noise_names; q++) {
            const char *noise = rep->noise_names[q];
            if (!strcmp(noise, "reverb")) continue;
            const char *colour = COLOURS[q % 10], *dash = DASHES[k % 5];
            JsonBuf pts = {0};
            int n_pts = 0;
            for (int i = 0; i < ns; i++)
                for (int j = 0; j < md->n_rows; j++)
                    if (!strcmp(md->rows[j].condition, noise) && md->rows[j].level == snr[i]) {
                        jsonbuf_appendf(&pts, "%s%.1f,%.1f", n_pts++ ? " " : "", PX(i), PY(md->rows[j].ua));
                        jsonbuf_appendf(b, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3\" fill=\"%s\"><title>", PX(i),
                                        PY(md->rows[j].ua), colour);
                        svg_text(b, md->name);
                        jsonbuf_appendf(b, ", %s, %g dB: UA %.4f</title></circle>\n", noise, snr[i], md->rows[j].ua);
                    }
            if (n_pts == 0) {
                jsonbuf_free(&pts);
                continue;
            }
            if (clean) jsonbuf_appendf(&pts, " %.1f,%.1f", PX(ns), PY(clean->ua));
            jsonbuf_appendf(b, "<polyline points=\"%s\" fill=\"none\" stroke=\"%s\" stroke-width=\"2\"%s%s%s/>\n", pts.data,
                            colour, *dash ? " stroke-dasharray=\"" : "", dash, *dash ? "\"" : "");
            jsonbuf_free(&pts);
            const int ly = T + 10 + 18 * legend++;
            jsonbuf_appendf(b, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"%s\" stroke-width=\"2\"%s%s%s/>\n"
                               "<text x=\"%d\" y=\"%d\">",
                            L + pw + 16, ly, L + pw + 46, ly, colour, *dash ? " stroke-dasharray=\"" : "", dash,
                            *dash ? "\"" : "", L + pw + 52, ly + 4);
            svg_text(b, md->name);
            APPEND_LIT(b, " / ");
            svg_text(b, noise);
            APPEND_LIT(b, "</text>\n");
        }
        if (clean)
            jsonbuf_appendf(b, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"4\" fill=\"#000000\"><title>%s clean: UA %.4f</title></circle>\n",
                            PX(ns), PY(clean->ua), md->name, clean->ua);
    }
#undef PX
#undef PY
    APPEND_LIT(b, "</svg>\n");
}

int robust_write_report(const RobustReport *rep, const char *dir, SercErr *err) {
    if (import_mkdirs(dir, err)) return -1;
    void (*const writers[3])(const RobustReport *, JsonBuf *) = {robust_markdown, robust_json, robust_svg};
    static const char *const NAMES[3] = {"robust.md", "robust.json", "robust_ua.svg"};
    for (int i = 0; i < 3; i++) {
        JsonBuf b = {0};
        writers[i](rep, &b);
        char *path = import_path("%s/%s", dir, NAMES[i]);
        int rc = write_file_atomic(path, b.data, b.len, 0, err);
        free(path);
        jsonbuf_free(&b);
        if (rc) return -1;
    }
    return 0;
}

/* ---- the noisy sets as files ---- */

/* "white@5dB" -> "white_5dB", "real:musan@-5dB" -> "real-musan_m5dB": a folder and file name part. */
static void condition_slug(const char *name, double level, int reverb, char *out, size_t n) {
    char lv[32];
    snprintf(lv, sizeof lv, "%s%g%s", level < 0 ? "m" : "", fabs(level), reverb ? "s" : "dB");
    snprintf(out, n, "%s_%s", name, lv);
    for (char *p = out; *p; p++)
        if (*p == ':' || *p == '/' || *p == ' ') *p = '-';
}

int robust_write_noisy_sets(const RobustOptions *o, int sample_rate, SercErr *err) {
    Manifest *test = manifest_read(o->manifest, err);
    if (!test) return -1;
    int rc = import_mkdirs(o->write_dir, err);
    const int n_src = o->n_noise + (o->n_rt60 > 0);
    for (int q = 0; !rc && q < n_src; q++) {
        RobustSource *s = robust_source_new(q < o->n_noise ? o->noise[q] : "reverb", test, sample_rate, o->seed, err);
        if (!s) {
            rc = -1;
            break;
        }
        const int reverb = robust_source_kind(s) == ROBUST_REVERB;
        for (int j = 0; !rc && j < (reverb ? o->n_rt60 : o->n_snr); j++) {
            const double level = reverb ? o->rt60_s[j] : o->snr_db[j];
            char slug[160], cond[160];
            condition_slug(robust_source_name(s), level, reverb, slug, sizeof slug);
            snprintf(cond, sizeof cond, reverb ? "%s@%gs" : "%s@%gdB", robust_source_name(s), level);
            char *mpath = import_path("%s/test_%s.jsonl", o->write_dir, slug);
            Manifest *out = manifest_new(o->write_dir);
            for (int i = 0; !rc && i < test->n; i++) {
                const Utterance *u = &test->utts[i];
                float *x = NULL;
                int64_t n = 0;
                int sr_got;
                char *rel = import_path("%s/%s.wav", slug, u->id), *wav = import_path("%s/%s", o->write_dir, rel);
                char *dir = manifest_dirname(wav);
                rc = audio_load(u->audio_path, u->has_start ? u->start : 0, u->has_end ? u->end : -1, sample_rate, &x,
                                &n, &sr_got, err);
                if (!rc) rc = robust_corrupt(s, level, i, x, n, err);
                if (!rc) rc = import_mkdirs(dir, err);
                if (!rc) {
                    /* scale down a file that would clip, as a whole (PCM16 is written) */
                    float peak = 0;
                    for (int64_t t = 0; t < n; t++) peak = fmaxf(peak, fabsf(x[t]));
                    if (peak > 32767.0f / 32768.0f)
                        for (int64_t t = 0; t < n; t++) x[t] *= 32767.0f / 32768.0f / peak;
                    rc = audio_write_wav(wav, x, n, sample_rate, AUDIO_PCM16, err);
                }
                if (!rc) {
                    Utterance *c = manifest_append_copy(out, u);
                    manifest_set_audio(out, c, rel);
                    c->has_start = c->has_end = 0;
                    free(c->condition);
                    c->condition = serc_strdup(cond);
                }
                free(x);
                free(rel);
                free(wav);
                free(dir);
            }
            if (!rc) rc = manifest_write(mpath, out, err);
            manifest_free(out);
            free(mpath);
        }
        robust_source_free(s);
    }
    manifest_free(test);
    return rc;
}

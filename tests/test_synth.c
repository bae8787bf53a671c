/* Tests for `serc synth` (train/synth*.c): the same seed and options give byte-identical files and a
 * different seed does not; every manifest line follows docs/manifest.md; speakers, splits and label
 * balance are as configured; the rendered prosody follows arousal (mean F0 and RMS energy measured
 * from the audio correlate with the raters' arousal); noise conditions hit their SNR. */
#include <criterion/criterion.h>
#include <ctype.h>
#include <dirent.h>
#include <math.h>
#include <sndfile.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "json.h"
#include "synth.h"
#include "synth_internal.h"
#include "testutil.h"

/* ---- helpers ---- */

static char *make_tmpdir(void) {
    char *t = strdup("/tmp/serc_synth_XXXXXX");
    cr_assert(mkdtemp(t) != NULL);
    return t;
}

static char *read_all(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)n + 1);
    cr_assert(fread(b, 1, (size_t)n, f) == (size_t)n);
    fclose(f);
    b[n] = '\0';
    *len = (size_t)n;
    return b;
}

/* Options for a small corpus: 6 speakers x 8 utterances, 3 folds, all five conditions. */
static void small_options(SynthOptions *o, const char *dir, uint64_t seed) {
    SercErr err = {{0}};
    cr_assert(synth_preset(o, "tiny", &err) == 0, "%s", err.msg);
    o->n_speakers = 6;
    o->utts_per_speaker = 8;
    o->n_folds = 3;
    o->seed = seed;
    o->out_dir = dir;
}

static void render(const SynthOptions *o) {
    SercErr err = {{0}};
    SynthReport rep;
    cr_assert(synth_render(o, &rep, &err) == 0, "render failed: %s", err.msg);
    cr_assert_eq(rep.n_utts, o->n_speakers * o->utts_per_speaker);
}

/* Compares every file under a with the same file under b; returns the number of regular files. */
static int compare_trees(const char *a, const char *b, int *n_differ) {
    DIR *d = opendir(a);
    cr_assert(d != NULL, "cannot open %s", a);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        char pa[4096], pb[4096];
        snprintf(pa, sizeof pa, "%s/%s", a, e->d_name);
        snprintf(pb, sizeof pb, "%s/%s", b, e->d_name);
        struct stat st;
        cr_assert(lstat(pa, &st) == 0);
        cr_assert(strstr(e->d_name, ".tmp") == NULL, "temporary file left behind: %s", pa);
        if (S_ISDIR(st.st_mode)) {
            n += compare_trees(pa, pb, n_differ);
            continue;
        }
        size_t la, lb;
        char *ca = read_all(pa, &la), *cb = read_all(pb, &lb);
        cr_assert(cb != NULL, "%s has no counterpart %s", pa, pb);
        if (la != lb || memcmp(ca, cb, la) != 0) (*n_differ)++;
        free(ca);
        free(cb);
        n++;
    }
    closedir(d);
    return n;
}

static float *read_wav(const char *path, int64_t *n) {
    SF_INFO info = {0};
    SNDFILE *f = sf_open(path, SFM_READ, &info);
    cr_assert(f != NULL, "cannot open %s: %s", path, sf_strerror(NULL));
    cr_assert_eq(info.samplerate, 16000);
    cr_assert_eq(info.channels, 1);
    cr_assert_eq(info.format, SF_FORMAT_WAV | SF_FORMAT_PCM_16);
    float *x = malloc((size_t)info.frames * sizeof *x);
    cr_assert(sf_readf_float(f, x, info.frames) == info.frames);
    sf_close(f);
    *n = info.frames;
    return x;
}

/* ---- determinism ---- */

Test(synth, same_seed_gives_identical_bytes_different_seed_differs) {
    char *d1 = make_tmpdir(), *d2 = make_tmpdir(), *d3 = make_tmpdir();
    SynthOptions o;
    small_options(&o, d1, 7);
    render(&o);
    o.out_dir = d2;
    render(&o);
    small_options(&o, d3, 8);
    render(&o);
    int differ = 0;
    int n = compare_trees(d1, d2, &differ);
    /* 48 clean + 5 x 16 test-split condition files + 5 + 3 + 1 manifests + labels + truth + README */
    cr_assert_eq(n, 48 + 80 + 12, "files: %d", n);
    cr_assert_eq(differ, 0, "%d files differ between two renders with the same seed", differ);
    differ = 0;
    compare_trees(d1, d3, &differ);
    cr_assert(differ > n / 2, "only %d of %d files differ for a different seed", differ, n);
    test_remove_tree(d1);
    test_remove_tree(d2);
    test_remove_tree(d3);
    free(d1);
    free(d2);
    free(d3);
}

/* ---- manifest schema ---- */

static const char *const KEYS[] = {"id", "audio", "start", "end", "speaker", "gender", "age", "label",
                                   "label_dist", "arousal", "valence", "dominance", "transcript", "words",
                                   "fold", "split", "split_name", "corpus", "condition", "lang"};

typedef struct Row {
    char id[32], speaker[16], label[16], split[8];
    double arousal, duration, f0, energy;
    int fold;
} Row;

/* Whether `name` is a line of the label map text. */
static int has_label(const char *labels, const char *name) {
    const size_t n = strlen(name);
    for (const char *p = labels; *p; p = strchr(p, '\n') + 1)
        if (!strncmp(p, name, n) && p[n] == '\n') return 1;
    return 0;
}

/* Validates every line of dir/name against docs/manifest.md; fills rows (up to cap). */
static int check_manifest(const char *dir, const char *name, const char *corpus, int n_classes, Row *rows, int cap) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s.labels", dir, corpus);
    size_t ll;
    char *labels = read_all(path, &ll);
    cr_assert(labels != NULL, "no label map %s", path);
    int n_lab = 0;
    for (size_t i = 0; i < ll; i++) n_lab += labels[i] == '\n';
    cr_assert_eq(n_lab, n_classes);
    snprintf(path, sizeof path, "%s/%s", dir, name);
    size_t len;
    char *text = read_all(path, &len);
    cr_assert(text != NULL, "no manifest %s", path);
    cr_assert(len > 0 && text[len - 1] == '\n');
    int n = 0;
    for (char *line = text, *nl; *line; line = nl + 1) {
        nl = strchr(line, '\n');
        cr_assert(nl != NULL && nl > line, "%s:%d: blank or unterminated line", name, n + 1);
        SercErr err = {{0}};
        JsonValue *v = json_parse(line, (size_t)(nl - line), &err);
        cr_assert(v != NULL, "%s:%d: %s", name, n + 1, err.msg);
        cr_assert_eq(json_type(v), JSON_OBJECT);
        for (size_t k = 0; k < json_len(v); k++) {
            int known = 0;
            for (size_t j = 0; j < sizeof KEYS / sizeof KEYS[0]; j++) known |= !strcmp(json_key_at(v, k), KEYS[j]);
            cr_assert(known, "%s:%d: unknown key %s", name, n + 1, json_key_at(v, k));
        }
        const JsonValue *id = json_get(v, "id"), *audio = json_get(v, "audio"), *label = json_get(v, "label");
        cr_assert(id && json_type(id) == JSON_STRING && audio && json_type(audio) == JSON_STRING);
        cr_assert(label && json_type(label) == JSON_STRING);
        cr_assert(has_label(labels, json_string(label)), "label %s not in the label map", json_string(label));
        snprintf(path, sizeof path, "%s/%s", dir, json_string(audio));
        int64_t ns;
        float *x = read_wav(path, &ns);
        free(x);
        const double dur = (double)ns / 16000;
        const char *gender = json_string(json_get(v, "gender"));
        cr_assert(!strcmp(gender, "female") || !strcmp(gender, "male"));
        const char *split = json_string(json_get(v, "split"));
        cr_assert(!strcmp(split, "train") || !strcmp(split, "dev") || !strcmp(split, "test"));
        cr_assert_str_eq(json_string(json_get(v, "corpus")), corpus);
        cr_assert(json_is_int(json_get(v, "fold")) && json_int(json_get(v, "fold")) >= 0);
        /* label_dist: known labels, >= 0, sum 1, and the label is one of its maxima */
        const JsonValue *dist = json_get(v, "label_dist");
        cr_assert(dist && json_type(dist) == JSON_OBJECT && json_len(dist) >= 1);
        double sum = 0, top = 0, of_label = 0;
        for (size_t k = 0; k < json_len(dist); k++) {
            cr_assert(has_label(labels, json_key_at(dist, k)), "label_dist key %s", json_key_at(dist, k));
            double p = json_number(json_value_at(dist, k));
            cr_assert(p >= 0);
            sum += p;
            top = fmax(top, p);
            if (!strcmp(json_key_at(dist, k), json_string(label))) of_label = p;
        }
        cr_assert(fabs(sum - 1) < 1e-3, "%s:%d: label_dist sums to %g", name, n + 1, sum);
        cr_assert(of_label == top, "%s:%d: label is not a plurality of label_dist", name, n + 1);
        const char *dims[3] = {"arousal", "valence", "dominance"};
        for (int t = 0; t < 3; t++) {
            double a = json_number(json_get(v, dims[t]));
            cr_assert(a >= 1 && a <= 7, "%s out of 1-7: %g", dims[t], a);
        }
        /* words: non-decreasing, start <= end, inside the file */
        const JsonValue *words = json_get(v, "words");
        cr_assert(words && json_type(words) == JSON_ARRAY && json_len(words) >= 3);
        double prev = 0;
        for (size_t k = 0; k < json_len(words); k++) {
            const JsonValue *w = json_at(words, k);
            double s = json_number(json_get(w, "start")), e = json_number(json_get(w, "end"));
            cr_assert(json_string_len(json_get(w, "w")) > 0);
            cr_assert(s >= prev - 1e-9 && s <= e && e <= dur + 1e-3, "%s:%d: word %zu at %g-%g (prev %g, dur %g)",
                      name, n + 1, k, s, e, prev, dur);
            prev = s;
        }
        cr_assert(json_string_len(json_get(v, "transcript")) > 0);
        if (rows && n < cap) {
            Row *r = &rows[n];
            snprintf(r->id, sizeof r->id, "%s", json_string(id));
            snprintf(r->speaker, sizeof r->speaker, "%s", json_string(json_get(v, "speaker")));
            snprintf(r->label, sizeof r->label, "%s", json_string(label));
            snprintf(r->split, sizeof r->split, "%s", split);
            r->fold = (int)json_int(json_get(v, "fold"));
            r->arousal = json_number(json_get(v, "arousal"));
            r->duration = dur;
        }
        json_free(v);
        n++;
    }
    free(text);
    free(labels);
    return n;
}

Test(synth, manifests_follow_the_schema_and_configuration) {
    char *d = make_tmpdir();
    SynthOptions o;
    SercErr err = {{0}};
    cr_assert(synth_preset(&o, "tiny", &err) == 0);
    cr_assert(synth_parse_conditions(&o, "white@5,reverb", &err) == 0);
    o.out_dir = d;
    render(&o);
    enum { CAP = 192 };
    static Row rows[CAP];
    int n = check_manifest(d, "all.jsonl", "synth", 8, rows, CAP);
    cr_assert_eq(n, 192);
    int n_split[3] = {0};
    const char *names[3] = {"train.jsonl", "dev.jsonl", "test.jsonl"};
    for (int s = 0; s < 3; s++) n_split[s] = check_manifest(d, names[s], "synth", 8, NULL, 0);
    cr_assert_eq(n_split[0] + n_split[1] + n_split[2], 192);
    cr_assert_eq(n_split[2], 32); /* 2 of 12 speakers */
    cr_assert_eq(check_manifest(d, "test_white_5dB.jsonl", "synth", 8, NULL, 0), 32);
    cr_assert_eq(check_manifest(d, "test_reverb_0.6s.jsonl", "synth", 8, NULL, 0), 32);

    /* speakers: 12, 16 utterances each, one split and one fold each */
    char spk[16][16] = {{0}}, spk_split[16][8] = {{0}};
    int spk_n[16] = {0}, spk_fold[16] = {0}, n_spk = 0;
    int label_n[8] = {0};
    for (int i = 0; i < n; i++) {
        int s = 0;
        while (s < n_spk && strcmp(spk[s], rows[i].speaker)) s++;
        if (s == n_spk) {
            cr_assert(n_spk < 16);
            strcpy(spk[s], rows[i].speaker);
            strcpy(spk_split[s], rows[i].split);
            spk_fold[s] = rows[i].fold;
            n_spk++;
        }
        cr_assert_str_eq(spk_split[s], rows[i].split, "speaker %s in two splits", rows[i].speaker);
        cr_assert_eq(spk_fold[s], rows[i].fold, "speaker %s in two folds", rows[i].speaker);
        spk_n[s]++;
        for (int k = 0; k < 8; k++)
            if (!strcmp(rows[i].label, synth_label_name(k))) label_n[k]++;
    }
    cr_assert_eq(n_spk, 12);
    for (int s = 0; s < n_spk; s++) cr_assert_eq(spk_n[s], 16);
    /* intended categories are balanced by construction (truth.tsv); consensus labels stay near it:
     * every class holds at least 4% and at most 30% of the corpus */
    char path[4096];
    snprintf(path, sizeof path, "%s/truth.tsv", d);
    size_t len;
    char *truth = read_all(path, &len);
    for (int k = 0; k < 8; k++) {
        char needle[32];
        snprintf(needle, sizeof needle, "\t%s\t", synth_label_name(k));
        int c = 0;
        for (char *line = strchr(truth, '\n') + 1; *line; line = strchr(line, '\n') + 1) {
            char *tab = strchr(line, '\t');
            c += strncmp(tab, needle, strlen(needle)) == 0;
        }
        cr_assert_eq(c, 24, "intended %s: %d", synth_label_name(k), c);
        cr_assert(label_n[k] >= 8 && label_n[k] <= 58, "consensus %s: %d of 192", synth_label_name(k), label_n[k]);
    }
    free(truth);
    test_remove_tree(d);
    free(d);
}

Test(synth, four_classes_and_corpus_b) {
    char *d = make_tmpdir();
    SynthOptions o;
    small_options(&o, d, 3);
    o.corpus = 'b';
    o.n_classes = 4;
    SercErr err = {{0}};
    cr_assert(synth_parse_conditions(&o, "babble@0,hum@10,pink@20", &err) == 0);
    render(&o);
    static Row rows[48];
    cr_assert_eq(check_manifest(d, "all.jsonl", "synth-b", 4, rows, 48), 48);
    cr_assert_eq(check_manifest(d, "test_babble_0dB.jsonl", "synth-b", 4, NULL, 0), 16);
    for (int i = 0; i < 48; i++) cr_assert(!strncmp(rows[i].speaker, "sb", 2));
    test_remove_tree(d);
    free(d);
}

/* ---- conditions ---- */

Test(synth, noise_conditions_hit_their_snr) {
    char *d = make_tmpdir();
    SynthOptions o;
    small_options(&o, d, 5);
    SercErr err = {{0}};
    cr_assert(synth_parse_conditions(&o, "white@5,pink@0,babble@10,hum@5", &err) == 0);
    render(&o);
    const char *slugs[4] = {"white_5dB", "pink_0dB", "babble_10dB", "hum_5dB"};
    const double snr[4] = {5, 0, 10, 5};
    char path[4096];
    for (int c = 0; c < 4; c++) {
        for (int u = 1; u <= 8; u += 3) {
            int64_t n0, n1;
            snprintf(path, sizeof path, "%s/wav/clean/sa05/sa05_%04d.wav", d, u);
            float *x = read_wav(path, &n0);
            snprintf(path, sizeof path, "%s/wav/%s/sa05/sa05_%04d.wav", d, slugs[c], u);
            float *y = read_wav(path, &n1);
            cr_assert_eq(n0, n1);
            double ps = 0, pn = 0;
            for (int64_t i = 0; i < n0; i++) {
                ps += (double)x[i] * x[i];
                pn += (double)(y[i] - x[i]) * (y[i] - x[i]);
            }
            double got = 10 * log10(ps / pn);
            cr_assert(fabs(got - snr[c]) < 0.3, "%s utterance %d: SNR %.2f dB", slugs[c], u, got);
            free(x);
            free(y);
        }
    }
    test_remove_tree(d);
    free(d);
}

/* ---- prosody follows arousal ---- */

/* Median F0 (Hz) of frames whose autocorrelation peak in 60-400 Hz exceeds half the frame's energy, and
 * RMS level (dB) over frames within 30 dB of the loudest; 40 ms frames (mean removed) every 10 ms. */
static void measure_prosody(const float *x, int64_t n, double *f0, double *level) {
    enum { FL = 640, HOP = 160, LO = 40, HI = 266 };
    int n_fr = n > FL ? (int)((n - FL) / HOP) : 0;
    double *e = malloc((size_t)(n_fr + 1) * sizeof *e), *f = malloc((size_t)(n_fr + 1) * sizeof *f), emax = 0;
    for (int t = 0; t < n_fr; t++) {
        double s = 0;
        for (int i = 0; i < FL; i++) s += (double)x[t * HOP + i] * x[t * HOP + i];
        e[t] = s / FL;
        emax = fmax(emax, e[t]);
    }
    int nv = 0, na = 0;
    double esum = 0;
    for (int t = 0; t < n_fr; t++) {
        if (e[t] < emax * 1e-3) continue;
        esum += e[t];
        na++;
        double fr[FL], mean = 0, r0 = 0, best = 0;
        int lag = 0;
        for (int i = 0; i < FL; i++) mean += x[t * HOP + i];
        for (int i = 0; i < FL; i++) fr[i] = x[t * HOP + i] - mean / FL;
        for (int i = 0; i < FL; i++) r0 += (double)fr[i] * fr[i];
        for (int k = LO; k < HI; k++) {
            double r = 0;
            for (int i = 0; i + k < FL; i++) r += (double)fr[i] * fr[i + k];
            if (r > best) best = r, lag = k;
        }
        if (lag && best > 0.5 * r0) f[nv++] = 16000.0 / lag;
    }
    /* median by insertion sort (a few hundred frames) */
    for (int i = 1; i < nv; i++)
        for (int j = i; j > 0 && f[j - 1] > f[j]; j--) {
            double tmp = f[j];
            f[j] = f[j - 1];
            f[j - 1] = tmp;
        }
    *f0 = nv ? f[nv / 2] : 0;
    *level = 10 * log10(esum / (na ? na : 1) + 1e-12);
    free(e);
    free(f);
}

static double pearson(const double *a, const double *b, int n) {
    double ma = 0, mb = 0, sab = 0, saa = 0, sbb = 0;
    for (int i = 0; i < n; i++) ma += a[i], mb += b[i];
    ma /= n, mb /= n;
    for (int i = 0; i < n; i++) {
        sab += (a[i] - ma) * (b[i] - mb);
        saa += (a[i] - ma) * (a[i] - ma);
        sbb += (b[i] - mb) * (b[i] - mb);
    }
    return sab / sqrt(saa * sbb);
}

Test(synth, mean_f0_and_energy_rise_with_arousal) {
    char *d = make_tmpdir();
    SynthOptions o;
    SercErr err = {{0}};
    cr_assert(synth_preset(&o, "tiny", &err) == 0);
    o.n_conditions = 0;
    o.out_dir = d;
    render(&o);
    enum { N = 192 };
    static Row rows[N];
    cr_assert_eq(check_manifest(d, "all.jsonl", "synth", 8, rows, N), N);
    char path[4096];
    for (int i = 0; i < N; i++) {
        snprintf(path, sizeof path, "%s/wav/clean/%s/%s.wav", d, rows[i].speaker, rows[i].id);
        int64_t n;
        float *x = read_wav(path, &n);
        measure_prosody(x, n, &rows[i].f0, &rows[i].energy);
        cr_assert(rows[i].f0 > 60 && rows[i].f0 < 400, "%s: F0 %g Hz", rows[i].id, rows[i].f0);
        rows[i].f0 = log(rows[i].f0);
        free(x);
    }
    /* speaker-normalised: subtract each speaker's mean (voices differ by an octave) */
    static double lf0[N], lev[N], ar[N];
    for (int i = 0; i < N; i++) {
        double mf = 0, me = 0;
        int c = 0;
        for (int j = 0; j < N; j++)
            if (!strcmp(rows[i].speaker, rows[j].speaker)) mf += rows[j].f0, me += rows[j].energy, c++;
        lf0[i] = rows[i].f0 - mf / c;
        lev[i] = rows[i].energy - me / c;
        ar[i] = rows[i].arousal;
    }
    double r_f0 = pearson(lf0, ar, N), r_en = pearson(lev, ar, N);
    fprintf(stderr, "synth: speaker-normalised Pearson r with raters' arousal: log F0 %.3f, RMS level %.3f\n", r_f0, r_en);
    cr_assert(r_f0 > 0.6, "log F0 vs arousal r = %.3f", r_f0);
    cr_assert(r_en > 0.6, "RMS level vs arousal r = %.3f", r_en);
    test_remove_tree(d);
    free(d);
}

/* ---- tables and options ---- */

Test(synth, sentence_banks_are_plain_ascii) {
    for (int c = 0; c < 2; c++) {
        for (int k = -1; k < 8; k++) {
            int n;
            const char *const *bank = synth_sentences(c ? 'b' : 'a', k, &n);
            cr_assert(n >= 8);
            for (int i = 0; i < n; i++) {
                for (const char *p = bank[i]; *p; p++)
                    cr_assert(isalpha((unsigned char)*p) || strchr(" .,!?", *p), "bank %c/%d: '%s'", c ? 'b' : 'a', k, bank[i]);
                char tokens[SYNTH_MAX_WORDS][64], words[SYNTH_MAX_WORDS][48];
                cr_assert(synth_split_words(bank[i], tokens, words) >= 3);
            }
        }
    }
}

Test(synth, bad_options_are_rejected) {
    SynthOptions o;
    SercErr err = {{0}};
    cr_assert(synth_preset(&o, "huge", &err) < 0);
    cr_assert(strstr(err.msg, "huge") != NULL);
    cr_assert(synth_preset(&o, "tiny", &err) == 0);
    const char *bad[] = {"white", "foo@3", "reverb@9", "white@x", "pink@2.5", "hum@5dBx"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        cr_assert(synth_parse_conditions(&o, bad[i], &err) < 0, "accepted '%s'", bad[i]);
    cr_assert(synth_parse_conditions(&o, "white@-5dB,reverb@0.3s", &err) == 0);
    char name[64];
    synth_condition_slug(&o.conditions[0], name, sizeof name);
    cr_assert_str_eq(name, "white_-5dB");
    synth_condition_name(&o.conditions[1], name, sizeof name);
    cr_assert_str_eq(name, "reverb@0.3s");
    o.n_speakers = 10; /* not a multiple of 2 x 6 folds */
    o.out_dir = "/tmp/serc_synth_never_written";
    SynthReport rep;
    cr_assert(synth_render(&o, &rep, &err) < 0);
}

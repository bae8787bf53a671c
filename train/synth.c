/* `serc synth`: the generative model of the embedded default corpus (docs/synth.md): speakers,
 * acted A/V/D per utterance, sentences, prosody from A/V/D, simulated raters, and the render loop. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "rng.h"
#include "synth_internal.h"

static const char *const LABELS[SYNTH_N_LABELS] = {"neutral", "happy", "sad", "angry",
                                                   "surprise", "fear", "disgust", "contempt"};
const char *const SYNTH_SPLIT_NAMES[3] = {"train", "dev", "test"};

const char *synth_label_name(int k) { return k >= 0 && k < SYNTH_N_LABELS ? LABELS[k] : "?"; }

/* Stream purposes (synth_cond.c uses 40 and up). */
enum { STREAM_SPEAKER = 1, STREAM_RATER_POOL = 2, STREAM_PLAN = 3, STREAM_RATERS = 4, STREAM_BABBLE = 5 };

/* Speakers and the rater pool belong to the corpus, not to the seed: sa07 is the same voice in every
 * render. The seed draws the utterances. */
#define CORPUS_KEY_A 0x53796e7468410001ull
#define CORPUS_KEY_B 0x53796e7468420001ull
#define RATER_POOL 24

/* ---- random numbers ---- */
uint64_t synth_rng_offset(uint32_t purpose, uint64_t item) { return ((uint64_t)purpose << 44) | (item << 20); }

SynthRng synth_rng(uint64_t seed, uint32_t purpose, uint64_t item) {
    SERC_ASSERT(purpose < 4096 && item < (1u << 24), "synth_rng: purpose %u item %llu out of range", purpose,
                (unsigned long long)item);
    return (SynthRng){seed, synth_rng_offset(purpose, item), 0};
}

double synth_uniform(SynthRng *r) { return serc_rng_uniform01(r->seed, r->offset, r->i++); }

double synth_normal(SynthRng *r) {
    double u1 = synth_uniform(r), u2 = synth_uniform(r);
    return sqrt(-2.0 * log(1.0 - u1)) * cos(2 * M_PI * u2);
}

int synth_randint(SynthRng *r, int n) {
    int k = (int)(synth_uniform(r) * n);
    return k < n ? k : n - 1;
}

static double clampd(double x, double lo, double hi) { return x < lo ? lo : x > hi ? hi : x; }
static int clampi(long x, int lo, int hi) { return x < lo ? lo : x > hi ? hi : (int)x; }

/* ---- options ---- */
int synth_preset(SynthOptions *o, const char *preset, SercErr *err) {
    memset(o, 0, sizeof *o);
    o->seed = 1;
    o->corpus = 'a';
    o->n_classes = 8;
    o->n_folds = 6;
    o->progress_every = 0;
    if (strcmp(preset, "tiny") == 0) {
        o->n_speakers = 12, o->utts_per_speaker = 16;
    } else if (strcmp(preset, "demo") == 0) {
        o->n_speakers = 24, o->utts_per_speaker = 80;
    } else if (strcmp(preset, "full") == 0) {
        o->n_speakers = 48, o->utts_per_speaker = 216;
    } else {
        return serc_fail(err, "unknown preset '%s' (tiny, demo, full)", preset);
    }
    o->preset_name = strcmp(preset, "tiny") == 0 ? "tiny" : strcmp(preset, "demo") == 0 ? "demo" : "full";
    return synth_parse_conditions(o, "white@5,pink@5,babble@5,hum@5,reverb@0.6", err);
}

int synth_parse_conditions(SynthOptions *o, const char *list, SercErr *err) {
    o->n_conditions = 0;
    if (strcmp(list, "none") == 0 || *list == '\0') return 0;
    char buf[512];
    if (strlen(list) >= sizeof buf) return serc_fail(err, "condition list too long");
    strcpy(buf, list);
    for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        if (o->n_conditions == SYNTH_MAX_CONDITIONS) return serc_fail(err, "more than %d conditions", SYNTH_MAX_CONDITIONS);
        SynthCondition c = {0};
        char *at = strchr(tok, '@');
        if (at) *at++ = '\0';
        static const char *const KINDS[] = {"white", "pink", "babble", "hum", "reverb"};
        int kind = -1;
        for (int k = 0; k < 5; k++)
            if (strcmp(tok, KINDS[k]) == 0) kind = k;
        if (kind < 0) return serc_fail(err, "unknown condition '%s' (white, pink, babble, hum, reverb)", tok);
        c.kind = (SynthNoise)kind;
        if (kind == SYNTH_REVERB) {
            c.rt60_s = 0.6;
            if (at) {
                char *end;
                c.rt60_s = strtod(at, &end);
                if (end == at || (*end && strcmp(end, "s") != 0) || !(c.rt60_s >= 0.05 && c.rt60_s <= 3))
                    return serc_fail(err, "reverb@%s: RT60 must be seconds in [0.05, 3]", at);
            }
        } else {
            if (!at) return serc_fail(err, "%s needs an SNR: %s@5 (dB)", tok, tok);
            char *end;
            c.snr_db = strtod(at, &end);
            if (end == at || (*end && strcmp(end, "dB") != 0) || !(c.snr_db >= -20 && c.snr_db <= 60) ||
                c.snr_db != round(c.snr_db))
                return serc_fail(err, "%s@%s: SNR must be a whole number of dB in [-20, 60]", tok, at);
        }
        o->conditions[o->n_conditions++] = c;
    }
    return 0;
}

void synth_condition_name(const SynthCondition *c, char *out, size_t n) {
    static const char *const KINDS[] = {"white", "pink", "babble", "hum", "reverb"};
    if (c->kind == SYNTH_REVERB) snprintf(out, n, "reverb@%.2gs", c->rt60_s);
    else snprintf(out, n, "%s@%ddB", KINDS[c->kind], (int)c->snr_db);
}

void synth_condition_slug(const SynthCondition *c, char *out, size_t n) {
    synth_condition_name(c, out, n);
    char *at = strchr(out, '@');
    if (at) *at = '_';
}

/* ---- speakers ---- */
static void make_speakers(SynthCorpus *c) {
    const SynthOptions *o = c->o;
    const uint64_t key = o->corpus == 'b' ? CORPUS_KEY_B : CORPUS_KEY_A;
    c->n_spk = o->n_speakers;
    c->spk = serc_calloc((size_t)c->n_spk, sizeof *c->spk);
    int n_acc;
    const char *const *acc = synth_accents(o->corpus, &n_acc);
    for (int i = 0; i < c->n_spk; i++) {
        SynthSpeaker *s = &c->spk[i];
        SynthRng r = synth_rng(key, STREAM_SPEAKER, (uint64_t)i);
        snprintf(s->id, sizeof s->id, "s%c%02d", o->corpus, (i + 1) % 1000);
        s->female = i % 2 == 0;
        const int j = i / 2; /* index within gender */
        int n_var;
        const char *const *var = synth_variants(o->corpus, s->female, &n_var);
        s->variant = var[j % n_var];
        s->accent = acc[j % n_acc];
        snprintf(s->voice, sizeof s->voice, "%s+%s", s->accent, s->variant);
        s->pitch = 40 + synth_randint(&r, 21);
        s->range = 40 + synth_randint(&r, 21);
        s->rate = o->corpus == 'b' ? 140 + synth_randint(&r, 61) : 150 + synth_randint(&r, 41);
        s->tilt = (o->corpus == 'b' ? 0.35 : 0.25) * (2 * synth_uniform(&r) - 1);
        s->gain_db = 2.0 * (2 * synth_uniform(&r) - 1);
        s->expressiveness = 0.75 + 0.5 * synth_uniform(&r);
        s->fold = j % o->n_folds;
        s->split = s->fold == o->n_folds - 1 ? 2 : s->fold == o->n_folds - 2 ? 1 : 0;
    }
}

/* ---- one utterance's plan: acted A/V/D, sentence, prosody ---- */

/* The other active non-neutral category nearest to k's prototype (the text that "goes with" k). */
static int confusable(int k, int n_classes) {
    int best = -1;
    double bd = 1e9;
    for (int j = 1; j < n_classes; j++) {
        if (j == k) continue;
        double d = 0;
        for (int t = 0; t < 3; t++) d += (SYNTH_PROTO[j][t] - SYNTH_PROTO[k][t]) * (SYNTH_PROTO[j][t] - SYNTH_PROTO[k][t]);
        if (d < bd) bd = d, best = j;
    }
    return best;
}

/* Prosody from acted A/V/D. With z = (value - 4) / 3 in [-1, 1] and g = corpus strength x speaker
 * expressiveness (docs/synth.md has the table):
 *   pitch  = base + g (24 za + 6 zv)          espeakPITCH, 0-100
 *   range  = base + g (22 za + 10 zv)         espeakRANGE, 0-100
 *   rate   = base (1 + g (0.16 za + 0.04 zd)) words per minute
 *   gain   = -6 dB + base + g (5 za + 1.5 zd) dB
 *   gap    = 1.5 - g (4 za + zd)              espeakWORDGAP, x 10 ms
 *   P(pause) = 0.15 - g (0.35 za + 0.25 zd),  120 + 300 g max(0, -za) + U(0, 150) ms
 *   P(emphasis per word) = 0.08 + g (0.22 za + 0.10 zd), +10 + 25 g max(0, za) % pitch, +10 + 30 g max(0, za) % volume
 *   tilt   = base + g (0.35 za + 0.05 zv + 0.10 zd)
 * each with a little per-utterance noise. */
static void plan_prosody(SynthUtt *u, const SynthSpeaker *s, double strength, SynthRng *r) {
    const double za = (u->avd[0] - 4) / 3, zv = (u->avd[1] - 4) / 3, zd = (u->avd[2] - 4) / 3;
    const double g = strength * s->expressiveness;
    SynthProsody *p = &u->prosody;
    memset(p, 0, sizeof *p);
    snprintf(p->voice, sizeof p->voice, "%s", s->voice);
    p->pitch = clampi(lround(s->pitch + g * (24 * za + 6 * zv) + 2 * synth_normal(r)), 0, 100);
    p->range = clampi(lround(s->range + g * (22 * za + 10 * zv) + 3 * synth_normal(r)), 5, 100);
    p->rate = clampi(lround(s->rate * (1 + g * (0.16 * za + 0.04 * zd)) * (1 + 0.03 * synth_normal(r))), 80, 400);
    p->gain_db = -6 + s->gain_db + g * (5 * za + 1.5 * zd) + 0.7 * synth_normal(r);
    p->wordgap = clampi(lround(1.5 - g * (4 * za + zd) + 0.8 * synth_normal(r)), 0, 10);
    p->tilt = clampd(s->tilt + g * (0.35 * za + 0.05 * zv + 0.10 * zd) + 0.05 * synth_normal(r), -0.8, 0.8);
    char tokens[SYNTH_MAX_WORDS][64], words[SYNTH_MAX_WORDS][48];
    const int n = synth_split_words(u->sentence, tokens, words);
    const double p_pause = clampd(0.15 - g * (0.35 * za + 0.25 * zd), 0.02, 0.8);
    p->break_after = -1;
    if (synth_uniform(r) < p_pause && n >= 4) {
        p->break_after = 1 + synth_randint(r, n - 3);
        p->break_ms = (int)lround(120 + 300 * g * fmax(0, -za) + 150 * synth_uniform(r));
    }
    const double p_emph = clampd(0.08 + g * (0.22 * za + 0.10 * zd), 0, 0.45);
    u->n_emph = 0;
    for (int i = 0; i < n; i++) {
        p->emph[i] = synth_uniform(r) < p_emph;
        u->n_emph += p->emph[i];
    }
    p->emph_pitch_pct = (int)lround(10 + 25 * g * fmax(0, za));
    p->emph_volume_pct = (int)lround(10 + 30 * g * fmax(0, za));
}

static void plan_utterance(SynthCorpus *c, SynthUtt *u, int k, uint64_t item) {
    const SynthOptions *o = c->o;
    const SynthSpeaker *s = &c->spk[u->speaker];
    SynthRng r = synth_rng(o->seed, STREAM_PLAN, item);
    u->intended = k;
    /* acted A/V/D: pulled from the neutral prototype toward k's by the intensity, plus scatter */
    u->intensity = k == 0 ? 0 : 0.35 + 0.8 * synth_uniform(&r);
    for (int t = 0; t < 3; t++) {
        double mu = SYNTH_PROTO[0][t] + u->intensity * (SYNTH_PROTO[k][t] - SYNTH_PROTO[0][t]);
        u->avd[t] = clampd(mu + 0.45 * synth_normal(&r), 1, 7);
    }
    /* sentence: own category's bank, a confusable category's bank, or the neutral bank */
    const double p_own = o->corpus == 'b' ? 0.4 : 0.5, p_conf = 0.1;
    double v = synth_uniform(&r);
    u->text_cat = -1;
    if (k > 0 && v < p_own) u->text_cat = k;
    else if (k > 0 && v < p_own + p_conf) u->text_cat = confusable(k, o->n_classes);
    int n_sent;
    const char *const *bank = synth_sentences(o->corpus, u->text_cat, &n_sent);
    u->sentence = bank[synth_randint(&r, n_sent)];
    plan_prosody(u, s, o->corpus == 'b' ? 0.7 : 1.0, &r);
}

/* ---- raters ----
 * A pool of 24 raters per corpus, each with a bias per dimension (N(0, 0.25)) and a perception noise
 * (0.45-0.8). An utterance gets 5-10 of them. Rater j perceives q = acted A/V/D + bias_j + N(0, noise_j),
 * rates each dimension as round(q) in 1..7, and picks the category whose prototype is nearest to q
 * (squared distance with weights 1, 1, 0.6 for A, V, D), the sentence's category counting as nearer by
 * a text pull (1.0 corpus a, 0.7 corpus b). Consensus: plurality; ties go to the tied category whose
 * prototype is nearest to the raters' mean ratings, then to the lower class index. */
typedef struct Rater {
    double bias[3], noise;
} Rater;

static void make_raters(const SynthOptions *o, Rater *pool) {
    const uint64_t key = o->corpus == 'b' ? CORPUS_KEY_B : CORPUS_KEY_A;
    for (int j = 0; j < RATER_POOL; j++) {
        SynthRng r = synth_rng(key, STREAM_RATER_POOL, (uint64_t)j);
        for (int t = 0; t < 3; t++) pool[j].bias[t] = 0.25 * synth_normal(&r);
        pool[j].noise = 0.45 + 0.35 * synth_uniform(&r);
    }
}

static double proto_distance(const double q[3], int k) {
    static const double W[3] = {1.0, 1.0, 0.6};
    double d = 0;
    for (int t = 0; t < 3; t++) d += W[t] * (q[t] - SYNTH_PROTO[k][t]) * (q[t] - SYNTH_PROTO[k][t]);
    return d;
}

static void rate_utterance(const SynthOptions *o, const Rater *pool, SynthUtt *u, uint64_t item) {
    SynthRng r = synth_rng(o->seed, STREAM_RATERS, item);
    const double text_pull = o->corpus == 'b' ? 0.7 : 1.0;
    u->n_raters = 5 + synth_randint(&r, 6);
    int chosen[RATER_POOL] = {0};
    double sum[3] = {0};
    memset(u->votes, 0, sizeof u->votes);
    for (int j = 0; j < u->n_raters; j++) {
        int id;
        do id = synth_randint(&r, RATER_POOL);
        while (chosen[id]);
        chosen[id] = 1;
        double q[3];
        for (int t = 0; t < 3; t++) {
            q[t] = u->avd[t] + pool[id].bias[t] + pool[id].noise * synth_normal(&r);
            sum[t] += clampd(round(q[t]), 1, 7);
        }
        int best = 0;
        double bd = 1e30;
        for (int k = 0; k < o->n_classes; k++) {
            double d = proto_distance(q, k) - (k == u->text_cat ? text_pull : 0);
            if (d < bd) bd = d, best = k;
        }
        u->votes[best]++;
    }
    for (int t = 0; t < 3; t++) u->rated[t] = sum[t] / u->n_raters;
    int top = 0;
    for (int k = 0; k < o->n_classes; k++)
        if (u->votes[k] > top) top = u->votes[k];
    u->label = -1;
    double bd = 1e30;
    for (int k = 0; k < o->n_classes; k++) {
        if (u->votes[k] != top) continue;
        double d = proto_distance(u->rated, k);
        if (d < bd) bd = d, u->label = k;
    }
}

/* ---- render ---- */
static double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Babble material: 12 utterances of training speakers (neutral sentences, random categories) that are
 * not part of the corpus. */
static int make_babble_pool(SynthCorpus *c, SynthBabblePool *pool, SercErr *err) {
    enum { N_BABBLE = 12 };
    pool->x = serc_calloc(N_BABBLE, sizeof *pool->x);
    pool->n = serc_calloc(N_BABBLE, sizeof *pool->n);
    int train[256], n_train = 0;
    for (int i = 0; i < c->n_spk && n_train < 256; i++)
        if (c->spk[i].split == 0) train[n_train++] = i;
    SERC_ASSERT(n_train > 0, "synth: no training speakers");
    for (int b = 0; b < N_BABBLE; b++) {
        SynthRng r = synth_rng(c->o->seed, STREAM_BABBLE, (uint64_t)b);
        SynthUtt u = {0};
        u.speaker = train[b % n_train];
        plan_utterance(c, &u, synth_randint(&r, c->o->n_classes), (1u << 23) + (uint64_t)b);
        SynthAudio a;
        if (synth_speak(&u.prosody, u.sentence, &a, err) < 0) return -1;
        pool->x[b] = a.x;
        pool->n[b] = a.n;
        pool->count++;
    }
    return 0;
}

static void free_babble_pool(SynthBabblePool *pool) {
    for (int b = 0; b < pool->count; b++) free(pool->x[b]);
    free(pool->x);
    free(pool->n);
}

static int render_all(SynthCorpus *c, SynthReport *rep, SercErr *err) {
    const SynthOptions *o = c->o;
    FILE *log = o->log ? o->log : stderr;
    SynthBabblePool babble = {0};
    for (int k = 0; k < o->n_conditions; k++)
        if (o->conditions[k].kind == SYNTH_BABBLE && babble.count == 0 && make_babble_pool(c, &babble, err) < 0) {
            free_babble_pool(&babble);
            return -1;
        }
    const double t0 = now_seconds();
    char path[4096], slug[64];
    int rc = 0;
    for (int i = 0; i < c->n_utt && rc == 0; i++) {
        SynthUtt *u = &c->utt[i];
        const SynthSpeaker *s = &c->spk[u->speaker];
        SynthAudio a;
        if (synth_speak(&u->prosody, u->sentence, &a, err) < 0) {
            rc = serc_fail_prefix(err, "utterance %s", u->id);
            break;
        }
        u->duration = (double)a.n / SYNTH_SR;
        u->n_words = a.n_words;
        memcpy(u->words, a.words, sizeof a.words);
        int scaled = 0;
        snprintf(path, sizeof path, "%s/wav/clean/%s/%s.wav", o->out_dir, s->id, u->id);
        rc = synth_write_wav(path, a.x, a.n, &scaled, err);
        rep->n_clipped += scaled;
        rep->audio_seconds += u->duration;
        if (rc == 0 && s->split == 2) {
            float *y = serc_malloc((size_t)a.n * sizeof *y);
            for (int k = 0; k < o->n_conditions && rc == 0; k++) {
                synth_apply_condition(&o->conditions[k], a.x, a.n, y, o->seed, (uint64_t)i, &babble);
                synth_condition_slug(&o->conditions[k], slug, sizeof slug);
                snprintf(path, sizeof path, "%s/wav/%s/%s/%s.wav", o->out_dir, slug, s->id, u->id);
                rc = synth_write_wav(path, y, a.n, &scaled, err);
                rep->n_condition_files++;
            }
            free(y);
        }
        free(a.x);
        if (o->progress_every > 0 && ((i + 1) % o->progress_every == 0 || i + 1 == c->n_utt)) {
            double el = now_seconds() - t0;
            fprintf(log, "synth: %d/%d utterances (%.0f%%), %.1f s elapsed, ETA %.1f s\n", i + 1, c->n_utt,
                    100.0 * (i + 1) / c->n_utt, el, el / (i + 1) * (c->n_utt - i - 1));
            fflush(log);
        }
    }
    free_babble_pool(&babble);
    return rc;
}

int synth_render(const SynthOptions *o, SynthReport *rep, SercErr *err) {
    memset(rep, 0, sizeof *rep);
    const double t0 = now_seconds();
    if (o->corpus != 'a' && o->corpus != 'b') return serc_fail(err, "corpus must be 'a' or 'b'");
    if (o->n_classes != 8 && o->n_classes != 4) return serc_fail(err, "classes must be 8 or 4");
    if (o->n_folds < 3) return serc_fail(err, "need at least 3 folds (train, dev, test)");
    if (o->n_speakers < 2 * o->n_folds || o->n_speakers % (2 * o->n_folds) != 0 || o->n_speakers > 998)
        return serc_fail(err, "speakers (%d) must be a multiple of 2 x folds (%d), at most 998", o->n_speakers,
                         2 * o->n_folds);
    if (o->utts_per_speaker < 1 || o->utts_per_speaker > 9999) return serc_fail(err, "utterances per speaker must be in [1, 9999]");
    if ((int64_t)o->n_speakers * o->utts_per_speaker >= (1 << 23)) return serc_fail(err, "too many utterances");

    SynthCorpus c = {.o = o, .name = o->corpus == 'b' ? "synth-b" : "synth"};
    make_speakers(&c);
    Rater pool[RATER_POOL];
    make_raters(o, pool);
    c.n_utt = o->n_speakers * o->utts_per_speaker;
    c.utt = serc_calloc((size_t)c.n_utt, sizeof *c.utt);
    for (int s = 0, i = 0; s < c.n_spk; s++) {
        for (int j = 0; j < o->utts_per_speaker; j++, i++) {
            SynthUtt *u = &c.utt[i];
            snprintf(u->id, sizeof u->id, "%s_%04d", c.spk[s].id, (j + 1) % 10000);
            u->speaker = s;
            plan_utterance(&c, u, (j + s) % o->n_classes, (uint64_t)i);
            rate_utterance(o, pool, u, (uint64_t)i);
        }
    }
    int rc = synth_mkdirs(o->out_dir, 0, err);
    if (rc == 0) {
        synth_remove_manifests(&c);
        rc = render_all(&c, rep, err);
    }
    if (rc == 0) {
        rep->n_utts = c.n_utt;
        for (int i = 0; i < c.n_utt; i++) rep->label_count[c.utt[i].label]++;
        rc = synth_write_outputs(&c, rep, err);
    }
    rep->elapsed_seconds = now_seconds() - t0;
    free(c.spk);
    free(c.utt);
    return rc;
}

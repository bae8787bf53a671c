/* Files of `serc synth`: WAV files, manifests (docs/manifest.md), the label map, truth.tsv and
 * README.txt. Every file is written to a temporary beside it and renamed into place (fileio.h, without
 * fsync); the manifests come last and all.jsonl is the very last file, so a folder with all.jsonl holds a complete render. No time stamps or
 * machine details go into any file: the output is a function of the options alone. */
#include <errno.h>
#include <math.h>
#include <sndfile.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fileio.h"
#include "json.h"
#include "synth_internal.h"

int synth_mkdirs(const char *path, int parent, SercErr *err) {
    char buf[4096];
    if (strlen(path) >= sizeof buf) return serc_fail(err, "%s: path too long", path);
    strcpy(buf, path);
    if (parent) {
        char *slash = strrchr(buf, '/');
        if (!slash) return 0;
        *slash = '\0';
    }
    for (char *p = buf + 1;; p++) {
        if (*p == '/' || *p == '\0') {
            char c = *p;
            *p = '\0';
            if (mkdir(buf, 0777) != 0 && errno != EEXIST) return serc_fail(err, "%s: cannot create folder: %s", buf, strerror(errno));
            *p = c;
            if (c == '\0') break;
        }
    }
    return 0;
}

int synth_write_wav(const char *path, const float *x, int64_t n, int *scaled, SercErr *err) {
    if (synth_mkdirs(path, 1, err) < 0) return -1;
    float peak = 0;
    for (int64_t i = 0; i < n; i++) peak = fmaxf(peak, fabsf(x[i]));
    const float g = peak > 32767.0f / 32768.0f ? 32767.0f / 32768.0f / peak : 1.0f;
    *scaled = g < 1.0f;
    short *pcm = serc_malloc((size_t)(n > 0 ? n : 1) * sizeof *pcm);
    for (int64_t i = 0; i < n; i++) pcm[i] = (short)lrintf(fmaxf(-32768.0f, fminf(32767.0f, x[i] * g * 32768.0f)));
    AtomicFile af;
    if (atomic_open(&af, path, ATOMIC_NO_SYNC, err) != 0) {
        free(pcm);
        return -1;
    }
    SF_INFO info = {.samplerate = SYNTH_SR, .channels = 1, .format = SF_FORMAT_WAV | SF_FORMAT_PCM_16};
    SNDFILE *f = sf_open_fd(fileno(af.f), SFM_WRITE, &info, SF_FALSE);
    if (!f) {
        free(pcm);
        atomic_abort(&af);
        return serc_fail(err, "%s: cannot write: %s", path, sf_strerror(NULL));
    }
    sf_count_t w = sf_write_short(f, pcm, n);
    int rc = sf_close(f);
    free(pcm);
    if (w != n || rc != 0) {
        atomic_abort(&af);
        return serc_fail(err, "%s: write failed", path);
    }
    return atomic_commit(&af, err);
}

static int write_text(const char *dir, const char *name, const char *data, size_t len, SercErr *err) {
    char path[4200];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return write_file_atomic(path, data, len, ATOMIC_NO_SYNC, err);
}

void synth_remove_manifests(const SynthCorpus *c) {
    char path[4200], slug[64];
    snprintf(path, sizeof path, "%s/all.jsonl", c->o->out_dir);
    unlink(path);
    for (int s = 0; s < 3; s++) {
        snprintf(path, sizeof path, "%s/%s.jsonl", c->o->out_dir, SYNTH_SPLIT_NAMES[s]);
        unlink(path);
    }
    for (int k = 0; k < c->o->n_conditions; k++) {
        synth_condition_slug(&c->o->conditions[k], slug, sizeof slug);
        snprintf(path, sizeof path, "%s/test_%s.jsonl", c->o->out_dir, slug);
        unlink(path);
    }
}

/* One manifest line; cond NULL for clean. */
static void manifest_line(JsonBuf *b, const SynthCorpus *c, const SynthUtt *u, const SynthCondition *cond) {
    const SynthSpeaker *s = &c->spk[u->speaker];
    char cname[64] = "clean", slug[64] = "clean", audio[256];
    if (cond) {
        synth_condition_name(cond, cname, sizeof cname);
        synth_condition_slug(cond, slug, sizeof slug);
    }
    snprintf(audio, sizeof audio, "wav/%s/%s/%s.wav", slug, s->id, u->id);
    jsonbuf_append(b, "{\"id\":", 6);
    jsonbuf_string(b, u->id, strlen(u->id));
    jsonbuf_append(b, ",\"audio\":", 9);
    jsonbuf_string(b, audio, strlen(audio));
    jsonbuf_appendf(b, ",\"speaker\":\"%s\",\"gender\":\"%s\",\"label\":\"%s\",\"label_dist\":{", s->id,
                    s->female ? "female" : "male", synth_label_name(u->label));
    for (int k = 0, first = 1; k < c->o->n_classes; k++) {
        if (!u->votes[k]) continue;
        jsonbuf_appendf(b, "%s\"%s\":%.6g", first ? "" : ",", synth_label_name(k), (double)u->votes[k] / u->n_raters);
        first = 0;
    }
    jsonbuf_appendf(b, "},\"arousal\":%.4f,\"valence\":%.4f,\"dominance\":%.4f,\"transcript\":", u->rated[0],
                    u->rated[1], u->rated[2]);
    jsonbuf_string(b, u->sentence, strlen(u->sentence));
    jsonbuf_append(b, ",\"words\":[", 10);
    for (int w = 0; w < u->n_words; w++) {
        jsonbuf_append(b, w ? ",{\"w\":" : "{\"w\":", w ? 6 : 5);
        jsonbuf_string(b, u->words[w].w, strlen(u->words[w].w));
        jsonbuf_appendf(b, ",\"start\":%.3f,\"end\":%.3f}", u->words[w].start, u->words[w].end);
    }
    jsonbuf_appendf(b, "],\"fold\":%d,\"split\":\"%s\",\"corpus\":\"%s\",\"condition\":\"%s\",\"lang\":\"%s\"}\n", s->fold,
                    SYNTH_SPLIT_NAMES[s->split], c->name, cname, synth_lang_tag(s->accent));
}

static int write_manifest(const SynthCorpus *c, const char *name, int split, const SynthCondition *cond,
                          SercErr *err) {
    JsonBuf b = {0};
    jsonbuf_append(&b, "", 0);
    for (int i = 0; i < c->n_utt; i++)
        if (split < 0 || c->spk[c->utt[i].speaker].split == split) manifest_line(&b, c, &c->utt[i], cond);
    int rc = write_text(c->o->out_dir, name, b.data, b.len, err);
    jsonbuf_free(&b);
    return rc;
}

static void write_readme(JsonBuf *b, const SynthCorpus *c, const SynthReport *rep) {
    const SynthOptions *o = c->o;
    jsonbuf_appendf(b,
                    "SERC embedded default corpus: %s\n"
                    "====================================\n\n"
                    "Rendered by `serc synth` with libespeak-ng (deterministic: the same options give the same\n"
                    "bytes). The generative model is described in docs/synth.md of SERC.\n\n"
                    "preset      %s\n"
                    "corpus      %s (%s)\n"
                    "seed        %llu\n"
                    "classes     %d (",
                    c->name, o->preset_name ? o->preset_name : "custom", c->name,
                    o->corpus == 'b' ? "bank B sentences, Caribbean/Lancaster/West Midlands/NYC voices, rendering strength 0.7"
                                     : "bank A sentences, GB/US/RP/Scottish voices, rendering strength 1.0",
                    (unsigned long long)o->seed, o->n_classes);
    for (int k = 0; k < o->n_classes; k++) jsonbuf_appendf(b, "%s%s", k ? " " : "", synth_label_name(k));
    jsonbuf_appendf(b,
                    ")\nspeakers    %d (%d female, %d male), %d utterances each, categories balanced per speaker\n"
                    "utterances  %d, %.1f minutes of clean audio, 16 kHz mono 16-bit PCM WAV\n"
                    "folds       %d speaker folds: fold %d = test, fold %d = dev, others = train\n"
                    "files scaled down to avoid clipping: %d\n\n",
                    o->n_speakers, o->n_speakers / 2, o->n_speakers / 2, o->utts_per_speaker, c->n_utt,
                    rep->audio_seconds / 60, o->n_folds, o->n_folds - 1, o->n_folds - 2, rep->n_clipped);
    jsonbuf_appendf(b, "Files\n-----\n"
                       "all.jsonl             every clean utterance with split and fold (written last)\n"
                       "train.jsonl dev.jsonl test.jsonl  clean, by split\n");
    char name[64], slug[64];
    for (int k = 0; k < o->n_conditions; k++) {
        synth_condition_name(&o->conditions[k], name, sizeof name);
        synth_condition_slug(&o->conditions[k], slug, sizeof slug);
        char file[96];
        snprintf(file, sizeof file, "test_%s.jsonl", slug);
        jsonbuf_appendf(b, "%-21s test split, condition %s (wav/%s/)\n", file, name, slug);
    }
    char labels[64];
    snprintf(labels, sizeof labels, "%s.labels", c->name);
    jsonbuf_appendf(b, "%-21s label map, one name per line in class order\n"
                       "truth.tsv             per utterance: acted category and A/V/D, sentence bank, prosody\n"
                       "wav/clean/<speaker>/<id>.wav\n\n", labels);
    jsonbuf_appendf(b, "Speakers\n--------\nid    gender  voice                      pitch range rate  tilt   gain_dB expr  fold split\n");
    for (int i = 0; i < c->n_spk; i++) {
        const SynthSpeaker *s = &c->spk[i];
        jsonbuf_appendf(b, "%-5s %-7s %-26s %5d %5d %4d %6.3f %7.2f %5.2f %4d %s\n", s->id, s->female ? "female" : "male",
                        s->voice, s->pitch, s->range, s->rate, s->tilt, s->gain_db, s->expressiveness, s->fold,
                        SYNTH_SPLIT_NAMES[s->split]);
    }
    int intended[SYNTH_N_LABELS] = {0}, agree = 0, text_cue = 0;
    for (int i = 0; i < c->n_utt; i++) {
        intended[c->utt[i].intended]++;
        agree += c->utt[i].label == c->utt[i].intended;
        text_cue += c->utt[i].text_cat >= 0;
    }
    jsonbuf_appendf(b, "\nLabels\n------\nlabel      intended  consensus\n");
    for (int k = 0; k < o->n_classes; k++)
        jsonbuf_appendf(b, "%-10s %8d %10d\n", synth_label_name(k), intended[k], rep->label_count[k]);
    jsonbuf_appendf(b,
                    "consensus label = intended category for %.1f%% of utterances\n"
                    "emotion-bearing sentences: %.1f%% of utterances (the rest read neutral sentences)\n\n"
                    "Manifests follow SERC's docs/manifest.md: label = raters' plurality (ties: the tied category\n"
                    "whose prototype is nearest the raters' mean A/V/D), label_dist = raters' votes,\n"
                    "arousal/valence/dominance = raters' mean 1-7 ratings, words = word start/end times from\n"
                    "espeak-ng word events (end = last non-silent 5 ms frame before the next word).\n",
                    100.0 * agree / c->n_utt, 100.0 * text_cue / c->n_utt);
}

int synth_write_outputs(const SynthCorpus *c, const SynthReport *rep, SercErr *err) {
    const SynthOptions *o = c->o;
    JsonBuf b = {0};
    char name[128], slug[64];
    for (int k = 0; k < o->n_classes; k++) jsonbuf_appendf(&b, "%s\n", synth_label_name(k));
    snprintf(name, sizeof name, "%s.labels", c->name);
    int rc = write_text(o->out_dir, name, b.data, b.len, err);
    jsonbuf_free(&b);
    if (rc) return rc;

    jsonbuf_appendf(&b, "id\tintended\ttext_category\tintensity\tarousal\tvalence\tdominance\tpitch\trange\trate\t"
                        "wordgap\tgain_db\ttilt\temphasised\tpause_ms\tduration\n");
    for (int i = 0; i < c->n_utt; i++) {
        const SynthUtt *u = &c->utt[i];
        const SynthProsody *p = &u->prosody;
        jsonbuf_appendf(&b, "%s\t%s\t%s\t%.3f\t%.3f\t%.3f\t%.3f\t%d\t%d\t%d\t%d\t%.2f\t%.3f\t%d\t%d\t%.3f\n", u->id,
                        synth_label_name(u->intended), u->text_cat < 0 ? "none" : synth_label_name(u->text_cat),
                        u->intensity, u->avd[0], u->avd[1], u->avd[2], p->pitch, p->range, p->rate, p->wordgap,
                        p->gain_db, p->tilt, u->n_emph, p->break_after >= 0 ? p->break_ms : 0, u->duration);
    }
    rc = write_text(o->out_dir, "truth.tsv", b.data, b.len, err);
    jsonbuf_free(&b);
    if (rc) return rc;

    write_readme(&b, c, rep);
    rc = write_text(o->out_dir, "README.txt", b.data, b.len, err);
    jsonbuf_free(&b);
    if (rc) return rc;

    for (int s = 0; s < 3 && rc == 0; s++) {
        snprintf(name, sizeof name, "%s.jsonl", SYNTH_SPLIT_NAMES[s]);
        rc = write_manifest(c, name, s, NULL, err);
    }
    for (int k = 0; k < o->n_conditions && rc == 0; k++) {
        synth_condition_slug(&o->conditions[k], slug, sizeof slug);
        snprintf(name, sizeof name, "test_%s.jsonl", slug);
        rc = write_manifest(c, name, 2, &o->conditions[k], err);
    }
    if (rc == 0) rc = write_manifest(c, "all.jsonl", -1, NULL, err);
    return rc;
}

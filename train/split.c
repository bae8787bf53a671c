/* Speaker-independent splits (see split.h for the assignment rule). */
#include "split.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "rng.h"

/* A group of utterances that must stay together: one speaker (or one utterance). */
typedef struct Group {
    const char *name;
    int count;
    uint32_t tie; /* Philox draw for tie-breaking */
    int part;
} Group;

static int cmp_str_ptr(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int cmp_group_by_name(const void *a, const void *b) {
    return strcmp(((const Group *)a)->name, ((const Group *)b)->name);
}

static int cmp_group_for_greedy(const void *a, const void *b) {
    const Group *x = a, *y = b;
    if (x->count != y->count) return x->count > y->count ? -1 : 1;
    if (x->tie != y->tie) return x->tie < y->tie ? -1 : 1;
    return strcmp(x->name, y->name);
}

static int find_group(const Group *g, int n, const char *name) {
    int lo = 0, hi = n - 1;
    while (lo <= hi) {
        int mid = (lo + hi) / 2, c = strcmp(name, g[mid].name);
        if (c == 0) return mid;
        if (c < 0) hi = mid - 1;
        else lo = mid + 1;
    }
    return -1;
}

static const char *group_key(const Utterance *u, int allow_overlap) {
    return allow_overlap ? u->id : u->speaker;
}

/* Groups the selected utterances (sel[i] != 0) of m by speaker (or id), sorted by name. */
static Group *make_groups(const Manifest *m, const unsigned char *sel, int allow_overlap, int *n_groups,
                          SercErr *err) {
    const char **keys = serc_malloc((size_t)(m->n ? m->n : 1) * sizeof *keys);
    int nk = 0;
    for (int i = 0; i < m->n; i++) {
        if (sel && !sel[i]) continue;
        const Utterance *u = &m->utts[i];
        if (!group_key(u, allow_overlap)) {
            free(keys);
            serc_fail(err, "%s:%lld: utterance '%s' has no speaker; speaker-independent splits need one (or allow speaker overlap)",
                      m->path ? m->path : "(manifest)", (long long)u->line, u->id);
            return NULL;
        }
        keys[nk++] = group_key(u, allow_overlap);
    }
    qsort(keys, (size_t)nk, sizeof *keys, cmp_str_ptr);
    Group *g = serc_calloc((size_t)(nk ? nk : 1), sizeof *g);
    int ng = 0;
    for (int i = 0; i < nk; i++) {
        if (ng && strcmp(g[ng - 1].name, keys[i]) == 0) g[ng - 1].count++;
        else g[ng++] = (Group){keys[i], 1, 0, -1};
    }
    free(keys);
    *n_groups = ng;
    return g;
}

/* Assigns each group a part by the greedy rule; targets are in utterances. Groups come back sorted by
 * name. When `cover` is set, the first parts with a positive target each take one group before the
 * greedy rule runs, so that no such part stays empty. */
static void assign_groups(Group *g, int ng, const double *target, int nparts, uint64_t seed, int cover) {
    for (int i = 0; i < ng; i++) g[i].tie = serc_rng_u32(seed, 0, (uint64_t)i);
    qsort(g, (size_t)ng, sizeof *g, cmp_group_for_greedy);
    double *have = serc_calloc((size_t)nparts, sizeof *have);
    for (int i = 0; i < ng; i++) {
        int best = 0;
        double best_gap = -INFINITY;
        for (int p = 0; p < nparts; p++) {
            if (target[p] <= 0) continue;
            double gap = target[p] - have[p];
            if (gap > best_gap) {
                best_gap = gap;
                best = p;
            }
        }
        g[i].part = best;
        have[best] += g[i].count;
    }
    if (cover) {
        /* a part with a positive target but no group takes the smallest group from the part that has
         * the most groups, which moves the fewest utterances */
        for (int p = 0; p < nparts; p++) {
            if (target[p] <= 0) continue;
            int any = 0;
            for (int i = 0; i < ng; i++) any |= g[i].part == p;
            if (any) continue;
            int *groups_in = serc_calloc((size_t)nparts, sizeof *groups_in);
            for (int i = 0; i < ng; i++) groups_in[g[i].part]++;
            int donor = -1;
            for (int q = 0; q < nparts; q++)
                if (groups_in[q] > 1 && (donor < 0 || groups_in[q] > groups_in[donor])) donor = q;
            free(groups_in);
            if (donor < 0) break;
            for (int i = ng - 1; i >= 0; i--) /* sorted by decreasing count: the last is smallest */
                if (g[i].part == donor) {
                    g[i].part = p;
                    break;
                }
        }
    }
    free(have);
    qsort(g, (size_t)ng, sizeof *g, cmp_group_by_name);
}

int split_speaker_kfold(Manifest *m, int k, uint64_t seed, int allow_overlap, SercErr *err) {
    if (k < 2) return serc_fail(err, "k-fold split needs at least 2 folds, got %d", k);
    int ng = 0;
    Group *g = make_groups(m, NULL, allow_overlap, &ng, err);
    if (!g) return -1;
    if (ng < k) {
        free(g);
        return serc_fail(err, "%s: %d %s for %d folds; need at least one per fold", m->path ? m->path : "(manifest)", ng,
                         allow_overlap ? "utterances" : "speakers", k);
    }
    double *target = serc_malloc((size_t)k * sizeof *target);
    for (int p = 0; p < k; p++) target[p] = (double)m->n / k;
    assign_groups(g, ng, target, k, seed, 1);
    for (int i = 0; i < m->n; i++) m->utts[i].fold = g[find_group(g, ng, group_key(&m->utts[i], allow_overlap))].part;
    free(target);
    free(g);
    return 0;
}

/* Assigns the selected utterances to parts with fractions frac; writes part index into part_of[i]. */
static int split_fractions(Manifest *m, const unsigned char *sel, const double *frac, int nparts, uint64_t seed,
                           int allow_overlap, int *part_of, SercErr *err) {
    double sum = 0;
    for (int p = 0; p < nparts; p++) {
        if (!(frac[p] >= 0)) return serc_fail(err, "split fractions must be >= 0");
        sum += frac[p];
    }
    if (fabs(sum - 1) > 1e-6) return serc_fail(err, "split fractions must sum to 1, sum is %g", sum);
    int ng = 0;
    Group *g = make_groups(m, sel, allow_overlap, &ng, err);
    if (!g) return -1;
    int total = 0;
    for (int i = 0; i < ng; i++) total += g[i].count;
    double target[8];
    for (int p = 0; p < nparts; p++) target[p] = frac[p] * total;
    assign_groups(g, ng, target, nparts, seed, 1);
    for (int i = 0; i < m->n; i++)
        if (!sel || sel[i]) part_of[i] = g[find_group(g, ng, group_key(&m->utts[i], allow_overlap))].part;
    free(g);
    return 0;
}

int split_speaker_train_dev_test(Manifest *m, const double frac[3], uint64_t seed, int allow_overlap, SercErr *err) {
    int *part = serc_malloc((size_t)(m->n ? m->n : 1) * sizeof *part);
    int rc = split_fractions(m, NULL, frac, 3, seed, allow_overlap, part, err);
    static const ManifestSplit SPLITS[3] = {SPLIT_TRAIN, SPLIT_DEV, SPLIT_TEST};
    if (rc == 0)
        for (int i = 0; i < m->n; i++) m->utts[i].split = SPLITS[part[i]];
    free(part);
    return rc;
}

int split_carve_dev(Manifest *m, double dev_frac, uint64_t seed, int allow_overlap, SercErr *err) {
    if (!(dev_frac > 0 && dev_frac < 1)) return serc_fail(err, "dev fraction must be in (0, 1), got %g", dev_frac);
    unsigned char *sel = serc_calloc((size_t)(m->n ? m->n : 1), 1);
    int any = 0;
    for (int i = 0; i < m->n; i++) any |= sel[i] = m->utts[i].split == SPLIT_TRAIN;
    int *part = serc_malloc((size_t)(m->n ? m->n : 1) * sizeof *part);
    double frac[2] = {1 - dev_frac, dev_frac};
    int rc = any ? split_fractions(m, sel, frac, 2, seed, allow_overlap, part, err) : 0;
    if (rc == 0)
        for (int i = 0; i < m->n; i++)
            if (sel[i] && part[i] == 1) m->utts[i].split = SPLIT_DEV;
    free(part);
    free(sel);
    return rc;
}

int split_check_folds(const Manifest *m, int allow_overlap, SercErr *err) {
    const char *path = m->path ? m->path : "(manifest)";
    int max_fold = -1;
    for (int i = 0; i < m->n; i++) {
        const Utterance *u = &m->utts[i];
        if (u->fold < 0)
            return serc_fail(err, "%s:%lld: utterance '%s' has no fold; leave-one-session-out reads folds from the manifest",
                             path, (long long)u->line, u->id);
        if (u->fold > max_fold) max_fold = u->fold;
    }
    if (max_fold < 1) return serc_fail(err, "%s: all utterances are in fold %d; need at least 2 folds", path, max_fold);
    if (!allow_overlap) {
        int ng = 0;
        Group *g = make_groups(m, NULL, 0, &ng, err);
        if (!g) return -1;
        for (int i = 0; i < m->n; i++) {
            const Utterance *u = &m->utts[i];
            Group *s = &g[find_group(g, ng, u->speaker)];
            if (s->part < 0) s->part = u->fold;
            else if (s->part != u->fold) {
                int f0 = s->part;
                free(g);
                return serc_fail(err, "%s:%lld: speaker '%s' is in fold %d and fold %d; folds would share a speaker", path,
                                 (long long)u->line, u->speaker, f0, u->fold);
            }
        }
        free(g);
    }
    for (int f = 0; f <= max_fold; f++) {
        int any = 0;
        for (int i = 0; i < m->n && !any; i++) any = m->utts[i].fold == f;
        if (!any) return serc_fail(err, "%s: fold %d has no utterances (folds must be 0..%d)", path, f, max_fold);
    }
    return max_fold + 1;
}

int split_speaker_overlap(const Manifest *a, const Manifest *b) {
    int na = 0, nb = 0;
    const char **sa = serc_malloc((size_t)(a->n + 1) * sizeof *sa), **sb = serc_malloc((size_t)(b->n + 1) * sizeof *sb);
    for (int i = 0; i < a->n; i++)
        if (a->utts[i].speaker) sa[na++] = a->utts[i].speaker;
    for (int i = 0; i < b->n; i++)
        if (b->utts[i].speaker) sb[nb++] = b->utts[i].speaker;
    qsort(sa, (size_t)na, sizeof *sa, cmp_str_ptr);
    qsort(sb, (size_t)nb, sizeof *sb, cmp_str_ptr);
    int shared = 0, i = 0, j = 0;
    while (i < na && j < nb) {
        int c = strcmp(sa[i], sb[j]);
        if (c == 0) {
            shared++;
            const char *s = sa[i];
            while (i < na && strcmp(sa[i], s) == 0) i++;
            while (j < nb && strcmp(sb[j], s) == 0) j++;
        } else if (c < 0) i++;
        else j++;
    }
    free(sa);
    free(sb);
    return shared;
}

static int count_speakers(const Manifest *m) {
    const char **s = serc_malloc((size_t)(m->n + 1) * sizeof *s);
    int n = 0, distinct = 0;
    for (int i = 0; i < m->n; i++)
        if (m->utts[i].speaker) s[n++] = m->utts[i].speaker;
    qsort(s, (size_t)n, sizeof *s, cmp_str_ptr);
    for (int i = 0; i < n; i++) distinct += i == 0 || strcmp(s[i], s[i - 1]) != 0;
    free(s);
    return distinct;
}

void split_report(FILE *f, const Manifest *const *parts, const char *const *names, int nparts) {
    LabelMap *labels = labelmap_new();
    for (int p = 0; p < nparts; p++)
        for (int i = 0; i < parts[p]->n; i++)
            if (parts[p]->utts[i].label) labelmap_add(labels, parts[p]->utts[i].label);
    fprintf(f, "%-10s %7s %8s", "part", "utts", "speakers");
    for (int c = 0; c < labels->n; c++) fprintf(f, " %9.9s", labels->names[c]);
    fprintf(f, " %9s\n", "-");
    int *counts = serc_calloc((size_t)labels->n + 1, sizeof *counts);
    for (int p = 0; p < nparts; p++) {
        memset(counts, 0, ((size_t)labels->n + 1) * sizeof *counts);
        for (int i = 0; i < parts[p]->n; i++) {
            const char *l = parts[p]->utts[i].label;
            counts[l ? labelmap_index(labels, l) : labels->n]++;
        }
        fprintf(f, "%-10s %7d %8d", names[p], parts[p]->n, count_speakers(parts[p]));
        for (int c = 0; c <= labels->n; c++) fprintf(f, " %9d", counts[c]);
        fputc('\n', f);
    }
    free(counts);
    labelmap_free(labels);
}

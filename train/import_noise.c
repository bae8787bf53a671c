/* `serc prepare noise --root DIR`: a noise manifest of the audio files under a folder (MUSAN's noise/,
 * DEMAND, ...), for `serc robust --noise real:NOISE.jsonl` (train/robust.h). */
#include <stdlib.h>
#include <string.h>

#include "audio.h"
#include "import.h"
#include "robust.h"

static const char *const NOISE_EXTS[] = {".wav", ".flac", ".ogg", ".aif", ".aiff", ".au", ".caf"};
enum { N_NOISE_EXTS = sizeof NOISE_EXTS / sizeof NOISE_EXTS[0] };

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

void noise_import_report_free(NoiseImportReport *rep) {
    for (int i = 0; i < rep->unreadable; i++) free(rep->bad[i]);
    free(rep->bad);
    memset(rep, 0, sizeof *rep);
}

int noise_import(const char *root, const char *out, Manifest **m, NoiseImportReport *rep, SercErr *err) {
    memset(rep, 0, sizeof *rep);
    *m = NULL;
    if (!import_is_dir(root)) return serc_fail(err, "%s: not a folder", root);
    char **files = NULL;
    int n = 0;
    for (int e = 0; e < N_NOISE_EXTS; e++) {
        int k = 0;
        char **found = import_find_files(root, NOISE_EXTS[e], &k, err);
        if (!found) {
            import_free_list(files, n);
            return -1;
        }
        files = serc_realloc(files, (size_t)(n + k + 1) * sizeof *files);
        memcpy(files + n, found, (size_t)k * sizeof *files);
        n += k;
        free(found);
    }
    qsort(files, (size_t)n, sizeof *files, cmp_str);
    rep->found = n;
    if (n == 0) {
        free(files);
        return serc_fail(err, "%s: no audio files (.wav .flac .ogg .aif .aiff .au .caf) under this folder", root);
    }
    char *dir = out ? manifest_dirname(out) : serc_strdup(".");
    *m = manifest_new(dir);
    free(dir);
    const size_t root_len = strlen(root);
    int rc = 0;
    for (int i = 0; i < n && !rc; i++) {
        AudioInfo info;
        SercErr pe;
        if (audio_probe(files[i], &info, &pe)) {
            rep->bad = serc_realloc(rep->bad, (size_t)(rep->unreadable + 1) * sizeof *rep->bad);
            rep->bad[rep->unreadable++] = serc_strdup(pe.msg);
            continue;
        }
        /* id: the path under root without its extension */
        const char *rel = files[i] + (strncmp(files[i], root, root_len) == 0 ? root_len : 0);
        while (*rel == '/') rel++;
        char *id = serc_strdup(rel), *dot = strrchr(id, '.');
        if (dot && !strchr(dot, '/')) *dot = '\0';
        if (manifest_find(*m, id) >= 0) { /* "a.wav" beside "a.flac": the second keeps its extension */
            free(id);
            id = serc_strdup(rel);
        }
        Utterance *u = import_add(*m, id, files[i], root, err);
        free(id);
        if (!u) {
            rc = -1;
            break;
        }
        u->has_start = u->has_end = 1;
        u->start = 0;
        u->end = info.duration_s;
        u->corpus = serc_strdup("noise");
        rep->kept++;
        rep->total_seconds += info.duration_s;
    }
    import_free_list(files, n);
    if (!rc && rep->kept == 0)
        rc = serc_fail(err, "%s: none of the %d audio files could be read (first: %s)", root, n, rep->bad[0]);
    if (rc) {
        manifest_free(*m);
        *m = NULL;
    }
    return rc;
}

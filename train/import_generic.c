/* Generic folder-per-class importer: ROOT/<label>/.../NAME.{wav,flac,ogg,mp3}. The label is the folder
 * name in lower case; the speaker comes from --speaker-regex (POSIX extended, matched against the file
 * name; capture group 1, or the whole match when the pattern has no group) and is left out otherwise,
 * so that speaker-independent splits refuse the manifest rather than silently leak speakers. */
#include <ctype.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "import.h"

static const char *AUDIO_EXT[] = {".wav", ".flac", ".ogg", ".mp3"};

int import_generic(const ImportOptions *o, Manifest *m, LabelMap *map, SercErr *err) {
    if (o->labels) return serc_fail(err, "generic: labels come from the folder names; --labels does not apply");
    regex_t re;
    int have_re = 0;
    if (o->speaker_regex) {
        int e = regcomp(&re, o->speaker_regex, REG_EXTENDED);
        if (e) {
            char msg[256];
            regerror(e, &re, msg, sizeof msg);
            return serc_fail(err, "--speaker-regex '%s': %s", o->speaker_regex, msg);
        }
        have_re = 1;
    }
    int nd = 0, rc = 0;
    char **classes = import_list_dir(o->root, &nd, err);
    if (!classes) rc = -1;
    for (int c = 0; rc == 0 && c < nd; c++) {
        char *dir = import_path("%s/%s", o->root, classes[c]);
        if (!import_is_dir(dir)) {
            free(dir);
            continue;
        }
        char *label = serc_strdup(classes[c]);
        for (char *p = label; *p; p++) *p = (char)tolower((unsigned char)*p);
        int label_added = 0; /* a folder without audio files is not a class */
        for (size_t e = 0; rc == 0 && e < sizeof AUDIO_EXT / sizeof *AUDIO_EXT; e++) {
            int n = 0;
            char **files = import_find_files(dir, AUDIO_EXT[e], &n, err);
            if (!files) {
                rc = -1;
                break;
            }
            for (int i = 0; rc == 0 && i < n; i++) {
                const char *rel = files[i] + strlen(o->root) + 1; /* "<label>/.../x.wav" */
                char *id = serc_strdup(rel);
                char *dot = strrchr(id, '.');
                if (dot) *dot = '\0';
                const char *name = strrchr(files[i], '/') + 1;
                char *speaker = NULL;
                if (have_re) {
                    regmatch_t mt[2];
                    if (regexec(&re, name, 2, mt, 0) != 0) {
                        rc = serc_fail(err, "%s: --speaker-regex '%s' does not match the file name", files[i], o->speaker_regex);
                    } else {
                        regmatch_t g = re.re_nsub >= 1 && mt[1].rm_so >= 0 ? mt[1] : mt[0];
                        if (g.rm_eo <= g.rm_so)
                            rc = serc_fail(err, "%s: --speaker-regex matched an empty speaker", files[i]);
                        else speaker = strndup(name + g.rm_so, (size_t)(g.rm_eo - g.rm_so));
                    }
                }
                Utterance *u = rc ? NULL : import_add(m, id, files[i], files[i], err);
                if (!rc && !u) rc = -1;
                if (u) {
                    if (!label_added) labelmap_add(map, label), label_added = 1;
                    u->label = serc_strdup(label);
                    u->speaker = speaker;
                    speaker = NULL;
                }
                free(speaker);
                free(id);
            }
            import_free_list(files, n);
        }
        free(label);
        free(dir);
    }
    import_free_list(classes, nd);
    if (have_re) regfree(&re);
    return rc;
}

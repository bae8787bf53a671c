/* Tests for train/manifest.c: a full manifest reads into the right fields and writes back to the same
 * bytes; every malformed manifest in the table is rejected with "file:line:" and a keyword naming the
 * problem; label maps read, write and reject bad files; filters and path rewriting. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "manifest.h"
#include "testutil.h"

static char g_dir[256];

static void cleanup(void) { test_remove_tree(g_dir); }
TestSuite(manifest, .fini = cleanup);
TestSuite(labelmap, .fini = cleanup);

static void make_dir(void) {
    test_remove_tree(g_dir);
    snprintf(g_dir, sizeof g_dir, "/tmp/serc_manifest_XXXXXX");
    cr_assert_not_null(mkdtemp(g_dir));
}

static void write_file(const char *path, const char *data, size_t n) {
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f, "cannot write %s", path);
    cr_assert_eq(fwrite(data, 1, n, f), n);
    fclose(f);
}

static const char *FULL =
    "{\"id\":\"Ses01F_impro01_F000\",\"audio\":\"wav/a.wav\",\"start\":0.5,\"end\":2.25,\"speaker\":\"Ses01F\","
    "\"gender\":\"female\",\"age\":31,\"label\":\"neutral\",\"label_dist\":{\"neutral\":0.6,\"happy\":0.4},"
    "\"arousal\":2.5,\"valence\":3.1,\"dominance\":2.75,\"transcript\":\"Excuse me. \\\"Caf\xc3\xa9\\\"\\n\","
    "\"words\":[{\"w\":\"EXCUSE\",\"start\":0.27,\"end\":0.48},{\"w\":\"ME\",\"start\":0.48,\"end\":0.68}],"
    "\"fold\":0,\"split\":\"test\",\"split_name\":\"Test1\",\"corpus\":\"iemocap\",\"condition\":\"clean\","
    "\"lang\":\"en-US\"}\n"
    "{\"id\":\"b\",\"audio\":\"/abs/b.wav\",\"words\":[]}\n"
    "{\"id\":\"c\",\"audio\":\"../c.wav\",\"gender\":\"unknown\",\"transcript\":\"\",\"valence\":0.1}\n";

Test(manifest, read_all_fields) {
    make_dir();
    char path[512];
    snprintf(path, sizeof path, "%s/m.jsonl", g_dir);
    write_file(path, FULL, strlen(FULL));
    SercErr err = {{0}};
    Manifest *m = manifest_read(path, &err);
    cr_assert_not_null(m, "%s", err.msg);
    cr_assert_eq(m->n, 3);
    const Utterance *u = &m->utts[0];
    cr_assert_str_eq(u->id, "Ses01F_impro01_F000");
    cr_assert_str_eq(u->audio, "wav/a.wav");
    char want[600];
    snprintf(want, sizeof want, "%s/wav/a.wav", g_dir);
    cr_assert_str_eq(u->audio_path, want);
    cr_assert(u->has_start && u->has_end && u->start == 0.5 && u->end == 2.25);
    cr_assert_str_eq(u->speaker, "Ses01F");
    cr_assert_eq(u->gender, GENDER_FEMALE);
    cr_assert(u->has_age && u->age == 31);
    cr_assert_str_eq(u->label, "neutral");
    cr_assert_eq(u->n_dist, 2);
    cr_assert_str_eq(u->label_dist[1].name, "happy");
    cr_assert_eq(u->label_dist[1].prob, 0.4);
    cr_assert(u->has_arousal && u->arousal == 2.5 && u->valence == 3.1 && u->dominance == 2.75);
    cr_assert_str_eq(u->transcript, "Excuse me. \"Caf\xc3\xa9\"\n");
    cr_assert_eq(u->n_words, 2);
    cr_assert_str_eq(u->words[1].w, "ME");
    cr_assert_eq(u->words[0].end, 0.48);
    cr_assert_eq(u->fold, 0);
    cr_assert_eq(u->split, SPLIT_TEST);
    cr_assert_str_eq(u->split_name, "Test1");
    cr_assert_str_eq(u->corpus, "iemocap");
    cr_assert_str_eq(u->condition, "clean");
    cr_assert_str_eq(u->lang, "en-US");
    cr_assert_eq(u->line, 1);
    u = &m->utts[1];
    cr_assert_str_eq(u->audio_path, "/abs/b.wav");
    cr_assert(u->has_words && u->n_words == 0);
    cr_assert_eq(u->fold, -1);
    cr_assert_eq(u->gender, GENDER_ABSENT);
    cr_assert_null(u->speaker);
    cr_assert(!u->has_start && !u->has_arousal);
    u = &m->utts[2];
    cr_assert_str_eq(u->transcript, "");
    cr_assert_eq(u->gender, GENDER_UNKNOWN);
    cr_assert_eq(manifest_find(m, "c"), 2);
    manifest_free(m);
}

Test(manifest, round_trip_exact) {
    make_dir();
    char path[512], path2[512];
    snprintf(path, sizeof path, "%s/m.jsonl", g_dir);
    snprintf(path2, sizeof path2, "%s/m2.jsonl", g_dir);
    write_file(path, FULL, strlen(FULL));
    SercErr err = {{0}};
    Manifest *m = manifest_read(path, &err);
    cr_assert_not_null(m, "%s", err.msg);
    /* awkward doubles must survive */
    m->utts[2].valence = 0.1 + 0.2;
    m->utts[2].has_dominance = 1;
    m->utts[2].dominance = 1e-300;
    cr_assert_eq(manifest_write(path2, m, &err), 0, "%s", err.msg);
    Manifest *m2 = manifest_read(path2, &err);
    cr_assert_not_null(m2, "%s", err.msg);
    cr_assert_eq(m2->utts[2].valence, 0.1 + 0.2);
    cr_assert_eq(m2->utts[2].dominance, 1e-300);
    cr_assert_eq(manifest_write(path, m2, &err), 0, "%s", err.msg);
    size_t n1, n2;
    char *a = test_read_file(path, &n1), *b = test_read_file(path2, &n2);
    cr_assert_eq(n1, n2);
    cr_assert_eq(memcmp(a, b, n1), 0, "second write differs:\n%s\n%s", a, b);
    /* the first line, written by hand in schema order with shortest numbers, comes back byte-exact */
    const char *nl = strchr(FULL, '\n');
    cr_assert_eq(memcmp(a, FULL, (size_t)(nl - FULL + 1)), 0, "got %.*s", (int)(nl - FULL + 1), a);
    free(a);
    free(b);
    manifest_free(m);
    manifest_free(m2);
}

Test(manifest, write_rebases_audio_paths) {
    make_dir();
    char path[512], sub[512], path2[512];
    snprintf(path, sizeof path, "%s/m.jsonl", g_dir);
    snprintf(sub, sizeof sub, "%s/folds/f0", g_dir);
    snprintf(path2, sizeof path2, "%s/folds/f0/train.jsonl", g_dir);
    write_file(path, FULL, strlen(FULL));
    char tmp[512];
    snprintf(tmp, sizeof tmp, "%s/folds", g_dir);
    mkdir(tmp, 0755);
    mkdir(sub, 0755);
    SercErr err = {{0}};
    Manifest *m = manifest_read(path, &err);
    cr_assert_not_null(m, "%s", err.msg);
    cr_assert_eq(manifest_write(path2, m, &err), 0, "%s", err.msg);
    Manifest *m2 = manifest_read(path2, &err);
    cr_assert_not_null(m2, "%s", err.msg);
    cr_assert_str_eq(m2->utts[0].audio, "../../wav/a.wav");
    cr_assert_str_eq(m2->utts[0].audio_path, m->utts[0].audio_path);
    cr_assert_str_eq(m2->utts[1].audio, "/abs/b.wav");
    cr_assert_str_eq(m2->utts[2].audio_path, m->utts[2].audio_path);
    manifest_free(m);
    manifest_free(m2);
}

Test(manifest, paths) {
    char *p = manifest_path_join("data/x", "../wav/./a.wav");
    cr_assert_str_eq(p, "data/wav/a.wav");
    free(p);
    p = manifest_path_join(".", "a.wav");
    cr_assert_str_eq(p, "a.wav");
    free(p);
    p = manifest_path_join("..", "../a.wav");
    cr_assert_str_eq(p, "../../a.wav");
    free(p);
    p = manifest_path_relative("/a/b/c.wav", "/a/x/y");
    cr_assert_str_eq(p, "../../b/c.wav");
    free(p);
    p = manifest_path_relative("/a/b/c.wav", "/a/b");
    cr_assert_str_eq(p, "c.wav");
    free(p);
    p = manifest_dirname("m.jsonl");
    cr_assert_str_eq(p, ".");
    free(p);
}

typedef struct BadCase {
    const char *text;   /* file contents */
    size_t len;         /* 0: strlen(text) */
    int line;           /* expected line in the message */
    const char *keyword;
} BadCase;

#define OK_LINE "{\"id\":\"a\",\"audio\":\"a.wav\"}\n"
static const char NUL_FILE[] = "{\"id\":\"a\",\"audio\":\"a\0.wav\"}\n";

static const BadCase BAD[] = {
    {OK_LINE "{\"id\":\"b\",\"audio\":\"b.wav\",\"valence\":\"high\"}\n", 0, 2, "key 'valence' must be a number, got string"},
    {OK_LINE "{\"id\":\"b\",\"audio\":\"b.wav\",\"valance\":3}\n", 0, 2, "unknown key 'valance'"},
    {OK_LINE "\n" OK_LINE, 0, 2, "blank line"},
    {OK_LINE "   \n", 0, 2, "blank line"},
    {OK_LINE "{\"id\":\"a\",\"audio\":\"c.wav\"}\n", 0, 2, "duplicate id 'a' (first on line 1)"},
    {"{\"audio\":\"a.wav\"}\n", 0, 1, "missing required key 'id'"},
    {"{\"id\":\"a\"}\n", 0, 1, "missing required key 'audio'"},
    {"{\"id\":\"a\",\"audio\":\"a.wav\",\"start\":2,\"end\":1}\n", 0, 1, "before end"},
    {"{\"id\":\"a\",\"audio\":\"a.wav\",\"start\":-1}\n", 0, 1, "'start' must be >= 0"},
    {"{\"id\":\"a\",\"audio\":\"a.wav\",\"label_dist\":{\"happy\":0.5,\"sad\":0.4}}\n", 0, 1, "sum to 1"},
    {"{\"id\":\"a\",\"audio\":\"a.wav\",\"label_dist\":{\"happy\":1.5,\"sad\":-0.5}}\n", 0, 1, "must be >= 0"},
    {"{\"id\":\"a\",\"audio\":\"a.wav\",\"label_dist\":{}}\n", 0, 1, "'label_dist' must not be empty"},
    {"{\"id\":\"a\",\"audio\":\"a.wav\",\"words\":[{\"w\":\"x\",\"start\":1,\"end\":0.5}]}\n", 0, 1, "is after end"},
    {"{\"id\":\"a\",\"audio\":\"a.wav\",\"words\":[{\"w\":\"x\",\"start\":1,\"end\":1.5},{\"w\":\"y\",\"start\":0.5,\"end\":0.7}]}\n", 0, 1, "non-decreasing"},
    {"{\"id\":\"a\",\"audio\":\"a.wav\",\"words\":[{\"w\":\"x\",\"start\":0}]}\n", 0, 1, "must have w, start and end"},
    {"{\"id\":\"a\",\"audio\":\"a.wav\",\"words\":[{\"w\":\"x\",\"start\":0,\"end\":1,\"conf\":1}]}\n", 0, 1, "unknown key 'conf'"},
    {"{\"id\":\"a\",\"audio\":\"a.wav\",\"gender\":\"F\"}\n", 0, 1, "'gender' must be one of female, male, unknown"},
    {"{\"id\":\"a\",\"audio\":\"a.wav\",\"split\":\"Test1\"}\n", 0, 1, "'split' must be one of train, dev, test"},
    {"{\"id\":\"a\",\"audio\":\"a.wav\",\"fold\":1.5}\n", 0, 1, "'fold' must be an integer"},
    {"{\"id\":\"a\",\"audio\":\"a.wav\",\"fold\":-1}\n", 0, 1, "'fold' must be >= 0"},
    {"{\"id\":\"a\",\"audio\":\"a.wav\",\"fold\":\"1\"}\n", 0, 1, "'fold' must be an integer, got string"},
    {"{\"id\":\"a\",\"audio\":\"a.wav\",}\n", 0, 1, "malformed JSON"},
    {OK_LINE "[1,2]\n", 0, 2, "must be a JSON object, got array"},
    {"{\"id\":\"a\",\"audio\":\"a.wav\",\"label\":\"caf\xc3\"}\n", 0, 1, "not valid UTF-8"},
    {"\xEF\xBB\xBF" OK_LINE, 0, 1, "byte-order mark"},
    {"{\"id\":\"a\",\"audio\":\"a.wav\"}\r\n", 0, 1, "CR LF"},
    {"{\"id\":\"\",\"audio\":\"a.wav\"}\n", 0, 1, "'id' must not be empty"},
    {"{\"id\":\"a\",\"audio\":\"a.wav\",\"id\":\"b\"}\n", 0, 1, "malformed JSON"},
    {"{\"id\":\"a\",\"audio\":\"a.wav\",\"age\":-3}\n", 0, 1, "'age' must be >= 0"},
    {"{\"id\":\"a\",\"audio\":\"a.wav\",\"arousal\":1e400}\n", 0, 1, "out of range"},
    {"{\"id\":\"a\",\"audio\":\"a.wav\",\"speaker\":7}\n", 0, 1, "'speaker' must be a string, got number"},
    {"{\"id\":\"a\",\"audio\":\"a.wav\",\"transcript\":null}\n", 0, 1, "'transcript' must be a string, got null"},
    {NUL_FILE, sizeof NUL_FILE - 1, 1, "malformed JSON"},
    {"{\"id\":\"a\",\"audio\":\"a\\u0000.wav\"}\n", 0, 1, "NUL"},
};

Test(manifest, bad_inputs_name_file_and_line) {
    make_dir();
    size_t n = sizeof BAD / sizeof BAD[0];
    cr_assert_geq(n, 15);
    for (size_t i = 0; i < n; i++) {
        char path[512];
        snprintf(path, sizeof path, "%s/bad%zu.jsonl", g_dir, i);
        write_file(path, BAD[i].text, BAD[i].len ? BAD[i].len : strlen(BAD[i].text));
        SercErr err = {{0}};
        Manifest *m = manifest_read(path, &err);
        cr_assert_null(m, "case %zu accepted: %s", i, BAD[i].text);
        char prefix[600];
        snprintf(prefix, sizeof prefix, "%s:%d: ", path, BAD[i].line);
        cr_assert(strncmp(err.msg, prefix, strlen(prefix)) == 0, "case %zu: message '%s' does not start with '%s'", i,
                  err.msg, prefix);
        cr_assert_not_null(strstr(err.msg, BAD[i].keyword), "case %zu: message '%s' lacks '%s'", i, err.msg,
                           BAD[i].keyword);
    }
}

Test(manifest, missing_and_empty_files) {
    make_dir();
    char path[512];
    SercErr err = {{0}};
    snprintf(path, sizeof path, "%s/none.jsonl", g_dir);
    cr_assert_null(manifest_read(path, &err));
    cr_assert_not_null(strstr(err.msg, "cannot open"), "%s", err.msg);
    cr_assert_not_null(strstr(err.msg, path), "%s", err.msg);
    snprintf(path, sizeof path, "%s/empty.jsonl", g_dir);
    write_file(path, "", 0);
    cr_assert_null(manifest_read(path, &err));
    cr_assert_not_null(strstr(err.msg, "empty manifest"), "%s", err.msg);
}

Test(manifest, very_long_line_and_no_final_newline) {
    make_dir();
    char path[512];
    snprintf(path, sizeof path, "%s/long.jsonl", g_dir);
    size_t n = 3u << 20;
    char *text = malloc(n + 100);
    int k = snprintf(text, n + 100, "{\"id\":\"a\",\"audio\":\"a.wav\",\"transcript\":\"");
    memset(text + k, 'x', n);
    k += (int)n;
    k += snprintf(text + k, 100, "\"}");
    write_file(path, text, (size_t)k); /* no final newline */
    SercErr err = {{0}};
    Manifest *m = manifest_read(path, &err);
    cr_assert_not_null(m, "%s", err.msg);
    cr_assert_eq(strlen(m->utts[0].transcript), n);
    manifest_free(m);
    free(text);
}

Test(manifest, filter) {
    Manifest *m = manifest_new(".");
    const char *conds[] = {"clean", "white@5dB", "clean", NULL};
    for (int i = 0; i < 4; i++) {
        Utterance *u = manifest_append(m);
        char id[8];
        snprintf(id, sizeof id, "u%d", i);
        u->id = strdup(id);
        manifest_set_audio(m, u, "x.wav");
        u->fold = i % 2;
        u->split = i < 2 ? SPLIT_TRAIN : SPLIT_TEST;
        if (conds[i]) u->condition = strdup(conds[i]);
        if (i != 3) u->label = strdup("happy");
    }
    ManifestFilter f = manifest_filter_any();
    f.fold = 0;
    Manifest *a = manifest_filter(m, &f);
    cr_assert_eq(a->n, 2);
    cr_assert_str_eq(a->utts[1].id, "u2");
    f = manifest_filter_any();
    f.exclude_fold = 0;
    f.require_label = 1;
    Manifest *b = manifest_filter(m, &f);
    cr_assert_eq(b->n, 1);
    cr_assert_str_eq(b->utts[0].id, "u1");
    f = manifest_filter_any();
    f.split = SPLIT_TEST;
    f.condition = "clean";
    Manifest *c = manifest_filter(m, &f);
    cr_assert_eq(c->n, 1);
    cr_assert_str_eq(c->utts[0].id, "u2");
    manifest_free(a);
    manifest_free(b);
    manifest_free(c);
    manifest_free(m);
}

Test(labelmap, read_write_and_bad) {
    make_dir();
    char path[512];
    snprintf(path, sizeof path, "%s/iemocap.labels", g_dir);
    LabelMap *map = labelmap_new();
    const char *names[] = {"neutral", "happy", "sad", "angry"};
    for (int i = 0; i < 4; i++) cr_assert_eq(labelmap_add(map, names[i]), i);
    cr_assert_eq(labelmap_add(map, "sad"), 2);
    SercErr err = {{0}};
    cr_assert_eq(labelmap_write(path, map, &err), 0, "%s", err.msg);
    LabelMap *back = labelmap_read(path, &err);
    cr_assert_not_null(back, "%s", err.msg);
    cr_assert_eq(back->n, 4);
    cr_assert_eq(labelmap_index(back, "angry"), 3);
    cr_assert_eq(labelmap_index(back, "fear"), -1);
    const char *bad[][2] = {{"a\n\nb\n", ":2: blank line"},
                            {"a\nb\na\n", ":3: duplicate label 'a'"},
                            {"a\n b\n", ":2: label name ' b' has leading"},
                            {"", "empty label map"},
                            {"a\r\n", ":1: line ends in CR LF"}};
    for (int i = 0; i < 5; i++) {
        write_file(path, bad[i][0], strlen(bad[i][0]));
        cr_assert_null(labelmap_read(path, &err), "case %d accepted", i);
        cr_assert_not_null(strstr(err.msg, bad[i][1]), "case %d: %s", i, err.msg);
    }
    /* labels of a manifest checked against the map */
    Manifest *m = manifest_new(".");
    Utterance *u = manifest_append(m);
    u->id = strdup("x");
    manifest_set_audio(m, u, "x.wav");
    u->label = strdup("excited");
    u->line = 4;
    cr_assert_eq(manifest_check_labels(m, back, &err), -1);
    cr_assert_not_null(strstr(err.msg, ":4: label 'excited' is not in the label map"), "%s", err.msg);
    manifest_free(m);
    labelmap_free(map);
    labelmap_free(back);
}

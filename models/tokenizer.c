/* WordPiece and byte-level BPE, step for step as Hugging Face's `tokenizers` crate runs them (the
 * crate's file named in each section), so that ids and offsets agree with the fast tokenizers. */
#include "tokenizer.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fileio.h"
#include "json.h"
#include "tokenizer_unicode_internal.h"

#define WORDPIECE_MAX_CHARS 100 /* max_input_chars_per_word */
#define MAX_SPECIALS 8

/* ---- string -> id map (open addressing, FNV-1a) ---- */

typedef struct StrMap {
    char **keys;
    size_t *key_len;
    int32_t *vals;
    size_t cap, n;
} StrMap;

static uint64_t fnv1a(const char *s, size_t n) {
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
    return h;
}

static void strmap_grow(StrMap *m);

/* Inserts or overwrites (the last entry wins, as a HashMap insert does). */
static void strmap_put(StrMap *m, const char *s, size_t n, int32_t v) {
    if (2 * (m->n + 1) > m->cap) strmap_grow(m);
    size_t i = fnv1a(s, n) & (m->cap - 1);
    while (m->keys[i]) {
        if (m->key_len[i] == n && memcmp(m->keys[i], s, n) == 0) {
            m->vals[i] = v;
            return;
        }
        i = (i + 1) & (m->cap - 1);
    }
    m->keys[i] = serc_malloc(n + 1);
    memcpy(m->keys[i], s, n);
    m->keys[i][n] = 0;
    m->key_len[i] = n;
    m->vals[i] = v;
    m->n++;
}

static void strmap_grow(StrMap *m) {
    StrMap old = *m;
    m->cap = old.cap ? 2 * old.cap : 1024;
    m->keys = serc_calloc(m->cap, sizeof *m->keys);
    m->key_len = serc_calloc(m->cap, sizeof *m->key_len);
    m->vals = serc_calloc(m->cap, sizeof *m->vals);
    m->n = 0;
    for (size_t i = 0; i < old.cap; i++)
        if (old.keys[i]) {
            strmap_put(m, old.keys[i], old.key_len[i], old.vals[i]);
            free(old.keys[i]);
        }
    free(old.keys);
    free(old.key_len);
    free(old.vals);
}

static int32_t strmap_get(const StrMap *m, const char *s, size_t n) {
    if (!m->cap) return -1;
    size_t i = fnv1a(s, n) & (m->cap - 1);
    while (m->keys[i]) {
        if (m->key_len[i] == n && memcmp(m->keys[i], s, n) == 0) return m->vals[i];
        i = (i + 1) & (m->cap - 1);
    }
    return -1;
}

static void strmap_free(StrMap *m) {
    for (size_t i = 0; i < m->cap; i++) free(m->keys[i]);
    free(m->keys);
    free(m->key_len);
    free(m->vals);
}

/* ---- (left id, right id) -> (rank, merged id) ---- */

typedef struct PairMap {
    uint64_t *keys; /* (left << 32 | right) + 1; 0 = empty */
    int32_t *rank, *merged;
    size_t cap, n;
} PairMap;

static void pairmap_put(PairMap *m, uint32_t a, uint32_t b, int32_t rank, int32_t merged) {
    if (2 * (m->n + 1) > m->cap) {
        PairMap old = *m;
        m->cap = old.cap ? 2 * old.cap : 1024;
        m->keys = serc_calloc(m->cap, sizeof *m->keys);
        m->rank = serc_malloc(m->cap * sizeof *m->rank);
        m->merged = serc_malloc(m->cap * sizeof *m->merged);
        m->n = 0;
        for (size_t i = 0; i < old.cap; i++)
            if (old.keys[i])
                pairmap_put(m, (uint32_t)((old.keys[i] - 1) >> 32), (uint32_t)(old.keys[i] - 1), old.rank[i],
                            old.merged[i]);
        free(old.keys);
        free(old.rank);
        free(old.merged);
    }
    uint64_t key = (((uint64_t)a << 32) | b) + 1;
    size_t i = (size_t)((key * 0x9E3779B97F4A7C15ull) >> 20) & (m->cap - 1);
    while (m->keys[i] && m->keys[i] != key) i = (i + 1) & (m->cap - 1);
    if (!m->keys[i]) m->n++;
    m->keys[i] = key; /* a repeated merge line takes the later rank, as the crate's HashMap insert does */
    m->rank[i] = rank;
    m->merged[i] = merged;
}

static int pairmap_get(const PairMap *m, uint32_t a, uint32_t b, int32_t *rank, int32_t *merged) {
    if (!m->cap) return 0;
    uint64_t key = (((uint64_t)a << 32) | b) + 1;
    size_t i = (size_t)((key * 0x9E3779B97F4A7C15ull) >> 20) & (m->cap - 1);
    while (m->keys[i]) {
        if (m->keys[i] == key) {
            *rank = m->rank[i];
            *merged = m->merged[i];
            return 1;
        }
        i = (i + 1) & (m->cap - 1);
    }
    return 0;
}

/* ---- the tokenizer ---- */

typedef struct SpecialToken {
    char *content;
    int id;
    int lstrip, rstrip; /* swallow the whitespace before / after it */
} SpecialToken;

struct Tokenizer {
    TokenizerKind kind;
    StrMap vocab;
    char **id_to_token;
    int n_ids;
    /* WordPiece: BertNormalizer switches */
    int clean_text, chinese, strip_accents, lowercase;
    /* byte-level BPE */
    PairMap merges;
    int32_t byte_id[256];  /* id of the one-byte symbol */
    int add_prefix_space;
    int cls, sep, pad, unk;
    SpecialToken specials[MAX_SPECIALS];
    int n_specials;
    int model_max_length;
};

/* ---- UTF-8 ---- */

/* Decodes the code point at s[*i] (valid UTF-8 assumed) and advances *i. */
static uint32_t utf8_next(const char *s, size_t *i) {
    const unsigned char *u = (const unsigned char *)s + *i;
    if (u[0] < 0x80) {
        *i += 1;
        return u[0];
    }
    if (u[0] < 0xE0) {
        *i += 2;
        return ((uint32_t)(u[0] & 0x1F) << 6) | (u[1] & 0x3F);
    }
    if (u[0] < 0xF0) {
        *i += 3;
        return ((uint32_t)(u[0] & 0x0F) << 12) | ((uint32_t)(u[1] & 0x3F) << 6) | (u[2] & 0x3F);
    }
    *i += 4;
    return ((uint32_t)(u[0] & 0x07) << 18) | ((uint32_t)(u[1] & 0x3F) << 12) | ((uint32_t)(u[2] & 0x3F) << 6) |
           (u[3] & 0x3F);
}

/* Writes cp as UTF-8 to out (room for 4) and returns its length. */
static int utf8_put(uint32_t cp, char *out) {
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xC0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xE0 | (cp >> 12));
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | (cp >> 18));
    out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    out[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* ---- growable buffers ---- */

/* A character of the normalised text with the byte range [s, e) of the input character it came from
 * (the crate's NormalizedString alignments). */
typedef struct NChar {
    uint32_t cp;
    int32_t s, e;
} NChar;

typedef struct NCharVec {
    NChar *v;
    int n, cap;
} NCharVec;

static void nchar_push(NCharVec *a, uint32_t cp, int32_t s, int32_t e) {
    if (a->n == a->cap) {
        a->cap = a->cap ? 2 * a->cap : 64;
        a->v = serc_realloc(a->v, (size_t)a->cap * sizeof *a->v);
    }
    a->v[a->n++] = (NChar){cp, s, e};
}

typedef struct TokVec {
    int32_t *ids, *s, *e;
    int n, cap;
} TokVec;

static void tok_push(TokVec *t, int32_t id, int32_t s, int32_t e) {
    if (t->n == t->cap) {
        t->cap = t->cap ? 2 * t->cap : 64;
        t->ids = serc_realloc(t->ids, (size_t)t->cap * sizeof *t->ids);
        t->s = serc_realloc(t->s, (size_t)t->cap * sizeof *t->s);
        t->e = serc_realloc(t->e, (size_t)t->cap * sizeof *t->e);
    }
    t->ids[t->n] = id;
    t->s[t->n] = s;
    t->e[t->n] = e;
    t->n++;
}

static void tok_free(TokVec *t) {
    free(t->ids);
    free(t->s);
    free(t->e);
}

/* ---- WordPiece (normalizers/bert.rs, pre_tokenizers/bert.rs, models/wordpiece/mod.rs) ---- */

/* BertNormalizer on text[a, b): clean text, CJK spacing, accents, lowercase, character by character
 * (every step maps one character to characters, so doing them per character equals the crate's
 * passes over the whole string). */
static void bert_normalize(const Tokenizer *t, const char *text, size_t a, size_t b, NCharVec *out) {
    size_t i = a;
    while (i < b) {
        int32_t s = (int32_t)i;
        uint32_t cp = utf8_next(text, &i);
        int32_t e = (int32_t)i;
        unsigned f = ucp_flags(cp);
        if (t->clean_text) {
            if (f & UCP_CLEAN_REMOVE) continue;
            if (f & UCP_BERT_SPACE) cp = ' ';
        }
        uint32_t acc[3] = {cp}, low[3];
        int n_acc = t->strip_accents ? ucp_strip_accents(cp, acc) : 1;
        if (t->chinese && (f & UCP_CJK)) nchar_push(out, ' ', s, e);
        for (int m = 0; m < n_acc; m++) {
            low[0] = acc[m];
            int n_low = t->lowercase ? ucp_lowercase(acc[m], low) : 1;
            for (int q = 0; q < n_low; q++) nchar_push(out, low[q], s, e);
        }
        if (t->chinese && (f & UCP_CJK)) nchar_push(out, ' ', s, e);
    }
}

/* Greedy longest-match-first WordPiece of one pre-token; a word longer than 100 characters, or one
 * with a piece missing from the vocabulary, becomes one [UNK] spanning the word. */
static void wordpiece_word(const Tokenizer *t, const NChar *w, int n, TokVec *out) {
    if (n > WORDPIECE_MAX_CHARS) {
        tok_push(out, t->unk, w[0].s, w[n - 1].e);
        return;
    }
    char buf[2 + 4 * WORDPIECE_MAX_CHARS];
    int byte_at[WORDPIECE_MAX_CHARS + 1]; /* byte offset of char k in the word's UTF-8 */
    char word[4 * WORDPIECE_MAX_CHARS];
    byte_at[0] = 0;
    for (int k = 0; k < n; k++) byte_at[k + 1] = byte_at[k] + utf8_put(w[k].cp, word + byte_at[k]);
    int first = out->n;
    for (int start = 0; start < n;) {
        int found = -1, end = n;
        for (; end > start; end--) {
            int len = 0;
            if (start > 0) {
                buf[0] = buf[1] = '#';
                len = 2;
            }
            memcpy(buf + len, word + byte_at[start], (size_t)(byte_at[end] - byte_at[start]));
            len += byte_at[end] - byte_at[start];
            found = strmap_get(&t->vocab, buf, (size_t)len);
            if (found >= 0) break;
        }
        if (found < 0) {
            out->n = first;
            tok_push(out, t->unk, w[0].s, w[n - 1].e);
            return;
        }
        tok_push(out, found, w[start].s, w[end - 1].e);
        start = end;
    }
}

static void wordpiece_segment(const Tokenizer *t, const char *text, size_t a, size_t b, TokVec *out) {
    NCharVec nv = {0};
    bert_normalize(t, text, a, b, &nv);
    /* BertPreTokenizer: whitespace splits (and is dropped), punctuation stands alone */
    int i = 0;
    while (i < nv.n) {
        unsigned f = ucp_flags(nv.v[i].cp);
        if (f & UCP_BERT_SPACE) {
            i++;
            continue;
        }
        int j = i + 1;
        if (!(f & UCP_BERT_PUNCT))
            while (j < nv.n && !(ucp_flags(nv.v[j].cp) & (UCP_BERT_SPACE | UCP_BERT_PUNCT))) j++;
        wordpiece_word(t, nv.v + i, j - i, out);
        i = j;
    }
    free(nv.v);
}

/* ---- byte-level BPE (pre_tokenizers/byte_level.rs, models/bpe/word.rs) ---- */

/* GPT-2's bytes_to_unicode(): printable bytes stand for themselves, the others for U+0100 + n. */
static uint32_t byte_to_unicode(int byte) {
    if ((byte >= '!' && byte <= '~') || (byte >= 0xA1 && byte <= 0xAC) || (byte >= 0xAE && byte <= 0xFF))
        return (uint32_t)byte;
    int n = 0;
    for (int b = 0; b < byte; b++)
        if (!((b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF))) n++;
    return 256u + (uint32_t)n;
}

/* The GPT-2 pattern, leftmost alternative first:
 *   's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
 * Returns the end of the match that starts at c[i]. */
static int gpt2_match(const NChar *c, int n, int i) {
    uint32_t cp = c[i].cp;
    if (cp == '\'' && i + 1 < n) {
        uint32_t x = c[i + 1].cp;
        if (x == 's' || x == 't' || x == 'm' || x == 'd') return i + 2;
        if (i + 2 < n) {
            uint32_t y = c[i + 2].cp;
            if ((x == 'r' && y == 'e') || (x == 'v' && y == 'e') || (x == 'l' && y == 'l')) return i + 3;
        }
    }
#define IS_L(k) (ucp_flags(c[k].cp) & UCP_LETTER)
#define IS_N(k) (ucp_flags(c[k].cp) & UCP_NUMBER)
#define IS_S(k) (ucp_flags(c[k].cp) & UCP_SPACE)
#define IS_O(k) (!(ucp_flags(c[k].cp) & (UCP_LETTER | UCP_NUMBER | UCP_SPACE)))
    int sp = cp == ' ' && i + 1 < n; /* the optional leading space, tried first */
    int j;
    if ((sp && IS_L(i + 1)) || IS_L(i)) {
        for (j = i + 1; j < n && IS_L(j);) j++;
        return j;
    }
    if ((sp && IS_N(i + 1)) || IS_N(i)) {
        for (j = i + 1; j < n && IS_N(j);) j++;
        return j;
    }
    if ((sp && IS_O(i + 1)) || IS_O(i)) {
        for (j = i + 1; j < n && IS_O(j);) j++;
        return j;
    }
    /* whitespace: the run, less its last character when a non-space follows (that space then leads
     * the next word); a single space before a non-space is matched by \s+ alone */
    for (j = i + 1; j < n && IS_S(j);) j++;
    if (j < n && j - 1 > i) return j - 1;
    return j;
#undef IS_L
#undef IS_N
#undef IS_S
#undef IS_O
}

typedef struct BpeSymbol {
    int32_t id;
    int prev, next;
    int b0, b1; /* byte range [b0, b1) of the piece */
} BpeSymbol;

typedef struct BpeMerge {
    int32_t rank, pos, merged;
} BpeMerge;

/* Min-heap order of the crate's queue: lowest rank, then leftmost position. */
static int merge_before(BpeMerge a, BpeMerge b) { return a.rank != b.rank ? a.rank < b.rank : a.pos < b.pos; }

static void heap_push(BpeMerge *h, int *n, BpeMerge m) {
    int i = (*n)++;
    h[i] = m;
    while (i > 0 && merge_before(h[i], h[(i - 1) / 2])) {
        BpeMerge tmp = h[i];
        h[i] = h[(i - 1) / 2];
        h[(i - 1) / 2] = tmp;
        i = (i - 1) / 2;
    }
}

static BpeMerge heap_pop(BpeMerge *h, int *n) {
    BpeMerge top = h[0];
    h[0] = h[--*n];
    for (int i = 0;;) {
        int l = 2 * i + 1, r = l + 1, m = i;
        if (l < *n && merge_before(h[l], h[m])) m = l;
        if (r < *n && merge_before(h[r], h[m])) m = r;
        if (m == i) break;
        BpeMerge tmp = h[i];
        h[i] = h[m];
        h[m] = tmp;
        i = m;
    }
    return top;
}

/* Byte-level BPE of one pre-token c[0..n): its bytes become symbols, merged by rank. Token offsets are
 * the input ranges of the first and last byte's characters. */
static void bpe_piece(const Tokenizer *t, const NChar *c, int n, TokVec *out) {
    int nb = 0;
    char tmp[4];
    for (int k = 0; k < n; k++) nb += utf8_put(c[k].cp, tmp);
    unsigned char *bytes = serc_malloc((size_t)nb);
    int *owner = serc_malloc((size_t)nb * sizeof *owner); /* char index of each byte */
    nb = 0;
    for (int k = 0; k < n; k++) {
        int len = utf8_put(c[k].cp, (char *)bytes + nb);
        for (int q = 0; q < len; q++) owner[nb + q] = k;
        nb += len;
    }
    BpeSymbol *sym = serc_malloc((size_t)nb * sizeof *sym);
    int ns = 0;
    for (int b = 0; b < nb; b++) {
        if (t->byte_id[bytes[b]] < 0) continue; /* not in the vocabulary: dropped (no unk in byte-level BPE) */
        sym[ns] = (BpeSymbol){t->byte_id[bytes[b]], ns - 1, ns + 1, b, b + 1};
        ns++;
    }
    if (ns) sym[ns - 1].next = -1;
    BpeMerge *heap = serc_malloc((size_t)(ns + 1) * 2 * sizeof *heap);
    int nh = 0;
    int32_t rank, merged;
    for (int k = 0; k + 1 < ns; k++)
        if (pairmap_get(&t->merges, (uint32_t)sym[k].id, (uint32_t)sym[k + 1].id, &rank, &merged))
            heap_push(heap, &nh, (BpeMerge){rank, k, merged});
    while (nh > 0) {
        BpeMerge top = heap_pop(heap, &nh);
        BpeSymbol *s = &sym[top.pos];
        if (s->b1 == s->b0 || s->next < 0) continue; /* removed, or the last symbol */
        BpeSymbol *r = &sym[s->next];
        /* a stale entry: the pair at pos changed since it was queued */
        if (!pairmap_get(&t->merges, (uint32_t)s->id, (uint32_t)r->id, &rank, &merged) || merged != top.merged) continue;
        s->id = top.merged;
        s->b1 = r->b1;
        r->b1 = r->b0; /* removed */
        s->next = r->next;
        if (s->next >= 0) sym[s->next].prev = top.pos;
        if (s->prev >= 0 &&
            pairmap_get(&t->merges, (uint32_t)sym[s->prev].id, (uint32_t)s->id, &rank, &merged))
            heap_push(heap, &nh, (BpeMerge){rank, s->prev, merged});
        if (s->next >= 0 && pairmap_get(&t->merges, (uint32_t)s->id, (uint32_t)sym[s->next].id, &rank, &merged))
            heap_push(heap, &nh, (BpeMerge){rank, top.pos, merged});
        /* each merge pushes at most two entries and removes one symbol: the heap never outgrows 2 ns */
    }
    for (int k = ns ? 0 : -1; k >= 0; k = sym[k].next)
        tok_push(out, sym[k].id, c[owner[sym[k].b0]].s, c[owner[sym[k].b1 - 1]].e);
    free(heap);
    free(sym);
    free(owner);
    free(bytes);
}

/* Start byte of the character before byte i. */
static size_t utf8_prev(const char *text, size_t i) {
    do i--;
    while (i > 0 && ((unsigned char)text[i] & 0xC0) == 0x80);
    return i;
}

/* Offsets as RobertaProcessing(trim_offsets=True) leaves them (post_processors/roberta.rs +
 * byte_level.rs process_offsets): each leading / trailing space byte of the token ("Ġ" in its
 * vocabulary entry) moves its start / end in by one character of the input, not past each other, except
 * the one space that add_prefix_space put before the first token. Counting characters, not bytes,
 * matters when the added space is aligned with a multi-byte first character. */
static void bpe_trim_offsets(const Tokenizer *t, TokVec *tv, const char *text) {
    for (int i = 0; i < tv->n; i++) {
        int32_t s = tv->s[i], e = tv->e[i];
        const char *tok = t->id_to_token[tv->ids[i]];
        size_t len = strlen(tok), k = 0;
        int lead = 0, trail = 0;
        while (k + 1 < len && (unsigned char)tok[k] == 0xC4 && (unsigned char)tok[k + 1] == 0xA0) { /* U+0120 'Ġ' */
            lead++;
            k += 2;
        }
        for (size_t q = len; q >= 2 && (unsigned char)tok[q - 2] == 0xC4 && (unsigned char)tok[q - 1] == 0xA0; q -= 2)
            trail++;
        if (lead > 0) {
            int is_first = i == 0 || s == 0;
            if (is_first && t->add_prefix_space && lead == 1) lead = 0;
            for (size_t p; lead > 0 && s < e; lead--) {
                p = (size_t)s;
                utf8_next(text, &p);
                s = (int32_t)p;
            }
        }
        for (; trail > 0 && e > s; trail--) e = (int32_t)utf8_prev(text, (size_t)e);
        tv->s[i] = s;
        tv->e[i] = e;
    }
}

static void bpe_segment(const Tokenizer *t, const char *text, size_t a, size_t b, TokVec *out) {
    NCharVec nv = {0};
    size_t i = a;
    if (t->add_prefix_space && a < b && text[a] != ' ') {
        size_t j = a;
        utf8_next(text, &j);
        nchar_push(&nv, ' ', (int32_t)a, (int32_t)j); /* aligned with the first character, as prepend() does */
    }
    while (i < b) {
        int32_t s = (int32_t)i;
        uint32_t cp = utf8_next(text, &i);
        nchar_push(&nv, cp, s, (int32_t)i);
    }
    for (int k = 0; k < nv.n;) {
        int j = gpt2_match(nv.v, nv.n, k);
        bpe_piece(t, nv.v + k, j - k, out);
        k = j;
    }
    free(nv.v);
}

/* ---- encoding ---- */

/* Finds the leftmost, then longest, special token in text[from, len); returns its index or -1. */
static int find_special(const Tokenizer *t, const char *text, size_t from, size_t len, size_t *at) {
    for (size_t i = from; i < len; i++) {
        int best = -1;
        size_t best_len = 0;
        for (int k = 0; k < t->n_specials; k++) {
            size_t n = strlen(t->specials[k].content);
            if (n > best_len && n <= len - i && memcmp(text + i, t->specials[k].content, n) == 0) {
                best = k;
                best_len = n;
            }
        }
        if (best >= 0) {
            *at = i;
            return best;
        }
    }
    return -1;
}

static int is_space_at(const char *text, size_t len, size_t i, size_t *next) {
    if (i >= len) return 0;
    size_t j = i;
    uint32_t cp = utf8_next(text, &j);
    *next = j;
    return (ucp_flags(cp) & UCP_BERT_SPACE) != 0;
}

static void encode_segment(const Tokenizer *t, const char *text, size_t a, size_t b, TokVec *out) {
    if (a >= b) return;
    if (t->kind == TOKENIZER_WORDPIECE) wordpiece_segment(t, text, a, b, out);
    else bpe_segment(t, text, a, b, out);
}

int tokenizer_encode(const Tokenizer *t, const char *text, size_t len, int max_length, Encoding *out, SercErr *err) {
    memset(out, 0, sizeof *out);
    if (len > (size_t)INT32_MAX / 2) return serc_fail(err, "tokenizer: text of %zu bytes is too long", len);
    if (len && !json_utf8_valid(text, len)) return serc_fail(err, "tokenizer: text is not valid UTF-8");
    if (max_length == 0) max_length = t->model_max_length;
    if (max_length > 0 && max_length < 2)
        return serc_fail(err, "tokenizer: max_length %d leaves no room for the 2 special tokens", max_length);

    /* the added vocabulary: specials in the raw text split it, and the pieces between are encoded */
    TokVec tv = {0};
    size_t pos = 0;
    for (;;) {
        size_t at = 0;
        int k = find_special(t, text, pos, len, &at);
        size_t a = k >= 0 ? at : len, b = k >= 0 ? at + strlen(t->specials[k].content) : len;
        if (k >= 0 && t->specials[k].lstrip)
            while (a > pos) {
                size_t p = utf8_prev(text, a), nx;
                if (!is_space_at(text, len, p, &nx)) break;
                a = p;
            }
        size_t rs = b, nx;
        if (k >= 0 && t->specials[k].rstrip)
            while (is_space_at(text, len, rs, &nx)) rs = nx;
        /* the segment the tokenizers crate processes independently (so the BPE gets a fresh prefix space
         * and trims offsets as for a first token) */
        TokVec seg = {0};
        encode_segment(t, text, pos, a, &seg);
        for (int q = 0; q < seg.n; q++) tok_push(&tv, seg.ids[q], seg.s[q], seg.e[q]);
        tok_free(&seg);
        if (k < 0) break;
        tok_push(&tv, t->specials[k].id, (int32_t)a, (int32_t)rs);
        pos = rs;
    }

    int n_content = tv.n;
    if (max_length > 0 && n_content > max_length - 2) n_content = max_length - 2;
    tv.n = n_content;
    /* after truncation, over the whole text, as the post-processor sees the encoding */
    if (t->kind == TOKENIZER_BYTE_BPE) bpe_trim_offsets(t, &tv, text);
    int n = n_content + 2;
    out->n = n;
    out->ids = serc_malloc((size_t)n * sizeof *out->ids);
    out->start = serc_malloc((size_t)n * sizeof *out->start);
    out->end = serc_malloc((size_t)n * sizeof *out->end);
    out->word = serc_malloc((size_t)n * sizeof *out->word);

    /* whitespace word of every byte (-1 on whitespace) */
    int32_t *word_of = serc_malloc((len + 1) * sizeof *word_of);
    int words = 0, in_word = 0;
    for (size_t i = 0; i < len;) {
        size_t j = i;
        uint32_t cp = utf8_next(text, &j);
        int space = (ucp_flags(cp) & UCP_BERT_SPACE) != 0;
        if (!space && !in_word) words++;
        in_word = !space;
        for (size_t q = i; q < j; q++) word_of[q] = space ? -1 : words - 1;
        i = j;
    }
    out->n_words = words;

    out->ids[0] = t->cls;
    out->ids[n - 1] = t->sep;
    out->start[0] = out->end[0] = out->start[n - 1] = out->end[n - 1] = 0;
    out->word[0] = out->word[n - 1] = -1;
    for (int i = 0; i < n_content; i++) {
        out->ids[i + 1] = tv.ids[i];
        out->start[i + 1] = tv.s[i];
        out->end[i + 1] = tv.e[i];
        int w = -1;
        for (int32_t q = tv.s[i]; q < tv.e[i] && w < 0; q++) w = word_of[q];
        out->word[i + 1] = w;
    }
    free(word_of);
    tok_free(&tv);
    return 0;
}

void encoding_free(Encoding *e) {
    if (!e) return;
    free(e->ids);
    free(e->start);
    free(e->end);
    free(e->word);
    memset(e, 0, sizeof *e);
}

/* ---- loading ---- */


static int file_exists(const char *path) {
    FILE *f = fopen(path, "rb");
    if (f) fclose(f);
    return f != NULL;
}

static void set_id_token(Tokenizer *t, int id, const char *s, size_t n) {
    if (id >= t->n_ids) {
        int cap = t->n_ids;
        while (cap <= id) cap = cap ? 2 * cap : 1024;
        t->id_to_token = serc_realloc(t->id_to_token, (size_t)cap * sizeof *t->id_to_token);
        memset(t->id_to_token + t->n_ids, 0, (size_t)(cap - t->n_ids) * sizeof *t->id_to_token);
        t->n_ids = cap;
    }
    free(t->id_to_token[id]);
    t->id_to_token[id] = serc_malloc(n + 1);
    memcpy(t->id_to_token[id], s, n);
    t->id_to_token[id][n] = 0;
}

static int max_id_plus_one(const Tokenizer *t) {
    int n = t->n_ids;
    while (n > 0 && !t->id_to_token[n - 1]) n--;
    return n;
}

/* vocab.txt: one token per line, id = line number from 0; the line loses "\n" (or "\r\n") and trailing
 * whitespace, as WordPiece::read_file does. */
static int load_vocab_txt(Tokenizer *t, const char *path, SercErr *err) {
    size_t n;
    char *buf = file_read_all(path, &n, err);
    if (!buf) return -1;
    if (n == 0) {
        free(buf);
        return serc_fail(err, "%s: empty vocabulary", path);
    }
    int line = 0;
    for (size_t i = 0; i < n;) {
        size_t j = i;
        while (j < n && buf[j] != '\n') j++;
        size_t e = j;
        if (!json_utf8_valid(buf + i, e - i)) {
            free(buf);
            return serc_fail(err, "%s: line %d is not valid UTF-8", path, line + 1);
        }
        /* trim_end: trailing White_Space characters (ASCII and Unicode) */
        while (e > i) {
            size_t p = utf8_prev(buf + i, e - i) + i, q = p;
            if (!(ucp_flags(utf8_next(buf, &q)) & UCP_BERT_SPACE)) break;
            e = p;
        }
        strmap_put(&t->vocab, buf + i, e - i, line);
        set_id_token(t, line, buf + i, e - i);
        line++;
        i = j + 1;
    }
    free(buf);
    return 0;
}

static int load_vocab_json(Tokenizer *t, const char *path, SercErr *err) {
    size_t n;
    char *buf = file_read_all(path, &n, err);
    if (!buf) return -1;
    JsonValue *v = json_parse(buf, n, err);
    if (!v) {
        free(buf);
        return serc_fail_prefix(err, "%s", path);
    }
    int rc = 0;
    if (json_type(v) != JSON_OBJECT || json_len(v) == 0) {
        rc = serc_fail(err, "%s: expected a non-empty object of token -> id", path);
        goto done;
    }
    for (size_t i = 0; i < json_len(v); i++) {
        const JsonValue *id = json_value_at(v, i);
        const char *key = json_key_at(v, i);
        if (!json_is_int(id) || json_int(id) < 0 || json_int(id) > INT32_MAX / 2) {
            char where[96];
            json_describe_offset(buf, n, json_offset(id), where, sizeof where);
            rc = serc_fail(err, "%s: %s: id of token \"%.60s\" is not an integer in [0, 2^30)", path, where, key);
            goto done;
        }
        strmap_put(&t->vocab, key, strlen(key), (int32_t)json_int(id));
        set_id_token(t, (int)json_int(id), key, strlen(key));
    }
done:
    json_free(v);
    free(buf);
    return rc;
}

/* merges.txt: "#version" lines skipped, then one "left right" pair per line, rank = its index, as
 * convert_merges_to_hashmap reads it. */
static int load_merges(Tokenizer *t, const char *path, SercErr *err) {
    size_t n;
    char *buf = file_read_all(path, &n, err);
    if (!buf) return -1;
    int rank = 0, line = 0, rc = 0;
    char *joined = serc_malloc(n + 1);
    for (size_t i = 0; i < n;) {
        size_t j = i;
        while (j < n && buf[j] != '\n') j++;
        size_t e = j > i && buf[j - 1] == '\r' ? j - 1 : j;
        line++;
        char *s = buf + i;
        size_t len = e - i;
        i = j + 1;
        if (len >= 8 && memcmp(s, "#version", 8) == 0) continue;
        char *sp = memchr(s, ' ', len);
        if (!sp || memchr(sp + 1, ' ', len - (size_t)(sp + 1 - s)) || sp == s || sp + 1 == s + len) {
            rc = serc_fail(err, "%s: line %d: expected two tokens separated by one space, got \"%.60s\"", path, line,
                           len ? s : "");
            break;
        }
        size_t la = (size_t)(sp - s), lb = len - la - 1;
        int32_t a = strmap_get(&t->vocab, s, la), b = strmap_get(&t->vocab, sp + 1, lb);
        memcpy(joined, s, la);
        memcpy(joined + la, sp + 1, lb);
        int32_t m = strmap_get(&t->vocab, joined, la + lb);
        if (a < 0 || b < 0 || m < 0) {
            rc = serc_fail(err, "%s: line %d: merge \"%.*s\" uses a token not in vocab.json (\"%.*s\")", path, line,
                           (int)(len < 120 ? len : 120), s, (int)(a < 0 ? la : b < 0 ? lb : la + lb),
                           a < 0 ? s : b < 0 ? sp + 1 : joined);
            break;
        }
        pairmap_put(&t->merges, (uint32_t)a, (uint32_t)b, rank++, m);
    }
    free(joined);
    free(buf);
    return rc;
}

/* A special token's text from tokenizer_config.json: a string, or an AddedToken object {"content": ...}
 * (whose lstrip/rstrip are taken too). NULL when absent or null. */
static const char *config_token(const JsonValue *cfg, const char *key, int *lstrip, int *rstrip) {
    const JsonValue *v = cfg ? json_get(cfg, key) : NULL;
    if (!v) return NULL;
    if (json_type(v) == JSON_STRING) return json_string(v);
    if (json_type(v) == JSON_OBJECT) {
        const JsonValue *c = json_get(v, "content"), *l = json_get(v, "lstrip"), *r = json_get(v, "rstrip");
        if (l && json_type(l) == JSON_BOOL && lstrip) *lstrip = json_bool(l);
        if (r && json_type(r) == JSON_BOOL && rstrip) *rstrip = json_bool(r);
        if (c && json_type(c) == JSON_STRING) return json_string(c);
    }
    return NULL;
}

static int config_bool(const JsonValue *cfg, const char *key, int dflt, const char *path, SercErr *err, int *out) {
    const JsonValue *v = cfg ? json_get(cfg, key) : NULL;
    *out = dflt;
    if (!v || json_type(v) == JSON_NULL) return 0;
    if (json_type(v) != JSON_BOOL) return serc_fail(err, "%s: \"%s\" must be true, false or null", path, key);
    *out = json_bool(v);
    return 0;
}

/* Registers a special token; its text must be in the vocabulary when `required`. */
static int add_special(Tokenizer *t, const char *content, int lstrip, int rstrip, int required, const char *what,
                       const char *vocab_path, SercErr *err, int *id_out) {
    int id = content ? strmap_get(&t->vocab, content, strlen(content)) : -1;
    if (id_out) *id_out = id;
    if (id < 0) {
        if (required) return serc_fail(err, "%s: the %s token \"%s\" is not in the vocabulary", vocab_path, what, content);
        return 0;
    }
    for (int k = 0; k < t->n_specials; k++)
        if (strcmp(t->specials[k].content, content) == 0) return 0;
    SERC_ASSERT(t->n_specials < MAX_SPECIALS, "too many special tokens");
    t->specials[t->n_specials++] = (SpecialToken){serc_strdup(content), id, lstrip, rstrip};
    return 0;
}

Tokenizer *tokenizer_load(const char *dir, SercErr *err) {
    char path[4096], vpath[4096], cpath[4096];
    Tokenizer *t = serc_calloc(1, sizeof *t);
    JsonValue *cfg = NULL;
    char *cbuf = NULL;

    snprintf(cpath, sizeof cpath, "%s/tokenizer_config.json", dir);
    if (file_exists(cpath)) {
        size_t n;
        cbuf = file_read_all(cpath, &n, err);
        if (!cbuf) goto fail;
        cfg = json_parse(cbuf, n, err);
        if (!cfg) {
            serc_fail_prefix(err, "%s", cpath);
            goto fail;
        }
        if (json_type(cfg) != JSON_OBJECT) {
            serc_fail(err, "%s: expected a JSON object", cpath);
            goto fail;
        }
    }

    snprintf(vpath, sizeof vpath, "%s/vocab.txt", dir);
    if (file_exists(vpath)) {
        t->kind = TOKENIZER_WORDPIECE;
        if (load_vocab_txt(t, vpath, err)) goto fail;
        int lower, strip, chinese;
        if (config_bool(cfg, "do_lower_case", 1, cpath, err, &lower) ||
            config_bool(cfg, "strip_accents", lower, cpath, err, &strip) || /* null: follows lowercase */
            config_bool(cfg, "tokenize_chinese_chars", 1, cpath, err, &chinese))
            goto fail;
        t->clean_text = 1;
        t->lowercase = lower;
        t->strip_accents = strip;
        t->chinese = chinese;
        const char *names[5] = {"cls_token", "sep_token", "pad_token", "unk_token", "mask_token"};
        const char *dflt[5] = {"[CLS]", "[SEP]", "[PAD]", "[UNK]", "[MASK]"};
        int *ids[5] = {&t->cls, &t->sep, &t->pad, &t->unk, NULL};
        for (int k = 0; k < 5; k++) {
            int ls = 0, rs = 0;
            const char *s = config_token(cfg, names[k], &ls, &rs);
            if (add_special(t, s ? s : dflt[k], ls, rs, k == 0 || k == 1 || k == 3, names[k], vpath, err, ids[k])) goto fail;
        }
    } else {
        snprintf(vpath, sizeof vpath, "%s/vocab.json", dir);
        snprintf(path, sizeof path, "%s/merges.txt", dir);
        if (!file_exists(vpath)) {
            serc_fail(err, "%s: no vocab.txt (WordPiece) nor vocab.json + merges.txt (byte-level BPE)", dir);
            goto fail;
        }
        if (!file_exists(path)) {
            serc_fail(err, "%s: cannot open (%s); byte-level BPE needs vocab.json and merges.txt", path, strerror(ENOENT));
            goto fail;
        }
        t->kind = TOKENIZER_BYTE_BPE;
        if (load_vocab_json(t, vpath, err) || load_merges(t, path, err)) goto fail;
        for (int b = 0; b < 256; b++) {
            char u[4];
            t->byte_id[b] = strmap_get(&t->vocab, u, (size_t)utf8_put(byte_to_unicode(b), u));
        }
        if (config_bool(cfg, "add_prefix_space", 0, cpath, err, &t->add_prefix_space)) goto fail;
        /* RobertaTokenizer's specials: <s> opens (cls / bos), </s> closes (sep / eos); <mask> lstrips */
        const char *names[6] = {"cls_token", "sep_token", "pad_token", "unk_token", "mask_token", "bos_token"};
        const char *dflt[6] = {"<s>", "</s>", "<pad>", "<unk>", "<mask>", "<s>"};
        int *ids[6] = {&t->cls, &t->sep, &t->pad, &t->unk, NULL, NULL};
        for (int k = 0; k < 6; k++) {
            int ls = 0, rs = 0; /* transformers 5 loads RoBERTa's <mask> without lstrip */
            const char *s = config_token(cfg, names[k], &ls, &rs);
            if (add_special(t, s ? s : dflt[k], ls, rs, k < 2, names[k], vpath, err, ids[k])) goto fail;
        }
        int eos_id;
        const char *eos = config_token(cfg, "eos_token", NULL, NULL);
        if (add_special(t, eos ? eos : "</s>", 0, 0, 0, "eos_token", vpath, err, &eos_id)) goto fail;
    }

    const JsonValue *mml = cfg ? json_get(cfg, "model_max_length") : NULL;
    if (mml && json_type(mml) != JSON_NULL) {
        if (json_type(mml) != JSON_NUMBER || json_number(mml) < 2) {
            serc_fail(err, "%s: \"model_max_length\" must be a number >= 2", cpath);
            goto fail;
        }
        /* transformers writes 1e30 (VERY_LARGE_INTEGER) for "no limit" */
        t->model_max_length = json_number(mml) > 1e9 ? 0 : (int)json_number(mml);
    }
    json_free(cfg);
    free(cbuf);
    return t;
fail:
    json_free(cfg);
    free(cbuf);
    tokenizer_free(t);
    return NULL;
}

void tokenizer_free(Tokenizer *t) {
    if (!t) return;
    strmap_free(&t->vocab);
    for (int i = 0; i < t->n_ids; i++) free(t->id_to_token[i]);
    free(t->id_to_token);
    free(t->merges.keys);
    free(t->merges.rank);
    free(t->merges.merged);
    for (int k = 0; k < t->n_specials; k++) free(t->specials[k].content);
    free(t);
}

TokenizerKind tokenizer_kind(const Tokenizer *t) { return t->kind; }
int tokenizer_vocab_size(const Tokenizer *t) { return max_id_plus_one(t); }
int tokenizer_model_max_length(const Tokenizer *t) { return t->model_max_length; }
int tokenizer_token_to_id(const Tokenizer *t, const char *token) { return strmap_get(&t->vocab, token, strlen(token)); }
const char *tokenizer_id_to_token(const Tokenizer *t, int id) {
    return id >= 0 && id < t->n_ids ? t->id_to_token[id] : NULL;
}
int tokenizer_cls_id(const Tokenizer *t) { return t->cls; }
int tokenizer_sep_id(const Tokenizer *t) { return t->sep; }
int tokenizer_pad_id(const Tokenizer *t) { return t->pad; }
int tokenizer_unk_id(const Tokenizer *t) { return t->unk; }

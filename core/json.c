/* Strict JSON parser (RFC 8259) and string writer; see json.h for the rules it enforces.
 *
 * A recursive-descent parser over a byte range. Each value is one heap node; objects keep their members
 * in document order plus a key-sorted index, which finds duplicate keys in O(n log n) and serves
 * json_get by binary search (safetensors headers of large models hold thousands of keys).
 */
#include "json.h"

#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

typedef struct JsonMember {
    char *key; /* NUL-terminated, no embedded NUL */
    JsonValue *value;
} JsonMember;

typedef struct JsonKeyIndex {
    const char *key;
    size_t idx;    /* into members */
    size_t offset; /* of the key in the buffer, for the duplicate-key message */
} JsonKeyIndex;

struct JsonValue {
    JsonType type;
    size_t offset;
    union {
        int boolean;
        struct {
            double d;
            int64_t i;
            int is_int;
        } num;
        struct {
            char *s;
            size_t len;
        } str;
        struct {
            JsonValue **items;
            size_t n;
        } arr;
        struct {
            JsonMember *members;
            JsonKeyIndex *sorted;
            size_t n;
        } obj;
    } u;
};

typedef struct JsonParser {
    const char *buf;
    size_t len;
    size_t pos;
    SercErr *err;
} JsonParser;

/* ---------------------------------------------------------------------------------------------- */
/* Positions and messages                                                                           */

char *json_describe_offset(const char *buf, size_t len, size_t offset, char *out, size_t out_size) {
    size_t line = 1, line_start = 0;
    if (offset > len) offset = len;
    for (size_t i = 0; i < offset; i++) {
        if (buf[i] == '\n') {
            line++;
            line_start = i + 1;
        }
    }
    snprintf(out, out_size, "line %zu, column %zu (byte %zu)", line, offset - line_start + 1, offset);
    return out;
}

/* Fills err with "line L, column C (byte O): <message>" and returns NULL, for `return parse_error(...)`. */
SERC_PRINTF(3, 4) static JsonValue *parse_error(JsonParser *p, size_t offset, const char *fmt, ...) {
    char where[96], what[SERC_ERR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    json_describe_offset(p->buf, p->len, offset, where, sizeof where);
    serc_fail(p->err, "%s: %s", where, what);
    return NULL;
}

/* "'x'" for printable ASCII, "byte 0xNN" otherwise, "end of input" past the end. */
static const char *describe_char(const JsonParser *p, size_t pos, char *out, size_t n) {
    if (pos >= p->len) {
        snprintf(out, n, "end of input");
    } else {
        unsigned char c = (unsigned char)p->buf[pos];
        if (c >= 0x20 && c < 0x7f) snprintf(out, n, "'%c'", c);
        else snprintf(out, n, "byte 0x%02x", c);
    }
    return out;
}

/* ---------------------------------------------------------------------------------------------- */
/* UTF-8                                                                                            */

/* Length (1-4) of the well-formed UTF-8 sequence at s[0..avail), 0 when it is ill-formed
 * (Unicode 15, table 3-7: no overlong forms, no surrogates D800-DFFF, nothing above U+10FFFF). */
static size_t utf8_seq_len(const unsigned char *s, size_t avail) {
    unsigned char c = s[0];
    if (c < 0x80) return 1;
    size_t n;
    unsigned char lo = 0x80, hi = 0xbf; /* range of the second byte */
    if (c >= 0xc2 && c <= 0xdf) {
        n = 2;
    } else if (c >= 0xe0 && c <= 0xef) {
        n = 3;
        if (c == 0xe0) lo = 0xa0;
        if (c == 0xed) hi = 0x9f;
    } else if (c >= 0xf0 && c <= 0xf4) {
        n = 4;
        if (c == 0xf0) lo = 0x90;
        if (c == 0xf4) hi = 0x8f;
    } else {
        return 0;
    }
    if (avail < n) return 0;
    if (s[1] < lo || s[1] > hi) return 0;
    for (size_t i = 2; i < n; i++)
        if (s[i] < 0x80 || s[i] > 0xbf) return 0;
    return n;
}

int json_utf8_valid(const char *s, size_t n) {
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0;
    while (i < n) {
        size_t k = utf8_seq_len(u + i, n - i);
        if (k == 0) return 0;
        i += k;
    }
    return 1;
}

/* ---------------------------------------------------------------------------------------------- */
/* Growable buffer                                                                                  */

static void jsonbuf_reserve(JsonBuf *b, size_t extra) {
    SERC_ASSERT(extra < SIZE_MAX - b->len - 1, "JsonBuf size overflow");
    size_t need = b->len + extra + 1;
    if (need <= b->cap) return;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < need) cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    b->data = serc_realloc(b->data, cap);
    b->cap = cap;
}

void jsonbuf_append(JsonBuf *b, const char *s, size_t n) {
    jsonbuf_reserve(b, n);
    if (n) memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = '\0';
}

void jsonbuf_appendf(JsonBuf *b, const char *fmt, ...) {
    va_list ap, ap2;
    va_start(ap, fmt);
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    SERC_ASSERT(n >= 0, "jsonbuf_appendf: bad format '%s'", fmt);
    jsonbuf_reserve(b, (size_t)n);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap2);
    va_end(ap2);
    b->len += (size_t)n;
}

void jsonbuf_free(JsonBuf *b) {
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

/* Escape for byte c, or NULL when it is copied as is. `tmp` holds \u00XX escapes. */
static const char *escape_for(unsigned char c, char tmp[8]) {
    switch (c) {
    case '"': return "\\\"";
    case '\\': return "\\\\";
    case '\b': return "\\b";
    case '\f': return "\\f";
    case '\n': return "\\n";
    case '\r': return "\\r";
    case '\t': return "\\t";
    default:
        if (c < 0x20) {
            snprintf(tmp, 8, "\\u%04x", c);
            return tmp;
        }
        return NULL;
    }
}

void jsonbuf_string(JsonBuf *b, const char *s, size_t n) {
    char tmp[8];
    jsonbuf_append(b, "\"", 1);
    size_t run = 0; /* start of the pending run of bytes copied unchanged */
    for (size_t i = 0; i < n; i++) {
        const char *esc = escape_for((unsigned char)s[i], tmp);
        if (!esc) continue;
        jsonbuf_append(b, s + run, i - run);
        jsonbuf_append(b, esc, strlen(esc));
        run = i + 1;
    }
    jsonbuf_append(b, s + run, n - run);
    jsonbuf_append(b, "\"", 1);
}

void json_write_string(FILE *f, const char *s) {
    JsonBuf b = {0};
    jsonbuf_string(&b, s, strlen(s));
    fwrite(b.data, 1, b.len, f);
    jsonbuf_free(&b);
}

/* ---------------------------------------------------------------------------------------------- */
/* Parser                                                                                           */

static JsonValue *new_value(JsonType t, size_t offset) {
    JsonValue *v = serc_calloc(1, sizeof *v);
    v->type = t;
    v->offset = offset;
    return v;
}

static void skip_ws(JsonParser *p) {
    while (p->pos < p->len) {
        char c = p->buf[p->pos];
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r') break;
        p->pos++;
    }
}

static int hex_digit(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Reads the 4 hex digits after "\u" at p->pos into *cp; 0 on success. */
static int read_hex4(JsonParser *p, unsigned *cp) {
    if (p->len - p->pos < 4) return -1;
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        int h = hex_digit(p->buf[p->pos + (size_t)i]);
        if (h < 0) return -1;
        v = v * 16 + (unsigned)h;
    }
    p->pos += 4;
    *cp = v;
    return 0;
}

static void append_utf8(JsonBuf *b, unsigned cp) {
    char out[4];
    size_t n;
    if (cp < 0x80) {
        out[0] = (char)cp;
        n = 1;
    } else if (cp < 0x800) {
        out[0] = (char)(0xc0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3f));
        n = 2;
    } else if (cp < 0x10000) {
        out[0] = (char)(0xe0 | (cp >> 12));
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
        out[2] = (char)(0x80 | (cp & 0x3f));
        n = 3;
    } else {
        out[0] = (char)(0xf0 | (cp >> 18));
        out[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
        out[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
        out[3] = (char)(0x80 | (cp & 0x3f));
        n = 4;
    }
    jsonbuf_append(b, out, n);
}

/* Parses the "\uXXXX" escape (or surrogate pair) whose backslash is at `esc`; p->pos is past the 'u'. */
static int parse_unicode_escape(JsonParser *p, size_t esc, JsonBuf *out) {
    unsigned cp;
    if (read_hex4(p, &cp) != 0) {
        parse_error(p, esc, "invalid \\u escape: expected 4 hex digits");
        return -1;
    }
    if (cp >= 0xdc00 && cp <= 0xdfff) {
        parse_error(p, esc, "lone low surrogate \\u%04x in string (no high surrogate before it)", cp);
        return -1;
    }
    if (cp >= 0xd800 && cp <= 0xdbff) {
        unsigned lo;
        size_t save = p->pos;
        if (p->len - p->pos < 2 || p->buf[p->pos] != '\\' || p->buf[p->pos + 1] != 'u') {
            parse_error(p, esc, "lone high surrogate \\u%04x in string: expected a \\uDC00-\\uDFFF escape to follow", cp);
            return -1;
        }
        p->pos += 2;
        if (read_hex4(p, &lo) != 0 || lo < 0xdc00 || lo > 0xdfff) {
            parse_error(p, save, "lone high surrogate \\u%04x in string: expected a \\uDC00-\\uDFFF escape here", cp);
            return -1;
        }
        cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
    }
    append_utf8(out, cp);
    return 0;
}

/* Parses a string whose opening quote is at p->pos into out (decoded UTF-8). Returns 0 or -1. */
static int parse_string_raw(JsonParser *p, JsonBuf *out) {
    size_t start = p->pos;
    p->pos++; /* opening quote */
    jsonbuf_append(out, "", 0);
    for (;;) {
        size_t run = p->pos;
        while (p->pos < p->len) {
            unsigned char c = (unsigned char)p->buf[p->pos];
            if (c == '"' || c == '\\' || c < 0x20 || c >= 0x80) break;
            p->pos++;
        }
        jsonbuf_append(out, p->buf + run, p->pos - run);
        if (p->pos >= p->len) {
            parse_error(p, start, "unterminated string: no closing '\"' before end of input");
            return -1;
        }
        unsigned char c = (unsigned char)p->buf[p->pos];
        if (c == '"') {
            p->pos++;
            return 0;
        }
        if (c < 0x20) {
            parse_error(p, p->pos, "unescaped control character 0x%02x in string (write it as an escape)", c);
            return -1;
        }
        if (c >= 0x80) {
            size_t k = utf8_seq_len((const unsigned char *)p->buf + p->pos, p->len - p->pos);
            if (k == 0) {
                parse_error(p, p->pos, "invalid UTF-8 byte 0x%02x in string", c);
                return -1;
            }
            jsonbuf_append(out, p->buf + p->pos, k);
            p->pos += k;
            continue;
        }
        /* backslash */
        size_t esc = p->pos;
        if (p->len - p->pos < 2) {
            parse_error(p, start, "unterminated string: input ends inside an escape");
            return -1;
        }
        char e = p->buf[p->pos + 1];
        p->pos += 2;
        const char *simple = NULL;
        switch (e) {
        case '"': simple = "\""; break;
        case '\\': simple = "\\"; break;
        case '/': simple = "/"; break;
        case 'b': simple = "\b"; break;
        case 'f': simple = "\f"; break;
        case 'n': simple = "\n"; break;
        case 'r': simple = "\r"; break;
        case 't': simple = "\t"; break;
        case 'u':
            if (parse_unicode_escape(p, esc, out) != 0) return -1;
            continue;
        default: {
            char d[24];
            parse_error(p, esc, "invalid escape '\\' followed by %s in string (valid: \\\" \\\\ \\/ \\b \\f \\n \\r \\t \\uXXXX)",
                        describe_char(p, esc + 1, d, sizeof d));
            return -1;
        }
        }
        jsonbuf_append(out, simple, 1);
    }
}

static JsonValue *parse_string(JsonParser *p) {
    size_t start = p->pos;
    JsonBuf b = {0};
    if (parse_string_raw(p, &b) != 0) {
        jsonbuf_free(&b);
        return NULL;
    }
    JsonValue *v = new_value(JSON_STRING, start);
    v->u.str.s = b.data;
    v->u.str.len = b.len;
    return v;
}

static int is_digit(char c) { return c >= '0' && c <= '9'; }

/* number = [ minus ] int [ frac ] [ exp ]; int = zero / ( digit1-9 *DIGIT ) (RFC 8259, section 6). */
static JsonValue *parse_number(JsonParser *p) {
    size_t start = p->pos;
    int negative = 0, integral = 1;
    char d[24];
    if (p->buf[p->pos] == '-') {
        negative = 1;
        p->pos++;
    }
    if (p->pos < p->len && p->buf[p->pos] == '0') {
        p->pos++;
        if (p->pos < p->len && is_digit(p->buf[p->pos]))
            return parse_error(p, start, "leading zeros are not allowed in numbers");
    } else if (p->pos < p->len && is_digit(p->buf[p->pos])) {
        while (p->pos < p->len && is_digit(p->buf[p->pos])) p->pos++;
    } else {
        return parse_error(p, p->pos, "expected a digit after '-', found %s", describe_char(p, p->pos, d, sizeof d));
    }
    size_t int_end = p->pos;
    if (p->pos < p->len && p->buf[p->pos] == '.') {
        integral = 0;
        p->pos++;
        if (p->pos >= p->len || !is_digit(p->buf[p->pos]))
            return parse_error(p, p->pos, "expected a digit after '.', found %s", describe_char(p, p->pos, d, sizeof d));
        while (p->pos < p->len && is_digit(p->buf[p->pos])) p->pos++;
    }
    if (p->pos < p->len && (p->buf[p->pos] == 'e' || p->buf[p->pos] == 'E')) {
        integral = 0;
        p->pos++;
        if (p->pos < p->len && (p->buf[p->pos] == '+' || p->buf[p->pos] == '-')) p->pos++;
        if (p->pos >= p->len || !is_digit(p->buf[p->pos]))
            return parse_error(p, p->pos, "expected a digit in exponent, found %s", describe_char(p, p->pos, d, sizeof d));
        while (p->pos < p->len && is_digit(p->buf[p->pos])) p->pos++;
    }

    /* Exact int64 when the literal is an integer that fits: accumulate negatively so INT64_MIN fits. */
    int64_t acc = 0;
    int fits = integral;
    for (size_t i = start + (size_t)negative; fits && i < int_end; i++) {
        int digit = p->buf[i] - '0';
        if (acc < (INT64_MIN + digit) / 10) fits = 0;
        else acc = acc * 10 - digit;
    }
    if (fits && !negative) {
        if (acc == INT64_MIN) fits = 0;
        else acc = -acc;
    }

    /* strtod needs a NUL-terminated copy; it reads '.' as the radix point because SERC never calls
     * setlocale (the C locale). */
    size_t n = p->pos - start;
    char small[64];
    char *tok = n < sizeof small ? small : serc_malloc(n + 1);
    memcpy(tok, p->buf + start, n);
    tok[n] = '\0';
    double dv = strtod(tok, NULL);
    if (tok != small) free(tok);
    if (isinf(dv)) return parse_error(p, start, "number out of range for a double");

    JsonValue *v = new_value(JSON_NUMBER, start);
    v->u.num.d = dv;
    v->u.num.is_int = fits;
    v->u.num.i = fits ? acc : 0;
    return v;
}

static JsonValue *parse_value(JsonParser *p, int depth);

static JsonValue *parse_array(JsonParser *p, int depth) {
    size_t start = p->pos;
    JsonValue *v = new_value(JSON_ARRAY, start);
    size_t cap = 0;
    char d[24];
    p->pos++; /* '[' */
    skip_ws(p);
    if (p->pos < p->len && p->buf[p->pos] == ']') {
        p->pos++;
        return v;
    }
    for (;;) {
        JsonValue *item = parse_value(p, depth + 1);
        if (!item) goto fail;
        if (v->u.arr.n == cap) {
            cap = cap ? cap * 2 : 4;
            v->u.arr.items = serc_realloc(v->u.arr.items, cap * sizeof *v->u.arr.items);
        }
        v->u.arr.items[v->u.arr.n++] = item;
        skip_ws(p);
        if (p->pos < p->len && p->buf[p->pos] == ']') {
            p->pos++;
            return v;
        }
        if (p->pos >= p->len || p->buf[p->pos] != ',') {
            parse_error(p, p->pos, "expected ',' or ']' after array element, found %s", describe_char(p, p->pos, d, sizeof d));
            goto fail;
        }
        size_t comma = p->pos++;
        skip_ws(p);
        if (p->pos < p->len && p->buf[p->pos] == ']') {
            parse_error(p, comma, "trailing comma before ']'");
            goto fail;
        }
    }
fail:
    json_free(v);
    return NULL;
}

static int compare_keys(const void *a, const void *b) {
    const JsonKeyIndex *x = a, *y = b;
    int c = strcmp(x->key, y->key);
    if (c) return c;
    return x->offset < y->offset ? -1 : x->offset > y->offset;
}

/* Builds the key-sorted index of an object and rejects duplicate keys, reporting the later occurrence.
 * key_offsets[i] is where member i's key starts in the buffer. Returns 0 or -1. */
static int index_object_keys(JsonParser *p, JsonValue *v, const size_t *key_offsets) {
    size_t n = v->u.obj.n;
    JsonKeyIndex *sorted = serc_malloc(n * sizeof *sorted);
    for (size_t i = 0; i < n; i++) {
        sorted[i].key = v->u.obj.members[i].key;
        sorted[i].idx = i;
        sorted[i].offset = key_offsets[i];
    }
    qsort(sorted, n, sizeof *sorted, compare_keys);
    v->u.obj.sorted = sorted;
    for (size_t i = 1; i < n; i++) {
        if (strcmp(sorted[i - 1].key, sorted[i].key) != 0) continue;
        /* equal keys are ordered by offset, so entry i is the later occurrence */
        char first[96];
        json_describe_offset(p->buf, p->len, sorted[i - 1].offset, first, sizeof first);
        parse_error(p, sorted[i].offset, "duplicate key \"%s\" in object (first at %s)", sorted[i].key, first);
        return -1;
    }
    return 0;
}

static JsonValue *parse_object(JsonParser *p, int depth) {
    size_t start = p->pos;
    JsonValue *v = new_value(JSON_OBJECT, start);
    size_t cap = 0;
    size_t *key_offsets = NULL;
    char d[24];
    p->pos++; /* '{' */
    skip_ws(p);
    if (p->pos < p->len && p->buf[p->pos] == '}') {
        p->pos++;
        return v;
    }
    for (;;) {
        if (p->pos >= p->len || p->buf[p->pos] != '"') {
            parse_error(p, p->pos, "expected a string key in object, found %s", describe_char(p, p->pos, d, sizeof d));
            goto fail;
        }
        size_t key_at = p->pos;
        JsonBuf key = {0};
        if (parse_string_raw(p, &key) != 0) {
            jsonbuf_free(&key);
            goto fail;
        }
        if (strlen(key.data) != key.len) {
            jsonbuf_free(&key);
            parse_error(p, key_at, "object key contains a NUL character (\\u0000)");
            goto fail;
        }
        if (v->u.obj.n == cap) {
            cap = cap ? cap * 2 : 4;
            v->u.obj.members = serc_realloc(v->u.obj.members, cap * sizeof *v->u.obj.members);
            key_offsets = serc_realloc(key_offsets, cap * sizeof *key_offsets);
        }
        JsonMember *m = &v->u.obj.members[v->u.obj.n++];
        m->key = key.data;
        m->value = NULL;
        key_offsets[v->u.obj.n - 1] = key_at;
        skip_ws(p);
        if (p->pos >= p->len || p->buf[p->pos] != ':') {
            parse_error(p, p->pos, "expected ':' after object key, found %s", describe_char(p, p->pos, d, sizeof d));
            goto fail;
        }
        p->pos++;
        m->value = parse_value(p, depth + 1);
        if (!m->value) goto fail;
        skip_ws(p);
        if (p->pos < p->len && p->buf[p->pos] == '}') {
            p->pos++;
            break;
        }
        if (p->pos >= p->len || p->buf[p->pos] != ',') {
            parse_error(p, p->pos, "expected ',' or '}' after object member, found %s", describe_char(p, p->pos, d, sizeof d));
            goto fail;
        }
        size_t comma = p->pos++;
        skip_ws(p);
        if (p->pos < p->len && p->buf[p->pos] == '}') {
            parse_error(p, comma, "trailing comma before '}'");
            goto fail;
        }
    }
    if (index_object_keys(p, v, key_offsets) != 0) goto fail;
    free(key_offsets);
    return v;
fail:
    free(key_offsets);
    json_free(v);
    return NULL;
}

static JsonValue *parse_literal(JsonParser *p) {
    static const struct {
        const char *text;
        JsonType type;
        int boolean;
    } literals[] = {{"true", JSON_BOOL, 1}, {"false", JSON_BOOL, 0}, {"null", JSON_NULL, 0}};
    for (size_t i = 0; i < sizeof literals / sizeof literals[0]; i++) {
        size_t n = strlen(literals[i].text);
        if (p->len - p->pos >= n && memcmp(p->buf + p->pos, literals[i].text, n) == 0) {
            JsonValue *v = new_value(literals[i].type, p->pos);
            v->u.boolean = literals[i].boolean;
            p->pos += n;
            return v;
        }
    }
    return parse_error(p, p->pos, "invalid literal: expected true, false or null");
}

static JsonValue *parse_value(JsonParser *p, int depth) {
    char d[24];
    if (depth >= JSON_MAX_DEPTH) return parse_error(p, p->pos, "nesting deeper than %d levels", JSON_MAX_DEPTH);
    skip_ws(p);
    if (p->pos >= p->len) return parse_error(p, p->pos, "unexpected end of input: expected a value");
    char c = p->buf[p->pos];
    switch (c) {
    case '{': return parse_object(p, depth);
    case '[': return parse_array(p, depth);
    case '"': return parse_string(p);
    case 't':
    case 'f':
    case 'n': return parse_literal(p);
    default:
        if (c == '-' || is_digit(c)) return parse_number(p);
        return parse_error(p, p->pos, "expected a value, found %s", describe_char(p, p->pos, d, sizeof d));
    }
}

JsonValue *json_parse(const char *buf, size_t len, SercErr *err) {
    JsonParser p = {buf, len, 0, err};
    if (len >= 3 && memcmp(buf, "\xef\xbb\xbf", 3) == 0)
        return parse_error(&p, 0, "byte-order mark at start of document is not allowed");
    skip_ws(&p);
    if (p.pos >= len) return parse_error(&p, p.pos, "empty document: expected a value");
    JsonValue *v = parse_value(&p, 0);
    if (!v) return NULL;
    skip_ws(&p);
    if (p.pos < len) {
        char d[24];
        json_free(v);
        return parse_error(&p, p.pos, "unexpected %s after the JSON value (trailing garbage)",
                           describe_char(&p, p.pos, d, sizeof d));
    }
    return v;
}

void json_free(JsonValue *v) {
    if (!v) return;
    switch (v->type) {
    case JSON_STRING: free(v->u.str.s); break;
    case JSON_ARRAY:
        for (size_t i = 0; i < v->u.arr.n; i++) json_free(v->u.arr.items[i]);
        free(v->u.arr.items);
        break;
    case JSON_OBJECT:
        for (size_t i = 0; i < v->u.obj.n; i++) {
            free(v->u.obj.members[i].key);
            json_free(v->u.obj.members[i].value);
        }
        free(v->u.obj.members);
        free(v->u.obj.sorted);
        break;
    default: break;
    }
    free(v);
}

/* ---------------------------------------------------------------------------------------------- */
/* Accessors                                                                                        */

JsonType json_type(const JsonValue *v) { return v->type; }

const char *json_type_name(JsonType t) {
    static const char *names[] = {"null", "boolean", "number", "string", "array", "object"};
    SERC_ASSERT((unsigned)t < sizeof names / sizeof names[0], "bad JsonType %d", (int)t);
    return names[t];
}

static void expect_type(const JsonValue *v, JsonType t, const char *fn) {
    SERC_ASSERT(v && v->type == t, "%s: value is %s, not %s", fn, v ? json_type_name(v->type) : "NULL",
                json_type_name(t));
}

int json_bool(const JsonValue *v) {
    expect_type(v, JSON_BOOL, "json_bool");
    return v->u.boolean;
}

double json_number(const JsonValue *v) {
    expect_type(v, JSON_NUMBER, "json_number");
    return v->u.num.d;
}

int json_is_int(const JsonValue *v) { return v && v->type == JSON_NUMBER && v->u.num.is_int; }

int64_t json_int(const JsonValue *v) {
    SERC_ASSERT(json_is_int(v), "json_int: value is not an integer that fits int64");
    return v->u.num.i;
}

const char *json_string(const JsonValue *v) {
    expect_type(v, JSON_STRING, "json_string");
    return v->u.str.s;
}

size_t json_string_len(const JsonValue *v) {
    expect_type(v, JSON_STRING, "json_string_len");
    return v->u.str.len;
}

size_t json_len(const JsonValue *v) {
    SERC_ASSERT(v && (v->type == JSON_ARRAY || v->type == JSON_OBJECT), "json_len: value is not an array or object");
    return v->type == JSON_ARRAY ? v->u.arr.n : v->u.obj.n;
}

const JsonValue *json_at(const JsonValue *arr, size_t i) {
    expect_type(arr, JSON_ARRAY, "json_at");
    SERC_ASSERT(i < arr->u.arr.n, "json_at: index %zu out of range (length %zu)", i, arr->u.arr.n);
    return arr->u.arr.items[i];
}

const char *json_key_at(const JsonValue *obj, size_t i) {
    expect_type(obj, JSON_OBJECT, "json_key_at");
    SERC_ASSERT(i < obj->u.obj.n, "json_key_at: index %zu out of range (%zu members)", i, obj->u.obj.n);
    return obj->u.obj.members[i].key;
}

const JsonValue *json_value_at(const JsonValue *obj, size_t i) {
    expect_type(obj, JSON_OBJECT, "json_value_at");
    SERC_ASSERT(i < obj->u.obj.n, "json_value_at: index %zu out of range (%zu members)", i, obj->u.obj.n);
    return obj->u.obj.members[i].value;
}

const JsonValue *json_get(const JsonValue *obj, const char *key) {
    expect_type(obj, JSON_OBJECT, "json_get");
    size_t lo = 0, hi = obj->u.obj.n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(obj->u.obj.sorted[mid].key, key);
        if (c == 0) return obj->u.obj.members[obj->u.obj.sorted[mid].idx].value;
        if (c < 0) lo = mid + 1;
        else hi = mid;
    }
    return NULL;
}

size_t json_offset(const JsonValue *v) { return v->offset; }

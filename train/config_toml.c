/* The TOML subset's value parser and writer, shared by config files and --set overrides (config.h says
 * what is accepted). One value at a time: the caller owns lines, sections and keys. */
#include "config_toml.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"

static int tv_fail(char *msg, size_t n, const char *fmt, ...) SERC_PRINTF(3, 4);
static int tv_fail(char *msg, size_t n, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, n, fmt, ap);
    va_end(ap);
    return -1;
}

void toml_value_free(TomlValue *v) {
    if (v->kind == TV_STRING) free(v->s);
    if (v->kind == TV_ARRAY) {
        for (int i = 0; i < v->n; i++) toml_value_free(&v->items[i]);
        free(v->items);
    }
    memset(v, 0, sizeof *v);
}

const char *toml_kind_name(TomlKind k) {
    switch (k) {
    case TV_STRING: return "a string";
    case TV_INT: return "an integer";
    case TV_FLOAT: return "a float";
    case TV_BOOL: return "a boolean";
    case TV_ARRAY: return "an array";
    }
    return "?";
}

static void put_utf8(JsonBuf *b, uint32_t cp) {
    char u[4];
    size_t n;
    if (cp < 0x80) u[0] = (char)cp, n = 1;
    else if (cp < 0x800) u[0] = (char)(0xC0 | (cp >> 6)), u[1] = (char)(0x80 | (cp & 0x3F)), n = 2;
    else if (cp < 0x10000)
        u[0] = (char)(0xE0 | (cp >> 12)), u[1] = (char)(0x80 | ((cp >> 6) & 0x3F)), u[2] = (char)(0x80 | (cp & 0x3F)),
        n = 3;
    else
        u[0] = (char)(0xF0 | (cp >> 18)), u[1] = (char)(0x80 | ((cp >> 12) & 0x3F)),
        u[2] = (char)(0x80 | ((cp >> 6) & 0x3F)), u[3] = (char)(0x80 | (cp & 0x3F)), n = 4;
    jsonbuf_append(b, u, n);
}

/* A basic string starting at the opening quote. */
static int parse_string(const char **pp, TomlValue *out, char *msg, size_t n) {
    const char *p = *pp + 1;
    if (p[0] == '"' && p[1] == '"') return tv_fail(msg, n, "multi-line strings (\"\"\") are not supported");
    JsonBuf b = {0};
    jsonbuf_append(&b, "", 0);
    for (;;) {
        unsigned char c = (unsigned char)*p;
        if (c == '\0') {
            jsonbuf_free(&b);
            return tv_fail(msg, n, "unterminated string (strings end on the line they start)");
        }
        if (c == '"') break;
        if ((c < 0x20 && c != '\t') || c == 0x7F) {
            jsonbuf_free(&b);
            return tv_fail(msg, n, "control character 0x%02X in a string (write it as an escape)", c);
        }
        if (c != '\\') {
            jsonbuf_append(&b, p++, 1);
            continue;
        }
        char e = p[1];
        p += 2;
        switch (e) {
        case '"': jsonbuf_append(&b, "\"", 1); break;
        case '\\': jsonbuf_append(&b, "\\", 1); break;
        case 'n': jsonbuf_append(&b, "\n", 1); break;
        case 't': jsonbuf_append(&b, "\t", 1); break;
        case 'r': jsonbuf_append(&b, "\r", 1); break;
        case 'u': {
            uint32_t cp = 0;
            for (int i = 0; i < 4; i++, p++) {
                if (!isxdigit((unsigned char)*p)) {
                    jsonbuf_free(&b);
                    return tv_fail(msg, n, "bad escape: \\u needs 4 hex digits");
                }
                cp = cp * 16 + (uint32_t)(isdigit((unsigned char)*p) ? *p - '0' : (tolower((unsigned char)*p) - 'a' + 10));
            }
            if (cp == 0 || (cp >= 0xD800 && cp <= 0xDFFF)) {
                jsonbuf_free(&b);
                return tv_fail(msg, n, "bad escape: \\u%04X is not allowed (NUL or a surrogate)", cp);
            }
            put_utf8(&b, cp);
            break;
        }
        default:
            jsonbuf_free(&b);
            if (e == '\0') return tv_fail(msg, n, "unterminated string (backslash at end of line)");
            return tv_fail(msg, n, "bad escape '\\%c' in a string (allowed: \\\" \\\\ \\n \\t \\r \\uXXXX)", e);
        }
    }
    if (!json_utf8_valid(b.data, b.len)) {
        jsonbuf_free(&b);
        return tv_fail(msg, n, "string is not valid UTF-8");
    }
    out->kind = TV_STRING;
    out->s = b.data;
    *pp = p + 1;
    return 0;
}

static int parse_number(const char **pp, TomlValue *out, char *msg, size_t n) {
    const char *start = *pp, *p = start;
    if (*p == '+' || *p == '-') p++;
    if (!isdigit((unsigned char)*p)) {
        if (!strncmp(p, "inf", 3) || !strncmp(p, "nan", 3)) return tv_fail(msg, n, "inf and nan are not allowed");
        return tv_fail(msg, n, "expected a value (string, number, boolean or array)");
    }
    if (p[0] == '0' && (p[1] == 'x' || p[1] == 'o' || p[1] == 'b'))
        return tv_fail(msg, n, "hexadecimal, octal and binary integers are not supported");
    if (p[0] == '0' && isdigit((unsigned char)p[1])) {
        const char *q = p;
        while (isdigit((unsigned char)*q)) q++;
        if (*q == '-' || *q == ':') return tv_fail(msg, n, "dates and times are not supported");
        return tv_fail(msg, n, "leading zeros are not allowed in numbers");
    }
    while (isdigit((unsigned char)*p)) p++;
    if (*p == '-' || *p == ':') return tv_fail(msg, n, "dates and times are not supported");
    int is_float = 0;
    if (*p == '.') {
        p++;
        if (!isdigit((unsigned char)*p)) return tv_fail(msg, n, "expected a digit after '.' in a number");
        while (isdigit((unsigned char)*p)) p++;
        is_float = 1;
    }
    if (*p == 'e' || *p == 'E') {
        p++;
        if (*p == '+' || *p == '-') p++;
        if (!isdigit((unsigned char)*p)) return tv_fail(msg, n, "expected digits in the exponent");
        while (isdigit((unsigned char)*p)) p++;
        is_float = 1;
    }
    if (*p == '_') return tv_fail(msg, n, "underscores in numbers are not supported");
    char tok[128];
    size_t len = (size_t)(p - start);
    if (len >= sizeof tok) return tv_fail(msg, n, "number too long");
    memcpy(tok, start, len);
    tok[len] = 0;
    errno = 0;
    if (is_float) {
        double d = strtod(tok, NULL);
        if (!isfinite(d)) return tv_fail(msg, n, "float %s out of range", tok);
        out->kind = TV_FLOAT, out->f = d;
    } else {
        long long v = strtoll(tok, NULL, 10);
        if (errno == ERANGE) return tv_fail(msg, n, "integer %s out of range", tok);
        out->kind = TV_INT, out->i = v, out->f = (double)v;
    }
    *pp = p;
    return 0;
}

static int is_word_end(char c) { return !(isalnum((unsigned char)c) || c == '_' || c == '-' || c == '.'); }

static int parse_scalar(const char **pp, TomlValue *out, char *msg, size_t n) {
    const char *p = *pp;
    memset(out, 0, sizeof *out);
    if (*p == '"') return parse_string(pp, out, msg, n);
    if (*p == '\'') return tv_fail(msg, n, "literal strings ('...') are not supported; use \"...\"");
    if (*p == '{') return tv_fail(msg, n, "inline tables ({...}) are not supported");
    if (!strncmp(p, "true", 4) && is_word_end(p[4])) return out->kind = TV_BOOL, out->b = 1, *pp = p + 4, 0;
    if (!strncmp(p, "false", 5) && is_word_end(p[5])) return out->kind = TV_BOOL, out->b = 0, *pp = p + 5, 0;
    if (*p == '\0' || *p == '#') return tv_fail(msg, n, "missing value");
    if (*p == '+' || *p == '-' || isdigit((unsigned char)*p) || !strncmp(p, "inf", 3) || !strncmp(p, "nan", 3))
        return parse_number(pp, out, msg, n);
    int len = 0;
    while (p[len] && !isspace((unsigned char)p[len]) && len < 40) len++;
    return tv_fail(msg, n, "expected a value (string, number, boolean or array), got '%.*s'", len, p);
}

static const char *skip_ws(const char *p) {
    while (*p == ' ' || *p == '\t') p++;
    return p;
}

static int parse_array(const char **pp, TomlValue *out, char *msg, size_t n) {
    const char *p = *pp + 1;
    memset(out, 0, sizeof *out);
    out->kind = TV_ARRAY;
    int cap = 0;
    for (;;) {
        p = skip_ws(p);
        if (*p == ']') break;
        if (*p == '\0' || *p == '#') {
            toml_value_free(out);
            return tv_fail(msg, n, "multi-line arrays are not supported (close the array on the same line)");
        }
        if (*p == '[') {
            toml_value_free(out);
            return tv_fail(msg, n, "nested arrays are not supported");
        }
        TomlValue item;
        if (parse_scalar(&p, &item, msg, n) != 0) {
            toml_value_free(out);
            return -1;
        }
        int item_num = item.kind == TV_INT || item.kind == TV_FLOAT;
        int first_num = out->n > 0 && (out->items[0].kind == TV_INT || out->items[0].kind == TV_FLOAT);
        const char *bad = NULL;
        if (item.kind == TV_BOOL) bad = "arrays of booleans are not supported";
        else if (out->n > 0 && item_num != first_num) bad = "array mixes strings and numbers";
        if (bad) {
            toml_value_free(&item);
            toml_value_free(out);
            return tv_fail(msg, n, "%s", bad);
        }
        if (out->n == cap) {
            cap = cap ? 2 * cap : 8;
            out->items = serc_realloc(out->items, (size_t)cap * sizeof(TomlValue));
        }
        out->items[out->n++] = item;
        p = skip_ws(p);
        if (*p == ',') {
            p++;
            continue;
        }
        if (*p == ']') break;
        toml_value_free(out);
        if (*p == '\0' || *p == '#')
            return tv_fail(msg, n, "multi-line arrays are not supported (close the array on the same line)");
        return tv_fail(msg, n, "expected ',' or ']' in an array, got '%c'", *p);
    }
    *pp = p + 1;
    return 0;
}

int toml_parse_value(const char *text, TomlValue *out, char *msg, size_t n) {
    const char *p = skip_ws(text);
    int rc = *p == '[' ? parse_array(&p, out, msg, n) : parse_scalar(&p, out, msg, n);
    if (rc != 0) return -1;
    p = skip_ws(p);
    if (*p != '\0' && *p != '#') {
        toml_value_free(out);
        int len = 0;
        while (p[len] && len < 40) len++;
        return tv_fail(msg, n, "unexpected '%.*s' after the value", len, p);
    }
    return 0;
}

/* ---- writing ---- */

void toml_write_string(FILE *f, const char *s) {
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        switch (*p) {
        case '"': fputs("\\\"", f); break;
        case '\\': fputs("\\\\", f); break;
        case '\n': fputs("\\n", f); break;
        case '\t': fputs("\\t", f); break;
        case '\r': fputs("\\r", f); break;
        default:
            if (*p < 0x20 || *p == 0x7F) fprintf(f, "\\u%04X", *p);
            else fputc(*p, f);
        }
    }
    fputc('"', f);
}

void toml_format_float(double d, char *buf, size_t n) {
    /* whole numbers in fixed notation ("10.0", not "1e+01"); otherwise the shortest %g that reads back
     * to the same double, made to look like a TOML float */
    /* buf holds at least 32 bytes (every caller's size), enough for any %.17g; the return values are
     * checked so that a short buffer shows as an empty string rather than a wrong number */
    if (d == floor(d) && fabs(d) < 1e15) {
        int w = snprintf(buf, n, "%.1f", d);
        if (w < 0 || (size_t)w >= n) buf[0] = '\0';
        return;
    }
    for (int prec = 1; prec <= 17; prec++) {
        int w = snprintf(buf, n, "%.*g", prec, d);
        if (w < 0 || (size_t)w >= n) {
            buf[0] = '\0';
            return;
        }
        if (strtod(buf, NULL) == d) break;
    }
    if (!strpbrk(buf, ".eE")) {
        size_t len = strlen(buf);
        if (len + 3 <= n) memcpy(buf + len, ".0", 3);
    } else {
        /* TOML wants a digit after '.' and before 'e': %g never writes "1.e5", but it may write "1e+05" */
        char *e = strpbrk(buf, "eE");
        if (e && e[1] == '+') memmove(e + 1, e + 2, strlen(e + 2) + 1);
    }
}

int toml_edit_distance(const char *a, const char *b) {
    size_t la = strlen(a), lb = strlen(b);
    if (la > 63 || lb > 63) return 64;
    int d[64][64];
    for (size_t i = 0; i <= la; i++) d[i][0] = (int)i;
    for (size_t j = 0; j <= lb; j++) d[0][j] = (int)j;
    for (size_t i = 1; i <= la; i++)
        for (size_t j = 1; j <= lb; j++) {
            int sub = d[i - 1][j - 1] + (a[i - 1] != b[j - 1]), del = d[i - 1][j] + 1, ins = d[i][j - 1] + 1;
            d[i][j] = sub < del ? (sub < ins ? sub : ins) : (del < ins ? del : ins);
        }
    return d[la][lb];
}

/* Tests for core/json.c: valid documents decode to the right tree, every malformed document in the
 * table is rejected with a message that says where (line, column) and what was expected, and the
 * string writer's output parses back to the original bytes. */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"

static JsonValue *parse_ok(const char *text) {
    SercErr err = {{0}};
    JsonValue *v = json_parse(text, strlen(text), &err);
    cr_assert(v != NULL, "rejected %s: %s", text, err.msg);
    return v;
}

Test(json, nested_document) {
    JsonValue *v = parse_ok(" {\"name\": \"wav2vec2\", \"layers\": [1, [2, 3], {\"k\": null}],\n"
                            "  \"ok\": true, \"off\": false, \"empty_a\": [], \"empty_o\": {}} \n");
    cr_assert_eq(json_type(v), JSON_OBJECT);
    cr_assert_eq(json_len(v), 6);
    /* keys keep document order */
    cr_assert_str_eq(json_key_at(v, 0), "name");
    cr_assert_str_eq(json_key_at(v, 5), "empty_o");
    cr_assert_str_eq(json_string(json_get(v, "name")), "wav2vec2");
    const JsonValue *layers = json_get(v, "layers");
    cr_assert_eq(json_type(layers), JSON_ARRAY);
    cr_assert_eq(json_len(layers), 3);
    cr_assert_eq(json_int(json_at(layers, 0)), 1);
    cr_assert_eq(json_int(json_at(json_at(layers, 1), 1)), 3);
    cr_assert_eq(json_type(json_get(json_at(layers, 2), "k")), JSON_NULL);
    cr_assert_eq(json_bool(json_get(v, "ok")), 1);
    cr_assert_eq(json_bool(json_get(v, "off")), 0);
    cr_assert_eq(json_len(json_get(v, "empty_a")), 0);
    cr_assert_eq(json_len(json_get(v, "empty_o")), 0);
    cr_assert_null(json_get(v, "missing"));
    cr_assert_null(json_get(json_get(v, "empty_o"), "x"));
    cr_assert_eq(json_offset(json_get(v, "name")), 10);
    json_free(v);
}

Test(json, lookup_in_large_object) {
    /* json_get searches a sorted index; check it against document order on many keys */
    JsonBuf b = {0};
    jsonbuf_append(&b, "{", 1);
    for (int i = 0; i < 500; i++) jsonbuf_appendf(&b, "%s\"k%d\":%d", i ? "," : "", (i * 7919) % 500, i);
    jsonbuf_append(&b, "}", 1);
    SercErr err = {{0}};
    JsonValue *v = json_parse(b.data, b.len, &err);
    cr_assert(v != NULL, "%s", err.msg);
    for (int i = 0; i < 500; i++) {
        char key[16];
        snprintf(key, sizeof key, "k%d", (i * 7919) % 500);
        cr_assert_eq(json_int(json_get(v, key)), i);
        cr_assert_str_eq(json_key_at(v, (size_t)i), key);
    }
    json_free(v);
    jsonbuf_free(&b);
}

Test(json, unicode_escapes) {
    JsonValue *v = parse_ok("[\"\\u00e9\\u4E2D\\ud83d\\ude00\", \"caf\xc3\xa9 \xe4\xb8\xad \xf0\x9f\x98\x80\","
                            " \"\\\"\\\\\\/\\b\\f\\n\\r\\t\", \"a\\u0000b\"]");
    const char *want = "\xc3\xa9\xe4\xb8\xad\xf0\x9f\x98\x80";
    cr_assert_str_eq(json_string(json_at(v, 0)), want);
    cr_assert_str_eq(json_string(json_at(v, 1)), "caf\xc3\xa9 \xe4\xb8\xad \xf0\x9f\x98\x80");
    cr_assert_str_eq(json_string(json_at(v, 2)), "\"\\/\b\f\n\r\t");
    /* "\u0000" is allowed in values: the length says where the string really ends */
    cr_assert_eq(json_string_len(json_at(v, 3)), 3);
    cr_assert_eq(memcmp(json_string(json_at(v, 3)), "a\0b", 3), 0);
    json_free(v);
}

Test(json, numbers) {
    JsonValue *v = parse_ok("[0, -0, 42, -17, 1.5, -2.5e-2, 1E3, 6.02e+23, 1.0, "
                            "9223372036854775807, -9223372036854775808, 9223372036854775808, 1e-400]");
    cr_assert(json_is_int(json_at(v, 0)) && json_int(json_at(v, 0)) == 0);
    cr_assert(json_is_int(json_at(v, 1)) && json_int(json_at(v, 1)) == 0);
    cr_assert_eq(json_int(json_at(v, 2)), 42);
    cr_assert_eq(json_int(json_at(v, 3)), -17);
    cr_assert_eq(json_number(json_at(v, 4)), 1.5);
    cr_assert(!json_is_int(json_at(v, 4)));
    cr_assert_eq(json_number(json_at(v, 5)), -2.5e-2);
    /* an exponent or a fraction makes it a non-integer literal even when the value is whole */
    cr_assert_eq(json_number(json_at(v, 6)), 1000.0);
    cr_assert(!json_is_int(json_at(v, 6)));
    cr_assert_eq(json_number(json_at(v, 7)), 6.02e23);
    cr_assert(!json_is_int(json_at(v, 8)));
    cr_assert(json_is_int(json_at(v, 9)) && json_int(json_at(v, 9)) == INT64_MAX);
    cr_assert(json_is_int(json_at(v, 10)) && json_int(json_at(v, 10)) == INT64_MIN);
    /* one past INT64_MAX: still a number, no longer an exact int64 */
    cr_assert(!json_is_int(json_at(v, 11)));
    cr_assert_eq(json_number(json_at(v, 11)), 9223372036854775808.0);
    cr_assert_eq(json_number(json_at(v, 12)), 0.0);
    cr_assert(!json_is_int(v)); /* arrays are never ints */
    json_free(v);
}

Test(json, top_level_scalars_and_unterminated_buffer) {
    JsonValue *v = parse_ok("  \"x\"\r\n\t");
    cr_assert_str_eq(json_string(v), "x");
    json_free(v);
    v = parse_ok("null");
    cr_assert_eq(json_type(v), JSON_NULL);
    json_free(v);
    /* the buffer need not be NUL-terminated: only len bytes are read */
    const char buf[] = {'[', '1', ',', '2', ']', 'x', 'y'};
    SercErr err = {{0}};
    v = json_parse(buf, 5, &err);
    cr_assert(v != NULL, "%s", err.msg);
    cr_assert_eq(json_len(v), 2);
    json_free(v);
}

Test(json, depth_limit_is_exact) {
    char ok[2 * JSON_MAX_DEPTH], bad[2 * JSON_MAX_DEPTH + 2];
    for (int i = 0; i < JSON_MAX_DEPTH; i++) ok[i] = '[', ok[2 * JSON_MAX_DEPTH - 1 - i] = ']';
    for (int i = 0; i <= JSON_MAX_DEPTH; i++) bad[i] = '[', bad[2 * JSON_MAX_DEPTH + 1 - i] = ']';
    SercErr err = {{0}};
    JsonValue *v = json_parse(ok, sizeof ok, &err);
    cr_assert(v != NULL, "%d levels rejected: %s", JSON_MAX_DEPTH, err.msg);
    json_free(v);
    cr_assert_null(json_parse(bad, sizeof bad, &err));
    cr_assert(strstr(err.msg, "nesting deeper"), "%s", err.msg);
}

Test(json, writer_escapes_and_round_trips) {
    char s[40];
    for (int i = 0; i < 32; i++) s[i] = (char)(i + 1); /* 0x01..0x20 */
    memcpy(s + 32, "\"\\/\xc3\xa9\x7f", 7);
    s[39] = '\0';
    JsonBuf b = {0};
    jsonbuf_string(&b, s, strlen(s));
    cr_assert(strstr(b.data, "\\u0001") && strstr(b.data, "\\n") && strstr(b.data, "\\\"") && strstr(b.data, "\\\\"),
              "%s", b.data);
    for (size_t i = 0; i < b.len; i++) cr_assert((unsigned char)b.data[i] >= 0x20, "raw control byte in %s", b.data);
    SercErr err = {{0}};
    JsonValue *v = json_parse(b.data, b.len, &err);
    cr_assert(v != NULL, "%s", err.msg);
    cr_assert_str_eq(json_string(v), s);
    json_free(v);
    jsonbuf_free(&b);

    FILE *f = tmpfile();
    cr_assert(f != NULL);
    json_write_string(f, "tab\there \"q\"");
    rewind(f);
    char line[64] = {0};
    cr_assert(fgets(line, sizeof line, f) != NULL);
    cr_assert_str_eq(line, "\"tab\\there \\\"q\\\"\"");
    fclose(f);
}

Test(json, utf8_validator) {
    cr_assert(json_utf8_valid("abc \xc3\xa9 \xef\xbf\xbf \xf4\x8f\xbf\xbf", 15));
    cr_assert(!json_utf8_valid("\xc0\xaf", 2));         /* overlong '/' */
    cr_assert(!json_utf8_valid("\xed\xa0\x80", 3));     /* encoded surrogate */
    cr_assert(!json_utf8_valid("\xf4\x90\x80\x80", 4)); /* above U+10FFFF */
    cr_assert(!json_utf8_valid("\xe4\xb8", 2));         /* truncated */
}

/* ---------------------------------------------------------------------------------------------- */
/* Malformed documents: each must fail, naming the fault and where it is.                          */

typedef struct BadDoc {
    const char *text; /* NULL: the depth bomb, built in the test */
    const char *fault;
    const char *where;
} BadDoc;

static const BadDoc bad_docs[] = {
    {"[1,2,]", "trailing comma", "line 1, column 5"},
    {"{\"a\":1,}", "trailing comma", "line 1, column 7"},
    {"{\n  \"name\": \"abc", "unterminated string", "line 2, column 11"},
    {"[\"a\\qb\"]", "invalid escape", "line 1, column 4"},
    {NULL, "nesting deeper than 64", "line 1, column 65"},
    {"{\"a\": 1} x", "trailing garbage", "line 1, column 10"},
    {"[1]]", "trailing garbage", "line 1, column 4"},
    {"01", "leading zeros", "line 1, column 1"},
    {"[-012]", "leading zeros", "line 1, column 2"},
    {"\"\\ud83d\"", "lone high surrogate", "line 1, column 2"},
    {"\"\\ud83d\\u0041\"", "lone high surrogate", "line 1, column 8"},
    {"[\"ok\", \"\\ude00\"]", "lone low surrogate", "line 1, column 9"},
    {"\"a\nb\"", "control character 0x0a", "line 1, column 3"},
    {"\"a\tb\"", "control character 0x09", "line 1, column 3"},
    {"{\"a\": 1,\n \"a\": 2}", "duplicate key \"a\"", "line 2, column 2"},
    {"", "empty document", "line 1, column 1"},
    {"  \n ", "empty document", "line 2, column 2"},
    {"{\"a\" 1}", "expected ':' after object key", "line 1, column 6"},
    {"[1 2]", "expected ',' or ']'", "line 1, column 4"},
    {"{\"a\":1 \"b\":2}", "expected ',' or '}'", "line 1, column 8"},
    {"{1: 2}", "expected a string key", "line 1, column 2"},
    {"tru", "invalid literal", "line 1, column 1"},
    {"nul", "invalid literal", "line 1, column 1"},
    {"-", "expected a digit after '-'", "line 1, column 2"},
    {"1.", "expected a digit after '.'", "line 1, column 3"},
    {"[1e]", "expected a digit in exponent", "line 1, column 4"},
    {"+1", "expected a value", "line 1, column 1"},
    {".5", "expected a value", "line 1, column 1"},
    {"NaN", "expected a value", "line 1, column 1"},
    {"[Infinity]", "expected a value", "line 1, column 2"},
    {"1e400", "out of range", "line 1, column 1"},
    {"'a'", "expected a value", "line 1, column 1"},
    {"/* c */ 1", "expected a value", "line 1, column 1"},
    {"\"\xff\"", "invalid UTF-8 byte 0xff", "line 1, column 2"},
    {"\"\xc0\xaf\"", "invalid UTF-8", "line 1, column 2"},
    {"\"\xed\xa0\x80\"", "invalid UTF-8", "line 1, column 2"},
    {"\xef\xbb\xbf{}", "byte-order mark", "line 1, column 1"},
    {"{\"a\\u0000b\": 1}", "NUL", "line 1, column 2"},
    {"[\"\\u12G4\"]", "4 hex digits", "line 1, column 3"},
    {"[\"abc\\", "unterminated string", "line 1, column 2"},
    {"[1,", "unexpected end of input", "line 1, column 4"},
};
#define N_BAD_DOCS ((int)(sizeof bad_docs / sizeof bad_docs[0]))

ParameterizedTestParameters(json, malformed) {
    static int idx[N_BAD_DOCS];
    for (int i = 0; i < N_BAD_DOCS; i++) idx[i] = i;
    return cr_make_param_array(int, idx, N_BAD_DOCS);
}

ParameterizedTest(int *i, json, malformed) {
    const BadDoc *d = &bad_docs[*i];
    char bomb[1000];
    const char *text = d->text;
    size_t len;
    if (text) {
        len = strlen(text);
    } else {
        memset(bomb, '[', sizeof bomb);
        text = bomb;
        len = sizeof bomb;
    }
    SercErr err = {{0}};
    JsonValue *v = json_parse(text, len, &err);
    cr_assert_null(v, "case %d (%s) accepted", *i, d->fault);
    cr_assert(strstr(err.msg, d->fault), "case %d: message lacks \"%s\": %s", *i, d->fault, err.msg);
    cr_assert(strstr(err.msg, d->where), "case %d: message lacks \"%s\": %s", *i, d->where, err.msg);
}

/* Every prefix of a valid document is either valid (a complete number) or rejected cleanly (no crash,
 * no leak, a message with a line number): a cheap stand-in for the fuzz target. */
Test(json, every_prefix_of_a_document) {
    const char *doc = "{\"a\": [1, -2.5e3, \"x\\u00e9\\ud83d\\ude00\", true, null], \"b\": {\"c\": false}}";
    size_t n = strlen(doc);
    for (size_t len = 0; len < n; len++) {
        SercErr err = {{0}};
        JsonValue *v = json_parse(doc, len, &err);
        cr_assert_null(v, "prefix of %zu bytes accepted", len);
        cr_assert(strstr(err.msg, "line 1, column "), "%s", err.msg);
    }
    JsonValue *v = parse_ok(doc);
    json_free(v);
}

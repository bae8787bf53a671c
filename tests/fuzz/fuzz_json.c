/* libFuzzer target: core/json.c. Parses the input with json_parse; on success walks the whole tree
 * through the accessors and checks that every string re-encoded by jsonbuf_string parses back to the
 * same bytes (the writer and the reader agree). */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_string_roundtrip(const char *s, size_t n) {
    JsonBuf b = {0};
    jsonbuf_string(&b, s, n);
    SercErr err;
    JsonValue *v = json_parse(b.data, b.len, &err);
    if (!v || json_type(v) != JSON_STRING || json_string_len(v) != n || memcmp(json_string(v), s, n) != 0) {
        fprintf(stderr, "fuzz_json: string of %zu bytes does not survive jsonbuf_string + json_parse (%s)\n", n,
                v ? "different value" : err.msg);
        abort();
    }
    json_free(v);
    jsonbuf_free(&b);
}

static size_t walk(const JsonValue *v, const char *buf, size_t len) {
    size_t sum = json_offset(v);
    if (sum >= len) {
        fprintf(stderr, "fuzz_json: value offset %zu past the end of a %zu-byte buffer\n", sum, len);
        abort();
    }
    switch (json_type(v)) {
    case JSON_NULL: break;
    case JSON_BOOL: sum += (size_t)json_bool(v); break;
    case JSON_NUMBER:
        sum += json_number(v) > 0;
        if (json_is_int(v)) sum += (size_t)json_int(v);
        break;
    case JSON_STRING: {
        const char *s = json_string(v);
        size_t n = json_string_len(v);
        if (s[n] != '\0' || !json_utf8_valid(s, n)) {
            fprintf(stderr, "fuzz_json: decoded string not NUL-terminated or not valid UTF-8\n");
            abort();
        }
        check_string_roundtrip(s, n);
        sum += n;
        break;
    }
    case JSON_ARRAY:
        for (size_t i = 0; i < json_len(v); i++) sum += walk(json_at(v, i), buf, len);
        break;
    case JSON_OBJECT:
        for (size_t i = 0; i < json_len(v); i++) {
            const char *k = json_key_at(v, i);
            if (json_get(v, k) != json_value_at(v, i)) {
                fprintf(stderr, "fuzz_json: json_get(\"%s\") is not member %zu\n", k, i);
                abort();
            }
            check_string_roundtrip(k, strlen(k));
            sum += walk(json_value_at(v, i), buf, len);
        }
        break;
    }
    return sum;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    SercErr err;
    const char *buf = (const char *)data;
    JsonValue *v = json_parse(buf, size, &err);
    if (!v) return 0; /* rejected: fine */
    char where[96];
    json_describe_offset(buf, size, size ? size - 1 : 0, where, sizeof where);
    volatile size_t sink = walk(v, buf, size);
    (void)sink;
    json_free(v);
    return 0;
}

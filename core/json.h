/* A small strict JSON parser (RFC 8259) and string writer for SERC's readers: safetensors headers,
 * JSONL manifests, Hugging Face config.json.
 *
 * Strict means: no comments, no trailing commas, no leading zeros, no NaN/Infinity, no byte-order mark,
 * only valid UTF-8, no raw control characters in strings, no duplicate object keys, no bytes after the
 * top-level value except whitespace, nesting at most JSON_MAX_DEPTH deep. Files from outside are
 * the input here, and a lenient reader would accept a file today that another tool rejects tomorrow.
 *
 * Errors name the place: "line 3, column 7 (byte 41): expected ':' after object key". Columns count
 * bytes from 1. Callers prefix the file name with serc_fail_prefix().
 */
#ifndef SERC_JSON_H
#define SERC_JSON_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "error.h"

/* Deeper documents are rejected: it bounds the parser's recursion (a '[' x 1e6 bomb must not overflow
 * the stack), and no document SERC reads comes near it. */
#define JSON_MAX_DEPTH 64

typedef enum JsonType {
    JSON_NULL = 0,
    JSON_BOOL,
    JSON_NUMBER,
    JSON_STRING,
    JSON_ARRAY,
    JSON_OBJECT
} JsonType;

typedef struct JsonValue JsonValue;

/* Parses buf[0..len) (not necessarily NUL-terminated) as one JSON document. Returns the tree, owned by
 * the caller (json_free), or NULL with err filled. */
JsonValue *json_parse(const char *buf, size_t len, SercErr *err);

/* Frees a tree returned by json_parse (NULL is fine). */
void json_free(JsonValue *v);

/* Type of a value; "null", "boolean", "number", "string", "array", "object" for messages. */
JsonType json_type(const JsonValue *v);
const char *json_type_name(JsonType t);

/* 1 for true, 0 for false; aborts if v is not a boolean. */
int json_bool(const JsonValue *v);

/* Number as a double (nearest; aborts if v is not a number). */
double json_number(const JsonValue *v);
/* 1 when v is a number written as an integer literal (no fraction, no exponent) that fits int64;
 * then json_int gives it exactly. 0 for every other value, numbers included. */
int json_is_int(const JsonValue *v);
int64_t json_int(const JsonValue *v);

/* Decoded UTF-8 string, NUL-terminated (aborts if v is not a string). It may hold NUL bytes from
 * "\u0000"; json_string_len gives the full length in bytes. */
const char *json_string(const JsonValue *v);
size_t json_string_len(const JsonValue *v);

/* Number of elements of an array or members of an object (aborts otherwise). */
size_t json_len(const JsonValue *v);
/* Element i of an array (aborts when out of range or not an array). */
const JsonValue *json_at(const JsonValue *arr, size_t i);

/* Member i of an object in document order: its key and value (abort when out of range). Keys never
 * contain NUL bytes (the parser rejects "\u0000" in keys). */
const char *json_key_at(const JsonValue *obj, size_t i);
const JsonValue *json_value_at(const JsonValue *obj, size_t i);
/* Value of member `key`, or NULL when the object has no such member (O(log n); aborts if obj is not an
 * object). */
const JsonValue *json_get(const JsonValue *obj, const char *key);

/* Byte offset of a value's first character in the parsed buffer, so that callers can report where in a
 * file a well-formed but wrong value sits (json_describe_offset turns it into line and column). */
size_t json_offset(const JsonValue *v);
/* Writes "line L, column C (byte O)" for byte offset `offset` of buf into out; returns out. */
char *json_describe_offset(const char *buf, size_t len, size_t offset, char *out, size_t out_size);

/* 1 when s[0..n) is well-formed UTF-8 (no overlong forms, no surrogates, nothing above U+10FFFF). */
int json_utf8_valid(const char *s, size_t n);

/* A growable byte buffer for building JSON text in memory (the safetensors writer needs the header's
 * length before it writes it). Zero-initialise it (JsonBuf b = {0}); data is NUL-terminated after
 * every append; free with jsonbuf_free. */
typedef struct JsonBuf {
    char *data;
    size_t len;
    size_t cap;
} JsonBuf;

void jsonbuf_append(JsonBuf *b, const char *s, size_t n);
void jsonbuf_appendf(JsonBuf *b, const char *fmt, ...) SERC_PRINTF(2, 3);
/* Appends s[0..n) as a quoted JSON string: '"' and '\\' escaped, control characters as \n, \t, ...
 * or \u00XX, other bytes (UTF-8) copied as they are, as serde_json and Python's json (with
 * ensure_ascii=False) write them. */
void jsonbuf_string(JsonBuf *b, const char *s, size_t n);
void jsonbuf_free(JsonBuf *b);

/* Writes the NUL-terminated string s to f as a quoted, escaped JSON string (as jsonbuf_string). */
void json_write_string(FILE *f, const char *s);

#endif

/* The value grammar of SERC's TOML subset (config.h describes it), used by the config file reader and
 * by --set overrides so that both accept exactly the same values. Internal to train/config*.c. */
#ifndef SERC_CONFIG_TOML_H
#define SERC_CONFIG_TOML_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "error.h"

typedef enum TomlKind { TV_STRING = 1, TV_INT, TV_FLOAT, TV_BOOL, TV_ARRAY } TomlKind;

/* One parsed value. Arrays hold scalars only, all strings or all numbers. For TV_INT, f holds the
 * value as a double too. */
typedef struct TomlValue {
    TomlKind kind;
    char *s;
    int64_t i;
    double f;
    int b;
    int n;
    struct TomlValue *items;
} TomlValue;

/* Parses the value that starts text (leading blanks skipped); only blanks and a # comment may follow.
 * Returns 0, or -1 with a message (no file or line: the caller adds them) in msg[0..n). */
int toml_parse_value(const char *text, TomlValue *out, char *msg, size_t n);
void toml_value_free(TomlValue *v);
/* "a string", "an integer", ... for messages. */
const char *toml_kind_name(TomlKind k);

/* Writes s as a basic string with the escapes the parser reads. */
void toml_write_string(FILE *f, const char *s);
/* Shortest decimal that reads back to d, always with '.' or an exponent ("1.0", "0.001", "1e-08"). */
void toml_format_float(double d, char *buf, size_t n);
/* Levenshtein distance (for "did you mean"); 64 when either string is longer than 63 bytes. */
int toml_edit_distance(const char *a, const char *b);

#endif

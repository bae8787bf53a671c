/* libFuzzer target: train/config.c + config_toml.c (config_parse of TOML text onto a default
 * TrainConfig). When the text is accepted, config_validate is run, and the configuration is written
 * with config_write_file and parsed again onto fresh defaults: config.h promises that this gives back
 * an equal configuration. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    SercErr err;
    TrainConfig cfg;
    config_default(&cfg);
    if (config_parse(&cfg, (const char *)data, size, "fuzz.toml", &err) != 0) {
        config_free(&cfg); /* rejected: fine */
        return 0;
    }
    (void)config_validate(&cfg, &err);

    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    if (!f) abort();
    config_write_file(&cfg, f);
    fclose(f);
    TrainConfig again;
    config_default(&again);
    if (config_parse(&again, text, len, "fuzz-rewritten.toml", &err) != 0) {
        fprintf(stderr, "fuzz_config: config_parse rejects what config_write_file wrote: %s\n--- written:\n%s\n", err.msg,
                text);
        abort();
    }
    if (!config_equal(&cfg, &again)) {
        fprintf(stderr, "fuzz_config: config_write_file + config_parse does not give back an equal config\n--- written:\n%s\n",
                text);
        abort();
    }
    free(text);
    config_free(&again);
    config_free(&cfg);
    return 0;
}

/* libFuzzer target: models/ssl_config.c (ssl_config_parse of a Hugging Face config.json). An accepted
 * config must describe a model whose frame arithmetic is sane: positive sizes, a receptive field that
 * gives exactly one frame, and frame counts that never go negative. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "ssl.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    SslConfig c;
    SercErr err;
    if (ssl_config_parse(&c, (const char *)data, size, "fuzz/config.json", &err) != 0) return 0;
    if (c.hidden_size < 1 || c.num_hidden_layers < 0 || c.num_attention_heads < 1 || c.num_conv_layers < 1 ||
        c.num_conv_layers > SSL_MAX_CONV) {
        fprintf(stderr, "fuzz_sslconfig: accepted a config with impossible sizes\n");
        abort();
    }
    int64_t rf = ssl_receptive_field(&c);
    if (rf < 1 || rf > (1LL << 40)) return 0;
    if (ssl_output_frames(&c, rf) != 1 || ssl_output_frames(&c, rf - 1) != 0) {
        fprintf(stderr, "fuzz_sslconfig: receptive field %lld gives %lld frames\n", (long long)rf,
                (long long)ssl_output_frames(&c, rf));
        abort();
    }
    if (ssl_output_frames(&c, 16000) < 0) abort();
    return 0;
}

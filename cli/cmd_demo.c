#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "demo.h"

static void help(void) {
    printf("usage: serc demo [options]\n\n"
           "Trains a small conv + multi-head self-attention classifier on a generated task (noise frames\n"
           "with a class-specific burst at a random time; variable lengths, zero padding) and evaluates it\n"
           "on held-out sequences. It exercises the whole core: ops, masks, autograd, the flat parameter\n"
           "store, AdamW, the step arena.\n\n"
           "options:\n"
           "  --steps N      training steps (default 300)\n"
           "  --batch N      batch size (default 16)\n"
           "  --classes N    classes (default 4)\n"
           "  --lr X         AdamW learning rate (default 3e-3)\n"
           "  --seed N       seed for data and weights (default 1234)\n"
           "  --min-accuracy X  exit 1 when held-out accuracy ends below X (default 0: report only)\n");
}

int cmd_demo(int argc, char **argv) {
    if (cli_wants_help(argc, argv)) {
        help();
        return CLI_OK;
    }
    DemoOptions o;
    demo_default_options(&o);
    double lr = o.lr, min_acc = 0;
    for (int i = 1; i < argc; i++) {
        long v;
        int r;
        if ((r = cli_opt_int(argc, argv, &i, "--steps", &v)) != 0) {
            if (r < 0 || v < 1) return cli_usage_error("demo", "--steps must be a positive integer");
            o.steps = (int)v;
        } else if ((r = cli_opt_int(argc, argv, &i, "--batch", &v)) != 0) {
            if (r < 0 || v < 1 || v > 1024) return cli_usage_error("demo", "--batch must be in [1, 1024]");
            o.batch = (int)v;
        } else if ((r = cli_opt_int(argc, argv, &i, "--classes", &v)) != 0) {
            if (r < 0 || v < 2 || v > o.features) return cli_usage_error("demo", "--classes must be in [2, %d]", o.features);
            o.classes = (int)v;
        } else if ((r = cli_opt_int(argc, argv, &i, "--seed", &v)) != 0) {
            if (r < 0 || v < 0) return cli_usage_error("demo", "--seed must be a non-negative integer");
            o.seed = (uint64_t)v;
        } else if ((r = cli_opt_double(argc, argv, &i, "--lr", &lr)) != 0) {
            if (r < 0 || !(lr > 0)) return cli_usage_error("demo", "--lr must be a positive number");
        } else if ((r = cli_opt_double(argc, argv, &i, "--min-accuracy", &min_acc)) != 0) {
            if (r < 0) return CLI_USAGE;
        } else {
            return cli_usage_error("demo", "unknown argument '%s'", argv[i]);
        }
    }
    o.lr = (float)lr;
    DemoResult res;
    demo_run(&o, &res);
    printf("demo: loss %.4f -> %.4f, held-out accuracy %.1f%% (%d classes, chance %.1f%%), %.1f ms/step, "
           "activation arena peak %.2f MiB\n",
           res.first_loss, res.final_loss, 100 * res.accuracy, o.classes, 100.0 / o.classes, res.ms_per_step,
           res.arena_peak / 1048576.0);
    if (res.accuracy < min_acc) return cli_fail("demo", "held-out accuracy %.3f below --min-accuracy %.3f", res.accuracy, min_acc);
    return CLI_OK;
}

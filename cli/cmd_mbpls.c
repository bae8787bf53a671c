/* serc mbpls: multiblock PLS (as mbpls 1.0.4 fits it) on .npy blocks: fit, transform, predict. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "mbpls.h"

#define MBPLS_MAX_BLOCKS 64

static void print_help(void) {
    printf("usage: serc mbpls fit --block X0.npy [--block X1.npy ...] --response Y.npy --components K\n"
           "                      [--no-standardize] [--max-iter N] [--tol T] [--prefix P] --out MODEL.safetensors\n"
           "       serc mbpls transform --model MODEL.safetensors --block X0.npy [...] [--prefix P] --out TS.npy\n"
           "       serc mbpls predict --model MODEL.safetensors --block X0.npy [...] [--prefix P] --out YHAT.npy\n\n"
           "Multiblock PLS computed exactly as the Python package mbpls 1.0.4 (MBPLS(method='NIPALS')) computes it.\n\n"
           "fit: blocks are 2-D .npy arrays (samples x features, float32 or float64) with the same number of rows;\n"
           "  the response is 2-D (samples x targets) or 1-D (one target).\n"
           "  --components K     number of latent variables (1 <= K <= rank of the blocks)\n"
           "  --no-standardize   use the data as given (mbpls standardize=False: not even centred); by default\n"
           "                     every block and the response are scaled to zero mean, unit variance (ddof 0)\n"
           "  --max-iter N       NIPALS passes per component before giving up (default 500; a warning is printed)\n"
           "  --tol T            convergence on |t - t_prev|_2 of the super score (default 1e-14, mbpls max_tol)\n"
           "  --prefix P         prefix of every tensor name (default none)\n"
           "  --out FILE         the model: F64 tensors named as mbpls's attributes: Ts_, T_.<b>, W_.<b>, P_.<b>,\n"
           "                     A_, A_corrected_, U_, V_, R_, beta_, explained_var_x_, explained_var_y_,\n"
           "                     explained_var_xblocks_, x_scalers_.<b>.mean_/.scale_, y_scaler_.mean_/.scale_,\n"
           "                     superweights; metadata mbpls.components, standardize, block_dims, n_targets, ...\n"
           "transform: super scores of new samples (n x K, float64 .npy) = standardised [X0 .. XB] R_\n"
           "predict: responses of new samples (n x q, float64 .npy) = standardised [X0 .. XB] beta_, unscaled\n"
           "  blocks must be given in the order used by fit.\n");
}

typedef struct Blocks {
    int n;
    const char *path[MBPLS_MAX_BLOCKS];
    double *data[MBPLS_MAX_BLOCKS];
    int dims[MBPLS_MAX_BLOCKS];
    int64_t rows;
} Blocks;

static void blocks_free(Blocks *b) {
    for (int i = 0; i < b->n; i++) free(b->data[i]);
}

/* Reads every block; checks 2-D and equal row counts. */
static int blocks_read(const char *cmd, Blocks *b) {
    SercErr err = {{0}};
    for (int i = 0; i < b->n; i++) {
        int64_t r, c;
        if (mbpls_read_npy(b->path[i], 0, &b->data[i], &r, &c, &err)) return cli_fail(cmd, "%s", err.msg);
        if (c < 1) return cli_fail(cmd, "%s: the block is empty (0 features)", b->path[i]);
        if (c > 1000000000) return cli_fail(cmd, "%s: too many features (%lld)", b->path[i], (long long)c);
        if (r < 1) return cli_fail(cmd, "%s: the block has no rows", b->path[i]);
        if (i > 0 && r != b->rows)
            return cli_fail(cmd, "%s has %lld rows but %s has %lld: every block needs one row per sample", b->path[i],
                            (long long)r, b->path[0], (long long)b->rows);
        b->rows = r, b->dims[i] = (int)c;
    }
    return CLI_OK;
}

/* Parses the shared options; returns CLI_OK or a usage status. */
static int parse(const char *cmd, int argc, char **argv, Blocks *b, const char **out, const char **model,
                 const char **resp, const char **prefix, MbplsOptions *o, int fit) {
    for (int i = 2; i < argc; i++) {
        int r;
        const char *blk = NULL;
        long k;
        if ((r = cli_opt_str(argc, argv, &i, "--block", &blk))) {
            if (r > 0) {
                if (b->n == MBPLS_MAX_BLOCKS) return cli_usage_error(cmd, "at most %d blocks", MBPLS_MAX_BLOCKS);
                b->path[b->n++] = blk;
            }
        } else if ((r = cli_opt_str(argc, argv, &i, "--out", out))) {
        } else if ((r = cli_opt_str(argc, argv, &i, "--prefix", prefix))) {
        } else if (!fit && (r = cli_opt_str(argc, argv, &i, "--model", model))) {
        } else if (fit && (r = cli_opt_str(argc, argv, &i, "--response", resp))) {
        } else if (fit && (r = cli_opt_int(argc, argv, &i, "--components", &k))) {
            if (r > 0 && (k < 1 || k > 100000)) return cli_usage_error(cmd, "--components must be at least 1 (got %ld)", k);
            if (r > 0) o->components = (int)k;
        } else if (fit && (r = cli_opt_int(argc, argv, &i, "--max-iter", &k))) {
            if (r > 0 && (k < 2 || k > 100000000)) return cli_usage_error(cmd, "--max-iter must be at least 2");
            if (r > 0) o->max_iter = (int)k;
        } else if (fit && (r = cli_opt_double(argc, argv, &i, "--tol", &o->tol))) {
            if (r > 0 && !(o->tol >= 0)) return cli_usage_error(cmd, "--tol must be >= 0");
        } else if (fit && !strcmp(argv[i], "--no-standardize")) {
            o->standardize = 0, r = 1;
        } else {
            return cli_usage_error(cmd, "unknown argument '%s'", argv[i]);
        }
        if (r < 0) return CLI_USAGE;
    }
    if (b->n == 0) return cli_usage_error(cmd, "no --block given");
    if (!*out) return cli_usage_error(cmd, "--out is required");
    if (fit && !*resp) return cli_usage_error(cmd, "--response is required");
    if (fit && o->components < 1) return cli_usage_error(cmd, "--components is required");
    if (!fit && !*model) return cli_usage_error(cmd, "--model is required");
    return CLI_OK;
}

static int run_fit(const char *cmd, int argc, char **argv) {
    Blocks b = {0};
    const char *out = NULL, *resp = NULL, *prefix = "", *model = NULL;
    MbplsOptions o = mbpls_default_options();
    o.components = 0;
    int rc = parse(cmd, argc, argv, &b, &out, &model, &resp, &prefix, &o, 1);
    if (rc) return rc;
    double *Y = NULL;
    int64_t yr = 0, yc = 0;
    SercErr err = {{0}};
    MbplsModel m = {0};
    if ((rc = blocks_read(cmd, &b)) == CLI_OK) {
        if (mbpls_read_npy(resp, 1, &Y, &yr, &yc, &err)) {
            rc = cli_fail(cmd, "%s", err.msg);
        } else if (yr != b.rows) {
            rc = cli_fail(cmd, "%s has %lld rows but the blocks have %lld: the response needs one row per sample", resp,
                          (long long)yr, (long long)b.rows);
        } else if (yc < 1 || yc > 1000000) {
            rc = cli_fail(cmd, "%s: the response has %lld columns", resp, (long long)yc);
        } else if (mbpls_fit(&m, (const double *const *)b.data, b.dims, b.n, b.rows, Y, (int)yc, &o, &err)) {
            rc = cli_fail(cmd, "%s (blocks numbered from 0 in the order given: %s%s)", err.msg, b.path[0],
                          b.n > 1 ? ", ..." : "");
        } else if (mbpls_to_safetensors(&m, prefix, out, &err)) {
            rc = cli_fail(cmd, "%s", err.msg);
        } else {
            if (!m.converged)
                fprintf(stderr, "serc mbpls: warning: NIPALS did not reach tol %g within %d passes in some component\n",
                        o.tol, o.max_iter);
            printf("mbpls: %d blocks, %lld samples, %d targets, %d components -> %s\n", b.n, (long long)b.rows, m.n_targets,
                   m.components, out);
            for (int k = 0; k < m.components; k++) {
                printf("  component %d: %d NIPALS passes, explained X %.4f, Y %.4f, block importances", k, m.n_iter[k],
                       m.explained_var_x[k], m.explained_var_y[k]);
                for (int i = 0; i < m.n_blocks; i++) printf(" %.4f", m.A[i * m.components + k]);
                printf("\n");
            }
        }
    }
    mbpls_free(&m);
    free(Y);
    blocks_free(&b);
    return rc;
}

static int run_apply(const char *cmd, int argc, char **argv, int predict) {
    Blocks b = {0};
    const char *out = NULL, *resp = NULL, *prefix = "", *model = NULL;
    MbplsOptions o = mbpls_default_options();
    int rc = parse(cmd, argc, argv, &b, &out, &model, &resp, &prefix, &o, 0);
    if (rc) return rc;
    SercErr err = {{0}};
    MbplsModel m = {0};
    double *res = NULL;
    if (mbpls_load(&m, model, prefix, &err)) {
        rc = cli_fail(cmd, "%s", err.msg);
    } else if (b.n != m.n_blocks) {
        rc = cli_fail(cmd, "%s was fitted on %d blocks, %d given", model, m.n_blocks, b.n);
    } else if ((rc = blocks_read(cmd, &b)) == CLI_OK) {
        for (int i = 0; i < b.n && rc == CLI_OK; i++)
            if (b.dims[i] != m.block_dims[i])
                rc = cli_fail(cmd, "%s has %d features but block %d of %s has %d", b.path[i], b.dims[i], i, model,
                              m.block_dims[i]);
        int cols = predict ? m.n_targets : m.components;
        if (rc == CLI_OK) {
            res = serc_malloc(sizeof(double) * (size_t)(b.rows * cols));
            int r = predict ? mbpls_predict(&m, (const double *const *)b.data, b.rows, res, &err)
                            : mbpls_transform(&m, (const double *const *)b.data, b.rows, res, &err);
            if (r || mbpls_write_npy(out, res, b.rows, cols, &err)) rc = cli_fail(cmd, "%s", err.msg);
            else printf("mbpls %s: %lld samples -> %s (%lld x %d)\n", predict ? "predict" : "transform",
                        (long long)b.rows, out, (long long)b.rows, cols);
        }
    }
    free(res);
    mbpls_free(&m);
    blocks_free(&b);
    return rc;
}

int cmd_mbpls(int argc, char **argv) {
    if (cli_wants_help(argc, argv)) {
        print_help();
        return CLI_OK;
    }
    if (argc < 2) return cli_usage_error("mbpls", "missing subcommand (fit, transform or predict)");
    const char *sub = argv[1];
    if (!strcmp(sub, "fit")) return run_fit("mbpls fit", argc, argv);
    if (!strcmp(sub, "transform")) return run_apply("mbpls transform", argc, argv, 0);
    if (!strcmp(sub, "predict")) return run_apply("mbpls predict", argc, argv, 1);
    return cli_usage_error("mbpls", "unknown subcommand '%s' (fit, transform or predict)", sub);
}

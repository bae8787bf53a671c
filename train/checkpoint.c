#include "checkpoint.h"

#include <float.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "safetensors.h"

#define OPT_M "optimizer.exp_avg"
#define OPT_V "optimizer.exp_avg_sq"

static SafetensorsEntry entry_of(const Tensor *t) {
    SafetensorsEntry e;
    memset(&e, 0, sizeof e);
    e.name = t->name;
    e.dtype = SERC_F32;
    e.ndim = t->ndim;
    for (int d = 0; d < t->ndim; d++) e.shape[d] = t->shape[d];
    e.data = t->data;
    return e;
}

int checkpoint_save(const char *path, const ParamStore *ps, const AdamW *opt, const CheckpointState *st,
                    const char *const *meta_kv, SercErr *err) {
    int n = params_len(ps), k = 0;
    SafetensorsEntry *e = serc_calloc((size_t)n + 2, sizeof *e);
    for (int i = 0; i < n; i++) e[k++] = entry_of(params_at(ps, i));
    if (opt) {
        SafetensorsEntry m = {0}, v = {0};
        m.name = OPT_M;
        v.name = OPT_V;
        m.dtype = v.dtype = SERC_F32;
        m.ndim = v.ndim = 1;
        m.shape[0] = v.shape[0] = opt->n;
        m.data = opt->m;
        v.data = opt->v;
        e[k++] = m;
        e[k++] = v;
    }
    /* JSON has no infinities: "no best yet" (-inf) is stored as the most negative double */
    double best = st ? st->best_metric : 0.0;
    if (isinf(best)) best = best < 0 ? -DBL_MAX : DBL_MAX;
    if (isnan(best)) best = -DBL_MAX;
    char state[512];
    snprintf(state, sizeof state,
             "{\"epoch\": %d, \"epoch_batch\": %" PRId64 ", \"step\": %" PRId64 ", \"optimizer_step\": %" PRId64 ", \"rng_offset\": %" PRIu64
             ", \"best_metric\": %.17g, \"best_epoch\": %d, \"bad_epochs\": %d}",
             st ? st->epoch : 0, st ? st->epoch_batch : 0, st ? st->step : 0, opt ? opt->t : 0, st ? st->rng_offset : 0,
             best, st ? st->best_epoch : -1, st ? st->bad_epochs : 0);
    int n_meta = 0;
    while (meta_kv && meta_kv[n_meta]) n_meta++;
    const char **kv = serc_calloc((size_t)n_meta + 3, sizeof *kv);
    kv[0] = "serc.state";
    kv[1] = state;
    for (int i = 0; i < n_meta; i++) kv[2 + i] = meta_kv[i];
    int rc = safetensors_write(path, e, k, kv, err);
    free(kv);
    free(e);
    return rc;
}

/* Reads an integer / real field of the serc.state JSON. */
static int state_field(const JsonValue *j, const char *key, double *out) {
    const JsonValue *v = json_get(j, key);
    if (!v || json_type(v) != JSON_NUMBER) return -1;
    *out = json_number(v);
    return 0;
}

static int load_state(const char *path, const SafetensorsFile *f, AdamW *opt, CheckpointState *st, SercErr *err) {
    const char *s = safetensors_metadata(f, "serc.state");
    if (!s) return serc_fail(err, "%s: not a SERC checkpoint (no serc.state metadata)", path);
    SercErr je;
    JsonValue *j = json_parse(s, strlen(s), &je);
    if (!j) return serc_fail(err, "%s: serc.state metadata: %s", path, je.msg);
    double epoch, epoch_batch, step, ostep, rng, best, best_epoch, bad;
    int rc = 0;
    if (state_field(j, "epoch", &epoch) || state_field(j, "epoch_batch", &epoch_batch) || state_field(j, "step", &step) || state_field(j, "optimizer_step", &ostep) ||
        state_field(j, "rng_offset", &rng) || state_field(j, "best_metric", &best) ||
        state_field(j, "best_epoch", &best_epoch) || state_field(j, "bad_epochs", &bad)) {
        rc = serc_fail(err, "%s: serc.state metadata lacks a field (epoch, epoch_batch, step, optimizer_step, rng_offset, "
                            "best_metric, best_epoch, bad_epochs)", path);
    } else {
        if (st) {
            st->epoch = (int)epoch;
            st->epoch_batch = (int64_t)epoch_batch;
            st->step = (int64_t)step;
            /* the counter can exceed 2^53; read it exactly from the integer value */
            st->rng_offset = json_is_int(json_get(j, "rng_offset")) ? (uint64_t)json_int(json_get(j, "rng_offset")) : (uint64_t)rng;
            st->best_metric = best;
            st->best_epoch = (int)best_epoch;
            st->bad_epochs = (int)bad;
        }
        if (opt) opt->t = (int64_t)ostep;
    }
    json_free(j);
    return rc;
}

static int copy_tensor(const char *path, const SafetensorsFile *f, const char *name, int ndim, const int64_t *shape,
                       float *dst, SercErr *err) {
    int i = safetensors_find(f, name);
    if (i < 0) return serc_fail(err, "%s: tensor %s missing", path, name);
    if (safetensors_dtype(f, i) != SERC_F32)
        return serc_fail(err, "%s: tensor %s has dtype %s, expected F32", path, name, serc_dtype_name(safetensors_dtype(f, i)));
    int same = safetensors_ndim(f, i) == ndim;
    for (int d = 0; same && d < ndim; d++) same = safetensors_shape(f, i)[d] == shape[d];
    if (!same) {
        char want[128] = "", got[128] = "";
        size_t o = 0;
        for (int d = 0; d < ndim; d++) o += (size_t)snprintf(want + o, sizeof want - o, d ? ", %lld" : "%lld", (long long)shape[d]);
        o = 0;
        for (int d = 0; d < safetensors_ndim(f, i); d++)
            o += (size_t)snprintf(got + o, sizeof got - o, d ? ", %lld" : "%lld", (long long)safetensors_shape(f, i)[d]);
        return serc_fail(err, "%s: tensor %s has shape [%s], the model expects [%s]", path, name, got, want);
    }
    memcpy(dst, safetensors_data(f, i), safetensors_nbytes(f, i));
    return 0;
}

int checkpoint_load(const char *path, ParamStore *ps, AdamW *opt, CheckpointState *st, SercErr *err) {
    SafetensorsFile *f = safetensors_open(path, err);
    if (!f) return -1;
    int rc = 0;
    for (int i = 0; i < params_len(ps) && rc == 0; i++) {
        Tensor *t = params_at(ps, i);
        rc = copy_tensor(path, f, t->name, t->ndim, t->shape, t->data, err);
    }
    for (int i = 0; i < safetensors_count(f) && rc == 0; i++) {
        const char *name = safetensors_name(f, i);
        if (!params_get(ps, name) && strcmp(name, OPT_M) != 0 && strcmp(name, OPT_V) != 0)
            rc = serc_fail(err, "%s: tensor %s is not part of this model (a checkpoint of another configuration?)", path, name);
    }
    if (rc == 0 && opt) {
        int64_t shape[1] = {opt->n};
        rc = copy_tensor(path, f, OPT_M, 1, shape, opt->m, err);
        if (rc == 0) rc = copy_tensor(path, f, OPT_V, 1, shape, opt->v, err);
    }
    if (rc == 0 && (st || opt)) rc = load_state(path, f, opt, st, err);
    safetensors_close(f);
    return rc;
}

char *checkpoint_read_meta(const char *path, const char *key, SercErr *err) {
    SafetensorsFile *f = safetensors_open(path, err);
    if (!f) return NULL;
    const char *v = safetensors_metadata(f, key);
    char *out = v ? serc_strdup(v) : NULL;
    if (!v) serc_fail(err, "%s: checkpoint has no %s metadata", path, key);
    safetensors_close(f);
    return out;
}

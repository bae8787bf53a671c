#include "heads.h"

#include <stdio.h>

void mlp_head_register(MlpHead *h, ParamStore *ps, const char *prefix, int in, int hidden, int out, float dropout) {
    SERC_ASSERT(in > 0 && hidden >= 0 && out > 0, "head %s: in %d, hidden %d, out %d", prefix, in, hidden, out);
    SERC_ASSERT(dropout >= 0.0f && dropout < 1.0f, "head %s: dropout %g outside [0, 1)", prefix, (double)dropout);
    char name[256];
    h->in = in;
    h->hidden = hidden;
    h->out = out;
    h->dropout = dropout;
    h->fc = (Linear){0};
    h->norm = (LayerNorm){0};
    if (hidden > 0) {
        snprintf(name, sizeof name, "%s.hidden", prefix);
        linear_register(&h->fc, ps, name, in, hidden, 1);
        snprintf(name, sizeof name, "%s.norm", prefix);
        layer_norm_register(&h->norm, ps, name, hidden, 1e-5f);
    }
    snprintf(name, sizeof name, "%s.out", prefix);
    linear_register(&h->out_fc, ps, name, hidden > 0 ? hidden : in, out, 1);
}

void mlp_head_init(MlpHead *h, InitRng *r) {
    if (h->hidden > 0) {
        linear_init(&h->fc, r);
        layer_norm_init(&h->norm);
    }
    linear_init(&h->out_fc, r);
}

Tensor *mlp_head_forward(Ctx *g, const MlpHead *h, Tensor *x) {
    if (h->hidden > 0) x = op_relu(g, layer_norm_forward(g, &h->norm, linear_forward(g, &h->fc, x)));
    if (h->dropout > 0.0f) x = op_dropout(g, x, h->dropout);
    return linear_forward(g, &h->out_fc, x);
}

void projection_head_register(ProjectionHead *h, ParamStore *ps, const char *prefix, int in, int hidden, int out) {
    SERC_ASSERT(in > 0 && hidden > 0 && out > 0, "projection %s: in %d, hidden %d, out %d", prefix, in, hidden, out);
    char name[256];
    h->in = in;
    h->hidden = hidden;
    h->out = out;
    snprintf(name, sizeof name, "%s.fc1", prefix);
    linear_register(&h->fc1, ps, name, in, hidden, 1);
    snprintf(name, sizeof name, "%s.fc2", prefix);
    linear_register(&h->fc2, ps, name, hidden, out, 1);
}

void projection_head_init(ProjectionHead *h, InitRng *r) {
    linear_init(&h->fc1, r);
    linear_init(&h->fc2, r);
}

Tensor *projection_head_forward(Ctx *g, const ProjectionHead *h, Tensor *x) {
    return linear_forward(g, &h->fc2, op_relu(g, linear_forward(g, &h->fc1, x)));
}

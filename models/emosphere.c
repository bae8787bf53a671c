/* EmoSphere-SER geometry, targets and the octant head; see emosphere.h. */
#include "emosphere.h"

#include <math.h>
#include <stdlib.h>

#include "losses.h"

int emosphere_octant(const float v[3]) {
    return 4 * (v[0] >= 0.0f) + 2 * (v[1] >= 0.0f) + (v[2] >= 0.0f);
}

void emosphere_spherical(const float v[3], double *r, double *azimuth, double *elevation) {
    double a = v[0], b = v[1], c = v[2];
    double rr = sqrt(a * a + b * b + c * c);
    *r = rr;
    *azimuth = atan2(b, a);
    if (rr > 0.0) {
        double q = c / rr;
        *elevation = acos(q > 1.0 ? 1.0 : q < -1.0 ? -1.0 : q);
    } else {
        *elevation = M_PI / 2.0;
    }
}

double emosphere_aux_weight(int epoch, int decay_epochs) {
    if (decay_epochs <= 0 || epoch < 0 || epoch >= decay_epochs) return 0.0;
    return 1.0 - ((double)epoch / (double)decay_epochs) * 0.99;
}

void emosphere_targets(const float *avd, int64_t B, float *norm, int32_t *octant) {
    for (int64_t i = 0; i < B; i++) {
        float v[3];
        for (int k = 0; k < 3; k++) v[k] = emosphere_normalise(avd[i * 3 + k]);
        if (norm)
            for (int k = 0; k < 3; k++) norm[i * 3 + k] = v[k];
        if (octant) octant[i] = emosphere_octant(v);
    }
}

void emosphere_octant_class_weights(const float *avd, int64_t n, float weights[EMOSPHERE_OCTANTS]) {
    int64_t counts[EMOSPHERE_OCTANTS] = {0};
    for (int64_t i = 0; i < n; i++) {
        int32_t o = 0;
        emosphere_targets(avd + i * 3, 1, NULL, &o);
        counts[o]++;
    }
    loss_class_weights_balanced(counts, EMOSPHERE_OCTANTS, weights);
}

void emosphere_register(EmoSphereHead *h, ParamStore *ps, int in, int hidden, float dropout) {
    mlp_head_register(&h->octant, ps, "emosphere.octant", in, hidden, EMOSPHERE_OCTANTS, dropout);
}

void emosphere_init(EmoSphereHead *h, InitRng *r) { mlp_head_init(&h->octant, r); }

Tensor *emosphere_octant_logits(Ctx *g, const EmoSphereHead *h, Tensor *pooled) {
    return mlp_head_forward(g, &h->octant, pooled);
}

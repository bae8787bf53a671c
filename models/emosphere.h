/* EmoSphere-SER (Cho et al., Interspeech 2025, "EmoSphere-SER: Enhancing Speech Emotion Recognition
 * Through Spherical Representation with Auxiliary Classification"): A/V/D regression on a normalised
 * scale with an auxiliary classification of the octant of (A, V, D) space, whose weight decays and is
 * then dropped.
 *
 *   normalised v = 2 (x - 1)/6 - 1  (A/V/D on 1..7 to [-1, 1]; back: x = 3 v + 4)
 *   octant      = 4 [v_A >= 0] + 2 [v_V >= 0] + [v_D >= 0]   in 0..7 (0 counts as positive: the
 *                 scale's midpoint 4, and points on an axis, go to the positive side)
 *   spherical   r = |v|, azimuth = atan2(v_V, v_A) in (-pi, pi], elevation = arccos(v_D / r) in
 *               [0, pi] (pi/2 at r = 0, where the direction is undefined)
 *   auxiliary weight at epoch e (0-based): 1 - (e / E) 0.99 for e < E, 0 from e = E (E = 5)
 *
 * The octant head is an MlpHead over the pooled vector ("emosphere.octant", 8 logits), the SerModel
 * branch enabled by model.emosphere; the regression head is the model's A/V/D head on the normalised
 * scale. Losses: sum over A/V/D of (1 - CCC) (loss_ccc) and class-weighted cross-entropy on the octant.
 */
#ifndef SERC_EMOSPHERE_H
#define SERC_EMOSPHERE_H

#include <stdint.h>

#include "heads.h"

#define EMOSPHERE_OCTANTS 8

/* x on 1..7 to [-1, 1] and back. */
static inline float emosphere_normalise(float x) { return 2.0f * (x - 1.0f) / 6.0f - 1.0f; }
static inline float emosphere_denormalise(float v) { return 3.0f * v + 4.0f; }

/* Octant of a normalised (A, V, D) vector v[3], in 0..7 (see above). */
int emosphere_octant(const float v[3]);

/* Spherical coordinates of a normalised (A, V, D) vector v[3]: radius, azimuth, elevation (radians). */
void emosphere_spherical(const float v[3], double *r, double *azimuth, double *elevation);

/* Weight of the auxiliary octant loss at 0-based epoch e with E decay epochs: 1 - (e/E) 0.99 for
 * 0 <= e < E, else 0 (E <= 0: always 0). */
double emosphere_aux_weight(int epoch, int decay_epochs);

/* Batch targets from A/V/D on 1..7, avd (B, 3) row-major: norm (B, 3) the normalised values, octant
 * (B) the octant labels; either may be NULL. */
void emosphere_targets(const float *avd, int64_t B, float *norm, int32_t *octant);

/* Octant class weights N / (8 count_o) from a set of A/V/D points on 1..7, avd (n, 3) (an octant with
 * no point gets 0), as loss_class_weights_balanced. */
void emosphere_octant_class_weights(const float *avd, int64_t n, float weights[EMOSPHERE_OCTANTS]);

typedef struct EmoSphereHead {
    MlpHead octant; /* pooled (B, in) -> (B, 8) octant logits */
} EmoSphereHead;

/* Parameters "emosphere.octant.{hidden,norm,out}". */
void emosphere_register(EmoSphereHead *h, ParamStore *ps, int in, int hidden, float dropout);
void emosphere_init(EmoSphereHead *h, InitRng *r);
/* pooled (B, in) -> octant logits (B, 8). */
Tensor *emosphere_octant_logits(Ctx *g, const EmoSphereHead *h, Tensor *pooled);

#endif

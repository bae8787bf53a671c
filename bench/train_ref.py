#!/usr/bin/python3
"""PyTorch twin of bench/bench_train.c: the recipe model of recipes/synth/mll.toml in torch.nn modules,
trained on the same synthetic batches (same shapes, lengths, labels and soft labels: the splitmix64
stream of bench_train.c), same warm-up and timed steps, same thread count. Prints utterances per second.

Model (models/ser_model.c with the recipe's config; layer sizes and order as SERC's):
  mask input frames -> TDNN 3 x [Conv1d(k, dilation d, same padding, bias) -> ReLU -> BatchNorm1d -> mask]
    widths 96, 96, 96, kernels 5, 3, 3, dilations 1, 2, 3
  -> input_proj Linear(96, 64)
  -> FLAM: LayerNorm(x + Dropout(MHSA_16 heads(x, key padding mask)))
  -> attention pooling: alpha = masked softmax_t(v^T tanh(W h_t + b)), W (128, 64), v no bias
  -> classifier Linear(64, 64) -> LayerNorm -> ReLU -> Dropout(0.1) -> Linear(64, 8)
  -> projection Linear(64, 64) -> ReLU -> Linear(64, 32)
Loss: CE(soft labels, class weights) + 0.5 focal(gamma 2, alpha = class weights) + 0.1 center
(centers a parameter with lr center_lr, no decay) + 0.1 SupCon(T 0.1); clip_grad_norm_(5);
AdamW(lr 2e-3, weight decay 0.01).

  /usr/bin/python3 bench/train_ref.py [--threads 2] [--batch 16] [--frames 300] [--min-frames 150]
      [--warmup 3] [--steps 20] [--seed 0] [--profile]
"""
import argparse
import math
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

MASK64 = (1 << 64) - 1


class SplitMix64:
    def __init__(self, seed):
        self.s = seed & MASK64

    def next(self):
        self.s = (self.s + 0x9E3779B97F4A7C15) & MASK64
        z = self.s
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
        return z ^ (z >> 31)

    def u01(self):
        return (self.next() >> 11) * (1.0 / 9007199254740992.0)


def synth_batch(rng, B, T, Fdim, C, min_frames, gen):
    """Lengths, labels and soft labels as bench_train.c draws them; feature values from torch's RNG
    (values do not matter for throughput; drawing them in Python would take minutes)."""
    lengths, labels = [], []
    soft = torch.zeros(B, C)
    for b in range(B):
        lengths.append(min_frames + rng.next() % (T - min_frames + 1))
        y = rng.next() % C
        labels.append(y)
        partner = rng.next() % C
        mix, lam = rng.u01(), 0.5 + 0.5 * rng.u01()
        if mix < 0.5:
            soft[b, y] += lam
            soft[b, partner] += 1.0 - lam
        else:
            soft[b, y] = 1.0
    lengths = torch.tensor(lengths, dtype=torch.long)
    feats = torch.randn(B, T, Fdim, generator=gen)
    mask = torch.arange(T)[None, :] < lengths[:, None]
    feats = feats * mask[:, :, None]
    return feats, lengths, torch.tensor(labels, dtype=torch.long), soft


class TdnnLayer(nn.Module):
    def __init__(self, cin, cout, k, d):
        super().__init__()
        self.conv = nn.Conv1d(cin, cout, k, dilation=d, padding=d * (k - 1) // 2, bias=True)
        self.bn = nn.BatchNorm1d(cout, momentum=0.1, eps=1e-5)

    def forward(self, x, mask):  # x (B, C, T), mask (B, 1, T) float
        return self.bn(F.relu(self.conv(x))) * mask


class AttentionPool(nn.Module):
    def __init__(self, dim, att_dim):
        super().__init__()
        self.proj = nn.Linear(dim, att_dim)
        self.score = nn.Linear(att_dim, 1, bias=False)

    def forward(self, h, mask):  # h (B, T, D), mask (B, T) bool
        e = self.score(torch.tanh(self.proj(h))).squeeze(-1)
        alpha = torch.softmax(e.masked_fill(~mask, float("-inf")), dim=1)
        return torch.bmm(alpha.unsqueeze(1), h).squeeze(1)


class Flam(nn.Module):
    def __init__(self, dim, heads, att_dim, dropout):
        super().__init__()
        self.attention = nn.MultiheadAttention(dim, heads, dropout=0.0, bias=True, batch_first=True)
        self.drop = nn.Dropout(dropout)
        self.norm = nn.LayerNorm(dim, eps=1e-5)
        self.pool = AttentionPool(dim, att_dim)

    def forward(self, x, mask):
        a, _ = self.attention(x, x, x, key_padding_mask=~mask, need_weights=False)
        h = self.norm(x + self.drop(a))
        return self.pool(h, mask)


class SerModel(nn.Module):
    def __init__(self, n_mels=40, tdnn_dims=(96, 96, 96), kernels=(5, 3, 3), dilations=(1, 2, 3), dim=64,
                 heads=16, att_dim=128, flam_dropout=0.1, head_hidden=64, dropout=0.1, n_classes=8, proj_dim=32):
        super().__init__()
        layers, cin = [], n_mels
        for c, k, d in zip(tdnn_dims, kernels, dilations):
            layers.append(TdnnLayer(cin, c, k, d))
            cin = c
        self.frontend = nn.ModuleList(layers)
        self.input_proj = nn.Linear(cin, dim)
        self.flam = Flam(dim, heads, att_dim, flam_dropout)
        self.classifier = nn.Sequential(nn.Linear(dim, head_hidden), nn.LayerNorm(head_hidden, eps=1e-5), nn.ReLU(),
                                        nn.Dropout(dropout), nn.Linear(head_hidden, n_classes))
        self.projection = nn.Sequential(nn.Linear(dim, dim), nn.ReLU(), nn.Linear(dim, proj_dim))

    def forward(self, feats, lengths):  # feats (B, T, F)
        T = feats.shape[1]
        mask = torch.arange(T)[None, :] < lengths[:, None]  # (B, T)
        mf = mask[:, None, :].to(feats.dtype)
        h = (feats * mask[:, :, None]).transpose(1, 2)  # (B, F, T)
        for layer in self.frontend:
            h = layer(h, mf)
        h = self.input_proj(h.transpose(1, 2))  # (B, T, dim)
        pooled = self.flam(h, mask)
        return self.classifier(pooled), self.projection(pooled)


def focal_loss(logits, labels, gamma, alpha):
    logp = F.log_softmax(logits, dim=1).gather(1, labels[:, None]).squeeze(1)
    p = logp.exp()
    return (-alpha[labels] * (1 - p) ** gamma * logp).mean()


def center_loss(emb, labels, centers):
    return 0.5 * ((emb - centers[labels]) ** 2).sum(1).mean()


def supcon_loss(emb, labels, temperature):
    z = F.normalize(emb, dim=1, eps=1e-12)
    B = z.shape[0]
    logits = z @ z.t() / temperature
    self_mask = torch.eye(B, dtype=torch.bool)
    logits = logits.masked_fill(self_mask, float("-inf"))
    log_prob = logits - torch.logsumexp(logits, dim=1, keepdim=True)
    pos = (labels[:, None] == labels[None, :]) & ~self_mask
    n_pos = pos.sum(1)
    valid = n_pos > 0
    if not valid.any():
        return emb.sum() * 0
    per_anchor = -(log_prob.masked_fill(~pos, 0.0)).sum(1) / n_pos.clamp(min=1)
    return per_anchor[valid].mean()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--frames", type=int, default=300)
    ap.add_argument("--min-frames", type=int, default=150)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--profile", action="store_true", help="torch.profiler table of the timed steps (adds overhead)")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    gen = torch.Generator().manual_seed(a.seed)

    n_mels, C, proj_dim = 40, 8, 32
    rng = SplitMix64(a.seed)
    pool = [synth_batch(rng, a.batch, a.frames, n_mels, C, a.min_frames, gen) for _ in range(4)]
    counts = torch.zeros(C)
    for _, _, y, _ in pool:
        counts += torch.bincount(y, minlength=C).float()
    N = counts.sum()
    class_w = torch.where(counts > 0, N / (C * counts.clamp(min=1)), torch.zeros(C))

    model = SerModel(n_mels=n_mels, n_classes=C, proj_dim=proj_dim)
    centers = nn.Parameter(torch.randn(C, proj_dim))
    lr, center_lr = 2e-3, 5e-3
    opt = torch.optim.AdamW([{"params": model.parameters()},
                             {"params": [centers], "lr": center_lr, "weight_decay": 0.0}], lr=lr, weight_decay=0.01)
    n_params = sum(p.numel() for p in model.parameters()) + centers.numel()
    print(f"train_ref: torch {torch.__version__}, {n_params} parameters, batch {a.batch} x {a.frames} frames x {n_mels} "
          f"features (lengths {a.min_frames}..{a.frames}), {C} classes, {torch.get_num_threads()} threads, "
          f"{a.warmup} warm-up + {a.steps} timed steps")
    print(f"batches: {len(pool)} in the pool, valid frames {sum(int(l.sum()) for _, l, _, _ in pool)}, "
          f"label sum {sum(int(y.sum()) for _, _, y, _ in pool)} (bench_train prints the same)")
    model.train()
    t_timed = 0.0
    loss_v = float("nan")
    prof = None
    for it in range(a.warmup + a.steps):
        if a.profile and it == a.warmup:
            prof = torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU])
            prof.__enter__()
        feats, lengths, labels, soft = pool[it % len(pool)]
        t0 = time.perf_counter()
        logits, emb = model(feats, lengths)
        loss = (F.cross_entropy(logits, soft, weight=class_w)
                + 0.5 * focal_loss(logits, labels, 2.0, class_w)
                + 0.1 * center_loss(emb, labels, centers)
                + 0.1 * supcon_loss(emb, labels, 0.1))
        opt.zero_grad(set_to_none=False)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(list(model.parameters()) + [centers], 5.0)
        opt.step()
        loss_v = loss.item()
        if not math.isfinite(loss_v):
            raise SystemExit(f"train_ref: loss {loss_v} at step {it}")
        if it >= a.warmup:
            t_timed += time.perf_counter() - t0
    if prof is not None:
        prof.__exit__(None, None, None)
        print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=20))
    ms = 1e3 * t_timed / a.steps
    ups = a.batch * a.steps / t_timed
    print(f"last loss {loss_v:.4f}")
    print(f"result: threads={torch.get_num_threads()} batch={a.batch} frames={a.frames} steps={a.steps} "
          f"ms_per_step={ms:.2f} utt_per_s={ups:.2f}")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Frozen-encoder throughput of transformers' WavLMModel on the CPU, the twin of bench/bench_ssl.c.

    bench_ssl.py --size base|large --threads T [--batch 1] [--seconds 10] [--warmup 1] [--repeat 3]

Run it with the thread count also in the environment (bench_ssl.sh does): OMP_NUM_THREADS=T
MKL_NUM_THREADS=T; torch gets torch.set_num_threads(T).

Model: WavLMModel(WavLMConfig(...)) with the same shape keys as bench_ssl.c (microsoft/wavlm-base-plus and
microsoft/wavlm-large), transformers' random init, eval mode. Input: N(0, 0.1) float32 waveforms (B, N).
Timed region: model(x, output_hidden_states=True) under torch.inference_mode(), best of --repeat after
--warmup untimed calls.

Output: "RESULT torch <size> <threads> <batch> <seconds> <best_s> <utt_per_s> - <rss_mib>" (the
activation peak is not measured for torch; rss_mib is the process's peak resident set, weights included).
"""
import argparse
import resource
import time

import torch
from transformers import WavLMConfig, WavLMModel

SIZES = {
    "base": dict(hidden_size=768, num_hidden_layers=12, num_attention_heads=12, intermediate_size=3072,
                 feat_extract_norm="group", do_stable_layer_norm=False, conv_bias=False),
    "large": dict(hidden_size=1024, num_hidden_layers=24, num_attention_heads=16, intermediate_size=4096,
                  feat_extract_norm="layer", do_stable_layer_norm=True, conv_bias=True),
}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", choices=SIZES, default="base")
    ap.add_argument("--threads", type=int, required=True)
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--repeat", type=int, default=3)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    model = WavLMModel(WavLMConfig(**SIZES[a.size], num_buckets=320, max_bucket_distance=800)).eval()
    x = 0.1 * torch.randn(a.batch, int(a.seconds * 16000))
    best = float("inf")
    with torch.inference_mode():
        for it in range(a.warmup + a.repeat):
            t0 = time.perf_counter()
            out = model(x, output_hidden_states=True)
            dt = time.perf_counter() - t0
            assert len(out.hidden_states) == model.config.num_hidden_layers + 1
            if it >= a.warmup:
                best = min(best, dt)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    print(f"RESULT torch {a.size} {a.threads} {a.batch} {a.seconds:.1f} {best:.4f} {a.batch / best:.3f} - {rss:.1f}")


if __name__ == "__main__":
    main()

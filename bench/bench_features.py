#!/usr/bin/env python3
"""Log-mel throughput of the reference libraries on the files bench_features --make wrote, in seconds of
audio featurised per second of wall time; the counterpart of bench/bench_features.c.

    bench_features.py --dir DIR --threads T [--repeat 3]

Run it with the thread count also in the environment (bench_features.sh does):
OMP_NUM_THREADS=T OPENBLAS_NUM_THREADS=T MKL_NUM_THREADS=T, since numpy's BLAS (librosa's mel matmul)
reads those at import; torch gets torch.set_num_threads(T).

Measured, each the library's usual float32 call with the settings of the SERC preset it is compared with:
  kaldi       torchaudio.compliance.kaldi.fbank(x[None], num_mel_bins=23, dither=0.0)
  torchaudio  torch.log(torchaudio.transforms.MelSpectrogram(sample_rate=16000)(x) + 1e-6)  (transform built once)
  librosa     librosa.power_to_db(librosa.feature.melspectrogram(y=x, sr=16000), ref=1.0, amin=1e-10,
              top_db=80.0)   (skipped when librosa cannot be imported)

Timed region: the feature call only. Files are decoded once before timing (the wave module; PCM16 /
32768, the values libsndfile gives) and converted to float32 numpy arrays and torch tensors. One untimed
warm-up pass, then --repeat passes over all files; the best pass is reported.

Output: "RESULT <library> <preset> <threads> <audio_s> <best_wall_s> <x_realtime>" per line.
"""
import argparse
import glob
import os
import sys
import time
import warnings
import wave

import numpy as np


def read_wav(path):
    with wave.open(path, "rb") as w:
        assert w.getnchannels() == 1 and w.getsampwidth() == 2, path
        sr = w.getframerate()
        x = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").astype(np.float32) / 32768.0
    return x, sr


def best_of(fn, items, repeat):
    for it in items:  # warm-up
        fn(it)
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        for it in items:
            fn(it)
        best = min(best, time.perf_counter() - t0)
    return best


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dir", required=True)
    ap.add_argument("--threads", type=int, required=True)
    ap.add_argument("--repeat", type=int, default=3)
    a = ap.parse_args()

    import torch
    import torchaudio

    warnings.filterwarnings("ignore", message="At least one mel filterbank has all zero values")

    torch.set_num_threads(a.threads)
    files = sorted(glob.glob(os.path.join(a.dir, "f[0-9][0-9][0-9].wav")))
    if not files:
        sys.exit(f"bench_features.py: no f000.wav in {a.dir}")
    arrays = []
    for f in files:
        x, sr = read_wav(f)
        assert sr == 16000, f
        arrays.append(x)
    tensors = [torch.from_numpy(x) for x in arrays]
    audio_s = sum(len(x) for x in arrays) / 16000.0
    print(f"# python {sys.version.split()[0]} ({sys.executable}), torch {torch.__version__}, torchaudio "
          f"{torchaudio.__version__}, {len(files)} files, {audio_s:.1f} s, {a.threads} thread(s), best of "
          f"{a.repeat}; decoding excluded")

    def report(lib, preset, t):
        print(f"RESULT {lib} {preset} {a.threads} {audio_s:.3f} {t:.6f} {audio_s / t:.1f}", flush=True)

    with torch.inference_mode():
        kaldi = torchaudio.compliance.kaldi.fbank
        report("torchaudio", "kaldi",
               best_of(lambda x: kaldi(x[None], num_mel_bins=23, dither=0.0, sample_frequency=16000.0),
                       tensors, a.repeat))
        mel = torchaudio.transforms.MelSpectrogram(sample_rate=16000)
        report("torchaudio", "torchaudio", best_of(lambda x: torch.log(mel(x) + 1e-6), tensors, a.repeat))
    try:
        import librosa
    except Exception as e:  # noqa: BLE001
        print(f"# librosa not importable here ({type(e).__name__}: {e}); skipped")
        return
    print(f"# librosa {librosa.__version__}, numpy {np.__version__}")

    def lib(x):
        return librosa.power_to_db(librosa.feature.melspectrogram(y=x, sr=16000), ref=1.0, amin=1e-10, top_db=80.0)

    report("librosa", "librosa", best_of(lib, arrays, a.repeat))


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Writes the seed corpora under tests/fuzz/seeds/ (deterministic; the outputs are committed).

Needs numpy (for .npy seeds) and libsndfile (through ctypes, for the FLAC/OGG/AIFF audio seeds).
Run from anywhere: python3 tests/fuzz/make_seeds.py
"""
import ctypes
import ctypes.util
import json
import math
import os
import shutil
import struct

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
SEEDS = os.path.join(HERE, "seeds")
for _t in ("json", "safetensors", "npy", "manifest", "config", "audio"):
    os.makedirs(os.path.join(SEEDS, _t), exist_ok=True)


def out(target, name, data):
    d = os.path.join(SEEDS, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode("utf-8"))


# ---- json ----
out("json", "object.json", '{"a": [1, -2.5e3, true, false, null], "b": {"c": "d\\u00e9\\n\\ud83d\\ude00"}}')
out("json", "hf_config.json", json.dumps({
    "architectures": ["Wav2Vec2ForCTC"], "hidden_size": 768, "num_hidden_layers": 12,
    "num_attention_heads": 12, "layer_norm_eps": 1e-05, "conv_dim": [512, 512, 512],
    "do_stable_layer_norm": False, "model_type": "wav2vec2", "torch_dtype": "float32"}, indent=2))
out("json", "scalars.json", '[0, -0, 1e308, 123456789012345678901234567890, "", "\\"\\\\\\/\\b\\f\\n\\r\\t", []]')
out("json", "nested.json", '{"x":{"y":{"z":[[[{"w":[]}]]]}}}')

# ---- safetensors ----
shutil.copy(os.path.join(ROOT, "tests/fixtures/safetensors_ref.safetensors"), os.path.join(SEEDS, "safetensors", "ref.safetensors"))


def safetensors(tensors, meta=None):
    header, data, off = {}, b"", 0
    if meta is not None:
        header["__metadata__"] = meta
    for name, (dtype, shape, raw) in tensors.items():
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [off, off + len(raw)]}
        data += raw
        off += len(raw)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    return struct.pack("<Q", len(h)) + h + data


out("safetensors", "one_f32.safetensors", safetensors({"w": ("F32", [2, 2], struct.pack("<4f", 1, 2, 3, 4))}))
out("safetensors", "bf16_u8_i32_meta.safetensors", safetensors(
    {"a": ("BF16", [3], b"\x80\x3f\x00\x40\x40\x40"), "b": ("U8", [1, 1, 2], b"\x01\xff"), "c": ("I32", [], struct.pack("<i", -5))},
    meta={"format": "pt"}))
out("safetensors", "empty.safetensors", safetensors({}))


# ---- npy ----
def npy(arr):
    import io
    b = io.BytesIO()
    np.save(b, arr, allow_pickle=False)
    return b.getvalue()


def npy_v2(arr):
    import io
    from numpy.lib import format as fmt
    b = io.BytesIO()
    fmt.write_array(b, arr, version=(2, 0), allow_pickle=False)
    return b.getvalue()


out("npy", "f32_2d.npy", npy(np.arange(6, dtype="<f4").reshape(2, 3)))
out("npy", "i64_1d.npy", npy(np.array([1, -2, 3], dtype="<i8")))
out("npy", "u8_scalar.npy", npy(np.array(7, dtype="u1")))
out("npy", "f16_3d_v2.npy", npy_v2(np.ones((1, 2, 2), dtype="<f2")))
out("npy", "i32_empty.npy", npy(np.zeros((0, 4), dtype="<i4")))

# ---- manifest ----
out("manifest", "full.jsonl",
    '{"id":"Ses01F_impro01_F000","audio":"wav/a.wav","start":0.5,"end":2.25,"speaker":"Ses01F","gender":"female",'
    '"age":31,"label":"neutral","label_dist":{"neutral":0.6,"happy":0.4},"arousal":2.5,"valence":3,"dominance":3.5,'
    '"transcript":"hello there","words":[{"w":"hello","start":0.1,"end":0.4},{"w":"there","start":0.45,"end":0.8}],'
    '"fold":0,"split":"train","split_name":"Session1","corpus":"iemocap","condition":"clean","lang":"en-US"}\n'
    '{"id":"b","audio":"/abs/b.wav","words":[]}\n'
    '{"id":"c","audio":"../c.wav","gender":"unknown","transcript":"","valence":0.1}\n')
out("manifest", "minimal.jsonl", '{"id":"a","audio":"a.wav"}\n')
out("manifest", "splits.jsonl",
    '{"id":"x1","audio":"./d/../x1.flac","split":"test","split_name":"Test1","label":"sad","fold":3}\n'
    '{"id":"x2","audio":"x2.wav","split":"dev","gender":"male","start":1e-3}\n'
    '{"id":"x3","audio":"x3.wav","end":7,"corpus":"msp-podcast","condition":"white@5dB"}')

# ---- config ----
shutil.copy(os.path.join(ROOT, "recipes/synth/mll.toml"), os.path.join(SEEDS, "config", "mll.toml"))
out("config", "all_types.toml",
    '# every value type\n[data]\ntrain = "a.jsonl"\nclasses = ["neutral", "happy", "sad"]\nn_mels = 80\n'
    'sample_rate = 16000\nbucket = false\nmax_seconds = 6.0\n\n[model]\nfrontend = "cnn2d"\ncnn_channels = [32, 64]\n'
    'freq_pool_only = true\navd = true\n\n[loss]\nccc = 1e-1\nlabel_smoothing = 0.1\n\n'
    '[optim]\nlr = 1e-3\nwarmup_steps = 100\nschedule = "cosine"\nclip = 0\n\n[run]\nout = "runs/x" # comment\nthreads = 2\n')
out("config", "eam.toml", '[eam]\nenabled = true\nprob = 1.0\nsnr_min = -5.0\nsnr_max = 10.0\nmin_fraction = 0.25\n')

# ---- audio ----
def wav(sr, channels, fmt_tag, bits, frames_bytes):
    block = channels * bits // 8
    fmt = struct.pack("<HHIIHH", fmt_tag, channels, sr, sr * block, block, bits)
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt + b"data" + struct.pack("<I", len(frames_bytes)) + frames_bytes
    if len(frames_bytes) % 2:
        body += b"\0"
    return b"RIFF" + struct.pack("<I", len(body)) + body


sine = [math.sin(2 * math.pi * 440 * i / 8000) * 0.5 for i in range(200)]
out("audio", "pcm16_8k_mono.wav", wav(8000, 1, 1, 16, b"".join(struct.pack("<h", int(s * 32767)) for s in sine)))
out("audio", "pcm16_16k_stereo.wav",
    wav(16000, 2, 1, 16, b"".join(struct.pack("<hh", int(s * 32767), int(-s * 32767)) for s in sine[:100])))
out("audio", "u8_22k.wav", wav(22050, 1, 1, 8, bytes(int(128 + s * 120) for s in sine[:150])))
out("audio", "float_44k.wav", wav(44100, 1, 3, 32, b"".join(struct.pack("<f", s) for s in sine)))
out("audio", "pcm24_48k.wav", wav(48000, 1, 1, 24, b"".join(struct.pack("<i", int(s * 8388607))[:3] for s in sine[:120])))

# FLAC, OGG/Vorbis and AIFF through libsndfile (ctypes).
lib = ctypes.CDLL(ctypes.util.find_library("sndfile") or "libsndfile.so.1")


class SF_INFO(ctypes.Structure):
    _fields_ = [("frames", ctypes.c_int64), ("samplerate", ctypes.c_int), ("channels", ctypes.c_int),
                ("format", ctypes.c_int), ("sections", ctypes.c_int), ("seekable", ctypes.c_int)]


lib.sf_open.restype = ctypes.c_void_p
lib.sf_open.argtypes = [ctypes.c_char_p, ctypes.c_int, ctypes.POINTER(SF_INFO)]
lib.sf_writef_float.argtypes = [ctypes.c_void_p, ctypes.POINTER(ctypes.c_float), ctypes.c_int64]
lib.sf_close.argtypes = [ctypes.c_void_p]
SFM_WRITE = 0x20
for name, fmt, sr, n in (("flac_16k.flac", 0x170000 | 0x0002, 16000, 200),   # FLAC, PCM16
                         ("vorbis_8k.ogg", 0x200000 | 0x0060, 8000, 400),   # OGG, VORBIS
                         ("aiff_11k.aiff", 0x020000 | 0x0002, 11025, 100)):  # AIFF, PCM16
    path = os.path.join(SEEDS, "audio", name)
    info = SF_INFO(0, sr, 1, fmt, 0, 0)
    f = lib.sf_open(path.encode(), SFM_WRITE, ctypes.byref(info))
    if not f:
        raise SystemExit("libsndfile cannot write " + name)
    buf = (ctypes.c_float * n)(*[math.sin(2 * math.pi * 300 * i / sr) * 0.4 for i in range(n)])
    lib.sf_writef_float(f, buf, n)
    lib.sf_close(f)

for t in sorted(os.listdir(SEEDS)):
    files = os.listdir(os.path.join(SEEDS, t))
    print(t, len(files), "files,", sum(os.path.getsize(os.path.join(SEEDS, t, x)) for x in files), "bytes")

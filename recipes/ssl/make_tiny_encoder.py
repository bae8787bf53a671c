#!/usr/bin/env python3
"""Writes recipes/ssl/tiny-wavlm/: a WavLM with random weights and the real models' frame layout (conv
strides 5,2,2,2,2,2,2 = 320 samples, 50 frames per second), 2 layers of width 32, saved with
transformers' save_pretrained as safetensors. It exists so that the SSL recipe's mechanics (embed,
cache, train, evaluate) run anywhere, in CI included; it carries no knowledge of speech.

    /opt/serc-hf-venv/bin/python recipes/ssl/make_tiny_encoder.py
"""
import os

import torch
from transformers import WavLMConfig, WavLMModel

torch.manual_seed(0)
cfg = WavLMConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
                  conv_dim=(32,) * 7, num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=4,
                  num_buckets=32, max_bucket_distance=64)
out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "tiny-wavlm")
WavLMModel(cfg).eval().save_pretrained(out, safe_serialization=True)
print("wrote", out)

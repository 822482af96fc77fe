#!/usr/bin/env python3
"""The reference for bench/engine: Hugging Face Transformers' LlamaForCausalLM with PyTorch eager
(or, with --compile, the model wrapped in torch.compile), SDPA attention, random init from a
LlamaConfig, bf16 weights, fused AdamW, gradient clipping at 1.0 -- the step Optiscope's engine
runs. Prints one JSON object.

  hf_reference.py --geometry llama-3.2-1b [--batch 4] [--seq-len 512] [--warmup 3] [--steps 20]
                  [--compile] [--kernels N]

--compile: torch.compile(model) with the default mode (no CUDA graphs); the first warm-up step
compiles (its time is reported as compile_s), the timed steps reuse the compiled graphs.
--kernels N: after the timed steps, two more steps under torch.profiler; adds the N kernels with the
most device time per step ("kernels", the same shape as optiscope_engine_bench --kernels).
"""
import argparse
import json
import time

import torch
from transformers import LlamaConfig, LlamaForCausalLM

GEOMETRIES = {
    "llama-3.2-1b": dict(hidden_size=2048, intermediate_size=8192, num_hidden_layers=16, num_attention_heads=32,
                         num_key_value_heads=8, head_dim=64, tie_word_embeddings=True, factor=32.0),
    "llama-3.2-3b": dict(hidden_size=3072, intermediate_size=8192, num_hidden_layers=28, num_attention_heads=24,
                         num_key_value_heads=8, head_dim=128, tie_word_embeddings=True, factor=32.0),
    "llama-3.1-8b": dict(hidden_size=4096, intermediate_size=14336, num_hidden_layers=32, num_attention_heads=32,
                         num_key_value_heads=8, head_dim=128, tie_word_embeddings=False, factor=8.0),
}


def config_for(name):
    g = dict(GEOMETRIES[name])
    factor = g.pop("factor")
    return LlamaConfig(vocab_size=128256, max_position_embeddings=131072, rms_norm_eps=1e-5, rope_theta=500000.0,
                       rope_scaling={"rope_type": "llama3", "factor": factor, "low_freq_factor": 1.0,
                                     "high_freq_factor": 4.0, "original_max_position_embeddings": 8192},
                       attn_implementation="sdpa", **g)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--geometry", default="llama-3.2-1b", choices=sorted(GEOMETRIES))
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--seq-len", type=int, default=512)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--compile", action="store_true")
    p.add_argument("--kernels", type=int, default=0)
    a = p.parse_args()

    torch.manual_seed(42)
    config = config_for(a.geometry)
    with torch.device("cuda"):
        model = LlamaForCausalLM(config)
    model.to(torch.bfloat16).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-5, weight_decay=0.0, fused=True)
    ids = torch.randint(0, config.vocab_size, (a.batch, a.seq_len), device="cuda")
    forward = torch.compile(model) if a.compile else model

    def train_step():
        out = forward(input_ids=ids, labels=ids)
        out.loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        return out.loss.item()

    times, losses = [], []
    for step in range(a.warmup + a.steps):
        if step == a.warmup:
            torch.cuda.reset_peak_memory_stats()
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        losses.append(train_step())
        torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
    timed = times[a.warmup:]
    tokens = a.batch * a.seq_len * len(timed)
    result = {
        "geometry": a.geometry, "batch": a.batch, "seq_len": a.seq_len, "precision": "bf16",
        "optim": "torch.optim.AdamW(fused=True)", "attn": "sdpa", "compiled": a.compile,
        "torch": torch.__version__, "transformers": __import__("transformers").__version__,
        "timed_steps": len(timed), "step_ms": 1000.0 * sum(timed) / len(timed), "tokens_per_s": tokens / sum(timed),
        "peak_gib": torch.cuda.max_memory_allocated() / 2**30, "first_loss": losses[0], "last_loss": losses[-1],
        "compile_s": times[0] if a.compile else 0.0,
    }
    if a.kernels > 0:
        result.update(kernel_breakdown(train_step, a.kernels))
    print(json.dumps(result))


def kernel_breakdown(train_step, top, steps=2):
    """Device time per kernel name over `steps` profiled steps, largest first."""
    from torch.profiler import ProfilerActivity, profile
    with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
        for _ in range(steps):
            train_step()
        torch.cuda.synchronize()
    totals = {}
    for e in prof.events():
        if e.device_type != torch.autograd.DeviceType.CUDA:
            continue  # host-side ops; their kernels are listed on their own
        us = e.time_range.elapsed_us()
        launches, total = totals.get(e.name, (0, 0.0))
        totals[e.name] = (launches + 1, total + us)
    ranked = sorted(totals.items(), key=lambda kv: -kv[1][1])
    return {
        "kernel_ms_per_step": sum(t for _, t in totals.values()) / 1000.0 / steps,
        "kernel_launches_per_step": sum(n for n, _ in totals.values()) / steps,
        "distinct_kernels": len(totals),
        "kernels": [{"name": name, "launches_per_step": n / steps, "ms_per_step": t / 1000.0 / steps}
                    for name, (n, t) in ranked[:top]],
    }


if __name__ == "__main__":
    main()

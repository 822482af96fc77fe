#!/usr/bin/env python3
"""Writes the gguf_header fuzz target's seeds (fuzz/corpus/gguf_header): small GGUF files written
from the format's specification. A tiny llama (every tensor F32, tokenizer metadata), one tensor
of each block type, and a version-2 file. Run by hand: python3 fuzz/seeds/make_gguf_seeds.py"""
import os
import struct

OUT = os.path.join(os.path.dirname(__file__), "..", "corpus", "gguf_header")


def s(text):
    b = text.encode()
    return struct.pack("<Q", len(b)) + b


def kv(key, vtype, payload):
    return s(key) + struct.pack("<I", vtype) + payload


def gguf(kvs, tensors, version=3, alignment=32):
    out = b"GGUF" + struct.pack("<IQQ", version, len(tensors), len(kvs)) + b"".join(kvs)
    offset, data = 0, b""
    for name, dims, ttype, blob in tensors:
        out += s(name) + struct.pack("<I", len(dims)) + b"".join(struct.pack("<Q", d) for d in dims)
        out += struct.pack("<IQ", ttype, offset)
        data += blob + b"\0" * (-len(blob) % alignment)
        offset += len(blob) + (-len(blob) % alignment)
    out += b"\0" * (-len(out) % alignment)
    return out + data


def tiny_llama():
    u32 = lambda k, v: kv(k, 4, struct.pack("<I", v))
    f32 = lambda k, v: kv(k, 6, struct.pack("<f", v))
    tokens = ["<|endoftext|>", "a", "b", "ab"]
    kvs = [kv("general.architecture", 8, s("llama")), u32("llama.embedding_length", 8), u32("llama.block_count", 1),
           u32("llama.feed_forward_length", 16), u32("llama.attention.head_count", 2),
           u32("llama.attention.head_count_kv", 1), u32("llama.context_length", 64),
           f32("llama.rope.freq_base", 10000.0), f32("llama.attention.layer_norm_rms_epsilon", 1e-5),
           kv("tokenizer.ggml.model", 8, s("gpt2")), kv("tokenizer.ggml.pre", 8, s("smollm")),
           kv("tokenizer.ggml.tokens", 9, struct.pack("<IQ", 8, len(tokens)) + b"".join(s(t) for t in tokens)),
           kv("tokenizer.ggml.token_type", 9, struct.pack("<IQ", 5, 4) + struct.pack("<4i", 3, 1, 1, 1)),
           kv("tokenizer.ggml.merges", 9, struct.pack("<IQ", 8, 1) + s("a b")),
           u32("tokenizer.ggml.bos_token_id", 0), u32("tokenizer.ggml.eos_token_id", 0)]
    z = lambda n: b"\0" * (4 * n)
    tensors = [("token_embd.weight", [8, 4], 0, z(32)), ("output_norm.weight", [8], 0, z(8)),
               ("blk.0.attn_norm.weight", [8], 0, z(8)), ("blk.0.ffn_norm.weight", [8], 0, z(8)),
               ("blk.0.attn_q.weight", [8, 8], 0, z(64)), ("blk.0.attn_k.weight", [8, 4], 0, z(32)),
               ("blk.0.attn_v.weight", [8, 4], 0, z(32)), ("blk.0.attn_output.weight", [8, 8], 0, z(64)),
               ("blk.0.ffn_gate.weight", [8, 16], 0, z(128)), ("blk.0.ffn_up.weight", [8, 16], 0, z(128)),
               ("blk.0.ffn_down.weight", [16, 8], 0, z(128))]
    return gguf(kvs, tensors)


def block_types():
    half = struct.pack("<e", 0.5)
    return gguf([kv("general.alignment", 4, struct.pack("<I", 32))],
                [("f16", [4], 1, struct.pack("<4e", 1, 2, 3, 4)), ("bf16", [2], 30, b"\x80\x3f\x00\x40"),
                 ("q8_0", [32], 8, half + bytes(range(32))), ("q4_0", [32], 2, half + bytes(range(16))),
                 ("q4_1", [32], 3, half + half + bytes(range(16)))])


def main():
    os.makedirs(OUT, exist_ok=True)
    seeds = {"tiny-llama.gguf": tiny_llama(), "block-types.gguf": block_types(),
             "version2.gguf": gguf([kv("general.name", 8, s("v2"))], [("t", [2], 0, b"\0" * 8)], version=2)}
    for name, data in seeds.items():
        with open(os.path.join(OUT, name), "wb") as f:
            f.write(data)


if __name__ == "__main__":
    main()

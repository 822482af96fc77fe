"""Reference side of the GGUF parity test: Hugging Face Transformers reads the same GGUF file
(`from_pretrained(dir, gguf_file=...)`, dequantizing with the `gguf` package) and writes
  gguf_logits.safetensors  fp32 logits of a few real prompts (tensor "logits_<i>", [tokens, vocab])
  gguf_reference.json      the prompts and their token ids; the corpus' first lines and their ids
for the C++ side to compare with.

Two tokenizers are written for the corpus lines. transformers builds a GGUF's byte-level
tokenizer with GPT-2's pre-tokenizer unless it knows the file's `tokenizer.ggml.pre`, and it does
not know "smollm" (transformers 5.24, GGUF_PRE_TOKENIZER_SPLITS), so it lets digits run together.
SmolLM2's own tokenizer.json, and llama.cpp for "smollm", cut every digit apart first
(Digits(individual_digits=True), then ByteLevel). "ids" uses that pipeline, set on the tokenizer
transformers built from the file; "ids_transformers_gguf" is what transformers gives unchanged.

Usage: gguf_reference.py GGUF_FILE CORPUS_TEXT OUT_DIR [LINES]
"""
import json
import os
import sys
import time

import torch
from safetensors.torch import save_file
from tokenizers import pre_tokenizers
from transformers import AutoModelForCausalLM, AutoTokenizer

PROMPTS = [
    "A celebrity is a person who is known for his well-knownness.",
    "The quick brown fox jumps over the lazy dog, and then it runs 120 miles to the",
    "Q: What is the capital of France?\nA:",
    "<|im_start|>user\nWrite a haiku about autumn.<|im_end|>\n<|im_start|>assistant\n",
    "\tThe foreman nodded assent, whereupon the little man hurried over to\nthe main pole",
]


def main():
    gguf, corpus, out = sys.argv[1], sys.argv[2], sys.argv[3]
    lines_wanted = int(sys.argv[4]) if len(sys.argv) > 4 else 1000
    os.makedirs(out, exist_ok=True)
    folder, name = os.path.split(os.path.abspath(gguf))
    t0 = time.time()
    tok = AutoTokenizer.from_pretrained(folder, gguf_file=name)
    model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, dtype=torch.float32)
    model.eval()
    print(f"gguf_reference: transformers loaded {name} in {time.time() - t0:.1f} s", file=sys.stderr)

    unchanged = tok.backend_tokenizer.pre_tokenizer
    smollm = pre_tokenizers.Sequence([
        pre_tokenizers.Digits(individual_digits=True),
        pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=True, use_regex=True),
    ])

    def encode(text, pre):
        tok.backend_tokenizer.pre_tokenizer = pre
        return tok(text, add_special_tokens=False)["input_ids"]

    with open(corpus, encoding="utf-8") as f:
        lines = f.read().split("\n")[:lines_wanted]
    ids = [encode(line, smollm) for line in lines]
    ids_unchanged = [encode(line, unchanged) for line in lines]

    prompts, logits = [], {}
    with torch.no_grad():
        for i, text in enumerate(PROMPTS):
            p = encode(text, smollm)
            logits[f"logits_{i}"] = model(torch.tensor([p])).logits[0].float().contiguous()
            prompts.append({"text": text, "ids": p})
    save_file(logits, os.path.join(out, "gguf_logits.safetensors"))
    with open(os.path.join(out, "gguf_reference.json"), "w", encoding="utf-8") as f:
        json.dump({"prompts": prompts, "lines": lines, "ids": ids, "ids_transformers_gguf": ids_unchanged,
                   "transformers": __import__("transformers").__version__}, f)
    differ = sum(a != b for a, b in zip(ids, ids_unchanged))
    print(f"gguf_reference: {len(lines)} corpus lines; transformers' unchanged GGUF tokenizer differs from "
          f"SmolLM2's pipeline on {differ} of them (digit runs)", file=sys.stderr)


if __name__ == "__main__":
    main()

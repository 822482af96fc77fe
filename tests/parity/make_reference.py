#!/usr/bin/env python3
"""Builds the reference side of the parity test with Hugging Face's own code, into OUT_DIR:

- tokenizer.json: a byte-level BPE trained by `tokenizers` with Llama 3's pre-tokenizer (the same
  Split regex and ByteLevel settings as meta-llama's files), special tokens and ignore_merges;
  tokens.json: the ids `tokenizers` gives for a mixed-script text (add_special_tokens=False).
- tied/, untied/: small random Llama checkpoints saved by transformers' LlamaForCausalLM
  (grouped-query attention, llama3 rope scaling active at the test length; untied is sharded);
  each with reference.safetensors (input_ids, logits in float32) and reference.json (loss).
"""
import json
import os
import sys

import torch
from safetensors.torch import save_file
from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import LlamaConfig, LlamaForCausalLM

LLAMA3_SPLIT = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*"
                r"|\s*[\r\n]+|\s+(?!\S)|\s+")

MIXED_TEXT = (
    "<|begin_of_text|>Hello, World! It's 2026-11-26; we'll test: naïve café, Ærøskøbing, "
    "Straße — «quotes» and \"quotes\". I'M SURE you'VE seen 1234567 and 3.14159.\n\n"
    "中文分词测试：你好，世界！日本語のテキスト、カタカナ。한국어 문장입니다.\n"
    "Emoji: 😀🎉👍🏽 👨‍👩‍👧 and symbols ∑∫√ ≤ ≥ → ¼ ½ ٣٤٥ ६७.\n"
    "Whitespace runs:    four spaces\t\ttabs\n\n\n   \n  trailing   \r\n"
    "CamelCaseWords snake_case_words kebab-case-words $HOME/path/to/file.txt "
    "https://example.org/a?b=c&d=e#f <|end_of_text|>    ")


def training_corpus():
    words = ["the", "quick", "brown", "fox", "jumps", "over", "lazy", "dog", "naïve", "café", "Straße",
             "你好", "世界", "日本語", "테스트", "emoji", "😀", "12345", "don't", "we'll", "   ", "\n\n"]
    lines = []
    for i in range(400):
        lines.append(" ".join(words[(i * 7 + k) % len(words)] for k in range(12)) + f" {i}\n")
    lines.append(MIXED_TEXT)
    return lines


def build_tokenizer(out_dir):
    tok = Tokenizer(models.BPE(ignore_merges=True))
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(LLAMA3_SPLIT), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=True, use_regex=False),
    ])
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=700, min_frequency=2, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  special_tokens=["<|begin_of_text|>", "<|end_of_text|>"])
    tok.train_from_iterator(training_corpus(), trainer=trainer)
    path = os.path.join(out_dir, "tokenizer.json")
    tok.save(path)
    ids = tok.encode(MIXED_TEXT, add_special_tokens=False).ids
    with open(os.path.join(out_dir, "text.txt"), "w", encoding="utf-8", newline="") as f:
        f.write(MIXED_TEXT)
    with open(os.path.join(out_dir, "tokens.json"), "w") as f:
        json.dump({"ids": ids}, f)
    return tok, ids


def build_checkpoint(out_dir, name, vocab, ids, tied, shard):
    torch.manual_seed(1234 if tied else 4321)
    config = LlamaConfig(
        vocab_size=vocab, hidden_size=96, intermediate_size=224, num_hidden_layers=3, num_attention_heads=6,
        num_key_value_heads=2, head_dim=16, max_position_embeddings=512, rms_norm_eps=1e-5,
        rope_theta=500000.0, tie_word_embeddings=tied, attn_implementation="eager", bos_token_id=0,
        eos_token_id=1,
        # original_max_position_embeddings far below the test length, so the scaled band matters.
        rope_scaling={"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                      "original_max_position_embeddings": 32})
    model = LlamaForCausalLM(config).float().eval()
    with torch.no_grad():
        # Larger than the default init, and norms away from one, so every weight shows in the logits.
        for pname, p in model.named_parameters():
            if pname.endswith("norm.weight"):
                p.copy_(1.0 + 0.2 * torch.randn_like(p))
            else:
                p.normal_(0.0, 0.08)
    folder = os.path.join(out_dir, name)
    model.save_pretrained(folder, safe_serialization=True, max_shard_size="60KB" if shard else "1GB")
    row0 = torch.tensor(ids[:96], dtype=torch.long)
    g = torch.Generator().manual_seed(7)
    row1 = torch.randint(0, vocab, (row0.numel(),), generator=g)
    input_ids = torch.stack([row0, row1])
    with torch.no_grad():
        out = model(input_ids=input_ids, labels=input_ids)
    save_file({"input_ids": input_ids.contiguous(), "logits": out.logits.float().contiguous()},
              os.path.join(folder, "reference.safetensors"))
    with open(os.path.join(folder, "reference.json"), "w") as f:
        json.dump({"loss": float(out.loss), "transformers": __import__("transformers").__version__,
                   "torch": torch.__version__}, f)
    files = sorted(os.listdir(folder))
    print(f"{name}: {len([f for f in files if f.endswith('.safetensors')]) - 1} weight file(s), loss {float(out.loss):.6f}")


def main():
    out_dir = sys.argv[1]
    os.makedirs(out_dir, exist_ok=True)
    torch.set_num_threads(2)
    tok, ids = build_tokenizer(out_dir)
    print(f"tokenizer: vocab {tok.get_vocab_size()}, {len(ids)} ids for the mixed-script text")
    assert len(ids) >= 96, "the mixed-script text must give at least 96 tokens"
    build_checkpoint(out_dir, "tied", tok.get_vocab_size(), ids, tied=True, shard=False)
    build_checkpoint(out_dir, "untied", tok.get_vocab_size(), ids, tied=False, shard=True)


if __name__ == "__main__":
    main()

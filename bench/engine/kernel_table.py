#!/usr/bin/env python3
"""Step-time breakdown by kernel: reads the JSON objects that optiscope_engine_bench --kernels and
hf_reference.py --kernels print (one per file, the last line) and prints, for each, the device time
per step by kind of kernel and the top kernels, so that two breakdowns can be read side by side.

  kernel_table.py LABEL=FILE [LABEL=FILE ...] [--top 25]
"""
import json
import re
import sys

# First match wins; the patterns are on lower-cased demangled names.
KINDS = [
    ("attention", r"flash|fmha|attention|sdpa|cutlass.*softmax"),
    ("matmul", r"gemm|cutlass|nvjet|xmma|cublas|sm90_|sm80_|ampere_|hopper_|wgmma"),
    ("optimizer", r"adam|fused_adam|multi_tensor_apply|foreach|_amp_"),
    ("norm", r"rms|layer_norm|norm_"),
    ("loss", r"nll|log_softmax|softmax|cross_entropy"),
    ("rope/swiglu (fused)", r"rope|swiglu|rotary"),
    ("reduction", r"reduce|sum_|mean|norm"),
    ("copy/cast", r"copy|cast|cat|memcpy|memset|fill"),
    ("embedding", r"embedding|index|scatter|gather|sort|radix"),
    ("elementwise", r"elementwise|vectorized|unrolled|triton_poi|pointwise"),
    ("triton (fused)", r"triton"),
]


def kind_of(name):
    lower = name.lower()
    for kind, pattern in KINDS:
        if re.search(pattern, lower):
            return kind
    return "other"


def load(path):
    with open(path) as f:
        return json.loads(f.read().strip().splitlines()[-1])


def main():
    top = 25
    args = sys.argv[1:]
    if "--top" in args:
        i = args.index("--top")
        top = int(args[i + 1])
        del args[i:i + 2]
    for arg in args:
        label, _, path = arg.partition("=")
        try:
            doc = load(path)
        except Exception as e:  # a failed run leaves no JSON: say so and go on with the others
            print(f"\n## {label}: no breakdown ({e})")
            continue
        kernels = doc.get("kernels", [])
        total = doc.get("kernel_ms_per_step", 0.0)
        print(f"\n## {label}: step {doc.get('step_ms', 0):.1f} ms in this run (capture on), kernels {total:.1f} ms/step, "
              f"{doc.get('kernel_launches_per_step', 0):.0f} launches/step, {doc.get('distinct_kernels', 0)} distinct")
        by_kind = {}
        for k in kernels:
            kind = kind_of(k["name"])
            by_kind[kind] = by_kind.get(kind, 0.0) + k["ms_per_step"]
        listed = sum(by_kind.values())
        if total > listed + 1e-9:
            by_kind["(not listed)"] = total - listed
        print("  by kind (ms/step): " + ", ".join(f"{k} {v:.2f}" for k, v in sorted(by_kind.items(), key=lambda kv: -kv[1])))
        print(f"  {'ms/step':>8} {'share':>6} {'launch':>7}  kernel")
        for k in kernels[:top]:
            share = k["ms_per_step"] / total if total else 0.0
            print(f"  {k['ms_per_step']:8.3f} {share:6.1%} {k['launches_per_step']:7.1f}  {k['name'][:110]}")


if __name__ == "__main__":
    main()

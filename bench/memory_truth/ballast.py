#!/usr/bin/env python3
"""Physical cross-check of an emulated budget: hold all but LEAVE_GIB of the GPU with plain device
allocations (the caching allocator's cudaMalloc, touched so the pages are committed), so the next
program really has only that much free. Never managed memory. Writes READY_FILE once it holds the
memory, then waits until it is killed.

usage: ballast.py LEAVE_GIB READY_FILE"""
import sys
import time

import torch

leave = int(float(sys.argv[1]) * (1 << 30))
ready = sys.argv[2]
free, total = torch.cuda.mem_get_info()
take = free - leave
if take <= 0:
    print(f"ballast: only {free / 2**30:.2f} GiB free, nothing to take", flush=True)
    sys.exit(1)
chunks = []
chunk = 1 << 30
left = take
while left > 0:
    n = min(chunk, left)
    t = torch.empty(n, dtype=torch.uint8, device="cuda")
    t.fill_(1)  # committed, not just reserved
    chunks.append(t)
    left -= n
torch.cuda.synchronize()
free_after, _ = torch.cuda.mem_get_info()
print(f"ballast: holds {take / 2**30:.2f} GiB, {free_after / 2**30:.2f} GiB free now (asked to leave {leave / 2**30:.2f})",
      flush=True)
with open(ready, "w") as f:
    f.write(f"{free_after}\n")
while True:
    time.sleep(3600)

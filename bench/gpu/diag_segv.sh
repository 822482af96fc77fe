set -u
timeout 300 bash bench/gpu/device_session.sh build > /dev/null 2>&1; tail -2 $OUT/session.log
cc -shared -fPIC -O1 -o /tmp/segv_trace.so bench/gpu/segv_trace.c -ldl
command -v gdb && echo has-gdb
B=build/cuda/app/cli/optiscope-cli
LD_PRELOAD=/tmp/segv_trace.so $B run --db /tmp/g.db --optim adamw_32bit --nproc 2 --steps 3 --batch 2 --seq-len 32 > $OUT/trace.log 2>&1; echo "rc=$?"
grep -A40 "segv_trace" $OUT/trace.log | head -45 > $OUT/frames.txt
grep -oE '[^ ]+\(\+0x[0-9a-f]+\)' $OUT/frames.txt | while read f; do m=${f%%(*}; o=${f##*(+}; o=${o%)}; echo "$f -> $(addr2line -f -C -i -e $m $o 2>/dev/null | paste -sd' ')"; done | head -30
grep -oE '[^ ]+\([A-Za-z_][^)]*\)' $OUT/frames.txt | head -20

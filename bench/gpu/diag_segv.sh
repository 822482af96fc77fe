# The launcher's SIGSEGV on the CUDA build (issue 18): who installs which signal handler, where the
# fault is, and whether refusing SIGCHLD handlers makes it go away. Run by the device tool:
#   timeout 560 bash bench/gpu/diag_segv.sh   (results under $OUT)
set -u
OUT=${OUT:-out/device}; mkdir -p "$OUT"
timeout 300 bash bench/gpu/device_session.sh build > /dev/null 2>&1; tail -2 $OUT/session.log
cc -shared -fPIC -O1 -o /tmp/segv_trace.so bench/gpu/segv_trace.c -ldl
B=build/cuda/app/cli/optiscope-cli
args="run --optim adamw_32bit --nproc 2 --steps 3 --batch 2 --seq-len 32"
LD_PRELOAD=/tmp/segv_trace.so $B $args --db /tmp/g1.db > $OUT/trace.log 2>&1; echo "traced rc=$?"
grep -E "SIGCHLD|\(17\)|signal [0-9]+ code" $OUT/trace.log | sort | uniq -c | head -20
grep -A50 "segv_trace: pid [0-9]* tid" $OUT/trace.log | head -60 > $OUT/frames.txt
grep -oE '[^ ]+\(\+0x[0-9a-f]+\)' $OUT/frames.txt | grep -v segv_trace | while read f; do m=${f%%(*}; o=${f##*(+}; o=${o%)}; echo "$f -> $(addr2line -f -C -i -e $m $o 2>/dev/null | paste -sd' ' | cut -c1-200)"; done | head -40
SEGV_TRACE_NO_CHLD=1 LD_PRELOAD=/tmp/segv_trace.so $B $args --db /tmp/g2.db > $OUT/trace-nochld.log 2>&1; echo "no-SIGCHLD-handler rc=$?"
tail -3 $OUT/trace-nochld.log

#!/usr/bin/env bash
# One call on the GPU machine: build the CUDA preset (no GUI), run the GPU tests, the kernel
# benchmark and whatever recordings are asked for, leaving logs and stores under $OUT.
# Usage: bench/gpu/device_session.sh [build|tests|bench|record ...]   (default: build tests)
# crashtrace-<gtest filter>: an AddressSanitizer run of one engine test, frames symbolised.
# ladder-<preset>-<budget GiB>[-<steps>]: a fit ladder into $OUT/stores; memtricks: the
# optimizer-in-backward GPU test alone.
# model-parts, smollm2: the SmolLM2 comparison from a model carried in parts (split_model.sh).
# fusedtests: the fused model ops against LibTorch; profile, profile-hf: the 1B step's kernel
# breakdown (ours, fused and unfused; transformers + torch.compile).
# stdlib: where std::filesystem binds (StandardLibrary tests).
# ranks: a 1-rank NCCL start (the hidden rank subcommand), 2 Gloo ranks, ctest -L distributed.
set -uo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
OUT=${OUT:-$root/out/device}
mkdir -p "$OUT/stores"
deps="$root/.gpu-deps/usr"
build="$root/build/cuda"
log() { echo "== $(date -u +%H:%M:%S) $*" | tee -a "$OUT/session.log"; }

sqlite_lib=$(ls /usr/lib/x86_64-linux-gnu/libsqlite3.so.0 2>/dev/null || ls "$deps"/lib/x86_64-linux-gnu/libsqlite3.so.0)
# configure_cuda BUILD_DIR BUILD_TYPE [cmake args...]: the GPU machine's CUDA configuration (no GUI,
# SQLite headers and GoogleTest from .gpu-deps).
configure_cuda() {
  local dir=$1 type=$2
  shift 2
  cmake -S . -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE="$type" -DOPTISCOPE_CUDA=ON -DOPTISCOPE_GUI=OFF \
    -DCMAKE_CUDA_ARCHITECTURES=90 -DCMAKE_PREFIX_PATH="$deps" \
    -DSQLite3_INCLUDE_DIR="$deps/include" -DSQLite3_LIBRARY="$sqlite_lib" \
    -DOPTISCOPE_GTEST_SOURCE_DIR="$deps/src/googletest" "$@"
}
steps=${*:-build tests}
for step in $steps; do
  case "$step" in
    build)
      log "configure"
      nvidia-smi --query-gpu=name,driver_version,memory.total,memory.used --format=csv > "$OUT/nvidia-smi.csv" 2>&1
      configure_cuda "$build" Release > "$OUT/configure.log" 2>&1 || { tail -30 "$OUT/configure.log"; exit 1; }
      log "build"
      cmake --build "$build" -j16 -- -k 0 > "$OUT/build.log" 2>&1 || { grep -E "error|FAILED" "$OUT/build.log" | head -40; exit 1; }
      log "built" ;;
    tests)
      log "ctest"
      (cd "$build" && ctest --output-on-failure -j4 --timeout 900 > "$OUT/ctest.log" 2>&1); echo "ctest rc=$?" | tee -a "$OUT/session.log"
      grep -E "tests passed|tests failed|Failed|\*\*\*" "$OUT/ctest.log" | head -30 ;;
    ranks)
      # Runs over several ranks (issue 18): one NCCL rank on cuda:0 through the hidden rank
      # subcommand (a NCCL start on a one-GPU machine), two Gloo ranks on the CPU end to end, and
      # the distributed tests.
      log "ranks: 1 NCCL rank, 2 Gloo ranks"
      printf '{"model":"tiny","optim":"adamw_8bit","max_steps":5,"per_device_train_batch_size":4,"max_seq_length":64,"device":"cuda:0"}\n' > "$OUT/rank-nccl.json"
      "$build/app/cli/optiscope-cli" __rank --spec-file "$OUT/rank-nccl.json" --rank 0 --world 1 --port 29561 \
        --result "$OUT/rank-nccl-result.json" --device cuda:0 > "$OUT/rank-nccl.log" 2>&1
      echo "nccl 1 rank rc=$? result: $(cat "$OUT/rank-nccl-result.json" 2>/dev/null)"
      "$build/app/cli/optiscope-cli" run --db "$OUT/stores/ranks-gloo.db" --optim adamw_32bit,adamw_8bit --nproc 2 \
        --zero-stage 2 --steps 10 --batch 2 --seq-len 32 > "$OUT/ranks-gloo.log" 2>&1
      echo "gloo 2 ranks rc=$?"; tail -4 "$OUT/ranks-gloo.log"
      (cd "$build" && ctest -L distributed --output-on-failure > "$OUT/ctest-distributed.log" 2>&1)
      echo "ctest -L distributed rc=$?" ;;
    stdlib)
      # Where the programs' std::filesystem calls bind (issue 18's launcher SIGSEGV): the
      # StandardLibrary engine tests, and the CLI's NEEDED list.
      log "stdlib"
      "$build/tests/core/optiscope_engine_tests" --gtest_filter='StandardLibrary*' > "$OUT/stdlib.log" 2>&1
      echo "stdlib tests rc=$?"; grep -E "comes from|OK \]|FAILED" "$OUT/stdlib.log" | head
      readelf -d "$build/app/cli/optiscope-cli" | grep NEEDED > "$OUT/needed.txt" ;;
    sweep)
      # optiscope-cli sweep on the GPU (issue 18): one worker on cuda:0, four runs in two
      # comparisons; the merged store must hold kernel records (kernel_names remapped by name).
      log "sweep --gpus 0"
      printf '{"name": "gpu sweep", "model": "tiny", "max_steps": 30, "per_device_train_batch_size": 8, "max_seq_length": 128, "optim": ["adamw_torch", "paged_adamw_8bit"], "learning_rate": [0.001, 0.003]}\n' > "$OUT/gpu-sweep.json"
      "$build/app/cli/optiscope-cli" sweep --spec "$OUT/gpu-sweep.json" --store "$OUT/stores/gpu-sweep.db" --gpus 0 \
        --status-every 2 > "$OUT/gpu-sweep.log" 2>&1
      echo "sweep rc=$?"; tail -6 "$OUT/gpu-sweep.log"
      "$build/app/cli/optiscope-cli" list --db "$OUT/stores/gpu-sweep.db" | tee -a "$OUT/gpu-sweep.log" ;;
    gputests)
      log "GPU test binaries (full output)"
      for t in $(find "$build/tests" -name 'optiscope_gpu_*tests' -type f -executable); do
        "$t" > "$OUT/$(basename "$t").log" 2>&1; echo "$(basename "$t") rc=$?"
        grep -E "^\[ *(info|completeness)|bit-exact|PASSED|FAILED" "$OUT/$(basename "$t").log" | head -20
      done ;;
    bin-*)
      # bin-<name>: one GPU test binary, optiscope_gpu_<name>_tests, with its full output kept.
      t=$(find "$build/tests" -name "optiscope_gpu_${step#bin-}_tests" -type f -executable | head -1)
      log "$(basename "$t")"
      "$t" > "$OUT/$(basename "$t").log" 2>&1; echo "$(basename "$t") rc=$?"
      grep -E "^\[ *info|OK \]|FAILED|Failure|Expected|Which is|actual" "$OUT/$(basename "$t").log" | head -40 ;;
    bench)
      log "optimizer bench"
      OUT="$OUT" bash bench/gpu/run_optimizer_bench.sh "$build" > "$OUT/bench_run.log" 2>&1; echo "bench rc=$?"
      tail -5 "$OUT/bench_run.log" ;;
    smoke)
      # The four seed variants on the tiny model on the GPU: paging, capture and the store end to end.
      log "smoke recording"
      "$build/app/cli/optiscope-cli" run --preset tiny --device cuda --steps 30 \
        --optim adamw_torch,adamw_8bit,paged_adamw_32bit,paged_adamw_8bit --db "$OUT/smoke.db" > "$OUT/smoke.log" 2>&1
      echo "smoke rc=$?"; tail -8 "$OUT/smoke.log" ;;
    smoke1b)
      log "llama-3.2-1b, 40 GiB budget"
      "$build/app/cli/optiscope-cli" run --preset llama-3.2-1b --device cuda --precision bf16 --batch 4 --seq-len 512 \
        --steps 12 --budget-gb 40 --optim adamw_torch,adamw_8bit,paged_adamw_32bit,paged_adamw_8bit \
        --db "$OUT/smoke1b.db" > "$OUT/smoke1b.log" 2>&1
      echo "smoke1b rc=$?"; tail -8 "$OUT/smoke1b.log" ;;
    preflight)
      # The memory preflight (issue 20) on the GPU machine: a model no machine holds (a 1,000,000
      # vocabulary, 126 layers of 16,384) is refused up front on --device cuda (exit 2, with the
      # estimate); Llama 3.1 8B, which this machine holds, still runs (2 steps, exit 0).
      log "memory preflight"
      mkdir -p /tmp/optiscope-huge
      printf '%s' '{"model_type": "llama", "vocab_size": 1000000, "hidden_size": 16384, "intermediate_size": 53248,
        "num_hidden_layers": 126, "num_attention_heads": 128, "num_key_value_heads": 8, "max_position_embeddings": 4096,
        "rms_norm_eps": 1e-5, "rope_theta": 500000.0, "tie_word_embeddings": false}' > /tmp/optiscope-huge/config.json
      "$build/app/cli/optiscope-cli" run --preset /tmp/optiscope-huge --device cuda --steps 1 --optim adamw_torch \
        --db "$OUT/preflight.db" > "$OUT/preflight.log" 2>&1; echo "huge model rc=$? (2 expected)"
      "$build/app/cli/optiscope-cli" run --preset llama-3.1-8b --device cuda --precision bf16 --batch 1 --seq-len 512 \
        --steps 2 --budget-gb 40 --optim paged_adamw_8bit --db "$OUT/preflight.db" >> "$OUT/preflight.log" 2>&1
      echo "llama-3.1-8b rc=$? (0 expected)"; tail -6 "$OUT/preflight.log" ;;
    engine)
      # Optiscope fused and unfused, transformers eager and compiled, 1B and 3B: about 6 minutes,
      # most of it torch.compile's first steps.
      log "engine throughput against transformers (eager and torch.compile)"
      OUT="$OUT" timeout 560 bash bench/engine/run_engine_bench.sh "$build" > "$OUT/engine_bench.log" 2>&1; echo "engine rc=$?"
      tail -12 "$OUT/engine_bench.log"; cp bench/results/engine_throughput.json "$OUT/" 2>/dev/null ;;
    fusedtests)
      log "fused model ops against LibTorch"
      "$build/tests/gpu/optiscope_gpu_fused_ops_tests" > "$OUT/fused_ops_tests.log" 2>&1; echo "fusedtests rc=$?"
      grep -E "^\[ *(info|  FAILED|  PASSED)|rel err|Failure|error" "$OUT/fused_ops_tests.log" | head -60 ;;
    engine-chunked)
      # Issue 21's peak goal on the 1B: the fused ops with the fused linear + cross-entropy in 2, 4
      # and 8 chunks (8: the fit ladder's), beside the plain loss; compare with
      # engine_throughput.json's compiled_peak_gib.
      log "engine, llama-3.2-1b, chunked loss"
      bench_bin=$(find "$build" -type f -name optiscope_engine_bench -perm -u+x -print -quit)
      for c in 0 2 4 8; do
        timeout 150 "$bench_bin" --preset llama-3.2-1b --batch 4 --seq-len 512 --precision bf16 --optim adamw_torch_fused \
          --warmup 3 --steps 20 --loss-chunks "$c" > "$OUT/engine_1b_chunks$c.json" 2> "$OUT/engine_1b_chunks$c.log"
        echo "loss chunks $c rc=$?"; cat "$OUT/engine_1b_chunks$c.json"
      done ;;
    profile)
      # The 1B step's kernels per timed step from CUPTI, fused ops with the plain loss and with the
      # fused linear + cross-entropy (4 chunks): about a minute.
      log "kernel breakdown of the llama-3.2-1b step (optiscope)"
      bench_bin=$(find "$build" -type f -name optiscope_engine_bench -perm -u+x -print -quit)
      args=(--preset llama-3.2-1b --batch 4 --seq-len 512 --precision bf16 --optim adamw_torch_fused --warmup 3 --steps 5 --kernels 400)
      timeout 150 "$bench_bin" "${args[@]}" > "$OUT/profile_ours.json" 2> "$OUT/profile_ours.log"; echo "fused rc=$?"
      timeout 150 "$bench_bin" "${args[@]}" --loss-chunks 4 > "$OUT/profile_ours_fused_loss.json" 2> "$OUT/profile_ours_fused_loss.log"; echo "fused loss rc=$?"
      python3 bench/engine/kernel_table.py --top 20 "optiscope fused=$OUT/profile_ours.json" \
        "optiscope fused loss=$OUT/profile_ours_fused_loss.json" | tee "$OUT/kernel_breakdown.txt" | cut -c1-150 ;;
    profile-hf)
      # The same from torch.profiler for transformers + torch.compile: about 2-3 minutes, most of it
      # the compile.
      log "kernel breakdown of the llama-3.2-1b step (transformers + torch.compile)"
      timeout 300 python3 bench/engine/hf_reference.py --geometry llama-3.2-1b --warmup 3 --steps 5 --compile --kernels 400 \
        > "$OUT/profile_compiled.json" 2> "$OUT/profile_compiled.log"; echo "compiled rc=$?"
      python3 bench/engine/kernel_table.py --top 20 "transformers+compile=$OUT/profile_compiled.json" \
        | tee "$OUT/kernel_breakdown_compiled.txt" | cut -c1-150 ;;
    optbench)
      log "optimizer variants benchmark"
      PARTS="${OPT_PARTS:-tests variants}" OUT="$OUT/opt" timeout 360 bash bench/gpu/run_optimizer_bench.sh "$build" \
        > "$OUT/opt_run.log" 2>&1; echo "optbench rc=$?"; grep -E "met|FAILED|PASSED" "$OUT/opt_run.log" | tail -30 ;;
    overhead-*)
      # overhead-<optim>-<budget GiB>: the same with a budget that forces paging, so capture carries traffic.
      IFS=- read -r _ optim budget <<< "$step"
      log "capture overhead (llama-3.2-1b, $optim, ${budget} GiB budget)"
      "$build/bench/optiscope_capture_overhead_bench" llama-3.2-1b 25 4 512 bf16 "$optim" "$budget" \
        | tee "$OUT/capture_overhead_${optim}_${budget}g.json" ;;
    ingest)
      log "store ingest bench"
      "$build/bench/optiscope_store_ingest_bench" /tmp/ingest.db | tee "$OUT/store_ingest.json" ;;
    overhead)
      log "capture overhead (llama-3.2-1b, paged_adamw_8bit, 40 GiB budget off)"
      "$build/bench/optiscope_capture_overhead_bench" llama-3.2-1b 25 4 512 bf16 paged_adamw_8bit \
        | tee "$OUT/capture_overhead.json" ;;
    seed-*)
      # Seed reproduction: seed-<preset>-<steps>-<batch>-<budget GiB>[-<variants>]
      IFS=- read -r _ m1 m2 m3 steps batch budget variants <<< "$step"
      preset="$m1-$m2-$m3"; variants=${variants:-adamw_torch,paged_adamw_32bit,adamw_8bit,paged_adamw_8bit}
      variants=${variants//+/,}
      accum=1; if [[ "$batch" == *x* ]]; then accum=${batch#*x}; batch=${batch%x*}; fi
      log "seed reproduction $preset steps=$steps batch=$batch budget=${budget}GiB $variants"
      "$build/app/cli/optiscope-cli" run --preset "$preset" --device cuda --precision bf16 --batch "$batch" --grad-accum "$accum" \
        --seq-len 512 --steps "$steps" --lr 1e-5 --warmup-ratio 0.1 --budget-gb "$budget" --optim "$variants" \
        --name "seed: $preset, ${budget} GiB budget" --db "$OUT/stores/$preset-${budget}g.db" \
        > "$OUT/stores/$preset-${budget}g.log" 2>&1
      echo "rc=$?"; tail -7 "$OUT/stores/$preset-${budget}g.log" ;;
    ladder-*)
      # ladder-<preset>-<budget GiB>[-<steps>]: the fit ladder (six rungs, batch 2 x 512, bf16),
      # e.g. ladder-llama-3.1-8b-24 or ladder-llama-3.2-3b-16. Store and log in $OUT/stores.
      IFS=- read -r _ m1 m2 m3 budget lsteps <<< "$step"
      preset="$m1-$m2-$m3"; lsteps=${lsteps:-8}
      # A store carried in .resume/ (an earlier call's, cut short) is continued: rungs with a result stay.
      resume=(); partial=".resume/ladder-$preset-${budget}g.db"
      if [ -f "$partial" ]; then cp "$partial" "$OUT/stores/"; resume=(--resume); fi
      log "fit ladder $preset, ${budget} GiB budget, $lsteps steps per rung ${resume[*]}"
      "$build/app/cli/optiscope-cli" ladder --preset "$preset" --budget-gb "$budget" --device cuda --steps "$lsteps" \
        "${resume[@]}" --db "$OUT/stores/ladder-$preset-${budget}g.db" >> "$OUT/stores/ladder-$preset-${budget}g.log" 2>&1
      echo "ladder rc=$? (3: the last rung does not fit)"; tail -9 "$OUT/stores/ladder-$preset-${budget}g.log"
      "$build/app/cli/optiscope-cli" export --db "$OUT/stores/ladder-$preset-${budget}g.db" --format ladder-json \
        --loss-step "$lsteps" --out "$OUT/stores/ladder-$preset-${budget}g.json" ;;
    memtricks)
      log "optimizer in backward on the GPU (peak against the gradients' size)"
      "$build/tests/gpu/optiscope_gpu_memory_tricks_tests" > "$OUT/memory_tricks_gpu.log" 2>&1; echo "memtricks rc=$?"
      grep -E "info|OK|FAILED" "$OUT/memory_tricks_gpu.log" | head -12 ;;
    truth-*|physical-*)
      # Memory truth (bench/memory_truth): the article's comparison with measured residency.
      # truth-<preset>-<budget GiB>-<steps>[-<variants joined by +>]: emulated budget, NVML sampled.
      # physical-<preset>-<budget GiB>-<steps>-<variants>: no emulation; a ballast process leaves
      # only the budget free. Only variants physical_is_safe.py clears against the emulated store.
      IFS=- read -r kind m1 m2 m3 budget steps variants <<< "$step"
      preset="$m1-$m2-$m3"; variants=${variants:-adamw_torch+adamw_8bit+paged_adamw_32bit+paged_adamw_8bit}
      name="$preset-${budget}g"; mt="$root/bench/memory_truth"
      nvidia-smi --query-gpu=timestamp,memory.used --format=csv,noheader,nounits -lms 100 \
        > "$OUT/stores/$kind-$name.nvml.csv" 2>/dev/null & smi=$!
      if [ "$kind" = truth ]; then
        log "memory truth $preset, ${budget} GiB emulated, $steps steps: $variants"
        "$build/app/cli/optiscope-cli" run --preset "$preset" --device cuda --precision bf16 --batch 4 --seq-len 512 \
          --steps "$steps" --lr 1e-5 --warmup-ratio 0.1 --budget-gb "$budget" --optim "${variants//+/,}" \
          --name "Fine-tuning LLMs with 32-bit, 8-bit, and Paged AdamW Optimizers: $preset, ${budget} GiB budget (emulated)" \
          --db "$OUT/stores/truth-$name.db" > "$OUT/stores/truth-$name.log" 2>&1
        echo "rc=$?"; tail -6 "$OUT/stores/truth-$name.log"
      else
        for v in ${variants//+/ }; do
          python3 "$mt/physical_is_safe.py" "$OUT/stores/truth-$name.db" "$v" | tee -a "$OUT/stores/physical-$name.log" || continue
          rm -f /tmp/ballast.ready
          python3 "$mt/ballast.py" "$budget" /tmp/ballast.ready >> "$OUT/stores/physical-$name.log" 2>&1 & ballast=$!
          for _ in $(seq 120); do [ -f /tmp/ballast.ready ] && break; sleep 0.5; done
          log "physical $preset $v, ${budget} GiB left free by a ballast"
          "$build/app/cli/optiscope-cli" run --preset "$preset" --device cuda --precision bf16 --batch 4 --seq-len 512 \
            --steps "$steps" --lr 1e-5 --warmup-ratio 0.1 --optim "$v" \
            --name "$preset, physically ${budget} GiB (ballast)" \
            --db "$OUT/stores/physical-$name.db" >> "$OUT/stores/physical-$name.log" 2>&1
          echo "$v rc=$?"; kill $ballast; wait $ballast 2>/dev/null
        done
        tail -12 "$OUT/stores/physical-$name.log"
      fi
      kill $smi 2>/dev/null ;;
    crashtrace-*)
      # crashtrace-<gtest filter>: a test that crashes only on the GPU machine (no gdb there), under
      # AddressSanitizer with the slow unwinder (frames without frame pointers too), each frame
      # symbolised with addr2line. Builds its own tree, build/asan-trace.
      filter=${step#crashtrace-}
      log "crash trace of $filter"
      configure_cuda "$root/build/asan-trace" RelWithDebInfo \
        "-DCMAKE_CXX_FLAGS=-fsanitize=address -fno-omit-frame-pointer" \
        "-DCMAKE_EXE_LINKER_FLAGS=-fsanitize=address" > "$OUT/crashtrace-configure.log" 2>&1
      cmake --build "$root/build/asan-trace" -j16 --target optiscope_engine_tests > "$OUT/crashtrace-build.log" 2>&1 \
        || { grep -E "error|FAILED" "$OUT/crashtrace-build.log" | head; continue; }
      ASAN_OPTIONS=protect_shadow_gap=0:detect_leaks=0:fast_unwind_on_fatal=0:symbolize=0 \
        "$root/build/asan-trace/tests/core/optiscope_engine_tests" --gtest_filter="$filter" > "$OUT/crashtrace.log" 2>&1
      # Frames look like "#3 0x... (/path/module+0xoffset)": one addr2line call per frame.
      grep -oE '#[0-9]+ 0x[0-9a-f]+ +\([^)]*\+0x[0-9a-f]+\)' "$OUT/crashtrace.log" | while read -r num _ where; do
        where=${where#(}; where=${where%)}
        echo "$num $(addr2line -f -C -i -e "${where%+*}" "${where##*+}" 2>/dev/null | paste -sd' ') [$where]"
      done | tee "$OUT/crashtrace-symbolised.txt" | head -40 ;;
    model-parts)
      # Moves the model parts carried in this call (.gm1/, .gm2/, ...: bench/gpu/split_model.sh) into
      # .gm-parts/, which no later call's carry replaces.
      mkdir -p .gm-parts
      for d in .gm[0-9]*; do [ -d "$d" ] && cp -f "$d"/* .gm-parts/; done
      ls -la .gm-parts | tee -a "$OUT/session.log" ;;
    smollm2)
      # The built-in comparison on a real pretrained model: SmolLM2-135M-Instruct (GGUF, put back
      # together from its parts) fine-tuned on Debian's fortunes (.corpus/, carried), the article's
      # four variants, 300 steps, evaluation loss every 25 steps on the held-out 5 %.
      # fp32 weights with bf16 autocast (transformers' bf16=True): pure bf16 weights round away
      # updates of a 5e-5 learning rate (bf16's step near 0.02 is 1.2e-4).
      log "smollm2 comparison"
      mkdir -p .gm-parts .gm-model
      for d in .gm[0-9]*; do [ -d "$d" ] && cp -f "$d"/* .gm-parts/; done
      name=SmolLM2-135M-Instruct.Q4_1.gguf
      parts=$(cat .gm-parts/PARTS 2>/dev/null || echo 0)
      have=$(ls .gm-parts/"$name".part* 2>/dev/null | wc -l)
      if [ "$have" -ne "$parts" ] || [ "$parts" -eq 0 ]; then
        echo "smollm2: $have of $parts model parts here; carry .gm1 ... .gm$parts first (model-parts step)"; continue
      fi
      for i in $(seq 1 "$parts"); do cat ".gm-parts/$name.part$i"; done > ".gm-model/$name"
      (cd .gm-model && sha256sum -c ../.gm-parts/SHA256) || { echo "smollm2: checksum mismatch"; continue; }
      [ -f .corpus/fortunes.txt ] || { echo "smollm2: no .corpus/fortunes.txt (bench/gpu/prepare_corpus.sh)"; continue; }
      "$build/app/cli/optiscope-cli" demo --model smollm2 --gguf ".gm-model/$name" --dataset .corpus/fortunes.txt \
        --device cuda --precision "${SMOLLM2_PRECISION:-fp32_autocast_bf16}" --batch 8 --seq-len 256 \
        --steps "${SMOLLM2_STEPS:-300}" --eval-steps 25 --eval-samples 0 --warmup-ratio 0.05 \
        --name "smollm2-135m on fortunes, H200" --db "$OUT/stores/smollm2-135m-h200.db" \
        > "$OUT/stores/smollm2-135m-h200.log" 2>&1
      echo "smollm2 rc=$?"; tail -8 "$OUT/stores/smollm2-135m-h200.log"
      "$build/app/cli/optiscope-cli" export --db "$OUT/stores/smollm2-135m-h200.db" --format summary-md --out - \
        | tee "$OUT/stores/smollm2-135m-h200-summary.md" ;;
    pack)
      # The device returns at most 8 files of 16 MiB each: one xz archive, split into 15 MiB parts
      # (put back together with: cat results.tar.xz.part-* | tar xJ).
      (cd "$OUT" && tar cf - --exclude='*.db-shm' . | xz -6 -T16 > /tmp/results.tar.xz) && rm -rf "${OUT:?}"/* \
        && split -b 15M /tmp/results.tar.xz "$OUT/results.tar.xz.part-" && ls -la "$OUT" ;;
    *) log "unknown step $step" ;;
  esac
done
log "done"

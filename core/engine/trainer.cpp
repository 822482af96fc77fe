#include "engine/trainer.h"

#include <ATen/Parallel.h>
#include <ATen/autocast_mode.h>
#include <torch/torch.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <optional>
#include <thread>

#include "checkpoint/checkpoint_io.h"
#include "checkpoint/gguf_weights.h"
#include "data/packed_dataset.h"
#include "datasets/run_datasets.h"
#include "distributed/process_group.h"
#include "distributed/sharded_optimizer.h"
#include "engine/capture_session.h"
#include "engine/device_runtime.h"
#include "engine/lr_schedule.h"
#include "engine/memory_probe.h"
#include "engine/optimizer_in_backward.h"
#include "engine/phase_timer.h"
#include "model/llama.h"
#include "optim/optimizer.h"
#include "optim/page_manager.h"
#include "store/run_summary.h"

namespace optiscope::engine {
namespace {

// The model's geometry, where its weights come from, and the tokenizer its data is cut with.
struct ModelSource {
  LlamaConfig config;
  std::optional<std::filesystem::path> checkpoint;
  std::optional<std::filesystem::path> gguf;
  std::unique_ptr<datasets::TextTokenizer> tokenizer;
};

ModelSource resolve_model(const RunSpec& spec) {
  ModelSource m;
  if (checkpoint::is_gguf_path(spec.model)) {
    auto info = checkpoint::inspect_gguf(spec.model);
    m.config = info.config;
    m.gguf = spec.model;
    m.tokenizer = datasets::make_gguf_tokenizer(info.vocab, info.bos_token_id, info.eos_token_id);
    return m;
  }
  if (checkpoint::is_checkpoint_folder(spec.model)) {
    const auto hf = checkpoint::read_config(spec.model);
    m.config = hf.llama;
    m.checkpoint = spec.model;
    const auto tokenizer_json = std::filesystem::path(spec.model) / "tokenizer.json";
    if (std::filesystem::exists(tokenizer_json)) {
      m.tokenizer = datasets::load_bpe_tokenizer(tokenizer_json, hf.bos_token_id, hf.eos_token_id);
    } else {
      m.tokenizer = datasets::make_byte_tokenizer();
    }
    if (m.tokenizer->vocab_size() > m.config.vocab_size)
      throw std::invalid_argument(
          "the tokenizer of " + spec.model + " has " + std::to_string(m.tokenizer->vocab_size()) +
          " ids, more than the model's vocab_size " + std::to_string(m.config.vocab_size) +
          (std::filesystem::exists(tokenizer_json) ? "" : " (no tokenizer.json: byte-level ids)"));
    return m;
  }
  const auto& presets = known_model_presets();
  if (std::find(presets.begin(), presets.end(), spec.model) == presets.end())
    throw std::invalid_argument("model '" + spec.model +
                                "' is neither a preset (tiny, small, llama-3.2-1b, llama-3.2-3b, " +
                                "llama-3.1-8b), a checkpoint folder with a config.json, nor a .gguf file");
  m.config = llama_preset(spec.model);
  m.tokenizer = datasets::make_byte_tokenizer();
  // Presets read bytes: the vocabulary must at least hold the byte tokenizer's ids.
  m.config.vocab_size = std::max(m.config.vocab_size, m.tokenizer->vocab_size());
  return m;
}

std::string gib_text(std::int64_t bytes) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f GiB", static_cast<double>(bytes) / static_cast<double>(1LL << 30));
  return buf;
}

torch::Tensor to_tensor(const std::vector<std::int64_t>& values, std::int64_t rows, std::int64_t cols,
                        const torch::Device& device) {
  auto host = torch::from_blob(const_cast<std::int64_t*>(values.data()), {rows, cols}, torch::kInt64);
  if (device.is_cpu()) return host.clone();
  // Through pinned memory, without blocking: a blocking copy from pageable memory synchronises
  // the stream, so the host would wait for all queued work before every step. The pinned block
  // is held by the caching host allocator until the copy is done.
  return host.pin_memory().to(device, /*non_blocking=*/true);
}

struct DeviceBatch {
  torch::Tensor ids;
  torch::Tensor labels;
  std::int64_t tokens = 0;
};

DeviceBatch to_device(const TokenBatch& b, const torch::Device& device) {
  return {to_tensor(b.input_ids, b.batch, b.seq_len, device), to_tensor(b.labels, b.batch, b.seq_len, device),
          b.batch * b.seq_len};
}

// torch.nn.utils.clip_grad_norm_ (foreach path) without its host synchronisation: LibTorch's C++
// version returns the norm as a double, which stalls the GPU every step. The clip factor stays on
// the device; one multi-tensor norm and one multi-tensor scale.
void clip_grad_norm(const std::vector<torch::Tensor>& params, double max_norm) {
  std::vector<torch::Tensor> grads;
  grads.reserve(params.size());
  for (const auto& p : params) {
    if (p.grad().defined()) grads.push_back(p.grad());
  }
  if (grads.empty()) return;
  torch::NoGradGuard no_grad;
  const auto norms = at::_foreach_norm(grads, 2);
  const auto total = torch::linalg_vector_norm(torch::stack(norms), 2);
  const auto coef = torch::clamp_max(max_norm / (total + 1e-6), 1.0);
  at::_foreach_mul_(grads, coef);
}

// Autocast for the "fp32 weights, bf16 compute" precision, restored on scope exit.
class AutocastScope {
 public:
  AutocastScope(bool on, const torch::Device& device) : on_(on), type_(device.type()) {
    if (!on_) return;
    previous_ = at::autocast::is_autocast_enabled(type_);
    at::autocast::set_autocast_enabled(type_, true);
    at::autocast::set_autocast_dtype(type_, at::kBFloat16);
  }
  ~AutocastScope() {
    if (!on_) return;
    at::autocast::set_autocast_enabled(type_, previous_);
    at::autocast::clear_cache();
  }
  AutocastScope(const AutocastScope&) = delete;
  AutocastScope& operator=(const AutocastScope&) = delete;

 private:
  bool on_;
  c10::DeviceType type_;
  bool previous_ = false;
};

// Mean next-token loss over the held-out windows (all of them, or the first max_samples), in
// batches of `batch`, without gradients; one host read at the end.
double evaluate(LlamaForCausalLM& model, const PackedDataset& eval, std::int64_t batch,
                std::int64_t max_samples, const torch::Device& device, bool autocast) {
  torch::NoGradGuard no_grad;
  model->eval();
  auto windows = static_cast<std::int64_t>(eval.windows());
  if (max_samples > 0) windows = std::min(windows, max_samples);
  torch::Tensor sum = torch::zeros({}, torch::TensorOptions().dtype(torch::kFloat64).device(device));
  std::int64_t tokens = 0;
  for (std::int64_t first = 0; first < windows; first += batch) {
    const auto b = to_device(
        eval.windows_in_order(static_cast<std::size_t>(first), std::min(batch, windows - first)), device);
    AutocastScope scope(autocast, device);
    sum += model->loss(model->forward(b.ids), b.labels).to(torch::kFloat64) * static_cast<double>(b.tokens);
    tokens += b.tokens;
  }
  model->train();
  return sum.item<double>() / static_cast<double>(tokens);
}

// A step whose work is queued: what finish_step needs to read it back.
struct LaunchedStep {
  std::int64_t step = 0;
  PhaseTimer* timer = nullptr;
  int start_mark = 0;
  int end_mark = 0;
  int next_start_mark = -1;               // deferred mode: the next step's start, marked on this step's timer
  std::vector<std::array<int, 3>> marks;  // per micro-batch: start, forward done, backward done
  int opt_start = 0;
  int opt_end = 0;
  std::array<int, 4> comm_marks{-1, -1, -1,
                                -1};  // runs over several ranks: reduce start/end, gather start/end
  std::int64_t comm_bytes = 0;
  torch::Tensor loss;                            // summed over micro-batches, on its way to the host
  std::chrono::steady_clock::time_point t0, t1;  // host clock, every-step mode
  StepRecord rec;  // lr, tokens, memory and evaluation at launch; loss and times at readback
  StepBundle bundle;
};

// The loss on its way to the host without waiting for it: a non-blocking copy into pinned memory
// on CUDA (readable once the device has passed the step's end mark), the tensor itself on a CPU.
torch::Tensor host_copy(const torch::Tensor& t) {
  if (!t.is_cuda()) return t;
  auto host = torch::empty(t.sizes(), t.options().device(torch::kCPU).pinned_memory(true));
  host.copy_(t, /*non_blocking=*/true);
  return host;
}

// Runs over several ranks: what each rank tells the others after every step, as one row of
// doubles exchanged with an all-gather (byte counts stay exact below 2^53): whether it wants to
// stop (a cancel, agreed so that no rank waits alone in a collective), its RankStep and its memory
// samples.
constexpr int kSampleFields = 13;
constexpr int kRankFields = 10;
constexpr std::size_t kRankSamples = 8;

void encode(const MemorySample& m, std::vector<double>& out) {
  for (const std::int64_t v :
       {static_cast<std::int64_t>(m.phase), static_cast<std::int64_t>(m.point), m.parameters, m.gradients,
        m.optimizer_device, m.optimizer_paged_resident, m.optimizer_paged_host, m.optimizer_pinned_host,
        m.activations, m.allocator_cache, m.other_device, m.context, m.driver_cache})
    out.push_back(static_cast<double>(v));
}

MemorySample decode(const double* v, std::int64_t step, int rank) {
  const auto i = [&](int k) { return static_cast<std::int64_t>(v[k]); };
  MemorySample m;
  m.step = step;
  m.rank = rank;
  m.phase = static_cast<Phase>(i(0));
  m.point = static_cast<SamplePoint>(i(1));
  m.parameters = i(2);
  m.gradients = i(3);
  m.optimizer_device = i(4);
  m.optimizer_paged_resident = i(5);
  m.optimizer_paged_host = i(6);
  m.optimizer_pinned_host = i(7);
  m.activations = i(8);
  m.allocator_cache = i(9);
  m.other_device = i(10);
  m.context = i(11);
  m.driver_cache = i(12);
  return m;
}

struct Exchanged {
  std::vector<RankStep> ranks;
  std::vector<MemorySample> memory;
  bool stop = false;
};

// Leaves this rank's process group as torch.distributed's destroy_process_group does (NCCL's
// destructor warns and may leak its communicators otherwise): a shutdown where every rank ended
// the run together, an abort after an OOM or a failure, where another rank may be gone and a
// shutdown could wait for it. Gloo's backend has nothing to release.
void leave_group(const c10::intrusive_ptr<c10d::Backend>& group, Outcome outcome) {
  if (!group) return;
  try {
    if (outcome == Outcome::oom || outcome == Outcome::failed)
      group->abort();
    else
      group->shutdown();
  } catch (const std::exception&) {
    // The run's outcome is already recorded; a group that cannot close cleanly changes nothing.
  }
}

Exchanged exchange(c10d::Backend& group, const torch::Device& device, const RankStep& mine,
                   const std::vector<MemorySample>& samples, bool stop) {
  if (samples.size() != kRankSamples) throw std::logic_error("a rank's step has the wrong number of samples");
  std::vector<double> row = {stop ? 1.0 : 0.0,
                             mine.step_ms,
                             mine.forward_ms,
                             mine.backward_ms,
                             mine.optimizer_ms,
                             mine.comm_ms,
                             static_cast<double>(mine.comm_bytes),
                             mine.loss,
                             static_cast<double>(mine.mem_bytes),
                             0.0};
  for (const auto& m : samples) encode(m, row);
  const auto width = static_cast<std::int64_t>(row.size());
  const int world = group.getSize();
  auto in = torch::from_blob(row.data(), {width}, torch::kFloat64).to(device);
  auto out = torch::empty({width * world}, in.options());
  if (!group._allgather_base(out, in)->wait())
    throw std::runtime_error("exchanging the ranks' records failed");
  const auto all = out.to(torch::kCPU).contiguous();
  const double* v = all.data_ptr<double>();
  Exchanged e;
  for (int r = 0; r < world; ++r) {
    const double* x = v + static_cast<std::ptrdiff_t>(r) * width;
    e.stop = e.stop || x[0] != 0.0;
    RankStep rs;
    rs.step = mine.step;
    rs.rank = r;
    rs.step_ms = x[1];
    rs.forward_ms = x[2];
    rs.backward_ms = x[3];
    rs.optimizer_ms = x[4];
    rs.comm_ms = x[5];
    rs.comm_bytes = static_cast<std::int64_t>(x[6]);
    rs.loss = x[7];
    rs.mem_bytes = static_cast<std::int64_t>(x[8]);
    e.ranks.push_back(rs);
    for (std::size_t k = 0; k < kRankSamples; ++k)
      e.memory.push_back(decode(x + kRankFields + k * kSampleFields, mine.step, r));
  }
  return e;
}

}  // namespace

TrainResult train(const RunSpec& spec, RunRecorder* recorder, const std::atomic<bool>* cancel,
                  const TrainOptions& options) {
  TrainResult result;
  const torch::Device device(spec.device);
  if (!device_available(device)) {
    result.outcome = Outcome::failed;
    result.detail = "device " + spec.device + " is not available: " + device_name(device);
    return result;
  }
  // A rank process (TrainOptions::rank) joins its process group even alone (a 1-rank run of the
  // rank subcommand checks a backend on one GPU); a spec over several ranks needs one.
  const bool ranked = options.rank.has_value();
  if ((spec.nproc_per_node > 1 && !ranked) || (ranked && options.rank->world_size != spec.nproc_per_node)) {
    result.outcome = Outcome::failed;
    result.detail = "a run over " + std::to_string(spec.nproc_per_node) +
                    " ranks runs one process per rank: start it with optiscope-cli run";
    return result;
  }
  // A run over several ranks: this rank's process group and sharded optimizer (null on one process).
  c10::intrusive_ptr<c10d::Backend> group;
  distributed::ShardedOptimizer* sharded = nullptr;
  const int rank = ranked ? options.rank->rank : 0;
  const int world = ranked ? options.rank->world_size : 1;
  bool stop_agreed = false;  // a rank asked to stop (cancel) at the last exchange
  std::int64_t step = 0;
  std::unique_ptr<CaptureSession> capture;
  // Deferred readback (TrainOptions): step s is read back once step s + 1 is queued.
  bool deferred = false;
  // Two timers: in deferred mode a step's marks are read while the next step records its own.
  std::array<std::unique_ptr<PhaseTimer>, 2> timers;
  std::optional<LaunchedStep> pending;
  // Reads a launched step back, waiting for the device only up to that step's last mark, and
  // hands its record over.
  const auto finish_step = [&](LaunchedStep& s) {
    PhaseTimer& timer = *s.timer;
    const bool to_next = s.next_start_mark >= 0 && !s.rec.eval_loss;
    timer.wait(s.next_start_mark >= 0 ? s.next_start_mark : s.end_mark);
    StepRecord& rec = s.rec;
    rec.loss = s.loss.item<double>();  // on the host by now (a pinned copy on CUDA)
    if (deferred) {
      // Device time from this step's start to the next one's (its end when it is the last, or
      // when an evaluation followed it): back to back, these cover the device's whole timeline,
      // gaps between steps included.
      rec.step_ms = timer.elapsed_ms(s.start_mark, to_next ? s.next_start_mark : s.end_mark);
    } else {
      rec.step_ms = std::chrono::duration<double, std::milli>(s.t1 - s.t0).count();
    }
    double forward_ms = 0.0;
    double backward_ms = 0.0;
    for (const auto& m : s.marks) {
      forward_ms += timer.elapsed_ms(m[0], m[1]);
      backward_ms += timer.elapsed_ms(m[1], m[2]);
    }
    rec.forward_ms = forward_ms;
    rec.backward_ms = backward_ms;
    rec.optimizer_ms = timer.elapsed_ms(s.opt_start, s.opt_end);
    if (group) {
      rec.comm_ms = timer.elapsed_ms(s.comm_marks[0], s.comm_marks[1]) +
                    timer.elapsed_ms(s.comm_marks[2], s.comm_marks[3]);
      rec.comm_bytes = s.comm_bytes;
      RankStep mine;
      mine.step = s.step;
      mine.rank = rank;
      mine.step_ms = rec.step_ms;
      mine.forward_ms = forward_ms;
      mine.backward_ms = backward_ms;
      mine.optimizer_ms = *rec.optimizer_ms;
      mine.comm_ms = *rec.comm_ms;
      mine.comm_bytes = s.comm_bytes;
      mine.loss = rec.loss;
      mine.mem_bytes = rec.mem_bytes;
      Exchanged all = exchange(*group, device, mine, s.bundle.memory, cancel != nullptr && cancel->load());
      stop_agreed = stop_agreed || all.stop;
      // The run's step: the loss of the whole batch (the mean of the ranks'), rank 0's times, the
      // largest rank's peak.
      double loss_sum = 0.0;
      for (const auto& r : all.ranks) {
        loss_sum += r.loss;
        rec.mem_bytes = std::max(rec.mem_bytes, r.mem_bytes);
      }
      rec.loss = loss_sum / static_cast<double>(all.ranks.size());
      // Every rank consumes the same micro-batches' worth of tokens: the run's throughput is the
      // whole batch's, comparable with one process given N times the batch.
      rec.tokens *= static_cast<std::int64_t>(all.ranks.size());
      s.bundle.memory = std::move(all.memory);
      s.bundle.ranks = std::move(all.ranks);
    }
    s.bundle.step = rec;
    if (recorder != nullptr &&
        (s.step % spec.logging_steps == 0 || s.step == spec.max_steps || rec.eval_loss))
      recorder->on_bundle(s.bundle);
    result.steps_done = s.step;
  };
  const auto finish_pending = [&] {
    if (!pending) return;
    LaunchedStep s = std::move(*pending);
    pending.reset();
    finish_step(s);
  };

  try {
    set_memory_budget(device, static_cast<std::int64_t>(spec.device_budget_bytes));
    // What others hold on the device before this run allocates anything (another process, a
    // ballast): no category of this run's.
    const std::int64_t foreign = MemoryProbe::foreign_now(device);
    ModelSource source = resolve_model(spec);
    const LlamaConfig& config = source.config;
    if (spec.max_seq_length > config.max_position_embeddings)
      throw std::invalid_argument("max_seq_length " + std::to_string(spec.max_seq_length) +
                                  " is longer than the model's " +
                                  std::to_string(config.max_position_embeddings) + " positions");
    datasets::RunData data = datasets::make_run_data(spec, *source.tokenizer);
    if (spec.eval_steps > 0 && !data.eval)
      throw std::invalid_argument("eval_steps is set but no data is held out");

    if (ranked) {
      distributed::GroupOptions go;
      go.rank = rank;
      go.world_size = world;
      go.port = options.rank->port;
      go.timeout = std::chrono::seconds(options.rank->timeout_s);
      group = distributed::connect(go, device);
      // The ranks share the host's cores.
      if (device.is_cpu())
        at::set_num_threads(std::max(1, static_cast<int>(std::thread::hardware_concurrency()) / world));
    }
    capture = std::make_unique<CaptureSession>(device, options.capture);
    if (recorder != nullptr) recorder->on_capture(capture->info());

    torch::manual_seed(spec.seed);
    LlamaForCausalLM model(config);
    // Convert on the host before the move: an 8B model in fp32 would not fit a 40 GiB budget on
    // its way to bf16.
    if (spec.precision == "bf16") model->to(torch::kBFloat16);
    model->to(device);
    if (source.gguf) {
      checkpoint::load_gguf_weights(*source.gguf, *model);
    } else if (source.checkpoint) {
      // Weights convert to the parameters' dtype as they are copied, whatever dtype the files hold.
      checkpoint::load_weights(*source.checkpoint, *model);
    } else {
      model->reset_parameters(spec.seed);
    }
    model->set_gradient_checkpointing(spec.gradient_checkpointing);
    model->train();

    optim::OptimizerOptions oo;
    oo.lr = spec.learning_rate;
    oo.weight_decay = spec.weight_decay;
    std::unique_ptr<optim::Optimizer> optimizer;
    if (group) {
      auto so = std::make_unique<distributed::ShardedOptimizer>(group, model->parameters(), spec.zero_stage,
                                                                spec.optim, oo);
      sharded = so.get();
      optimizer = std::move(so);
    } else {
      optimizer = optim::make_optimizer(spec.optim, model->parameters(), oo);
    }
    const MemoryProbe probe(device, model->parameters(), *optimizer, foreign);

    const std::int64_t total = spec.max_steps;
    const std::int64_t warmup = warmup_steps(spec.warmup_ratio, total);
    const std::int64_t accum = spec.gradient_accumulation_steps;
    const std::int64_t batch = spec.per_device_train_batch_size;
    const bool autocast = spec.precision == "fp32_autocast_bf16";
    const std::int64_t eval_batch =
        spec.per_device_eval_batch_size > 0 ? spec.per_device_eval_batch_size : batch;
    const auto params = model->parameters();
    const auto budget = static_cast<std::int64_t>(spec.device_budget_bytes);
    // Hooks that update each parameter inside backward; removed when the run ends, however it ends.
    std::optional<OptimizerInBackward> in_backward;
    if (spec.optimizer_in_bwd) in_backward.emplace(*optimizer);

    deferred = !group && options.deferred_readback.value_or(device.is_cuda() && !options.capture);
    timers = {make_phase_timer(device), make_phase_timer(device)};
    synchronize(device);  // model upload and initialisation stay out of step 1
    std::optional<MemorySample> previous_end;
    for (step = 1; step <= total; ++step) {
      // Ranks stop together, at the step after one of them was asked to (one alone would leave the
      // others waiting in a collective).
      if (group ? stop_agreed : cancel != nullptr && cancel->load()) {
        result.outcome = Outcome::cancelled;
        result.detail = "cancelled before step " + std::to_string(step);
        break;
      }
      LaunchedStep s;
      s.step = step;
      s.timer = timers[static_cast<std::size_t>(step % 2)].get();
      s.timer->reset();
      // The previous step's span ends where this one's starts (deferred mode; in every-step mode
      // nothing is pending, and the device is idle since the previous step's synchronisation).
      if (pending) pending->next_start_mark = pending->timer->mark();
      capture->step_started(step);
      s.t0 = std::chrono::steady_clock::now();
      s.start_mark = s.timer->mark();
      std::int64_t tokens = 0;
      std::vector<torch::Tensor> losses;
      MemorySample fwd_end, fwd_peak, bwd_end, bwd_peak;
      // Every micro-batch goes to the device at the start of the step, ahead of its work.
      std::vector<DeviceBatch> micro_batches;
      const double lr = learning_rate_at(spec.lr_scheduler_type, spec.learning_rate, step - 1, warmup, total);
      // Set before backward: with optimizer_in_bwd the updates happen there.
      optimizer->set_lr(lr);
      // Rank r of N takes the r-th of N equal parts of the batch a one-process run of N times the
      // batch size takes, so that the ranks together see exactly its windows.
      for (std::int64_t micro = 0; micro < accum; ++micro)
        micro_batches.push_back(to_device(
            data.train.batch(static_cast<std::size_t>(((step - 1) * accum + micro) * world + rank), batch),
            device));
      for (std::int64_t micro = 0; micro < accum; ++micro) {
        const auto& ids = micro_batches[static_cast<std::size_t>(micro)].ids;
        const auto& labels = micro_batches[static_cast<std::size_t>(micro)].labels;
        std::array<int, 3> m{};
        reset_peak_memory(device);
        m[0] = s.timer->mark();
        torch::Tensor loss;
        {
          AutocastScope scope(autocast, device);
          loss =
              (spec.loss_chunks > 0 ? model->chunked_loss(model->hidden_states(ids), labels, spec.loss_chunks)
                                    : model->loss(model->forward(ids), labels)) /
              static_cast<double>(accum);
        }
        m[1] = s.timer->mark();
        if (micro == 0) {
          fwd_end = probe.sample(step, Phase::forward, SamplePoint::end);
          fwd_peak = probe.sample(step, Phase::forward, SamplePoint::peak);
        }
        reset_peak_memory(device);
        loss.backward();
        m[2] = s.timer->mark();
        if (micro == 0) bwd_peak = probe.sample(step, Phase::backward, SamplePoint::peak);
        losses.push_back(loss.detach());
        s.marks.push_back(m);
        tokens += micro_batches[static_cast<std::size_t>(micro)].tokens;
      }
      bwd_end = probe.sample(step, Phase::backward, SamplePoint::end);
      // With optimizer_in_bwd the spec has no clipping and the update is done: the optimizer phase
      // is empty and its samples show that no gradients remain.
      std::optional<MemorySample> comm_peak;
      if (sharded) {
        // Communication, first part: gradients averaged over the ranks (and clipped by their
        // global norm, which at stage 2 needs an all-reduce of the shards' squared norms).
        reset_peak_memory(device);
        s.comm_marks[0] = s.timer->mark();
        sharded->reduce_gradients();
        if (spec.max_grad_norm > 0.0) sharded->clip_grad_norm(spec.max_grad_norm);
        s.comm_marks[1] = s.timer->mark();
        comm_peak = probe.sample(step, Phase::communication, SamplePoint::peak);
      } else if (spec.max_grad_norm > 0.0) {
        clip_grad_norm(params, spec.max_grad_norm);
      }
      reset_peak_memory(device);
      s.opt_start = s.timer->mark();
      if (!in_backward) optimizer->step();
      s.opt_end = s.timer->mark();
      const MemorySample opt_peak = probe.sample(step, Phase::optimizer, SamplePoint::peak);
      if (sharded) {
        // Second part: every rank's updated pieces all-gathered into every rank's parameters.
        reset_peak_memory(device);
        s.comm_marks[2] = s.timer->mark();
        sharded->gather_parameters();
        s.comm_marks[3] = s.timer->mark();
        const MemorySample later = probe.sample(step, Phase::communication, SamplePoint::peak);
        if (later.device_total() > comm_peak->device_total()) comm_peak = later;
        s.comm_bytes = sharded->take_comm_bytes();
      }
      optimizer->zero_grad();
      const MemorySample opt_end_sample = probe.sample(step, Phase::optimizer, SamplePoint::end);
      s.loss = host_copy(torch::stack(losses).sum());
      s.end_mark = s.timer->mark();
      if (!deferred) {
        // Every-step mode: the step's only synchronisation (capture assigns its records to steps by
        // host time, so the device must be idle at each boundary).
        synchronize(device);
        s.t1 = std::chrono::steady_clock::now();
      }
      s.rec.step = step;
      s.rec.lr = lr;
      s.rec.tokens = tokens;
      s.rec.mem_bytes = std::max({fwd_peak.device_total(), bwd_peak.device_total(), opt_peak.device_total(),
                                  comm_peak ? comm_peak->device_total() : std::int64_t{0}});
      // Rank 0 alone evaluates (every rank holds the same parameters).
      if (rank == 0 && data.eval && spec.eval_steps > 0 && step % spec.eval_steps == 0)
        s.rec.eval_loss = evaluate(model, *data.eval, eval_batch, spec.max_eval_samples, device, autocast);
      s.bundle.memory = {fwd_end, fwd_peak, bwd_end, bwd_peak, opt_end_sample, opt_peak};
      if (sharded) {
        s.bundle.memory.push_back(probe.sample(step, Phase::communication, SamplePoint::end));
        s.bundle.memory.push_back(*comm_peak);
        for (auto& m : s.bundle.memory) m.rank = rank;
      }
      s.bundle.step = s.rec;  // the step number for the capture; finish_step completes the record
      capture->step_finished(step, s.bundle);
      // With the previous step's last sample, which says what was resident as this step began.
      std::vector<MemorySample> samples = s.bundle.memory;
      if (previous_end) samples.insert(samples.begin(), *previous_end);
      previous_end = opt_end_sample;
      const std::int64_t demand = peak_demand_bytes(samples, s.bundle.paging);
      if (budget > 0 && demand > budget) {
        if (!result.over_budget_step) result.over_budget_step = step;
        result.over_budget_bytes = std::max(result.over_budget_bytes.value_or(0), demand);
      }
      if (deferred) {
        // This step is queued: read the previous one back, waiting only until the device has
        // started this one (the queue keeps this step's work in flight meanwhile).
        finish_pending();
        pending = std::move(s);
      } else {
        finish_step(s);
      }
    }
    finish_pending();
    if (!options.save_parameters.empty() && result.outcome == Outcome::completed) {
      std::vector<torch::Tensor> saved;
      for (const auto& p : params) saved.push_back(p.detach().to(torch::kCPU).clone());
      torch::save(saved, options.save_parameters);
    }
    if (result.outcome == Outcome::completed && result.over_budget_step) {
      result.outcome = Outcome::over_budget;
      result.detail = "measured demand reached " + gib_text(*result.over_budget_bytes) +
                      " (first over at step " + std::to_string(*result.over_budget_step) + "), over the " +
                      gib_text(budget) + " budget";
    }
  } catch (const c10::OutOfMemoryError& e) {
    result.outcome = Outcome::oom;
    result.oom_step = step;
    result.oom_bytes = memory(device).peak;
    result.detail = e.what_without_backtrace();
  } catch (const optim::ManagedMemoryRefused& e) {
    result.outcome = Outcome::failed;
    result.detail = e.what();
  } catch (const c10::Error& e) {
    result.outcome = Outcome::failed;
    result.detail = e.what_without_backtrace();
  } catch (const std::exception& e) {
    result.outcome = Outcome::failed;
    result.detail = e.what();
  }
  // A step launched before a failure or a cancel had finished on the device: its record stands.
  try {
    finish_pending();
  } catch (const std::exception&) {
    // The outcome above already says what went wrong; this step's record is lost with it.
  }
  if (capture) {
    StepBundle late = capture->finish();
    if (recorder != nullptr) {
      recorder->on_capture(capture->info());
      if (!late.um_events.empty() || !late.kernels.empty() || !late.memcpys.empty())
        recorder->on_bundle(late);
    }
  }
  try {
    set_memory_budget(device, 0);
  } catch (const std::exception&) {
    // The run is over; a device that cannot even reset its cap has already said why above.
  }
  leave_group(group, result.outcome);
  return result;
}

TrainResult train(const RunSpec& spec, const StepSink& on_step, const std::atomic<bool>* cancel) {
  struct SinkRecorder final : RunRecorder {
    const StepSink* sink;
    void on_bundle(const StepBundle& b) override {
      if (b.step && *sink) (*sink)(*b.step);
    }
  } recorder;
  recorder.sink = &on_step;
  return train(spec, &recorder, cancel);
}

}  // namespace optiscope::engine

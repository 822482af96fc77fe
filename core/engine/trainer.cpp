#include "engine/trainer.h"

#include <ATen/autocast_mode.h>
#include <torch/torch.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <filesystem>
#include <optional>

#include "checkpoint/checkpoint_io.h"
#include "checkpoint/gguf_weights.h"
#include "data/packed_dataset.h"
#include "datasets/run_datasets.h"
#include "engine/capture_session.h"
#include "engine/device_runtime.h"
#include "engine/lr_schedule.h"
#include "engine/memory_probe.h"
#include "engine/phase_timer.h"
#include "model/llama.h"
#include "optim/optimizer.h"
#include "optim/page_manager.h"

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

torch::Tensor to_tensor(const std::vector<std::int64_t>& values, std::int64_t rows, std::int64_t cols,
                        const torch::Device& device) {
  // from_blob + to: one copy (host to device), none on the host side.
  auto host = torch::from_blob(const_cast<std::int64_t*>(values.data()), {rows, cols}, torch::kInt64);
  return device.is_cpu() ? host.clone() : host.to(device);
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
  std::int64_t step = 0;
  std::unique_ptr<CaptureSession> capture;
  try {
    set_memory_budget(device, static_cast<std::int64_t>(spec.device_budget_bytes));
    ModelSource source = resolve_model(spec);
    const LlamaConfig& config = source.config;
    if (spec.max_seq_length > config.max_position_embeddings)
      throw std::invalid_argument("max_seq_length " + std::to_string(spec.max_seq_length) +
                                  " is longer than the model's " +
                                  std::to_string(config.max_position_embeddings) + " positions");
    datasets::RunData data = datasets::make_run_data(spec, *source.tokenizer);
    if (spec.eval_steps > 0 && !data.eval)
      throw std::invalid_argument("eval_steps is set but no data is held out");

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
    auto optimizer = optim::make_optimizer(spec.optim, model->parameters(), oo);
    const MemoryProbe probe(device, model->parameters(), *optimizer);
    auto timer = make_phase_timer(device);

    const std::int64_t total = spec.max_steps;
    const std::int64_t warmup = warmup_steps(spec.warmup_ratio, total);
    const std::int64_t accum = spec.gradient_accumulation_steps;
    const std::int64_t batch = spec.per_device_train_batch_size;
    const bool autocast = spec.precision == "fp32_autocast_bf16";
    const std::int64_t eval_batch =
        spec.per_device_eval_batch_size > 0 ? spec.per_device_eval_batch_size : batch;
    const auto params = model->parameters();

    for (step = 1; step <= total; ++step) {
      if (cancel != nullptr && cancel->load()) {
        result.outcome = Outcome::cancelled;
        result.detail = "cancelled before step " + std::to_string(step);
        break;
      }
      synchronize(device);
      capture->step_started(step);
      StepBundle bundle;
      timer->reset();
      const auto t0 = std::chrono::steady_clock::now();
      double loss_sum = 0.0;
      double forward_ms = 0.0;
      double backward_ms = 0.0;
      std::int64_t tokens = 0;
      std::vector<std::array<int, 3>> marks;  // per micro-batch: start, forward done, backward done
      std::vector<torch::Tensor> losses;
      MemorySample fwd_end, fwd_peak, bwd_end, bwd_peak;
      // Every micro-batch goes to the device now, while the device is idle: a copy from pageable
      // memory between two micro-batches would wait for the queued work.
      std::vector<DeviceBatch> micro_batches;
      for (std::int64_t micro = 0; micro < accum; ++micro)
        micro_batches.push_back(
            to_device(data.train.batch(static_cast<std::size_t>((step - 1) * accum + micro), batch), device));
      for (std::int64_t micro = 0; micro < accum; ++micro) {
        const auto& ids = micro_batches[static_cast<std::size_t>(micro)].ids;
        const auto& labels = micro_batches[static_cast<std::size_t>(micro)].labels;
        std::array<int, 3> m{};
        reset_peak_memory(device);
        m[0] = timer->mark();
        torch::Tensor loss;
        {
          AutocastScope scope(autocast, device);
          loss = model->loss(model->forward(ids), labels) / static_cast<double>(accum);
        }
        m[1] = timer->mark();
        if (micro == 0) {
          fwd_end = probe.sample(step, Phase::forward, SamplePoint::end);
          fwd_peak = probe.sample(step, Phase::forward, SamplePoint::peak);
        }
        reset_peak_memory(device);
        loss.backward();
        m[2] = timer->mark();
        if (micro == 0) bwd_peak = probe.sample(step, Phase::backward, SamplePoint::peak);
        losses.push_back(loss.detach());
        marks.push_back(m);
        tokens += micro_batches[static_cast<std::size_t>(micro)].tokens;
      }
      bwd_end = probe.sample(step, Phase::backward, SamplePoint::end);
      if (spec.max_grad_norm > 0.0) clip_grad_norm(params, spec.max_grad_norm);
      const double lr = learning_rate_at(spec.lr_scheduler_type, spec.learning_rate, step - 1, warmup, total);
      optimizer->set_lr(lr);
      reset_peak_memory(device);
      const int opt_start = timer->mark();
      optimizer->step();
      const int opt_end = timer->mark();
      const MemorySample opt_peak = probe.sample(step, Phase::optimizer, SamplePoint::peak);
      optimizer->zero_grad();
      const MemorySample opt_end_sample = probe.sample(step, Phase::optimizer, SamplePoint::end);
      // The only synchronisation of the step: the losses are read once, after the update.
      loss_sum = torch::stack(losses).sum().item<double>();
      synchronize(device);
      const auto t1 = std::chrono::steady_clock::now();
      for (const auto& m : marks) {
        forward_ms += timer->elapsed_ms(m[0], m[1]);
        backward_ms += timer->elapsed_ms(m[1], m[2]);
      }

      StepRecord rec;
      rec.step = step;
      rec.loss = loss_sum;
      rec.lr = lr;
      rec.step_ms = std::chrono::duration<double, std::milli>(t1 - t0).count();
      rec.tokens = tokens;
      rec.mem_bytes = std::max({fwd_peak.device_total(), bwd_peak.device_total(), opt_peak.device_total()});
      rec.forward_ms = forward_ms;
      rec.backward_ms = backward_ms;
      rec.optimizer_ms = timer->elapsed_ms(opt_start, opt_end);
      const bool eval_now = data.eval && spec.eval_steps > 0 && step % spec.eval_steps == 0;
      if (eval_now)
        rec.eval_loss = evaluate(model, *data.eval, eval_batch, spec.max_eval_samples, device, autocast);
      bundle.step = rec;
      bundle.memory = {fwd_end, fwd_peak, bwd_end, bwd_peak, opt_end_sample, opt_peak};
      capture->step_finished(step, bundle);
      if (recorder != nullptr && (step % spec.logging_steps == 0 || step == total || eval_now))
        recorder->on_bundle(bundle);
      result.steps_done = step;
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

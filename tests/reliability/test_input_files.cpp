// Files a run reads (a JSONL or text dataset, a Hugging Face checkpoint folder with its
// tokenizer.json), bad in every way a user meets them: the run fails with a message that names the
// file and the problem, optiscope-cli exits non-zero without crashing, the input files are left as
// they were, and a store that already held runs keeps them all.
//
// These problems surface when the engine opens the files, at the start of each variant, so the
// failure is recorded as each variant's outcome (exit 3), not refused before the store is opened
// (exit 2). The report of issue 8 proposes a check before the first write.
#include "support.h"

namespace optiscope::reliability {
namespace {

constexpr const char* kTinyConfig = R"({"model_type": "llama", "vocab_size": 512, "hidden_size": 64,
  "intermediate_size": 128, "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
  "max_position_embeddings": 128, "rms_norm_eps": 1e-5, "rope_theta": 10000.0, "tie_word_embeddings": true})";

struct InputCase {
  std::string name;
  std::map<std::string, std::string> files;  // relative to inputs/; a trailing '/' makes a folder
  std::string model = "tiny";                // or "@/..." for a checkpoint folder in inputs/
  std::string dataset = "synthetic";         // or "@/..."
  std::string expect;                        // in stderr and in the run's outcome detail
};

void run_case(const InputCase& c) {
  SCOPED_TRACE(c.name);
  const ScratchDir dir;
  const fs::path inputs = dir.path() / "inputs";
  fs::create_directories(inputs);
  for (const auto& [name, bytes] : c.files) {
    if (!name.empty() && name.back() == '/') {
      fs::create_directories(inputs / name);
      continue;
    }
    fs::create_directories((inputs / name).parent_path());
    write_file((inputs / name).string(), bytes);
  }
  const auto resolve = [&](const std::string& v) {
    return v.rfind("@/", 0) == 0 ? (inputs / v.substr(2)).string() : v;
  };
  // A store that already holds a finished comparison: it must come out with that comparison intact.
  const auto db = dir / "existing.db";
  make_store(db, 7);
  const std::string spec =
      std::string("{\"name\": \"bad input\", \"optims\": [\"adamw_torch\", \"adamw_8bit\"], ") +
      "\"max_steps\": 2, \"max_seq_length\": 32, \"per_device_train_batch_size\": 2, " + "\"model\": \"" +
      resolve(c.model) + "\", \"dataset\": \"" + resolve(c.dataset) + "\"}";
  write_file(dir / "spec.json", spec);
  std::map<std::string, std::string> before;
  for (const auto& e : fs::recursive_directory_iterator(inputs))
    if (e.is_regular_file()) before[e.path().string()] = slurp(e.path().string());

  const auto r = run_cli(dir.path(), {"run", "--spec", dir / "spec.json", "--quiet", "--db", db});
  EXPECT_EQ(r.signal, 0) << r.describe();
  EXPECT_NE(r.exit_code, 0) << r.describe();
  EXPECT_NE(r.exit_code, 1) << "1 means the store or the engine broke, not the input\n" << r.describe();
  EXPECT_NE(r.err.find(c.expect), std::string::npos) << "expected '" << c.expect << "'\n" << r.describe();
  EXPECT_EQ(r.err.find("terminate called"), std::string::npos) << r.describe();

  std::map<std::string, std::string> after;
  for (const auto& e : fs::recursive_directory_iterator(inputs))
    if (e.is_regular_file()) after[e.path().string()] = slurp(e.path().string());
  EXPECT_EQ(describe_difference(before, after), "") << "an input file was changed";

  EXPECT_EQ(integrity(db), "ok\n");
  const Store s = Store::open(db, Store::Mode::read_only);
  const auto runs = s.runs();
  ASSERT_GE(runs.size(), 2u);
  for (std::size_t i = 0; i < 2; ++i) {
    EXPECT_EQ(runs[i].outcome, Outcome::completed);
    EXPECT_EQ(s.steps(runs[i].id).size(), 7u) << "the earlier comparison lost steps";
  }
  for (std::size_t i = 2; i < runs.size(); ++i) {
    EXPECT_EQ(runs[i].outcome, Outcome::failed) << runs[i].optim;
    EXPECT_NE(runs[i].outcome_detail.find(c.expect), std::string::npos) << runs[i].outcome_detail;
    EXPECT_TRUE(s.steps(runs[i].id).empty());
  }
}

TEST(InputFiles, MalformedDatasetsFailWithTheFileAndLine) {
  const std::vector<InputCase> cases = {
      {"jsonl syntax",
       {{"d.jsonl", "{\"text\": \"fine\"}\n{\"text\": \"broken\"\n"}},
       "tiny",
       "@/d.jsonl",
       "line 2"},
      {"jsonl not an object",
       {{"d.jsonl", "{\"text\": \"a\"}\n[1, 2]\n"}},
       "tiny",
       "@/d.jsonl",
       "not a JSON object"},
      {"jsonl missing field",
       {{"d.jsonl", "{\"content\": \"a\"}\n"}},
       "tiny",
       "@/d.jsonl",
       "has no \"text\" field"},
      {"jsonl field not a string", {{"d.jsonl", "{\"text\": 42}\n"}}, "tiny", "@/d.jsonl", "is not a string"},
      {"jsonl truncated mid-line",
       {{"d.jsonl", "{\"text\": \"one\"}\n{\"text\": \"tw"}},
       "tiny",
       "@/d.jsonl",
       "line 2"},
      {"jsonl latin-1", {{"d.jsonl", "{\"text\": \"caf\xe9\"}\n"}}, "tiny", "@/d.jsonl", "UTF-8"},
      {"text latin-1", {{"d.txt", "na\xefve caf\xe9\n"}}, "tiny", "@/d.txt", "UTF-8"},
      {"jsonl empty", {{"d.jsonl", "\n\n  \n"}}, "tiny", "@/d.jsonl", "holds no document"},
      {"missing dataset", {}, "tiny", "@/nope.jsonl", "nope.jsonl"},
      {"dataset is a folder", {{"folder/", ""}}, "tiny", "@/folder", "is not a file"},
  };
  for (const auto& c : cases) run_case(c);
}

TEST(InputFiles, BrokenCheckpointFoldersFailWithTheFileAndProblem) {
  const std::string config = kTinyConfig;
  const std::vector<InputCase> cases = {
      {"config not JSON",
       {{"ck/config.json", "{\"model_type\": \"llama\", "}},
       "@/ck",
       "synthetic",
       "not valid JSON"},
      {"config missing key",
       {{"ck/config.json", "{\"model_type\": \"llama\"}"}},
       "@/ck",
       "synthetic",
       "missing 'vocab_size'"},
      {"no weights", {{"ck/config.json", config}}, "@/ck", "synthetic", "no model.safetensors"},
      {"weights shorter than 8 bytes",
       {{"ck/config.json", config}, {"ck/model.safetensors", "abc"}},
       "@/ck",
       "synthetic",
       "truncated"},
      {"header longer than the file",
       {{"ck/config.json", config},
        {"ck/model.safetensors", std::string("\xff\x00\x00\x00\x00\x00\x00\x00{}", 10)}},
       "@/ck",
       "synthetic",
       "model.safetensors"},
      {"header not JSON",
       {{"ck/config.json", config},
        {"ck/model.safetensors", std::string("\x08\x00\x00\x00\x00\x00\x00\x00{{{{{{{{", 16)}},
       "@/ck",
       "synthetic",
       "model.safetensors"},
      {"index names a missing shard",
       {{"ck/config.json", config},
        {"ck/model.safetensors.index.json",
         "{\"weight_map\": {\"model.embed_tokens.weight\": \"model-00001-of-00002.safetensors\"}}"}},
       "@/ck",
       "synthetic",
       "model-00001-of-00002.safetensors"},
      {"tokenizer.json not JSON",
       {{"ck/config.json", config}, {"ck/tokenizer.json", "{\"model\": "}},
       "@/ck",
       "synthetic",
       "tokenizer.json"},
  };
  for (const auto& c : cases) run_case(c);
}

}  // namespace
}  // namespace optiscope::reliability

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "datasets/run_datasets.h"
#include "datasets/text_corpus.h"

using namespace optiscope;
using namespace optiscope::datasets;

namespace {

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const std::exception& e) {
    return e.what();
  }
  return "no error";
}

}  // namespace

TEST(TextCorpus, ReadsTheTextFieldOfEachJsonlLine) {
  const auto docs = parse_jsonl_texts(
      "{\"text\": \"one\"}\n\n{\"text\": \"caf\\u00e9\", \"id\": 2}\r\n{\"text\":\"three\"}");
  EXPECT_EQ(docs, (std::vector<std::string>{"one", "caf\xC3\xA9", "three"}));
  EXPECT_EQ(parse_jsonl_texts("{\"content\": \"x\"}", "content"), (std::vector<std::string>{"x"}));
}

TEST(TextCorpus, JsonlErrorsNameTheLine) {
  EXPECT_NE(error_of([] {
              parse_jsonl_texts("{\"text\":\"a\"}\n{\"text\":", "text", "d.jsonl");
            }).find("d.jsonl line 2"),
            std::string::npos);
  EXPECT_NE(error_of([] { parse_jsonl_texts("{\"body\":\"a\"}", "text", "d.jsonl"); }).find("no \"text\""),
            std::string::npos);
  EXPECT_NE(error_of([] { parse_jsonl_texts("{\"text\":3}", "text", "d.jsonl"); }).find("not a string"),
            std::string::npos);
  EXPECT_NE(error_of([] { parse_jsonl_texts("[1]", "text", "d.jsonl"); }).find("not a JSON object"),
            std::string::npos);
  EXPECT_NE(error_of([] { parse_jsonl_texts("\n\n", "text", "d.jsonl"); }).find("no document"),
            std::string::npos);
  const auto bad =
      error_of([] { parse_jsonl_texts("{\"text\":\"ok\"}\n{\"text\":\"\xFF\"}", "text", "d.jsonl"); });
  EXPECT_NE(bad.find("d.jsonl line 2 is not valid UTF-8"), std::string::npos) << bad;
}

TEST(TextCorpus, PlainTextDocumentsAreParagraphs) {
  EXPECT_EQ(split_plain_text("first line\nsame doc\n\n\n  \nsecond\n"),
            (std::vector<std::string>{"first line\nsame doc", "second"}));
  EXPECT_NE(error_of([] {
              split_plain_text("ok\n\xC3", "notes.txt");
            }).find("notes.txt is not valid UTF-8 (byte offset 3)"),
            std::string::npos);
  EXPECT_NE(error_of([] { split_plain_text("\n \n", "notes.txt"); }).find("no text"), std::string::npos);
  EXPECT_NE(error_of([] { load_text_documents("/no/such/file.jsonl"); }).find("/no/such/file.jsonl"),
            std::string::npos);
}

TEST(RunData, HeldOutSplitIsDeterministicAndDisjoint) {
  std::vector<std::string> docs;
  for (int i = 0; i < 100; ++i) docs.push_back("doc " + std::to_string(i));
  const auto a = split_documents(docs, 0.1, 42);
  const auto b = split_documents(docs, 0.1, 42);
  const auto c = split_documents(docs, 0.1, 43);
  EXPECT_EQ(a.eval.size(), 10u);
  EXPECT_EQ(a.train.size(), 90u);
  EXPECT_EQ(a.eval, b.eval);
  EXPECT_NE(a.eval, c.eval);
  for (const auto& d : a.eval) EXPECT_EQ(std::count(a.train.begin(), a.train.end(), d), 0);
  EXPECT_EQ(split_documents(docs, 0.0, 42).train.size(), 100u);
  EXPECT_EQ(split_documents({"x", "y"}, 0.01, 1).eval.size(), 1u) << "at least one document is held out";
  EXPECT_THROW(split_documents({"only"}, 0.5, 1), DatasetError);
}

TEST(RunData, PacksAJsonlFileWithItsHeldOutPart) {
  const auto path =
      std::filesystem::temp_directory_path() / ("optiscope_ds_" + std::to_string(::getpid()) + ".jsonl");
  {
    std::ofstream out(path);
    for (int i = 0; i < 200; ++i)
      out << "{\"text\": \"### Instruction:\\nSay " << i << ".\\n### Response:\\n" << i << "\"}\n";
  }
  RunSpec spec;
  spec.dataset = path.string();
  spec.max_seq_length = 32;
  spec.eval_split = 0.1;
  const auto tokenizer = make_byte_tokenizer();
  const auto data = make_run_data(spec, *tokenizer);
  ASSERT_TRUE(data.eval.has_value());
  EXPECT_GT(data.train.windows(), 5 * data.eval->windows());
  const auto first = data.train.batch(0, 4);
  const auto again = make_run_data(spec, *tokenizer).train.batch(0, 4);
  EXPECT_EQ(first.input_ids, again.input_ids) << "order comes from the seed alone";
  const auto held = data.eval->windows_in_order(0, 2);
  EXPECT_EQ(held.input_ids.size(), 64u);
  std::filesystem::remove(path);
}

#include "data/synthetic_instructions.h"

#include <algorithm>
#include <array>
#include <random>

namespace optiscope {
namespace {

constexpr std::array<const char*, 16> kWords = {"apple", "river", "stone",  "cloud",  "tiger",  "maple",
                                                "ember", "lunar", "quartz", "violet", "harbor", "pixel",
                                                "cedar", "delta", "falcon", "zephyr"};

std::string sft_example(const std::string& instruction, const std::string& response) {
  return "### Instruction:\n" + instruction + "\n### Response:\n" + response + "\n";
}

std::string make_example(std::mt19937_64& rng) {
  std::uniform_int_distribution<int> task(0, 4);
  std::uniform_int_distribution<int> number(0, 99);
  std::uniform_int_distribution<std::size_t> word(0, kWords.size() - 1);
  switch (task(rng)) {
    case 0: {
      const int a = number(rng);
      const int b = number(rng);
      return sft_example("Add " + std::to_string(a) + " and " + std::to_string(b) + ".",
                         std::to_string(a + b));
    }
    case 1: {
      std::string w = kWords[word(rng)];
      std::string r(w.rbegin(), w.rend());
      return sft_example("Reverse the word " + w + ".", r);
    }
    case 2: {
      std::array<int, 4> v{};
      for (auto& x : v) x = number(rng) % 10;
      std::string in;
      std::string out;
      for (const int x : v) in += std::to_string(x) + " ";
      std::sort(v.begin(), v.end());
      for (const int x : v) out += std::to_string(x) + " ";
      in.pop_back();
      out.pop_back();
      return sft_example("Sort the digits " + in + ".", out);
    }
    case 3: {
      std::string w = kWords[word(rng)];
      return sft_example("Spell " + w + " in capitals.", [&] {
        std::string u = w;
        for (char& c : u) c = static_cast<char>(c - 'a' + 'A');
        return u;
      }());
    }
    default: {
      std::string w = kWords[word(rng)];
      return sft_example("How many letters are in " + w + "?", std::to_string(w.size()));
    }
  }
}

}  // namespace

std::vector<std::string> synthetic_instructions(std::size_t count, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<std::string> examples;
  examples.reserve(count);
  for (std::size_t i = 0; i < count; ++i) examples.push_back(make_example(rng));
  return examples;
}

}  // namespace optiscope

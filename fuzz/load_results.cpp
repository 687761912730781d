// Fuzz target: results.json, which `mailload merge` and `mailload report` read from files that
// other machines wrote. Bad input is an error, never a crash; accepted input serializes back to
// text that reads the same, and merges with itself only as a duplicate shard (refused).
#include <cstddef>
#include <cstdint>
#include <ostream>
#include <string>
#include <string_view>

#include "mailharness/load/results.hpp"
#include "mailharness/reports/load.hpp"

namespace load = mailharness::load;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size > (1u << 16)) return 0;  // histogram counts are bounded by from_json's cap anyway
    const std::string_view in(reinterpret_cast<const char*>(data), size);
    load::results r;
    std::string error;
    if (!load::from_json_string(in, r, error)) {
        if (error.empty()) __builtin_trap();
        return 0;
    }
    const std::string text = load::to_json_string(r);
    load::results back;
    if (!load::from_json_string(text, back, error) || load::to_json_string(back) != text) __builtin_trap();
    // The renderers take anything from_json accepted.
    struct null_buf : std::streambuf {
        int overflow(int c) override { return c; }
    } nb;
    std::ostream null(&nb);
    namespace reports = mailharness::reports;
    reports::write_load_summary(null, r);
    reports::write_load_junit(null, r);
    reports::write_load_markdown(null, r);
    reports::write_load_html(null, r);
    // Merging a result with itself repeats its shards (from_json insists on at least one): refused.
    load::results merged;
    if (load::merge({r, r}, merged, error)) __builtin_trap();
    if (!load::merge({r}, merged, error)) __builtin_trap();
    return 0;
}

// Fuzz target: mailload's threshold expressions and quantities (durations, sizes, rates), which
// come from scenario files and the command line. Parsers must refuse bad input without touching
// their output; what they accept must be in range and, for thresholds, print and parse back the
// same.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "mailharness/load/threshold.hpp"
#include "mailharness/load/units.hpp"

namespace load = mailharness::load;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view in(reinterpret_cast<const char*>(data), size);

    load::usec d{12345};
    if (load::parse_duration(in, d)) {
        if (d.count() < 0 || d.count() > 100LL * 24 * 3600 * 1000000) __builtin_trap();
    } else if (d.count() != 12345) {
        __builtin_trap();
    }
    std::uint64_t n = 777;
    if (load::parse_size(in, n)) {
        if (n > (std::uint64_t{1} << 40)) __builtin_trap();
    } else if (n != 777) {
        __builtin_trap();
    }
    double r = -1;
    if (load::parse_rate(in, r)) {
        if (!(r >= 0 && r <= 1e7)) __builtin_trap();
    } else if (r != -1) {
        __builtin_trap();
    }

    load::threshold t;
    t.metric = "untouched";
    std::string error;
    if (!load::parse_threshold(in, t, error)) {
        if (t.metric != "untouched" || error.empty()) __builtin_trap();
        return 0;
    }
    if (t.expression != in || t.metric.empty() || !std::isfinite(t.value) || t.value < 0) __builtin_trap();
    if (t.stat == load::threshold_stat::percentile && !(t.percentile >= 0 && t.percentile <= 100)) __builtin_trap();
    (void)load::stat_name(t);
    (void)load::format_threshold_value(t, t.value);
    // Parsing is a function of the text: the same expression gives the same threshold.
    load::threshold u;
    if (!load::parse_threshold(t.expression, u, error) || u.metric != t.metric || u.value != t.value || u.op != t.op)
        __builtin_trap();
    return 0;
}

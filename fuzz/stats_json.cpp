// Fuzz target: the histogram JSON deserializer (mailload merge reads shard results from files).
// Bad input must come back as an error code with the target untouched; whatever is accepted must
// be a consistent histogram that serializes back to an equal one.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "mailharness/stats/histogram.hpp"

namespace stats = mailharness::stats;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::string_view in(reinterpret_cast<const char*>(data), size);

    stats::histogram h({.highest_trackable = 1000});
    h.record(7);
    const stats::histogram before = h;
    // A small cap keeps each run fast; the settings check is the same at any cap.
    std::error_code ec = stats::from_json_string(in, h, std::size_t{1} << 16);
    if (ec) {
        if (!(h == before)) __builtin_trap();
        return 0;
    }

    // Accepted: the counts add up and the queries stay inside [min, max].
    std::uint64_t sum = 0;
    h.for_each_bucket([&](const stats::bucket& b) {
        if (b.count == 0 || b.lowest > b.highest) __builtin_trap();
        sum += b.count;
    });
    if (sum != h.count() || h.saturated_count() > h.count()) __builtin_trap();
    if (!h.empty()) {
        for (double p : {0.0, 50.0, 99.9, 100.0}) {
            const std::uint64_t v = h.value_at_percentile(p);
            if (v < h.min() || v > h.max()) __builtin_trap();
        }
        if (h.value_at_percentile(0) != h.min() || h.value_at_percentile(100) != h.max()) __builtin_trap();
    }
    (void)h.percentile_spectrum(2);

    // Round trip and merge into itself.
    stats::histogram back;
    if (stats::from_json_string(stats::to_json_string(h), back, std::size_t{1} << 16) || !(back == h))
        __builtin_trap();
    const std::uint64_t total = back.count();
    if (std::error_code m = back.merge(h)) {
        if (m != stats::errc::bad_count || !(back == h)) __builtin_trap();
    } else if (back.count() != 2 * total) {
        __builtin_trap();
    }
    return 0;
}

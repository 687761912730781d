// Latency histogram for mailload: HDR-style log-linear buckets (after Gil Tene's HdrHistogram).
//
// Sans-I/O and allocation-free after construction: the counts array is sized once from the
// settings (about 20 KiB for the default 1 us .. 60 s at 2 significant digits) and record() is
// O(1): a count-leading-zeros, two shifts and an increment.
//
// Layout. Values are unsigned integers (mailload records microseconds). The range is cut into
// buckets of doubling width; each bucket is cut into 2^k sub-buckets of equal width, where
// 2^(k+1) >= 2 * 10^significant_digits; the first bucket also keeps its lower half. A value is
// stored with an error below max(unit, value / 2^k), where unit is the largest power of two
// <= lowest_discernible and 1 / 2^k <= 10^-significant_digits (1/128 = 0.78% for the default
// 2 digits). With lowest_discernible 1 the unit term means exact: values below 256 are exact.
//
// Merging is lossless: two histograms with the same settings have the same layout, and merge()
// adds counts index by index, so shards merged in any order give exactly the counts, and so the
// percentiles, of one histogram that saw every sample.
//
// Not thread-safe: give each thread (or shard) its own histogram and merge them.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace mailharness::stats {

/// Errors of settings validation, merge() and deserialization. Nothing in this header throws on
/// bad input, except the histogram constructor on invalid settings (a programming error; check
/// them first with validate() when they come from a user).
enum class errc {
    /// lowest_discernible is 0, highest_trackable < 2 * lowest_discernible or >= 2^62,
    /// significant_digits is outside 1..5, or lowest_discernible * 10^significant_digits is too
    /// large for the bucket arithmetic (beyond about 2^61).
    bad_settings = 1,
    /// merge() of histograms with different settings (different bucket layouts).
    incompatible_settings,
    /// The settings are valid but need more counters than the caller's limit.
    too_large,
    /// The text is not JSON.
    malformed_json,
    /// A field is missing, has the wrong type, or the format tag is not ours.
    bad_format,
    /// A bucket index is out of range, or indices are not strictly increasing.
    bad_index,
    /// A bucket count is zero, or counts would pass 2^64 - 1.
    bad_count,
    /// total, min, max or saturated disagree with the buckets.
    inconsistent,
};

const std::error_category& stats_category() noexcept;
std::error_code make_error_code(errc e) noexcept;

struct histogram_settings {
    /// Resolution, >= 1: no bucket is narrower than 2^floor(log2(lowest_discernible)), so values
    /// are kept within that many units or 10^-significant_digits, whichever is larger.
    /// 1 means every microsecond counts.
    std::uint64_t lowest_discernible = 1;
    /// Largest value stored as itself, >= 2 * lowest_discernible. Larger values are recorded as
    /// this value and counted in saturated_count(). Default: 60 s in microseconds.
    std::uint64_t highest_trackable = 60'000'000;
    /// Decimal digits of precision, 1..5: relative error <= 10^-significant_digits.
    int significant_digits = 2;

    friend bool operator==(const histogram_settings&, const histogram_settings&) = default;
};

/// Checks the settings; returns errc::bad_settings or nothing.
std::error_code validate(const histogram_settings& s) noexcept;

/// Number of counters a histogram with valid settings `s` allocates (8 octets each).
std::size_t counts_length(const histogram_settings& s) noexcept;

/// One non-empty bucket: every value in [lowest, highest] is counted at this index.
struct bucket {
    std::size_t index = 0;
    std::uint64_t lowest = 0;
    std::uint64_t highest = 0;
    std::uint64_t count = 0;
};

/// One point of the percentile spectrum (the report's percentile chart).
struct percentile_point {
    /// The percentile asked for, in [0, 100].
    double percentile = 0;
    /// value_at_percentile(percentile).
    std::uint64_t value = 0;
    /// Samples at or below the bucket that holds `value`.
    std::uint64_t count_at_or_below = 0;
};

class histogram {
public:
    /// Default settings: 1 us .. 60 s, 2 significant digits.
    histogram() : histogram(histogram_settings{}) {}
    /// Throws std::invalid_argument when validate(s) fails.
    explicit histogram(const histogram_settings& s);

    const histogram_settings& settings() const noexcept { return settings_; }

    // --- recording: O(1), never allocate ---

    /// Counts one sample. A value above highest_trackable is recorded as highest_trackable and
    /// also counted in saturated_count(). 0 is a valid value.
    void record(std::uint64_t value) noexcept { record_n(value, 1); }
    /// Counts `count` samples of `value` (count 0 does nothing).
    void record_n(std::uint64_t value, std::uint64_t count) noexcept;
    /// Coordinated-omission correction, as HdrHistogram's recordValueWithExpectedInterval: records
    /// `value`, then, if `value` > `expected_interval` > 0, the samples a stalled measurement loop
    /// missed: value - k * expected_interval for k = 1, 2, ... while that is >= expected_interval.
    /// Runs in O(number of buckets), not O(value / expected_interval).
    void record_corrected(std::uint64_t value, std::uint64_t expected_interval) noexcept;

    /// Adds every count of `other`. Lossless: see the file comment. Errors, with no change:
    /// incompatible_settings when the settings differ, bad_count when the total would pass
    /// 2^64 - 1. (record_n leaves that bound to the caller: it is not reached counting samples.)
    std::error_code merge(const histogram& other) noexcept;
    /// Forgets all samples; keeps the settings and the memory.
    void reset() noexcept;

    // --- queries; all return 0 on an empty histogram ---

    /// Number of samples, saturated ones included.
    std::uint64_t count() const noexcept { return total_; }
    /// Samples that were above highest_trackable (and recorded as it).
    std::uint64_t saturated_count() const noexcept { return saturated_; }
    bool empty() const noexcept { return total_ == 0; }
    /// Smallest and largest value recorded, exactly (after clamping to highest_trackable).
    std::uint64_t min() const noexcept { return total_ ? min_ : 0; }
    std::uint64_t max() const noexcept { return total_ ? max_ : 0; }
    /// Mean and population standard deviation, computed from the buckets (each sample taken at
    /// its bucket's middle), so that they too are equal after a lossless merge.
    double mean() const noexcept;
    double stddev() const noexcept;

    /// HdrHistogram semantics: the smallest bucket such that at least p% of the samples are at or
    /// below it, reported as the bucket's highest value, then clamped to [min(), max()].
    /// p is clamped to [0, 100] (NaN counts as 0); p = 0 gives min(), p = 100 gives max().
    std::uint64_t value_at_percentile(double p) const noexcept;

    /// Percentile spectrum as HdrHistogram's percentile iterator prints it: `ticks_per_half`
    /// points in each half of the remaining distance to 100 (for 5: 0, 10, .., 50, 55, .., 75,
    /// 77.5, ..) up to the first point that lands in the last non-empty bucket, then a point at
    /// 100. Each value equals value_at_percentile(percentile). ticks_per_half 0 counts as 1.
    /// Empty for an empty histogram.
    std::vector<percentile_point> percentile_spectrum(unsigned ticks_per_half = 5) const;

    /// Calls f(const bucket&) for each non-empty bucket in increasing value order.
    template <class F>
    void for_each_bucket(F&& f) const {
        for (std::size_t i = 0; i < counts_.size(); ++i)
            if (counts_[i] != 0) f(bucket{i, lowest_at(i), highest_at(i), counts_[i]});
    }

    // --- layout: bucket arithmetic, exposed for tests and for reports ---

    /// Number of counters (bucket indices are 0 .. counts_size() - 1).
    std::size_t counts_size() const noexcept { return counts_.size(); }
    /// Count at an index (0 when out of range).
    std::uint64_t count_at_index(std::size_t i) const noexcept { return i < counts_.size() ? counts_[i] : 0; }
    /// Index that counts `value` (after clamping to highest_trackable).
    std::size_t index_of(std::uint64_t value) const noexcept;
    /// Smallest and largest value counted at index i (i < counts_size()).
    std::uint64_t lowest_at(std::size_t i) const noexcept;
    std::uint64_t highest_at(std::size_t i) const noexcept;
    /// Smallest and largest value that share `value`'s bucket.
    std::uint64_t lowest_equivalent(std::uint64_t value) const noexcept { return lowest_at(index_of(value)); }
    std::uint64_t highest_equivalent(std::uint64_t value) const noexcept { return highest_at(index_of(value)); }

    friend bool operator==(const histogram& a, const histogram& b) noexcept;

private:
    friend std::error_code from_json(const nlohmann::json&, histogram&, std::size_t) noexcept;

    histogram_settings settings_;
    unsigned unit_magnitude_ = 0;           // log2 of the smallest bucket's width
    unsigned sub_half_magnitude_ = 0;       // log2(sub-buckets per bucket) - 1
    std::uint64_t sub_half_count_ = 0;      // sub-buckets per bucket / 2
    std::uint64_t sub_mask_ = 0;            // bits of a value that fall in the first bucket
    std::vector<std::uint64_t> counts_;
    std::uint64_t total_ = 0;
    std::uint64_t saturated_ = 0;
    std::uint64_t min_ = UINT64_MAX;
    std::uint64_t max_ = 0;
};

// --- serialization ---
//
// JSON form (compact; counts are sparse):
//   {"format":"mailharness.histogram/1","lowest":1,"highest":60000000,"digits":2,
//    "total":5,"saturated":0,"min":120,"max":980,"counts":[[index,count],...]}
// Indices are strictly increasing and every count is > 0. "min" and "max" are omitted when
// total is 0.

/// Default cap on counters from_json will allocate (8 MiB of counts): guards against settings
/// in untrusted input that ask for huge arrays.
inline constexpr std::size_t default_max_counts = std::size_t{1} << 20;

nlohmann::json to_json(const histogram& h);
std::string to_json_string(const histogram& h);

/// Replaces `out` with the histogram described by `j`, after checking every field: settings,
/// index range and order, counts > 0 summing to total without overflow, saturated within the
/// top bucket's count, min and max inside the first and last non-empty buckets.
/// On error `out` is unchanged. Never throws.
std::error_code from_json(const nlohmann::json& j, histogram& out,
                          std::size_t max_counts = default_max_counts) noexcept;
/// Parses `text` then as above; errc::malformed_json when it is not JSON.
std::error_code from_json_string(std::string_view text, histogram& out,
                                 std::size_t max_counts = default_max_counts) noexcept;

}  // namespace mailharness::stats

template <>
struct std::is_error_code_enum<mailharness::stats::errc> : std::true_type {};

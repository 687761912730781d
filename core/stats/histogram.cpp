#include "mailharness/stats/histogram.hpp"

#include <algorithm>
#include <bit>
#include <cmath>
#include <stdexcept>

#include <nlohmann/json.hpp>

namespace mailharness::stats {

namespace {

struct stats_category_impl final : std::error_category {
    const char* name() const noexcept override { return "mailharness.stats"; }
    std::string message(int ev) const override {
        switch (static_cast<errc>(ev)) {
            case errc::bad_settings: return "invalid histogram settings";
            case errc::incompatible_settings: return "histograms have different settings";
            case errc::too_large: return "histogram too large";
            case errc::malformed_json: return "malformed JSON";
            case errc::bad_format: return "not a histogram in the expected format";
            case errc::bad_index: return "histogram bucket index out of range or out of order";
            case errc::bad_count: return "histogram bucket count zero or overflowing";
            case errc::inconsistent: return "histogram totals disagree with its buckets";
        }
        return "unknown stats error";
    }
};

constexpr std::string_view format_tag = "mailharness.histogram/1";

// The layout HdrHistogram derives from its settings; see the header's file comment.
struct layout {
    unsigned unit_magnitude;
    unsigned sub_half_magnitude;
    std::size_t counts_length;
};

layout make_layout(const histogram_settings& s) noexcept {
    std::uint64_t single_unit_max = 2;
    for (int i = 0; i < s.significant_digits; ++i) single_unit_max *= 10;
    // ceil(log2(2 * 10^digits)) bits of sub-bucket, half of them per bucket above the first.
    const unsigned sub_magnitude = static_cast<unsigned>(std::bit_width(single_unit_max - 1));
    const unsigned sub_half_magnitude = sub_magnitude - 1;
    const unsigned unit_magnitude = static_cast<unsigned>(std::bit_width(s.lowest_discernible) - 1);
    // Buckets needed until the first value not trackable is above highest_trackable.
    const unsigned top_bit = static_cast<unsigned>(std::bit_width(s.highest_trackable));  // H < 2^top_bit
    const unsigned first_bits = unit_magnitude + sub_magnitude;  // bucket 0 covers [0, 2^first_bits)
    const std::size_t buckets = top_bit > first_bits ? 1 + (top_bit - first_bits) : 1;
    return {unit_magnitude, sub_half_magnitude, (buckets + 1) << sub_half_magnitude};
}

// Middle of a bucket's range [lo, hi], the value each of its samples stands for in mean and
// stddev (exact where a bucket holds a single value).
double middle(std::uint64_t lo, std::uint64_t hi) noexcept {
    return (static_cast<double>(lo) + static_cast<double>(hi)) / 2.0;
}

}  // namespace

const std::error_category& stats_category() noexcept {
    static const stats_category_impl cat;
    return cat;
}

std::error_code make_error_code(errc e) noexcept { return {static_cast<int>(e), stats_category()}; }

std::error_code validate(const histogram_settings& s) noexcept {
    if (s.lowest_discernible < 1) return errc::bad_settings;
    if (s.significant_digits < 1 || s.significant_digits > 5) return errc::bad_settings;
    if (s.highest_trackable / 2 < s.lowest_discernible) return errc::bad_settings;
    // Every index must have a representable highest value: keep H clear of the top bits.
    if (s.highest_trackable > (UINT64_MAX >> 2)) return errc::bad_settings;
    // The first bucket's mask (unit << sub-bucket bits) must fit in 63 bits, as HdrHistogram
    // demands, or the bucket arithmetic shifts past the word.
    const layout l = make_layout(s);
    if (l.unit_magnitude + l.sub_half_magnitude + 1 > 62) return errc::bad_settings;
    return {};
}

std::size_t counts_length(const histogram_settings& s) noexcept { return make_layout(s).counts_length; }

histogram::histogram(const histogram_settings& s) : settings_(s) {
    if (validate(s)) throw std::invalid_argument("mailharness::stats::histogram: invalid settings");
    const layout l = make_layout(s);
    unit_magnitude_ = l.unit_magnitude;
    sub_half_magnitude_ = l.sub_half_magnitude;
    sub_half_count_ = std::uint64_t{1} << sub_half_magnitude_;
    sub_mask_ = ((sub_half_count_ * 2) - 1) << unit_magnitude_;
    counts_.assign(l.counts_length, 0);
}

std::size_t histogram::index_of(std::uint64_t value) const noexcept {
    value = std::min(value, settings_.highest_trackable);
    // Bucket: how many doublings above the first bucket the value's top bit is.
    const unsigned pow2ceiling = static_cast<unsigned>(std::bit_width(value | sub_mask_));
    const unsigned bucket = pow2ceiling - unit_magnitude_ - (sub_half_magnitude_ + 1);
    const std::uint64_t sub = value >> (bucket + unit_magnitude_);
    // Bucket 0 uses all its sub-buckets; later buckets only their upper half (the lower half
    // would repeat the previous bucket's range).
    return static_cast<std::size_t>(((std::uint64_t{bucket} + 1) << sub_half_magnitude_) + sub - sub_half_count_);
}

std::uint64_t histogram::lowest_at(std::size_t i) const noexcept {
    std::uint64_t bucket = (i >> sub_half_magnitude_);
    std::uint64_t sub = (i & (sub_half_count_ - 1)) + sub_half_count_;
    if (bucket == 0) {
        sub -= sub_half_count_;
    } else {
        bucket -= 1;
    }
    return sub << (bucket + unit_magnitude_);
}

std::uint64_t histogram::highest_at(std::size_t i) const noexcept {
    const std::uint64_t bucket = i >> sub_half_magnitude_;
    const std::uint64_t width_magnitude = unit_magnitude_ + (bucket == 0 ? 0 : bucket - 1);
    return lowest_at(i) + (std::uint64_t{1} << width_magnitude) - 1;
}

void histogram::record_n(std::uint64_t value, std::uint64_t count) noexcept {
    if (count == 0) return;
    if (value > settings_.highest_trackable) {
        value = settings_.highest_trackable;
        saturated_ += count;
    }
    counts_[index_of(value)] += count;
    total_ += count;
    min_ = std::min(min_, value);
    max_ = std::max(max_, value);
}

void histogram::record_corrected(std::uint64_t value, std::uint64_t expected_interval) noexcept {
    record(value);
    if (expected_interval == 0 || value <= expected_interval) return;
    // The missed samples are the arithmetic sequence value - k * interval, k = 1..n, all
    // >= interval. Walk it bucket by bucket, counting the terms that fall in each.
    const std::uint64_t n = value / expected_interval - 1;
    if (n == 0) return;
    std::uint64_t v = value - n * expected_interval;  // smallest missed sample
    const std::uint64_t top = value - expected_interval;
    const std::uint64_t h = settings_.highest_trackable;
    while (v <= top && v <= h) {
        const std::uint64_t bucket_top = std::min({highest_equivalent(v), top, h});
        const std::uint64_t terms = (bucket_top - v) / expected_interval + 1;
        record_n(v, terms);
        const std::uint64_t step = terms * expected_interval;
        if (top - v < step) return;  // that was the last term
        v += step;
    }
    if (v <= top && v > h) record_n(v, (top - v) / expected_interval + 1);  // saturated terms
}

std::error_code histogram::merge(const histogram& other) noexcept {
    if (!(other.settings_ == settings_)) return errc::incompatible_settings;
    if (other.total_ == 0) return {};
    if (total_ > UINT64_MAX - other.total_) return errc::bad_count;  // every bucket is <= total
    for (std::size_t i = 0; i < counts_.size(); ++i) counts_[i] += other.counts_[i];
    total_ += other.total_;
    saturated_ += other.saturated_;
    min_ = std::min(min_, other.min_);
    max_ = std::max(max_, other.max_);
    return {};
}

void histogram::reset() noexcept {
    std::fill(counts_.begin(), counts_.end(), 0);
    total_ = saturated_ = max_ = 0;
    min_ = UINT64_MAX;
}

double histogram::mean() const noexcept {
    if (total_ == 0) return 0;
    double sum = 0;
    for_each_bucket([&](const bucket& b) { sum += middle(b.lowest, b.highest) * static_cast<double>(b.count); });
    return sum / static_cast<double>(total_);
}

double histogram::stddev() const noexcept {
    if (total_ == 0) return 0;
    const double m = mean();
    double sq = 0;
    for_each_bucket([&](const bucket& b) {
        const double d = middle(b.lowest, b.highest) - m;
        sq += d * d * static_cast<double>(b.count);
    });
    return std::sqrt(sq / static_cast<double>(total_));
}

namespace {

// Samples that must be at or below the answer for percentile p (>= 1, <= total).
std::uint64_t count_for_percentile(double p, std::uint64_t total) noexcept {
    if (!(p > 0)) return 1;  // also NaN
    if (p >= 100) return total;
    // Step p down one ulp first, as HdrHistogram does, so that p * total landing a hair above an
    // integer through rounding does not ask for one sample more.
    const double fp = std::nextafter(p, 0.0) / 100.0 * static_cast<double>(total);
    const auto c = static_cast<std::uint64_t>(std::ceil(fp));
    return std::clamp<std::uint64_t>(c, 1, total);
}

}  // namespace

std::uint64_t histogram::value_at_percentile(double p) const noexcept {
    if (total_ == 0) return 0;
    if (!(p > 0)) return min_;  // HdrHistogram gives the lowest equivalent value; clamped, min
    const std::uint64_t wanted = count_for_percentile(p, total_);
    std::uint64_t seen = 0;
    for (std::size_t i = 0; i < counts_.size(); ++i) {
        seen += counts_[i];
        if (seen >= wanted) return std::clamp(highest_at(i), min_, max_);
    }
    return max_;  // unreachable while counts sum to total
}

std::vector<percentile_point> histogram::percentile_spectrum(unsigned ticks_per_half) const {
    std::vector<percentile_point> out;
    if (total_ == 0) return out;
    if (ticks_per_half == 0) ticks_per_half = 1;
    std::size_t i = 0;
    std::uint64_t seen = counts_[0];
    double level = 0;
    for (;;) {
        const std::uint64_t wanted = count_for_percentile(level, total_);
        while (seen < wanted) seen += counts_[++i];
        out.push_back({level, level == 0 ? min_ : std::clamp(highest_at(i), min_, max_), seen});
        if (seen == total_) break;  // the last bucket is reached; HdrHistogram then prints 100
        // Half distances to 100 passed so far decide the step: 10 per half for 5 ticks at 0..50,
        // 5 at 50..75, 2.5 at 75..87.5, ...
        const double halves = std::floor(std::log2(100.0 / (100.0 - level)));
        const double next = level + 100.0 / (ticks_per_half * std::exp2(halves + 1));
        if (!(next < 100.0) || next == level) break;
        level = next;
    }
    out.push_back({100.0, max_, total_});
    return out;
}

bool operator==(const histogram& a, const histogram& b) noexcept {
    return a.settings_ == b.settings_ && a.total_ == b.total_ && a.saturated_ == b.saturated_ &&
           a.min() == b.min() && a.max() == b.max() && a.counts_ == b.counts_;
}

// --- JSON ---

nlohmann::json to_json(const histogram& h) {
    nlohmann::json counts = nlohmann::json::array();
    h.for_each_bucket([&](const bucket& b) { counts.push_back({b.index, b.count}); });
    const histogram_settings& s = h.settings();
    nlohmann::json j = {
        {"format", std::string(format_tag)},
        {"lowest", s.lowest_discernible},
        {"highest", s.highest_trackable},
        {"digits", static_cast<unsigned>(s.significant_digits)},
        {"total", h.count()},
        {"saturated", h.saturated_count()},
    };
    if (!h.empty()) {
        j["min"] = h.min();
        j["max"] = h.max();
    }
    j["counts"] = std::move(counts);
    return j;
}

std::string to_json_string(const histogram& h) { return to_json(h).dump(); }

namespace {

// A JSON integer >= 0 (parsed ones are unsigned; ones built in code may be signed).
bool as_unsigned(const nlohmann::json& v, std::uint64_t& out) {
    if (v.is_number_unsigned()) {
        out = v.get<std::uint64_t>();
        return true;
    }
    if (v.is_number_integer() && v.get<std::int64_t>() >= 0) {
        out = static_cast<std::uint64_t>(v.get<std::int64_t>());
        return true;
    }
    return false;
}

// The unsigned field `key` of object j, or false.
bool get_unsigned(const nlohmann::json& j, const char* key, std::uint64_t& out) {
    auto it = j.find(key);
    return it != j.end() && as_unsigned(*it, out);
}

std::error_code parse_histogram(const nlohmann::json& j, histogram_settings& s, std::uint64_t& total,
                                std::uint64_t& saturated, std::uint64_t& min, std::uint64_t& max,
                                const nlohmann::json*& counts) {
    if (!j.is_object()) return errc::bad_format;
    auto f = j.find("format");
    if (f == j.end() || !f->is_string() || f->get_ref<const std::string&>() != format_tag) return errc::bad_format;
    std::uint64_t digits = 0;
    if (!get_unsigned(j, "lowest", s.lowest_discernible) || !get_unsigned(j, "highest", s.highest_trackable) ||
        !get_unsigned(j, "digits", digits) || !get_unsigned(j, "total", total) ||
        !get_unsigned(j, "saturated", saturated))
        return errc::bad_format;
    if (digits > 5) return errc::bad_settings;
    s.significant_digits = static_cast<int>(digits);
    if (total > 0) {
        if (!get_unsigned(j, "min", min) || !get_unsigned(j, "max", max)) return errc::bad_format;
    } else if (j.contains("min") || j.contains("max")) {
        return errc::inconsistent;
    }
    auto c = j.find("counts");
    if (c == j.end() || !c->is_array()) return errc::bad_format;
    counts = &*c;
    return {};
}

}  // namespace

std::error_code from_json(const nlohmann::json& j, histogram& out, std::size_t max_counts) noexcept {
    try {
        histogram_settings s;
        std::uint64_t total = 0, saturated = 0, min = 0, max = 0;
        const nlohmann::json* counts = nullptr;
        if (auto ec = parse_histogram(j, s, total, saturated, min, max, counts)) return ec;
        if (auto ec = validate(s)) return ec;
        if (counts_length(s) > max_counts) return errc::too_large;
        if (counts->size() > counts_length(s)) return errc::bad_index;

        histogram h(s);
        std::uint64_t sum = 0;
        std::size_t first = 0, last = 0;
        bool any = false;
        for (const auto& pair : *counts) {
            std::uint64_t index = 0, count = 0;
            if (!pair.is_array() || pair.size() != 2 || !as_unsigned(pair[0], index) || !as_unsigned(pair[1], count))
                return errc::bad_format;
            if (index >= h.counts_.size() || (any && index <= last)) return errc::bad_index;
            if (count == 0 || count > UINT64_MAX - sum) return errc::bad_count;
            h.counts_[index] = count;
            sum += count;
            if (!any) first = index;
            last = index;
            any = true;
        }
        if (sum != total) return errc::inconsistent;
        if (total > 0) {
            // min and max must be values of the first and last non-empty buckets, and saturated
            // samples all sit in the bucket of highest_trackable.
            if (min > max || max > s.highest_trackable || h.index_of(min) != first || h.index_of(max) != last)
                return errc::inconsistent;
            if (saturated > 0 && (max != s.highest_trackable || saturated > h.counts_[last]))
                return errc::inconsistent;
            h.min_ = min;
            h.max_ = max;
        } else if (saturated != 0) {
            return errc::inconsistent;
        }
        h.total_ = total;
        h.saturated_ = saturated;
        out = std::move(h);
        return {};
    } catch (...) {
        // nlohmann type errors or allocation failure: the input was not a histogram we can hold.
        return errc::bad_format;
    }
}

std::error_code from_json_string(std::string_view text, histogram& out, std::size_t max_counts) noexcept {
    try {
        const nlohmann::json j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
        if (j.is_discarded()) return errc::malformed_json;
        return from_json(j, out, max_counts);
    } catch (...) {
        return errc::malformed_json;
    }
}

}  // namespace mailharness::stats

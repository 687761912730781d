#include "mailharness/load/schedule.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <numbers>

namespace mailharness::load {

std::uint64_t rng::next() noexcept {
    std::uint64_t z = (state_ += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

double rng::uniform01() noexcept { return static_cast<double>(next() >> 11) * 0x1.0p-53; }

std::uint64_t rng::below(std::uint64_t n) noexcept {
    if (n == 0) return 0;
    // Lemire's multiply-shift; the bias (< n / 2^64) does not matter here.
    __extension__ using u128 = unsigned __int128;
    return static_cast<std::uint64_t>((static_cast<u128>(next()) * n) >> 64);
}

std::uint64_t rng::between(std::uint64_t lo, std::uint64_t hi) noexcept {
    if (hi <= lo) return lo;
    return lo + below(hi - lo + 1);
}

double rng::exponential(double mean) noexcept {
    // 1 - u is in (0, 1], so the log is finite.
    return -mean * std::log(1.0 - uniform01());
}

double rng::normal() noexcept {
    const double u1 = 1.0 - uniform01();
    const double u2 = uniform01();
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * std::numbers::pi * u2);
}

std::uint64_t stream_seed(std::uint64_t seed, std::uint64_t a, std::uint64_t b, std::uint64_t c) noexcept {
    std::uint64_t h = seed;
    for (std::uint64_t v : {a, b, c}) {
        rng r(h ^ (v * 0xd6e8feb86659fd93ull));
        h = r.next();
    }
    return h;
}

bool parse_shard(std::string_view text, shard_spec& out) noexcept {
    const auto slash = text.find('/');
    if (slash == std::string_view::npos) return false;
    std::uint32_t i = 0, n = 0;
    auto a = text.substr(0, slash), b = text.substr(slash + 1);
    auto ra = std::from_chars(a.data(), a.data() + a.size(), i);
    auto rb = std::from_chars(b.data(), b.data() + b.size(), n);
    if (a.empty() || b.empty() || ra.ec != std::errc() || ra.ptr != a.data() + a.size() || rb.ec != std::errc() ||
        rb.ptr != b.data() + b.size())
        return false;
    if (n == 0 || n > 100000 || i >= n) return false;
    out = {i, n};
    return true;
}

std::uint64_t share_of(std::uint64_t total, std::uint32_t i, std::uint32_t n) noexcept {
    if (n == 0 || i >= n) return 0;
    return total / n + (i < total % n ? 1 : 0);
}

double level_at(const executor& e, usec t) noexcept {
    if (t.count() < 0) return 0;
    double from = e.start;
    usec t0{0};
    for (const auto& s : e.stages) {
        if (t < t0 + s.duration) {
            const double f = static_cast<double>((t - t0).count()) / static_cast<double>(s.duration.count());
            return from + (s.target - from) * f;
        }
        t0 += s.duration;
        from = s.target;
    }
    return t == t0 ? from : 0;
}

std::uint32_t max_vus(const executor& e) noexcept {
    double m = e.start;
    for (const auto& s : e.stages) m = std::max(m, s.target);
    return static_cast<std::uint32_t>(std::ceil(m - 1e-9));
}

std::vector<interval> vu_intervals(const executor& e, std::uint32_t vu) {
    // Active while level >= vu + 1: within a linear stage that is a prefix, a suffix, all or none.
    const double need = static_cast<double>(vu) + 1.0;
    std::vector<interval> out;
    auto add = [&](usec a, usec b) {
        if (b <= a) return;
        if (!out.empty() && out.back().end == a) out.back().end = b;
        else out.push_back({a, b});
    };
    double from = e.start;
    usec t0{0};
    for (const auto& s : e.stages) {
        const double to = s.target;
        const double d = static_cast<double>(s.duration.count());
        const usec t1 = t0 + s.duration;
        if (from >= need && to >= need) {
            add(t0, t1);
        } else if (from < need && to >= need) {
            // rising: active from the crossing
            const auto cross = t0 + usec(static_cast<std::int64_t>(std::ceil(d * (need - from) / (to - from))));
            add(std::min(cross, t1), t1);
        } else if (from >= need && to < need) {
            // falling: active until the crossing
            const auto cross = t0 + usec(static_cast<std::int64_t>(std::floor(d * (from - need) / (from - to))));
            add(t0, std::min(cross, t1));
        }
        t0 = t1;
        from = to;
    }
    return out;
}

arrival_schedule::arrival_schedule(const executor& e, std::uint64_t seed) : process_(e.arrivals), rng_(seed) {
    double t = 0, from = e.start, cum = 0;
    for (const auto& s : e.stages) {
        const double d = static_cast<double>(s.duration.count()) / 1e6;
        segments_.push_back({t, d, from, s.target, cum});
        cum += (from + s.target) / 2 * d;
        t += d;
        from = s.target;
    }
    total_ = cum;
    x_ = process_ == arrival_process::poisson ? rng_.exponential(1.0) : 0.0;
}

double arrival_schedule::invert(double x) noexcept {
    while (seg_ < segments_.size()) {
        const auto& s = segments_[seg_];
        const double area = (s.r0 + s.r1) / 2 * s.duration;
        const double c = x - s.cum0;
        if (c < area && area > 0) {
            // Solve r0*tau + (r1 - r0) * tau^2 / (2 D) = c in the stable form of the quadratic
            // root: tau = 2c / (r0 + sqrt(r0^2 + 2 (r1 - r0) c / D)).
            const double a2 = (s.r1 - s.r0) / s.duration;
            const double disc = std::max(0.0, s.r0 * s.r0 + 2 * a2 * c);
            const double denom = s.r0 + std::sqrt(disc);
            const double tau = denom > 0 ? 2 * c / denom : 0;
            return s.t0 + std::min(tau, s.duration);
        }
        ++seg_;
    }
    return -1;
}

bool arrival_schedule::next(std::uint64_t& index, usec& due) {
    const double t = invert(x_);
    if (t < 0) return false;
    const auto us = static_cast<std::int64_t>(std::floor(t * 1e6));
    const auto& last = segments_.back();
    if (static_cast<double>(us) >= (last.t0 + last.duration) * 1e6) return false;
    index = index_++;
    due = usec(us);
    x_ += process_ == arrival_process::poisson ? rng_.exponential(1.0) : 1.0;
    return true;
}

std::vector<usec> arrivals_of(const executor& e, std::uint64_t seed, shard_spec shard) {
    std::vector<usec> out;
    arrival_schedule s(e, seed);
    std::uint64_t k = 0;
    usec t{};
    while (s.next(k, t))
        if (k % shard.count == shard.index) out.push_back(t);
    return out;
}

}  // namespace mailharness::load

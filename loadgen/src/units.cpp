#include "mailharness/load/units.hpp"

#include <charconv>
#include <cmath>
#include <cstdio>

namespace mailharness::load {

namespace {

// Reads an unsigned decimal number with an optional fraction ("12", "1.5", ".5" refused).
// from_chars for double is locale-independent, which strtod is not.
bool take_number(std::string_view& s, double& out) noexcept {
    std::size_t n = 0;
    while (n < s.size() && ((s[n] >= '0' && s[n] <= '9') || s[n] == '.')) ++n;
    if (n == 0 || s[0] == '.' || s[n - 1] == '.') return false;
    double v = 0;
    auto [p, ec] = std::from_chars(s.data(), s.data() + n, v);
    if (ec != std::errc() || p != s.data() + n || !std::isfinite(v) || v < 0) return false;
    out = v;
    s.remove_prefix(n);
    return true;
}

std::string_view trim(std::string_view s) noexcept {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
    return s;
}

}  // namespace

bool parse_duration(std::string_view text, usec& out) noexcept {
    text = trim(text);
    if (text.empty() || text.size() > max_quantity_length) return false;
    if (text == "0") {
        out = usec(0);
        return true;
    }
    double total = 0;
    while (!text.empty()) {
        double v = 0;
        if (!take_number(text, v)) return false;
        double scale = 0;
        if (text.starts_with("us")) scale = 1, text.remove_prefix(2);
        else if (text.starts_with("ms")) scale = 1e3, text.remove_prefix(2);
        else if (text.starts_with("s")) scale = 1e6, text.remove_prefix(1);
        else if (text.starts_with("m")) scale = 60e6, text.remove_prefix(1);
        else if (text.starts_with("h")) scale = 3600e6, text.remove_prefix(1);
        else return false;
        total += v * scale;
    }
    if (!(total <= 100.0 * 24 * 3600e6)) return false;
    out = usec(static_cast<std::int64_t>(std::llround(total)));
    return true;
}

bool parse_size(std::string_view text, std::uint64_t& out) noexcept {
    text = trim(text);
    if (text.empty() || text.size() > max_quantity_length) return false;
    double v = 0;
    std::string_view rest = text;
    if (!take_number(rest, v)) return false;
    rest = trim(rest);
    double scale = 0;
    if (rest.empty()) {
        if (std::floor(v) != v) return false;  // a bare number is a whole count of octets
        scale = 1;
    } else if (rest == "B") scale = 1;
    else if (rest == "KB") scale = 1e3;
    else if (rest == "KiB") scale = 1024;
    else if (rest == "MB") scale = 1e6;
    else if (rest == "MiB") scale = 1024.0 * 1024;
    else if (rest == "GB") scale = 1e9;
    else if (rest == "GiB") scale = 1024.0 * 1024 * 1024;
    else return false;
    const double total = std::round(v * scale);
    if (!(total <= 1099511627776.0)) return false;
    out = static_cast<std::uint64_t>(total);
    return true;
}

bool parse_rate(std::string_view text, double& out) noexcept {
    text = trim(text);
    if (text.empty() || text.size() > max_quantity_length) return false;
    double v = 0;
    std::string_view rest = text;
    if (!take_number(rest, v)) return false;
    rest = trim(rest);
    double per = 1;
    if (rest.empty() || rest == "/s") per = 1;
    else if (rest == "/m") per = 60;
    else if (rest == "/h") per = 3600;
    else return false;
    const double r = v / per;
    if (!(r <= 1e7)) return false;
    out = r;
    return true;
}

std::string format_micros(double us) {
    char buf[32];
    if (us < 1000) std::snprintf(buf, sizeof buf, "%.0fus", us);
    else if (us < 10'000) std::snprintf(buf, sizeof buf, "%.2fms", us / 1e3);
    else if (us < 1'000'000) std::snprintf(buf, sizeof buf, "%.1fms", us / 1e3);
    else if (us < 60'000'000) std::snprintf(buf, sizeof buf, "%.2fs", us / 1e6);
    else {
        const auto s = static_cast<long long>(us / 1e6);
        std::snprintf(buf, sizeof buf, "%lldm%02llds", s / 60, s % 60);
    }
    return buf;
}

std::string format_duration(usec d) { return format_micros(static_cast<double>(d.count())); }

std::string format_size(std::uint64_t octets) {
    char buf[32];
    if (octets < 1024) std::snprintf(buf, sizeof buf, "%lluB", static_cast<unsigned long long>(octets));
    else if (octets < 1024 * 1024) std::snprintf(buf, sizeof buf, "%.1fKiB", static_cast<double>(octets) / 1024);
    else std::snprintf(buf, sizeof buf, "%.1fMiB", static_cast<double>(octets) / (1024.0 * 1024));
    return buf;
}

}  // namespace mailharness::load

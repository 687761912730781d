#include "mailharness/load/threshold.hpp"

#include <charconv>
#include <cmath>
#include <cstdio>

namespace mailharness::load {

namespace {

bool is_name_char(char c) noexcept {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
           c == '-';
}

std::string_view next_word(std::string_view& s) noexcept {
    while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
    std::size_t n = 0;
    while (n < s.size() && s[n] != ' ') ++n;
    auto w = s.substr(0, n);
    s.remove_prefix(n);
    return w;
}

bool parse_number(std::string_view s, double& out) noexcept {
    if (s.empty() || s.front() == '-' || s.front() == '+') return false;
    double v = 0;
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc() || p != s.data() + s.size() || !std::isfinite(v) || v < 0) return false;
    out = v;
    return true;
}

constexpr std::string_view error_classes[] = {"refused", "timeout", "tls", "4xx", "5xx", "protocol", "network"};

bool valid_error_class(std::string_view c) noexcept {
    for (auto k : error_classes)
        if (c == k) return true;
    // a reply code
    return c.size() == 3 && c[0] >= '2' && c[0] <= '5' && c[1] >= '0' && c[1] <= '9' && c[2] >= '0' && c[2] <= '9';
}

}  // namespace

bool compare(double observed, compare_op op, double value) noexcept {
    switch (op) {
        case compare_op::lt: return observed < value;
        case compare_op::le: return observed <= value;
        case compare_op::gt: return observed > value;
        case compare_op::ge: return observed >= value;
        case compare_op::eq: return observed == value;
        case compare_op::ne: return observed != value;
    }
    return false;
}

const char* to_string(compare_op op) noexcept {
    switch (op) {
        case compare_op::lt: return "<";
        case compare_op::le: return "<=";
        case compare_op::gt: return ">";
        case compare_op::ge: return ">=";
        case compare_op::eq: return "==";
        case compare_op::ne: return "!=";
    }
    return "?";
}

std::string stat_name(const threshold& t) {
    switch (t.stat) {
        case threshold_stat::percentile: {
            char buf[32];
            std::snprintf(buf, sizeof buf, "p%g", t.percentile);
            return buf;
        }
        case threshold_stat::avg: return "avg";
        case threshold_stat::min: return "min";
        case threshold_stat::max: return "max";
        case threshold_stat::count: return "count";
        case threshold_stat::rate: return "rate";
    }
    return "?";
}

std::string format_threshold_value(const threshold& t, double v) {
    char buf[48];
    if (t.stat == threshold_stat::count) {
        std::snprintf(buf, sizeof buf, "%.0f", v);
    } else if (t.stat == threshold_stat::rate) {
        if (t.family == metric_family::errors) std::snprintf(buf, sizeof buf, "%.4g%%", v * 100);
        else std::snprintf(buf, sizeof buf, "%.1f/s", v);
    } else {
        return format_micros(v);
    }
    return buf;
}

bool parse_threshold(std::string_view text, threshold& out, std::string& error) {
    if (text.size() > max_threshold_length) {
        error = "threshold longer than " + std::to_string(max_threshold_length) + " characters";
        return false;
    }
    for (char c : text) {
        if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) > 0x7e) {
            error = "threshold contains a control or non-ASCII character";
            return false;
        }
    }
    threshold t;
    t.expression = std::string(text);
    std::string_view rest = text;

    // metric[{workload}]
    std::string_view m = next_word(rest);
    if (m.empty()) {
        error = "empty threshold; expected e.g. 'smtp.data p99 < 200ms'";
        return false;
    }
    if (auto brace = m.find('{'); brace != std::string_view::npos) {
        if (m.back() != '}' || m.size() - brace < 3) {
            error = "bad workload selector in '" + std::string(m) + "'; expected metric{workload}";
            return false;
        }
        t.workload = std::string(m.substr(brace + 1, m.size() - brace - 2));
        m = m.substr(0, brace);
        for (char c : t.workload) {
            if (!is_name_char(c)) {
                error = "bad workload name '" + t.workload + "'";
                return false;
            }
        }
    }
    if (m.empty()) {
        error = "missing metric name";
        return false;
    }
    for (char c : m) {
        if (!is_name_char(c)) {
            error = "bad metric name '" + std::string(m) + "'";
            return false;
        }
    }
    t.metric = std::string(m);
    if (m == "errors") {
        t.family = metric_family::errors;
    } else if (m.starts_with("errors.")) {
        t.family = metric_family::errors;
        if (!valid_error_class(m.substr(7))) {
            error = "unknown error class '" + std::string(m.substr(7)) +
                    "'; one of refused timeout tls 4xx 5xx protocol network, or a reply code";
            return false;
        }
    } else if (m == "iterations" || m == "messages" || m == "dropped_iterations") {
        t.family = metric_family::counter;
    } else {
        t.family = metric_family::latency;
    }

    // statistic
    std::string_view s = next_word(rest);
    if (s.empty()) {
        error = "missing statistic after '" + t.metric + "' (p99, avg, min, max, count, rate)";
        return false;
    }
    if (s.size() > 1 && s[0] == 'p') {
        double p = 0;
        if (!parse_number(s.substr(1), p) || p > 100) {
            error = "bad percentile '" + std::string(s) + "'; expected p0 .. p100, e.g. p99.9";
            return false;
        }
        t.stat = threshold_stat::percentile;
        t.percentile = p;
    } else if (s == "avg" || s == "mean") t.stat = threshold_stat::avg;
    else if (s == "min") t.stat = threshold_stat::min;
    else if (s == "max") t.stat = threshold_stat::max;
    else if (s == "count") t.stat = threshold_stat::count;
    else if (s == "rate") t.stat = threshold_stat::rate;
    else {
        error = "unknown statistic '" + std::string(s) + "' (p99, avg, min, max, count, rate)";
        return false;
    }
    if (t.family != metric_family::latency && t.stat != threshold_stat::count && t.stat != threshold_stat::rate) {
        error = "'" + t.metric + "' has only the statistics count and rate";
        return false;
    }

    // operator
    std::string_view o = next_word(rest);
    if (o == "<") t.op = compare_op::lt;
    else if (o == "<=") t.op = compare_op::le;
    else if (o == ">") t.op = compare_op::gt;
    else if (o == ">=") t.op = compare_op::ge;
    else if (o == "==") t.op = compare_op::eq;
    else if (o == "!=") t.op = compare_op::ne;
    else {
        error = "expected a comparison (< <= > >= == !=) instead of '" + std::string(o) + "'";
        return false;
    }

    // value
    std::string_view v = next_word(rest);
    if (v.empty()) {
        error = "missing value after '" + std::string(o) + "'";
        return false;
    }
    if (!next_word(rest).empty()) {
        error = "unexpected text after the value";
        return false;
    }
    if (t.stat == threshold_stat::count) {
        double n = 0;
        if (!parse_number(v, n) || std::floor(n) != n) {
            error = "count needs a whole number, not '" + std::string(v) + "'";
            return false;
        }
        t.value = n;
    } else if (t.stat == threshold_stat::rate && t.family == metric_family::errors) {
        double f = 0;
        if (v.back() == '%') {
            if (!parse_number(v.substr(0, v.size() - 1), f) || f > 100) {
                error = "bad percentage '" + std::string(v) + "'";
                return false;
            }
            f /= 100;
        } else if (!parse_number(v, f) || f > 1) {
            error = "errors rate needs a percentage ('0.1%') or a fraction (0.001), not '" + std::string(v) + "'";
            return false;
        }
        t.value = f;
    } else if (t.stat == threshold_stat::rate) {
        double r = 0;
        if (!parse_rate(v, r)) {
            error = "rate needs events per second ('100/s'), not '" + std::string(v) + "'";
            return false;
        }
        t.value = r;
    } else {
        usec d{};
        if (!parse_duration(v, d)) {
            error = "latency needs a duration with a unit ('200ms', '1.5s'), not '" + std::string(v) + "'";
            return false;
        }
        t.value = static_cast<double>(d.count());
    }
    t.abort_on_fail = out.abort_on_fail;
    t.abort_delay = out.abort_delay;
    out = std::move(t);
    return true;
}

}  // namespace mailharness::load

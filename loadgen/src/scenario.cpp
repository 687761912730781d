#include "mailharness/load/scenario.hpp"

#include <algorithm>
#include <cmath>

namespace mailharness::load {

namespace {

// Replaces each "%d" in `pattern` with `n` ("%%" is a literal '%').
void format_pattern(const std::string& pattern, std::uint64_t n, std::string& out) {
    out.clear();
    char digits[24];
    int nd = 0;
    for (std::uint64_t v = n;; v /= 10) {
        digits[nd++] = static_cast<char>('0' + v % 10);
        if (v < 10) break;
    }
    for (std::size_t i = 0; i < pattern.size(); ++i) {
        if (pattern[i] == '%' && i + 1 < pattern.size()) {
            if (pattern[i + 1] == 'd') {
                for (int k = nd - 1; k >= 0; --k) out.push_back(digits[k]);
                ++i;
                continue;
            }
            if (pattern[i + 1] == '%') {
                out.push_back('%');
                ++i;
                continue;
            }
        }
        out.push_back(pattern[i]);
    }
}

}  // namespace

const char* to_string(protocol p) noexcept {
    switch (p) {
        case protocol::smtp: return "smtp";
        case protocol::pop3: return "pop3";
        case protocol::imap: return "imap";
    }
    return "?";
}

const char* to_string(tls_mode m) noexcept {
    switch (m) {
        case tls_mode::none: return "none";
        case tls_mode::starttls: return "starttls";
        case tls_mode::implicit: return "implicit";
    }
    return "?";
}

bool user_pool::has_passwords() const noexcept {
    if (!pattern.empty()) return !password.empty();
    return !users.empty() && std::all_of(users.begin(), users.end(), [](const user& u) { return !u.password.empty(); });
}

void user_pool::address(std::uint64_t i, std::string& out) const {
    if (pattern.empty()) {
        out.assign(users[i].address);
        return;
    }
    format_pattern(pattern, start + i, out);
}

void user_pool::password_of(std::uint64_t i, std::string& out) const {
    if (pattern.empty()) {
        out.assign(users[i].password);
        return;
    }
    format_pattern(password, start + i, out);
}

usec executor::duration() const noexcept {
    usec d{0};
    for (const auto& s : stages) d += s.duration;
    return d;
}

const target* scenario::find_target(std::string_view n) const noexcept {
    for (const auto& t : targets)
        if (t.name == n) return &t;
    return nullptr;
}

const user_pool* scenario::find_pool(std::string_view n) const noexcept {
    for (const auto& p : pools)
        if (p.name == n) return &p;
    return nullptr;
}

const message_spec* scenario::find_message(std::string_view n) const noexcept {
    for (const auto& m : messages)
        if (m.name == n) return &m;
    return nullptr;
}

std::vector<threshold> scenario::all_thresholds() const {
    std::vector<threshold> all = thresholds;
    for (const auto& w : workloads) {
        for (auto t : w.thresholds) {
            t.workload = w.name;
            all.push_back(std::move(t));
        }
    }
    return all;
}

usec scenario::planned_duration() const noexcept {
    usec d{0};
    for (const auto& w : workloads) d = std::max(d, w.exec.start_after + w.exec.duration());
    return d;
}

void scale_duration(scenario& s, usec d) {
    const usec total = s.planned_duration();
    if (total.count() <= 0) return;
    const double f = static_cast<double>(d.count()) / static_cast<double>(total.count());
    for (auto& w : s.workloads) {
        w.exec.start_after = usec(std::llround(static_cast<double>(w.exec.start_after.count()) * f));
        for (auto& st : w.exec.stages) st.duration = usec(std::llround(static_cast<double>(st.duration.count()) * f));
    }
}

}  // namespace mailharness::load

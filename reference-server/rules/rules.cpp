#include "mailharness/refmaild/rules.hpp"

#include <re2/re2.h>

namespace mailharness::refmaild::rules {

namespace {

char lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

bool holds(const condition& c, const message_facts& f) {
    using k = condition::kind;
    switch (c.type) {
        case k::always: return true;
        case k::all:
            for (const auto& ch : c.children) {
                if (!holds(ch, f)) return false;
            }
            return true;
        case k::any:
            for (const auto& ch : c.children) {
                if (holds(ch, f)) return true;
            }
            return false;
        case k::negate: return c.children.empty() || !holds(c.children.front(), f);
        case k::client_ip:
            for (const auto& n : c.networks) {
                if (n.contains(f.client_ip)) return true;
            }
            return false;
        case k::authenticated: return f.auth_user.empty() != c.flag;
        case k::auth_user: return !f.auth_user.empty() && wildcard_match(c.pattern, f.auth_user);
        case k::sender: return wildcard_match(c.pattern, f.sender);
        case k::recipient:
            if (f.recipients) {
                for (const auto& r : *f.recipients) {
                    if (wildcard_match(c.pattern, r)) return true;
                }
            }
            return false;
        case k::header:
            if (f.headers) {
                for (const auto& h : *f.headers) {
                    if (h.name.size() != c.header_name.size()) continue;
                    bool same = true;
                    for (std::size_t i = 0; same && i < h.name.size(); ++i) same = lower(h.name[i]) == lower(c.header_name[i]);
                    if (!same) continue;
                    if (!c.regex || RE2::PartialMatch(mail::unfold(h.value), *c.regex)) return true;
                }
            }
            return false;
        case k::size_over: return f.size > c.size;
        case k::size_under: return f.size < c.size;
        case k::tls: return f.tls == c.flag;
    }
    return false;
}

// Runs `rules` in order; false when evaluation must end (reject, discard or stop).
bool run(const std::vector<rule>& rules, const message_facts& f, decision& d, std::size_t& counter) {
    for (const auto& r : rules) {
        ++counter;
        if (!holds(r.when, f)) continue;
        d.matched.push_back(r.name.empty() ? "rule " + std::to_string(counter) : r.name);
        for (const auto& a : r.actions) {
            switch (a.type) {
                case action::kind::reject:
                    d.outcome = decision::verdict::reject;
                    d.code = a.code;
                    d.status = a.status;
                    d.text = a.text;
                    return false;
                case action::kind::discard: d.outcome = decision::verdict::discard; return false;
                case action::kind::file_into: d.folder = a.name; break;
                case action::kind::add_header: d.added_headers.push_back(a.name + ": " + a.text); break;
                case action::kind::stop: return false;
            }
        }
        if (!run(r.rules, f, d, counter)) return false;
    }
    return true;
}

}  // namespace

decision evaluate(const rule_set& rules, const message_facts& facts) {
    decision d;
    std::size_t counter = 0;
    run(rules.rules, facts, d, counter);
    return d;
}

bool parse_reject(std::string_view text, action& out) {
    if (text.size() < 3) return false;
    int code = 0;
    for (int i = 0; i < 3; ++i) {
        if (text[i] < '0' || text[i] > '9') return false;
        code = code * 10 + (text[i] - '0');
    }
    if (code < 400 || code > 599 || code % 100 > 59) return false;
    std::string_view rest = text.substr(3);
    if (!rest.empty() && rest.front() != ' ') return false;
    if (!rest.empty()) rest.remove_prefix(1);
    smtp::enhanced_status st;
    std::size_t n = smtp::parse_enhanced_status(rest, st, code / 100);
    rest.remove_prefix(n);
    for (char c : rest) {
        if (c < 0x20 || c > 0x7e) return false;
    }
    out.type = action::kind::reject;
    out.code = code;
    out.status = st.present ? st : smtp::es(static_cast<std::uint8_t>(code / 100), 7, 1);
    out.text = rest.empty() ? std::string("Refused by policy") : std::string(rest);
    return true;
}

std::shared_ptr<const re2::RE2> compile_regex(const std::string& pattern, std::string& error) {
    RE2::Options opt;
    opt.set_log_errors(false);
    opt.set_max_mem(8 << 20);  // bounds the compiled program: a pattern cannot eat memory either
    auto re = std::make_shared<const RE2>(pattern, opt);
    if (!re->ok()) {
        error = re->error();
        return nullptr;
    }
    return re;
}

bool valid_folder(std::string_view s) noexcept {
    if (s.empty() || s.size() > 200 || s.front() == '.' || s.back() == '.' || s.find("..") != std::string_view::npos) {
        return false;
    }
    for (char c : s) {
        if (c < 0x20 || c > 0x7e || c == '/' || c == '\\') return false;
    }
    return true;
}

bool wildcard_match(std::string_view pattern, std::string_view text) noexcept {
    // Iterative glob with one backtracking point (the last '*'): O(pattern * text) at worst.
    std::size_t p = 0, t = 0, star = std::string_view::npos, mark = 0;
    while (t < text.size()) {
        if (p < pattern.size() && (pattern[p] == '?' || pattern[p] == lower(text[t]))) {
            ++p;
            ++t;
        } else if (p < pattern.size() && pattern[p] == '*') {
            star = p++;
            mark = t;
        } else if (star != std::string_view::npos) {
            p = star + 1;
            t = ++mark;
        } else {
            return false;
        }
    }
    while (p < pattern.size() && pattern[p] == '*') ++p;
    return p == pattern.size();
}

}  // namespace mailharness::refmaild::rules

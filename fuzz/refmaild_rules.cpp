// Fuzz target: the text parsers of refmaild's processing rules (reference-server/rules).
// wildcard_match (operator pattern, attacker text: envelope addresses) must agree with a plain
// dynamic-programming matcher and ignore the case of the text; parse_reject must accept only a
// 4xx/5xx reply it can format and parse back to the same action.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "mailharness/refmaild/rules.hpp"
#include "mailharness/smtp/reply.hpp"

namespace rules = mailharness::refmaild::rules;

namespace {

char lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }
char upper(char c) { return (c >= 'a' && c <= 'z') ? static_cast<char>(c - 'a' + 'A') : c; }

// Reference glob: m[j] = pattern[0, i) matches text[0, j).
bool reference_match(std::string_view pattern, std::string_view text) {
    std::vector<char> m(text.size() + 1, 0), next(text.size() + 1);
    m[0] = 1;
    for (char p : pattern) {
        next.assign(text.size() + 1, 0);
        for (std::size_t j = 0; j <= text.size(); ++j) {
            if (p == '*') {
                next[j] = m[j] || (j > 0 && next[j - 1]);
            } else if (j > 0) {
                next[j] = m[j - 1] && (p == '?' || p == lower(text[j - 1]));
            }
        }
        m.swap(next);
    }
    return m[text.size()] != 0;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view in(reinterpret_cast<const char*>(data), size);

    // "pattern\ntext": the loader lower-cases patterns, so this does too.
    const auto nl = in.find('\n');
    std::string pattern(in.substr(0, nl));
    for (char& c : pattern) c = lower(c);
    const std::string_view text = nl == std::string_view::npos ? std::string_view{} : in.substr(nl + 1);
    const bool got = rules::wildcard_match(pattern, text);
    if (pattern.size() <= 256 && text.size() <= 256 && got != reference_match(pattern, text)) __builtin_trap();
    std::string shouted(text);
    for (char& c : shouted) c = upper(c);
    if (rules::wildcard_match(pattern, shouted) != got) __builtin_trap();
    if (!rules::wildcard_match("*", text) || rules::wildcard_match(pattern, text) != got) __builtin_trap();

    // The whole input as a reject action's reply.
    rules::action a;
    if (!rules::parse_reject(in, a)) return 0;
    if (a.type != rules::action::kind::reject || a.code < 400 || a.code > 599 || a.code % 100 > 59) __builtin_trap();
    if (!a.status.present || a.status.cls != a.code / 100 || a.text.empty()) __builtin_trap();
    for (char c : a.text) {
        if (c < 0x20 || c > 0x7e) __builtin_trap();
    }
    std::string line = mailharness::smtp::format_reply(a.code, a.status, a.text);
    if (!line.ends_with("\r\n")) __builtin_trap();
    line.resize(line.size() - 2);
    rules::action b;
    if (!rules::parse_reject(line, b) || b.code != a.code || !(b.status == a.status) || b.text != a.text) __builtin_trap();
    return 0;
}

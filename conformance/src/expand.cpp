#include "mailharness/conform/expand.hpp"

#include <charconv>
#include <stdexcept>

namespace mailharness::conform {

namespace {

long long to_integer(std::string_view s, std::string_view what) {
    long long v = 0;
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc() || p != s.data() + s.size() || s.empty()) {
        throw std::invalid_argument(std::string(what) + ": '" + std::string(s) + "' is not an integer");
    }
    return v;
}

std::invalid_argument too_long() {
    return std::invalid_argument("the expanded text would be over " + std::to_string(max_expanded_size >> 20) + " MiB");
}

}  // namespace

std::string expand(std::string_view text, const variables& vars) {
    std::string out;
    out.reserve(text.size());
    for (std::size_t i = 0; i < text.size(); ++i) {
        const char c = text[i];
        if (c != '$' || i + 1 == text.size()) {
            out += c;
            continue;
        }
        if (text[i + 1] == '$') {
            out += '$';
            ++i;
            continue;
        }
        if (text[i + 1] != '{') {
            out += c;
            continue;
        }
        const auto end = text.find('}', i + 2);
        if (end == std::string_view::npos) throw std::invalid_argument("unterminated ${ in \"" + std::string(text) + "\"");
        const std::string_view body = text.substr(i + 2, end - i - 2);
        i = end;
        if (body.starts_with("repeat:")) {
            const auto rest = body.substr(7);
            const auto colon = rest.find(':');
            if (colon == std::string_view::npos) throw std::invalid_argument("${repeat:N:text} needs a count and a text");
            const long long n = to_integer(rest.substr(0, colon), "repeat count");
            if (n < 0 || n > 1000000) throw std::invalid_argument("repeat count must be 0..1000000");
            const auto unit = rest.substr(colon + 1);
            // n <= 10^6, so the product cannot overflow: check before building anything.
            if (out.size() + static_cast<std::size_t>(n) * unit.size() > max_expanded_size) throw too_long();
            for (long long k = 0; k < n; ++k) out += unit;
            continue;
        }
        const auto plus = body.find('+');
        const std::string name(body.substr(0, plus));
        const auto it = vars.find(name);
        if (it == vars.end()) throw std::invalid_argument("unknown variable ${" + name + "}");
        if (plus == std::string_view::npos) {
            out += it->second;
        } else {
            const long long base = to_integer(it->second, "${" + name + "}");
            const long long add = to_integer(body.substr(plus + 1), "${" + std::string(body) + "}");
            long long sum = 0;
            if (__builtin_add_overflow(base, add, &sum)) {
                throw std::invalid_argument("${" + std::string(body) + "}: the sum is out of range");
            }
            out += std::to_string(sum);
        }
        if (out.size() > max_expanded_size) throw too_long();
    }
    if (out.size() > max_expanded_size) throw too_long();
    return out;
}

}  // namespace mailharness::conform

// Small text checks shared by the mechanisms (not part of the public API).
#pragma once

#include <cstddef>
#include <string_view>

namespace mailharness::sasl::detail {

/// True when `s` is well-formed UTF-8 (RFC 3629): no overlong forms, no surrogates, nothing
/// above U+10FFFF. NUL is allowed here; callers that forbid it check separately.
inline bool valid_utf8(std::string_view s) noexcept {
    std::size_t i = 0;
    while (i < s.size()) {
        unsigned char c = static_cast<unsigned char>(s[i]);
        if (c < 0x80) {
            ++i;
            continue;
        }
        std::size_t n;
        unsigned char lo = 0x80, hi = 0xbf;  // allowed range of the second octet
        if (c >= 0xc2 && c <= 0xdf) {
            n = 1;
        } else if (c >= 0xe0 && c <= 0xef) {
            n = 2;
            if (c == 0xe0) lo = 0xa0;        // overlong
            else if (c == 0xed) hi = 0x9f;   // surrogates
        } else if (c >= 0xf0 && c <= 0xf4) {
            n = 3;
            if (c == 0xf0) lo = 0x90;        // overlong
            else if (c == 0xf4) hi = 0x8f;   // above U+10FFFF
        } else {
            return false;
        }
        if (s.size() - i <= n) return false;
        for (std::size_t k = 1; k <= n; ++k) {
            unsigned char cc = static_cast<unsigned char>(s[i + k]);
            if (k == 1 ? (cc < lo || cc > hi) : (cc < 0x80 || cc > 0xbf)) return false;
        }
        i += n + 1;
    }
    return true;
}

/// ASCII upper-case copy comparison: true when `a` equals `upper` ignoring ASCII case.
/// `upper` must already be upper case.
inline bool iequals_upper(std::string_view a, std::string_view upper) noexcept {
    if (a.size() != upper.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i) {
        char c = a[i];
        if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
        if (c != upper[i]) return false;
    }
    return true;
}

}  // namespace mailharness::sasl::detail

// Character classes of the IMAP grammar (RFC 3501 section 9). Private to core/imap.
#pragma once

#include <cstdint>
#include <string_view>

#include "mailharness/detail/ascii.hpp"

namespace mailharness::imap::detail {

using mailharness::detail::iequals;
using mailharness::detail::is_digit;
using mailharness::detail::to_upper;

constexpr bool is_ctl(char c) noexcept { return static_cast<unsigned char>(c) < 0x20 || c == 0x7f; }
constexpr bool is_8bit(char c) noexcept { return static_cast<unsigned char>(c) >= 0x80; }

/// ATOM-CHAR: CHAR except atom-specials "(" ")" "{" SP CTL "%" "*" DQUOTE "\" "]".
constexpr bool is_atom_char(char c) noexcept {
    if (is_ctl(c) || is_8bit(c)) return false;
    switch (c) {
        case '(': case ')': case '{': case ' ': case '%': case '*': case '"': case '\\': case ']':
            return false;
        default:
            return true;
    }
}
/// ASTRING-CHAR: ATOM-CHAR / "]".
constexpr bool is_astring_char(char c) noexcept { return is_atom_char(c) || c == ']'; }
/// list-char: ATOM-CHAR / "%" / "*" / "]".
constexpr bool is_list_char(char c) noexcept { return is_atom_char(c) || c == '%' || c == '*' || c == ']'; }
/// Tag characters: ASTRING-CHAR except "+".
constexpr bool is_tag_char(char c) noexcept { return is_astring_char(c) && c != '+'; }

inline bool all_of(std::string_view s, bool (*pred)(char) noexcept) noexcept {
    for (char c : s)
        if (!pred(c)) return false;
    return !s.empty();
}

/// Decimal number without sign; false on empty, non-digit, leading garbage or overflow of `max`.
inline bool parse_u64(std::string_view s, std::uint64_t& out, std::uint64_t max = UINT64_MAX) noexcept {
    if (s.empty() || s.size() > 20) return false;
    std::uint64_t v = 0;
    for (char c : s) {
        if (!is_digit(c)) return false;
        std::uint64_t d = static_cast<std::uint64_t>(c - '0');
        if (v > (max - d) / 10) return false;
        v = v * 10 + d;
    }
    out = v;
    return true;
}

inline bool parse_u32(std::string_view s, std::uint32_t& out) noexcept {
    std::uint64_t v = 0;
    if (!parse_u64(s, v, UINT32_MAX)) return false;
    out = static_cast<std::uint32_t>(v);
    return true;
}

}  // namespace mailharness::imap::detail

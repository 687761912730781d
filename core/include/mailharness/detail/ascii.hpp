// ASCII helpers shared by the protocol codecs (locale-free, unlike <cctype>). Private to core.
#pragma once

#include <cstddef>
#include <string_view>

namespace mailharness::detail {

constexpr char to_upper(char c) noexcept { return (c >= 'a' && c <= 'z') ? static_cast<char>(c - 'a' + 'A') : c; }
constexpr bool is_digit(char c) noexcept { return c >= '0' && c <= '9'; }
constexpr bool is_alpha(char c) noexcept { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
constexpr bool is_hex(char c) noexcept { return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }
/// Printable ASCII without space: RFC 5234 VCHAR.
constexpr bool is_vchar(char c) noexcept { return c >= 0x21 && c <= 0x7e; }
/// Control characters: C0 and DEL.
constexpr bool is_ctl(char c) noexcept {
    return (static_cast<unsigned char>(c) < 0x20) || c == 0x7f;
}
constexpr bool is_8bit(char c) noexcept { return static_cast<unsigned char>(c) >= 0x80; }

constexpr bool iequals(std::string_view a, std::string_view b) noexcept {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i) {
        if (to_upper(a[i]) != to_upper(b[i])) return false;
    }
    return true;
}

/// CR, LF or NUL: octets that would break CRLF framing if written inside a line.
constexpr bool breaks_line(char c) noexcept { return c == '\r' || c == '\n' || c == '\0'; }

}  // namespace mailharness::detail

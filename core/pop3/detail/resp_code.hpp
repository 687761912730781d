// Private: RFC 2449 section 8 response-code syntax, shared by the parser and the serializer.
#pragma once

#include <string_view>

namespace mailharness::pop3::detail {

/// resp-code body (without brackets): resp-level *("/" resp-level), resp-level = 1*rchar,
/// rchar = printable ASCII except "/" and "]".
constexpr bool valid_resp_code(std::string_view code) noexcept {
    if (code.empty()) return false;
    bool level_empty = true;
    for (char c : code) {
        if (c == '/') {
            if (level_empty) return false;
            level_empty = true;
        } else if (c >= 0x21 && c <= 0x7e && c != ']') {
            level_empty = false;
        } else {
            return false;
        }
    }
    return !level_empty;
}

}  // namespace mailharness::pop3::detail

// Test helper: a short, printable rendering of protocol bytes for test names and messages
// (ctest names carry the parameter text, so control octets and huge strings must not leak there).
#pragma once

#include <cstdio>
#include <string>
#include <string_view>

namespace mailharness::test {

inline std::string printable(std::string_view s, std::size_t max) {
    std::string out;
    for (std::size_t i = 0; i < s.size() && i < max; ++i) {
        unsigned char c = static_cast<unsigned char>(s[i]);
        if (c == '\r') {
            out += "\\r";
        } else if (c == '\n') {
            out += "\\n";
        } else if (c < 0x20 || c >= 0x7f) {
            char buf[8];
            std::snprintf(buf, sizeof buf, "\\x%02X", c);
            out += buf;
        } else {
            out += static_cast<char>(c);
        }
    }
    if (s.size() > max) out += "...(" + std::to_string(s.size()) + " octets)";
    return out;
}

}  // namespace mailharness::test

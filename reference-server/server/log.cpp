#include "log.hpp"

#include <cstdio>

namespace mailharness::refmaild {

void logger::log(config::log_level level, const std::string& line) const {
    if (!enabled(level)) return;
    static const char* names[] = {"trace", "debug", "info", "warn", "error"};
    std::lock_guard lock(mutex_);
    std::fprintf(stderr, "refmaild: %s %s\n", names[static_cast<int>(level)], line.c_str());
}

std::string log_quote(std::string_view text) {
    std::string out = "\"";
    for (unsigned char c : text.substr(0, 512)) {
        if (c == '"' || c == '\\') {
            out += '\\';
            out += static_cast<char>(c);
        } else if (c < 0x20 || c == 0x7f) {
            char buf[8];
            std::snprintf(buf, sizeof buf, "\\x%02x", c);
            out += buf;
        } else {
            out += static_cast<char>(c);
        }
    }
    if (text.size() > 512) out += "...";
    out += '"';
    return out;
}

}  // namespace mailharness::refmaild

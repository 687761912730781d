#include "mailharness/reports/markdown.hpp"

namespace mailharness::reports {

std::string md_escape(std::string_view s) {
    std::string o;
    o.reserve(s.size());
    for (char c : s) {
        switch (c) {
            case '\\': case '`': case '*': case '_': case '[': case ']': case '|': case '#':
                o += '\\';
                o += c;
                break;
            case '<': o += "&lt;"; break;
            case '>': o += "&gt;"; break;
            case '&': o += "&amp;"; break;
            case '\n': case '\r': case '\t': o += ' '; break;
            default: o += static_cast<unsigned char>(c) < 0x20 ? '?' : c;
        }
    }
    return o;
}

std::string md_code(std::string_view s) {
    std::string o;
    for (char c : s) {
        if (c == '`') o += '\'';
        else if (c == '|') o += "\\|";
        else if (c == '\n' || c == '\r' || c == '\t') o += ' ';
        else o += static_cast<unsigned char>(c) < 0x20 ? '?' : c;
    }
    return o;
}

}  // namespace mailharness::reports

// Fuzz target: SMTP reply parser; parsed replies must serialize and parse back identically.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "mailharness/smtp/reply.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace mailharness::smtp;
    std::string_view in(reinterpret_cast<const char*>(data), size);
    reply_parser p({.max_line_length = 256, .max_lines = 16});
    while (!in.empty()) {
        std::error_code ec;
        std::size_t n = p.put(in, ec);
        if (n > in.size()) __builtin_trap();
        in.remove_prefix(n);
        if (ec) return 0;
        if (!p.done()) continue;
        reply r = p.release();
        if (r.code < 200 || r.code > 599 || r.lines.empty()) __builtin_trap();
        bool has_newline = false;
        for (auto& l : r.lines) has_newline |= l.find_first_of("\r\n") != std::string::npos;
        if (has_newline) continue;  // bare CR inside a line is not representable by serialize()
        std::string wire = serialize(r);
        reply_parser q;
        q.put(wire, ec);
        if (ec || !q.done() || q.get().code != r.code) __builtin_trap();
    }
    return 0;
}

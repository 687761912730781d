// Fuzz target: POP3 command lines framed by line_framer and parsed; every accepted command must
// re-serialize and parse back to the same command. First byte: chunk size and limit flags.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "mailharness/line_framer.hpp"
#include "mailharness/pop3/command.hpp"

namespace pop3 = mailharness::pop3;

namespace {

bool inside(std::string_view part, std::string_view whole) {
    return part.data() >= whole.data() && part.data() + part.size() <= whole.data() + whole.size();
}

void check_line(std::string_view line, const pop3::command_limits& limits) {
    pop3::command c;
    std::error_code ec = pop3::parse_command(line, c, limits);
    if (ec) {
        if (ec.category() != pop3::pop3_category()) __builtin_trap();
        return;
    }
    if (c.verb == pop3::verb::unknown || c.arg_count > pop3::command::max_args) __builtin_trap();
    if (!inside(c.keyword, line)) __builtin_trap();
    for (auto a : c.arguments()) {
        if (a.empty() || !inside(a, line)) __builtin_trap();
    }
    if (c.message > limits.max_number || c.lines > limits.max_number) __builtin_trap();
    if (c.verb == pop3::verb::retr && c.message == 0) __builtin_trap();

    std::string out;
    if (pop3::write_command(out, c)) __builtin_trap();
    if (out.size() < 2 || !out.ends_with("\r\n") || out.size() - 2 > line.size()) __builtin_trap();
    std::string_view again_line(out.data(), out.size() - 2);
    if (again_line.find_first_of("\r\n") != std::string_view::npos) __builtin_trap();
    pop3::command again;
    if (pop3::parse_command(again_line, again, limits)) __builtin_trap();
    if (again.verb != c.verb || again.message != c.message || again.lines != c.lines) __builtin_trap();
    if (!std::equal(c.arguments().begin(), c.arguments().end(), again.arguments().begin(),
                    again.arguments().end())) {
        __builtin_trap();
    }
    if (pop3::expects_multiline(c) != pop3::expects_multiline(again)) __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0) return 0;
    std::size_t chunk = 1 + data[0] % 17;
    pop3::command_limits limits;
    limits.allow_8bit = (data[0] & 0x20) == 0;
    limits.allow_trailing_space = (data[0] & 0x40) == 0;
    if (data[0] & 0x80) limits.max_number = 1000;
    std::string_view in(reinterpret_cast<const char*>(data) + 1, size - 1);

    mailharness::line_framer framer(pop3::command_line_limits(limits));
    while (!in.empty()) {
        std::string_view piece = in.substr(0, chunk);
        in.remove_prefix(piece.size());
        while (!piece.empty()) {
            std::error_code ec;
            std::size_t n = framer.put(piece, ec);
            if (n == 0 || n > piece.size()) __builtin_trap();
            piece.remove_prefix(n);
            if (framer.has_line()) check_line(framer.line(), limits);
        }
    }
    return 0;
}

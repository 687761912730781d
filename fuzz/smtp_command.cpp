// Fuzz target: SMTP command lines through the line framer and the command parser.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "mailharness/line_framer.hpp"
#include "mailharness/smtp/command.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace mailharness;
    std::string_view in(reinterpret_cast<const char*>(data), size);
    line_framer framer({.max_line_length = 510});
    smtp::command cmd;
    while (!in.empty()) {
        std::error_code ec;
        in.remove_prefix(framer.put(in, ec));
        if (!framer.has_line()) continue;
        std::string_view line = framer.line();
        if (!smtp::parse_command(line, cmd)) {
            // Every view must point inside the line.
            auto inside = [&](std::string_view v) {
                return v.empty() || (v.data() >= line.data() && v.data() + v.size() <= line.data() + line.size());
            };
            if (!inside(cmd.argument) || !inside(cmd.address.text) || !inside(cmd.address.local_part) ||
                !inside(cmd.address.domain)) {
                __builtin_trap();
            }
            if (cmd.param_count > smtp::max_esmtp_params) __builtin_trap();
            for (std::size_t i = 0; i < cmd.param_count; ++i) {
                if (!inside(cmd.params[i].keyword) || !inside(cmd.params[i].value)) __builtin_trap();
            }
            if (cmd.cmd == smtp::verb::unknown) __builtin_trap();
        }
    }
    return 0;
}

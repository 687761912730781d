// Fuzz target: line framing with a small limit, fed in chunks chosen by the first byte.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "mailharness/line_framer.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0) return 0;
    std::size_t chunk = 1 + data[0] % 17;
    std::string_view in(reinterpret_cast<const char*>(data) + 1, size - 1);
    mailharness::line_framer framer({.max_line_length = 64});
    std::size_t total = 0;
    while (!in.empty()) {
        std::string_view piece = in.substr(0, chunk);
        while (!piece.empty()) {
            std::error_code ec;
            std::size_t n = framer.put(piece, ec);
            if (n == 0 || n > piece.size()) __builtin_trap();
            if (framer.has_line() && framer.line().size() > 64) __builtin_trap();
            total += framer.line().size();
            piece.remove_prefix(n);
        }
        in.remove_prefix(std::min(chunk, in.size()));
    }
    return total == static_cast<std::size_t>(-1);
}

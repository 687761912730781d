// Fuzz target: RFC 5321 path parser; a successful parse must re-parse to the same result.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "mailharness/smtp/path.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace mailharness::smtp;
    std::string_view in(reinterpret_cast<const char*>(data), size);
    path p;
    std::error_code ec;
    std::size_t n = parse_path(in, p, ec);
    if (ec) {
        if (n != 0) __builtin_trap();
        return 0;
    }
    if (n == 0 || n > in.size() || p.text.size() != n) __builtin_trap();
    std::string again(p.text);
    path q;
    std::size_t m = parse_path(again, q, ec);
    if (ec || m != n || q.flags != p.flags || q.local_part != p.local_part || q.domain != p.domain) __builtin_trap();
    (void)p.unquoted_local_part();
    (void)p.mailbox();
    return 0;
}

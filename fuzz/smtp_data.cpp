// Fuzz target: DATA decoder. Fed in chunks chosen by the first byte; the result must not depend
// on the chunking, and encode(decode) must round-trip for clean input.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "mailharness/smtp/data.hpp"

using namespace mailharness::smtp;

namespace {

std::string decode(std::string_view in, std::size_t chunk, bool normalize, std::size_t& consumed, bool& done,
                   std::error_code& result) {
    data_decoder d({.max_message_size = 1 << 16, .normalize_bare_line_endings = normalize});
    std::string out;
    consumed = 0;
    while (consumed < in.size() && !d.done()) {
        std::size_t n = d.put(in.substr(consumed, chunk), out);
        if (n == 0 && !d.done()) __builtin_trap();
        consumed += n;
    }
    done = d.done();
    result = d.done() ? d.result() : std::error_code{};
    return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0) return 0;
    std::size_t chunk = 1 + data[0] % 13;
    bool normalize = (data[0] & 0x80) != 0;
    std::string_view in(reinterpret_cast<const char*>(data) + 1, size - 1);
    std::size_t c1, c2;
    bool d1, d2;
    std::error_code r1, r2;
    std::string whole = decode(in, in.size() + 1, normalize, c1, d1, r1);
    std::string split = decode(in, chunk, normalize, c2, d2, r2);
    if (whole != split || c1 != c2 || d1 != d2 || r1 != r2) __builtin_trap();
    if (d1 && !r1) {
        // Clean content must survive encode -> decode.
        std::string wire = encode_data(whole);
        std::size_t c3;
        bool d3;
        std::error_code r3;
        std::string back = decode(wire, wire.size(), false, c3, d3, r3);
        if (!d3 || back != whole || c3 != wire.size()) __builtin_trap();
    }
    return 0;
}

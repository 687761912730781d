// Fuzz target: strict base64. Whatever decodes must re-encode to the same text (canonical
// encoding), and any octets must survive encode then decode.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "mailharness/sasl/base64.hpp"

namespace sasl = mailharness::sasl;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::string_view in(reinterpret_cast<const char*>(data), size);

    // As text: accepted input is canonical and within the limit.
    std::string out;
    constexpr std::size_t limit = 512;
    std::error_code ec = sasl::base64_decode(in, out, limit);
    if (!ec) {
        if (out.size() > limit) __builtin_trap();
        if (sasl::base64_encode(out) != in) __builtin_trap();
    } else if (!out.empty()) {
        __builtin_trap();
    }

    // As octets: round trip, and the exact limit is accepted.
    std::string enc = sasl::base64_encode(in);
    if (enc.size() != 4 * ((size + 2) / 3)) __builtin_trap();
    std::string back;
    if (sasl::base64_decode(enc, back, size) || back != in) __builtin_trap();
    if (size > 0 && !sasl::base64_decode(enc, back, size - 1)) __builtin_trap();
    return 0;
}

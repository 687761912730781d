#include "mailharness/sasl/base64.hpp"

#include <openssl/evp.h>

#include "mailharness/sasl/error.hpp"

namespace mailharness::sasl {

namespace {

// EVP_EncodeBlock/EVP_DecodeBlock take an int length; feed them chunks well below INT_MAX.
// Multiples of 3 (encode) and 4 (decode) keep chunk boundaries on group boundaries.
constexpr std::size_t encode_chunk = 3 * 1024 * 1024;
constexpr std::size_t decode_chunk = 4 * 1024 * 1024;

// Value of a base64 alphabet character, or -1.
int sextet(unsigned char c) noexcept {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
}

}  // namespace

std::string base64_encode(std::string_view data) {
    std::string out;
    out.resize(4 * ((data.size() + 2) / 3) + 1);  // EVP_EncodeBlock writes a trailing NUL
    std::size_t written = 0;
    while (!data.empty()) {
        std::size_t n = std::min(data.size(), encode_chunk);
        written += static_cast<std::size_t>(
            EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data() + written),
                            reinterpret_cast<const unsigned char*>(data.data()), static_cast<int>(n)));
        data.remove_prefix(n);
    }
    out.resize(written);
    return out;
}

std::error_code base64_decode(std::string_view in, std::string& out, std::size_t max_decoded_size) {
    out.clear();
    if (in.empty()) return {};
    // Upper bound first, so that an oversized input is refused before it is scanned.
    if ((in.size() + 3) / 4 * 3 - 2 > max_decoded_size) return errc::base64_too_large;

    // Validate everything EVP_DecodeBlock would let through: it skips leading and trailing
    // whitespace, and decodes '=' anywhere as a zero sextet.
    std::size_t pads = 0;
    int last = 0;
    for (std::size_t i = 0; i < in.size(); ++i) {
        unsigned char c = static_cast<unsigned char>(in[i]);
        if (c == '=') {
            ++pads;
            continue;
        }
        int v = sextet(c);
        if (v < 0) return errc::bad_base64;
        if (pads != 0) return errc::bad_base64_padding;  // data after '='
        last = v;
    }
    if (in.size() % 4 == 1) return errc::bad_base64;
    if (in.size() % 4 != 0 || pads > 2) return errc::bad_base64_padding;

    std::size_t decoded = in.size() / 4 * 3 - pads;
    if (decoded > max_decoded_size) return errc::base64_too_large;
    // One pad: the last data character carries 2 unused bits; two pads: 4 (RFC 4648 section 3.5).
    if ((pads == 1 && (last & 0x03) != 0) || (pads == 2 && (last & 0x0f) != 0)) {
        return errc::base64_noncanonical;
    }

    out.resize(in.size() / 4 * 3);
    std::size_t written = 0;
    while (!in.empty()) {
        std::size_t n = std::min(in.size(), decode_chunk);
        int r = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data() + written),
                                reinterpret_cast<const unsigned char*>(in.data()), static_cast<int>(n));
        if (r < 0) {
            out.clear();
            return errc::bad_base64;
        }
        written += static_cast<std::size_t>(r);
        in.remove_prefix(n);
    }
    // EVP_DecodeBlock counts the octets '=' stands for (always a multiple of 3): drop them.
    out.resize(written - pads);
    return {};
}

}  // namespace mailharness::sasl

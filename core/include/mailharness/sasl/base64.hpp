// Strict base64 (RFC 4648 section 4, the alphabet with '+' and '/', padded) as SASL profiles use
// it on the wire (RFC 4954 section 4, RFC 3501 6.2.2, RFC 5034 section 4).
//
// Encoding and decoding are done by OpenSSL (EVP_EncodeBlock / EVP_DecodeBlock); this layer adds
// the checks OpenSSL does not make: no whitespace, no characters outside the alphabet, padding
// required and only at the end, zero pad bits, and a bound on the decoded size.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <system_error>

namespace mailharness::sasl {

/// Default bound on decoded octets for base64_decode.
inline constexpr std::size_t default_max_decoded_size = 64 * 1024;

/// Returns the padded base64 encoding of `data` (4 * ceil(n / 3) characters, no line breaks).
/// Empty input gives an empty string.
std::string base64_encode(std::string_view data);

/// Decodes `in` into `out` (replaced, not appended to). Empty input decodes to empty output.
/// Accepts only canonical, padded text: every string it accepts is exactly base64_encode(out).
/// Returns, with `out` cleared on any error:
///  - errc::base64_too_large if the decoded size would exceed `max_decoded_size` (checked before
///    the text is scanned, so huge input costs nothing);
///  - errc::bad_base64 for a character outside the alphabet (whitespace included) or a length of
///    1 mod 4;
///  - errc::bad_base64_padding for '=' missing, misplaced or more than two;
///  - errc::base64_noncanonical when the pad bits of the last character are not zero.
std::error_code base64_decode(std::string_view in, std::string& out,
                              std::size_t max_decoded_size = default_max_decoded_size);

}  // namespace mailharness::sasl

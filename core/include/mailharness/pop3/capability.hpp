// CAPA response body as a capability list (RFC 2449 sections 5 and 6).
//
//     capability = capa-tag *(SP param) CRLF    ; 512 octets maximum
//     capa-tag   = 1*cchar                      ; case-insensitive
//
// Typical tags: TOP, USER, SASL mech..., RESP-CODES, LOGIN-DELAY n, PIPELINING, EXPIRE n,
// UIDL, IMPLEMENTATION text, STLS (RFC 2595), UTF8 [USER] (RFC 6856), X-... extensions.
#pragma once

#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "mailharness/pop3/error.hpp"

namespace mailharness::pop3 {

struct capability {
    std::string name;                 ///< the tag as sent
    std::vector<std::string> params;  ///< the space-separated parameters, in order
};

/// Turns a CAPA body (response::body: unstuffed lines ending in CRLF, without the terminator) into
/// capabilities, in order. The result owns its strings.
///
/// Lenient where servers are sloppy: runs of spaces between parameters and trailing spaces are
/// skipped. A line that is empty, starts with a space, or holds a control character or 8-bit octet
/// is skipped and `ec` is set to errc::invalid_capability (the first such line); `ec` is cleared
/// otherwise. Parameters of IMPLEMENTATION are free text; join them back with spaces if needed.
std::vector<capability> parse_capabilities(std::string_view body, std::error_code& ec);

/// The first capability whose tag equals `name` case-insensitively, or nullptr.
const capability* find_capability(std::span<const capability> caps, std::string_view name) noexcept;

}  // namespace mailharness::pop3

// RFC 5321 4.1.2 paths: the argument of MAIL FROM and RCPT TO.
//
//   Reverse-path = Path / "<>"          Forward-path = Path / "<Postmaster>"
//   Path = "<" [ A-d-l ":" ] Mailbox ">"
//   Mailbox = Local-part "@" ( Domain / address-literal )
//
// The parser accepts the whole grammar, including the forms that relay policy must see through:
// source routes (@a,@b:user@c), '%' and '!' inside the local part, quoted local parts that hide an
// '@', and address literals. It does not decide whether they are allowed; it sets flags so that the
// caller (relay policy) can. Non-ASCII (RFC 6531 SMTPUTF8) is accepted when well-formed UTF-8 and
// flagged, so that the session can refuse it when the client did not ask for SMTPUTF8.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <system_error>

namespace mailharness::smtp {

struct path_limits {
    std::size_t max_local_part = 64;  ///< RFC 5321 4.5.3.1.1
    std::size_t max_domain = 255;     ///< RFC 5321 4.5.3.1.2
    std::size_t max_path = 256;       ///< RFC 5321 4.5.3.1.3, including the angle brackets
    /// Accept a mailbox without angle brackets ("MAIL FROM:user@host") as many servers do.
    /// The form is flagged with path_flag::no_brackets either way when accepted.
    bool allow_missing_brackets = true;
};

/// Bit flags describing what a parsed path contains.
enum path_flag : std::uint32_t {
    null_path = 1u << 0,         ///< "<>" (null reverse-path, RFC 5321 4.5.5)
    postmaster = 1u << 1,        ///< "<Postmaster>" without a domain (RFC 5321 4.5.1)
    source_route = 1u << 2,      ///< "@a,@b:" prefix present (RFC 5321 4.1.2, C.)
    quoted_local = 1u << 3,      ///< local part is a Quoted-string
    percent_hack = 1u << 4,      ///< local part (after unquoting) contains '%'
    bang_path = 1u << 5,         ///< local part (after unquoting) contains '!'
    at_in_local = 1u << 6,       ///< quoted local part (after unquoting) contains '@'
    address_literal = 1u << 7,   ///< domain is [..]
    ipv4_literal = 1u << 8,      ///< [192.0.2.1]
    ipv6_literal = 1u << 9,      ///< [IPv6:...]
    general_literal = 1u << 10,  ///< [tag:content]
    utf8 = 1u << 11,             ///< non-ASCII (well-formed UTF-8) present
    no_brackets = 1u << 12,      ///< accepted without "<" ">"
};

/// A parsed path. All views point into the text given to parse_path(); the caller keeps it alive.
struct path {
    std::string_view text;          ///< the path as written, "<...>" included when present
    std::string_view source_route;  ///< "@a,@b" without the ':' (empty when none)
    std::string_view local_part;    ///< as written: a quoted local part keeps its quotes
    std::string_view domain;        ///< domain, or address literal with its brackets
    std::uint32_t flags = 0;        ///< path_flag bits

    bool has(path_flag f) const noexcept { return (flags & f) != 0; }
    bool is_null() const noexcept { return has(null_path); }

    /// Local part with quoting removed ("a\"b" -> a"b); equals local_part when not quoted.
    std::string unquoted_local_part() const;
    /// Domain in lower case with any trailing spaces removed; literals unchanged except case.
    std::string lowercase_domain() const;
    /// "local@domain" as written (no source route, no brackets); empty for the null path.
    std::string mailbox() const;
};

/// Parses a path at the start of `in`. Returns the number of bytes consumed (the path ends at the
/// closing '>' or, without brackets, at the first space or end of input). On error, `ec` holds an
/// smtp::errc and the return value is 0. Non-ASCII bytes are accepted only when well-formed UTF-8.
std::size_t parse_path(std::string_view in, path& out, std::error_code& ec, const path_limits& limits = {});

/// True when `s` is a syntactically valid RFC 5321 Domain (sub-domain *("." sub-domain)),
/// U-labels (UTF-8) allowed when `allow_utf8` is true. No trailing dot.
bool is_valid_domain(std::string_view s, bool allow_utf8 = true) noexcept;

/// Validates an RFC 5321 4.1.3 address literal including its brackets: IPv4, "IPv6:" or a general
/// "tag:content" literal. Sets `flags` to one of ipv4_literal, ipv6_literal, general_literal.
bool is_valid_address_literal(std::string_view s, std::uint32_t& flags) noexcept;

/// True when `s` is well-formed UTF-8 (no overlong forms, no surrogates, max U+10FFFF).
bool is_valid_utf8(std::string_view s) noexcept;

}  // namespace mailharness::smtp

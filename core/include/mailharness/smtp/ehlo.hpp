// The client's view of an EHLO reply (RFC 5321 4.1.1.1, 2.2.2): the first line names the server,
// each later line is one service extension:
//
//   ehlo-line    = ehlo-keyword *( SP ehlo-param )
//   ehlo-keyword = (ALPHA / DIGIT) *(ALPHA / DIGIT / "-")      ; compared case-insensitively
//
// One parser for every client (the queue runner, mailload, mailconform). Sans-I/O: it reads a
// reply that smtp::reply_parser has finished.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "mailharness/smtp/reply.hpp"

namespace mailharness::smtp {

/// One ehlo-line split into its keyword and the rest.
struct ehlo_line {
    std::string_view keyword;  ///< as sent (case not changed)
    std::string_view params;   ///< after the separator; empty when none
};

/// Splits an ehlo-line at its first SP, or at '=' (the pre-RFC 2554 "AUTH=PLAIN LOGIN" form some
/// servers still send beside "AUTH PLAIN LOGIN"; '=' cannot occur in a keyword).
ehlo_line split_ehlo_line(std::string_view line) noexcept;

/// What an EHLO reply announced.
struct capabilities {
    bool esmtp = false;             ///< the reply was 250 (false: refused, or after a HELO fallback)
    bool pipelining = false;        ///< RFC 2920
    bool starttls = false;          ///< RFC 3207
    bool eightbitmime = false;      ///< RFC 6152
    bool smtputf8 = false;          ///< RFC 6531
    bool chunking = false;          ///< RFC 3030
    bool size = false;              ///< RFC 1870 SIZE offered
    std::uint64_t size_limit = 0;   ///< its value when it is a number; 0: no fixed limit
    /// SASL mechanisms of every AUTH line (RFC 4954), upper case, in order, each once.
    std::vector<std::string> auth;
    /// Every keyword, upper case, in order (for "does the server advertise X").
    std::vector<std::string> keywords;

    /// True when `keyword` (upper case) was announced.
    bool has(std::string_view keyword) const noexcept;
    /// Back to "nothing announced", keeping the vectors' memory (for clients that reuse one).
    void clear() noexcept;
};

/// Capabilities from a reply to EHLO: every line after the first (callers check the reply code;
/// `esmtp` says whether it was 250). Never fails: a line that is not a known keyword is only
/// listed in `keywords`, an empty line is skipped.
capabilities parse_ehlo(const reply& r);
/// The same into `out` (cleared first), reusing its memory.
void parse_ehlo(const reply& r, capabilities& out);

}  // namespace mailharness::smtp

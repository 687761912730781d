// SMTP command lines (RFC 5321 4.1.1) with the ESMTP extensions the project speaks:
// AUTH (RFC 4954), STARTTLS (RFC 3207), BDAT (RFC 3030), ESMTP parameters (RFC 5321 4.1.2).
//
// parse_command() takes one command line as delivered by line_framer (no CRLF) and fills a
// `command` whose views point into that line. It does not allocate. Whether a command is allowed
// in the current session state is the session's business, not the parser's.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <system_error>

#include "mailharness/smtp/path.hpp"

namespace mailharness::smtp {

enum class verb : std::uint8_t {
    unknown,
    helo,
    ehlo,
    mail,
    rcpt,
    data,
    bdat,
    rset,
    vrfy,
    expn,
    help,
    noop,
    quit,
    auth,
    starttls,
};

/// Upper-case name of a verb ("MAIL"); "" for verb::unknown.
std::string_view to_string(verb v) noexcept;

/// One ESMTP parameter: keyword ["=" value] (RFC 5321 4.1.2 esmtp-param).
struct esmtp_param {
    std::string_view keyword;  ///< as written; compare case-insensitively
    std::string_view value;    ///< empty when has_value is false
    bool has_value = false;
};

/// Hard upper bound on ESMTP parameters per command; command_limits::max_params may be lower.
inline constexpr std::size_t max_esmtp_params = 16;

struct command_limits {
    /// Longest command line accepted, without CRLF. RFC 5321 4.5.3.1.4: 512 octets with CRLF.
    /// (RFC 1869 lets each extension add up to 500 octets to MAIL/RCPT; servers that allow that
    /// raise this limit.)
    std::size_t max_line_length = 510;
    std::size_t max_params = 10;  ///< at most max_esmtp_params
    /// Check HELO/EHLO argument syntax (Domain or address-literal, RFC 5321 4.1.1.1).
    bool check_helo_syntax = true;
    path_limits path;
};

struct command {
    verb cmd = verb::unknown;
    std::string_view verb_text;  ///< the verb as written
    std::string_view argument;   ///< text after the verb and its separating space, trailing spaces trimmed
    smtp::path address;          ///< MAIL FROM / RCPT TO path; VRFY/EXPN argument is in `argument`
    std::array<esmtp_param, max_esmtp_params> params{};
    std::size_t param_count = 0;
    std::uint64_t bdat_size = 0;         ///< BDAT chunk size
    bool bdat_last = false;              ///< BDAT ... LAST
    std::string_view auth_mechanism;     ///< AUTH mechanism as written
    std::string_view auth_initial;       ///< AUTH initial response (base64 or "="), may be empty
    bool has_auth_initial = false;

    /// Finds a parameter by keyword, case-insensitively; nullptr when absent.
    const esmtp_param* param(std::string_view keyword) const noexcept;
};

/// Parses one command line (without CRLF). Returns a default error_code on success, otherwise an
/// smtp::errc. `out` is valid only while `line` is.
std::error_code parse_command(std::string_view line, command& out, const command_limits& limits = {});

// ---- Client side: serializers. Each appends one command line ending in CRLF. ----

void append_helo(std::string& out, verb helo_or_ehlo, std::string_view domain);
/// "MAIL FROM:<reverse_path>[ params]"; `reverse_path` without brackets, empty for "<>".
void append_mail(std::string& out, std::string_view reverse_path, std::string_view params = {});
/// "RCPT TO:<forward_path>[ params]"; `forward_path` without brackets.
void append_rcpt(std::string& out, std::string_view forward_path, std::string_view params = {});
void append_bdat(std::string& out, std::uint64_t size, bool last);
void append_auth(std::string& out, std::string_view mechanism, std::string_view initial_response = {});
/// Any verb with an optional argument: "VERB[ argument]".
void append_command(std::string& out, verb v, std::string_view argument = {});

}  // namespace mailharness::smtp

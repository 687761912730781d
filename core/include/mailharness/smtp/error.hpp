// Error codes of the SMTP codec (commands, paths, replies, DATA). Each value maps to the reply a
// server would give for it; see reply_for() in reply.hpp.
#pragma once

#include <system_error>

namespace mailharness::smtp {

enum class errc {
    // Command line (RFC 5321 4.1.1, 4.2.4)
    empty_command = 1,       ///< blank line where a command was expected (500)
    unknown_command,         ///< verb not recognised (500 5.5.1)
    syntax_error,            ///< verb known, arguments malformed (501 5.5.2)
    missing_argument,        ///< verb needs an argument and has none (501)
    unexpected_argument,     ///< verb takes no argument but got one (501)
    invalid_domain,          ///< HELO/EHLO argument or path domain is not a domain or literal (501)
    invalid_address_literal, ///< [..] literal that is not IPv4, IPv6 or a general literal (501)
    invalid_path,            ///< MAIL FROM / RCPT TO path does not follow RFC 5321 4.1.2 (501 5.1.3)
    local_part_too_long,     ///< over path_limits::max_local_part (RFC 5321 4.5.3.1.1) (501 5.1.3)
    domain_too_long,         ///< over path_limits::max_domain (RFC 5321 4.5.3.1.2) (501 5.1.3)
    path_too_long,           ///< over path_limits::max_path (RFC 5321 4.5.3.1.3) (501 5.1.3)
    invalid_utf8,            ///< non-ASCII bytes that are not well-formed UTF-8 (501 5.6.7)
    invalid_parameter,       ///< ESMTP parameter syntax (RFC 5321 4.1.2 esmtp-param) (501 5.5.4)
    duplicate_parameter,     ///< the same ESMTP keyword twice (501 5.5.4)
    too_many_parameters,     ///< over command_limits::max_params (501 5.5.4)
    invalid_bdat_size,       ///< BDAT chunk size missing, not decimal or too big (501 5.5.4)
    invalid_auth_mechanism,  ///< AUTH mechanism name syntax (RFC 4954 4) (501 5.5.4)
    line_too_long,           ///< command line over the limit (500 5.5.2)

    // Replies (RFC 5321 4.2)
    invalid_reply,           ///< not "ddd", "ddd-text" or "ddd text" (client side)
    inconsistent_reply,      ///< lines of one multi-line reply carry different codes
    reply_too_long,          ///< over reply_limits::max_lines or a line over max_line_length

    // DATA (RFC 5321 4.1.1.4, 4.5.2)
    message_too_big,         ///< content over data_limits::max_message_size (552 5.3.4)
    bare_lf_in_data,         ///< LF without CR inside DATA; refused to stop SMTP smuggling (550 5.6.0)
    bare_cr_in_data,         ///< CR without LF inside DATA (550 5.6.0)
};

const std::error_category& smtp_category() noexcept;
std::error_code make_error_code(errc e) noexcept;

}  // namespace mailharness::smtp

template <>
struct std::is_error_code_enum<mailharness::smtp::errc> : std::true_type {};

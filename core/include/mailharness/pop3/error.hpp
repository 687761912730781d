// Error codes of the POP3 codec (command parser, response parser, serializers).
//
// Malformed input never throws: every function that can meet bad bytes reports one of these
// values through a std::error_code. A server turns a command error into a "-ERR" reply; a client
// treats a response error as fatal for the connection.
#pragma once

#include <system_error>

namespace mailharness::pop3 {

enum class errc {
    // --- command lines (server side), RFC 1939 section 3, RFC 2449 sections 3-4 ---

    /// The command line is empty.
    empty_line = 1,
    /// A line is longer than its limit: command_limits::max_line_length for commands,
    /// response_limits::max_status_line_length / max_line_length for responses.
    line_too_long,
    /// A command or status line contains a control character (NUL, CR, TAB, ...), or an 8-bit
    /// octet where command_limits::allow_8bit is false.
    invalid_character,
    /// A stray space: the line starts with a space, two spaces follow each other, or the line
    /// ends with a space where command_limits::allow_trailing_space is false.
    invalid_syntax,
    /// The keyword is not a command this codec knows.
    unknown_command,
    /// The command needs an argument that is not there.
    missing_argument,
    /// The command got more arguments than it takes.
    too_many_arguments,
    /// An argument is longer than command_limits::max_argument_length.
    argument_too_long,
    /// A message number or line count is not a decimal number in its range.
    invalid_number,
    /// An argument breaks its own syntax (AUTH mechanism name, APOP digest), or a serializer was
    /// given text that would break the line framing (CR, LF, NUL) or the argument separation.
    invalid_argument,

    // --- responses (client side), RFC 1939 section 3, RFC 2449, RFC 5034 ---

    /// The first line is none of "+OK", "-ERR" or the SASL continuation "+ ".
    invalid_status,
    /// A line ended with LF alone and response_limits::reject_bare_lf is true.
    bare_lf,
    /// The multi-line body grew past response_limits::max_body_size (distinct from line_too_long).
    body_too_large,
    /// A CAPA body line is not "tag *(SP param)" (RFC 2449 section 5); the line was skipped.
    invalid_capability,
};

/// The category of errc; name() is "mailharness.pop3", message() names each value.
const std::error_category& pop3_category() noexcept;
std::error_code make_error_code(errc e) noexcept;

}  // namespace mailharness::pop3

template <>
struct std::is_error_code_enum<mailharness::pop3::errc> : std::true_type {};

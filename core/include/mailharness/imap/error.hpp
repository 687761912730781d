// Error codes of the IMAP codec (command parser, response parser, serializers, helpers).
//
// Malformed input never throws: every function that can meet bad bytes reports one of these
// values through a std::error_code. A server answers a command error with "<tag> BAD ..." (or
// "NO [BADCHARSET]" for unsupported_charset) and goes on with the next command; the parser has
// already skipped the rest of the failed command. A client usually treats a response error as
// fatal for the connection.
#pragma once

#include <system_error>

namespace mailharness::imap {

enum class errc {
    // --- framing and limits (both directions) ---

    /// The non-literal octets of one command (or response) exceed limits::max_line_length. The rest
    /// of that command was discarded; no part of it was parsed.
    line_too_long = 1,
    /// A literal other than an APPEND message is larger than limits::max_literal_size, or its
    /// size does not fit 64 bits.
    literal_too_large,
    /// The APPEND message literal is larger than command_limits::max_append_size.
    message_too_large,
    /// Parenthesised lists nest deeper than limits::max_depth.
    too_deep,
    /// A command (or response) holds more than limits::max_arguments tokens.
    too_many_arguments,
    /// A sequence set has more than limits::max_sequence_ranges comma-separated items.
    sequence_set_too_large,
    /// A control character (NUL, CR, ...) or, where not allowed, an 8-bit octet.
    invalid_character,

    // --- syntax (RFC 3501 section 9) ---

    /// The line does not start with a valid tag (1*ASTRING-CHAR except "+").
    invalid_tag,
    /// The tag is not followed by a command name.
    missing_command,
    /// The command name is not one this codec knows.
    unknown_command,
    /// Generic syntax error: bad spacing, unbalanced parentheses, bad quoted string escape, a
    /// token of the wrong kind.
    syntax_error,
    /// The command ended before a required argument.
    missing_argument,
    /// The command has arguments after its last one.
    too_many_tokens,
    /// A number is not decimal or does not fit its range (nz-number, number, mod-sequence).
    invalid_number,
    /// A sequence set is not RFC 3501 sequence-set syntax.
    invalid_sequence_set,
    /// A date (dd-Mon-yyyy) or date-time ("dd-Mon-yyyy hh:mm:ss +zzzz") is malformed.
    invalid_date,
    /// A flag is not "\atom" or a keyword atom.
    invalid_flag,
    /// A FETCH attribute, section or partial is unknown or malformed.
    invalid_fetch_attribute,
    /// A SEARCH key is unknown or malformed.
    invalid_search_key,
    /// A STATUS item is unknown.
    invalid_status_item,
    /// SEARCH CHARSET names a charset other than UTF-8 / US-ASCII (answer NO [BADCHARSET]).
    unsupported_charset,
    /// A literal where the grammar allows none (e.g. a sequence set), or a string where an atom
    /// is needed.
    unexpected_literal,
    /// Any other malformed argument (AUTHENTICATE mechanism, SELECT parameter, STORE item, ...).
    invalid_argument,
    /// A mailbox name is not valid modified UTF-7 (RFC 3501 section 5.1.3).
    invalid_mailbox_name,

    // --- responses (client side) ---

    /// A response line starts with none of "*", "+" or a tag.
    invalid_response,
    /// A response code ("[...]") is malformed.
    invalid_response_code,
    /// A FETCH response item is malformed.
    invalid_fetch_item,
};

/// The category of errc; name() is "mailharness.imap", message() names each value.
const std::error_category& imap_category() noexcept;
std::error_code make_error_code(errc e) noexcept;

}  // namespace mailharness::imap

template <>
struct std::is_error_code_enum<mailharness::imap::errc> : std::true_type {};

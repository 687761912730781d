// POP3 command lines: parser (server side) and serializer (client side).
//
// Sans-I/O: parse_command() takes one command line that the caller has already framed (without
// its CRLF), typically with a mailharness::line_framer configured by command_line_limits(). The
// parsed command holds string_views into that line; it is valid only as long as the line is.
//
// Grammar (RFC 1939 section 3, RFC 2449 section 3):
//     command = keyword *(SP param) CRLF      ; 255 octets maximum, CRLF included
//     keyword = 3*4VCHAR                      ; case-insensitive
//     param   = 1*VCHAR                       ; 40 octets maximum
// Commands: RFC 1939 (USER PASS APOP STAT LIST RETR DELE NOOP RSET QUIT TOP UIDL), RFC 2449
// (CAPA), RFC 2595 (STLS), RFC 5034 (AUTH), RFC 6856 (UTF8).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <span>
#include <string>
#include <string_view>
#include <system_error>

#include "mailharness/line_framer.hpp"
#include "mailharness/pop3/error.hpp"

namespace mailharness::pop3 {

enum class verb {
    unknown,
    user,  ///< USER name                          RFC 1939 section 7
    pass,  ///< PASS string (rest of the line)     RFC 1939 section 7
    apop,  ///< APOP name digest                   RFC 1939 section 7
    stat,  ///< STAT                               RFC 1939 section 5
    list,  ///< LIST [msg]                         RFC 1939 section 5
    retr,  ///< RETR msg                           RFC 1939 section 5
    dele,  ///< DELE msg                           RFC 1939 section 5
    noop,  ///< NOOP                               RFC 1939 section 5
    rset,  ///< RSET                               RFC 1939 section 5
    quit,  ///< QUIT                               RFC 1939 sections 4 and 6
    top,   ///< TOP msg n                          RFC 1939 section 7
    uidl,  ///< UIDL [msg]                         RFC 1939 section 7
    capa,  ///< CAPA                               RFC 2449 section 5
    stls,  ///< STLS                               RFC 2595 section 4
    auth,  ///< AUTH mechanism [initial-response]  RFC 5034 section 4
    utf8,  ///< UTF8                               RFC 6856 section 2
};

/// The canonical upper-case keyword ("RETR"); "" for verb::unknown.
std::string_view to_string(verb v) noexcept;

/// The verb named by `keyword`, compared case-insensitively; verb::unknown if none.
verb parse_verb(std::string_view keyword) noexcept;

/// Bounds applied by parse_command(). Defaults follow RFC 2449 section 4.
struct command_limits {
    /// Longest command line in octets, not counting the CRLF (255 with CRLF, RFC 2449 section 4).
    std::size_t max_line_length = 253;
    /// Longest argument in octets (RFC 1939 section 3, RFC 2449 section 4). Not applied to the PASS
    /// string nor to the AUTH initial response, which only the line length bounds (RFC 5034
    /// section 4 lets the initial response fill the line).
    std::size_t max_argument_length = 40;
    /// Largest message number accepted; message numbers start at 1. Also the largest TOP line count.
    std::uint32_t max_number = 2147483648u;  // 2^31
    /// Accept octets 0x80-0xFF in arguments (UTF-8 user names and passwords, RFC 6856). A server
    /// that wants plain RFC 2449 VCHAR before the UTF8 command sets this to false.
    bool allow_8bit = true;
    /// Ignore spaces at the end of the line (some clients send "LIST "). The PASS string keeps its
    /// trailing spaces either way, because they may be part of the password.
    bool allow_trailing_space = true;
};

/// Limits for the line_framer that feeds parse_command().
inline line_limits command_line_limits(const command_limits& limits = {}) noexcept {
    return {.max_line_length = limits.max_line_length};
}

/// One parsed command. All views point into the line given to parse_command().
struct command {
    static constexpr std::size_t max_args = 2;

    pop3::verb verb = verb::unknown;
    /// The keyword as sent (original case). Set even when the command is unknown.
    std::string_view keyword;
    /// The arguments as sent. For PASS, args[0] is the rest of the line, spaces included.
    /// For AUTH, args[0] is the mechanism and args[1] the initial response if any.
    std::array<std::string_view, max_args> args{};
    std::size_t arg_count = 0;
    /// Message number (LIST/UIDL with an argument, RETR, DELE, TOP); 0 when the command has none.
    std::uint32_t message = 0;
    /// TOP line count (may be 0).
    std::uint32_t lines = 0;

    std::span<const std::string_view> arguments() const noexcept { return {args.data(), arg_count}; }
};

/// Parses one command line (without CRLF) into `out`.
///
/// Returns an empty error_code on success. On failure returns an errc value and leaves `out`
/// filled as far as it got: `keyword` and `verb` are set whenever a keyword was read, so that the
/// server can name the command in its "-ERR" reply. Checks, in order: line length, empty line,
/// control characters, keyword (a leading space is invalid_syntax), spacing between arguments,
/// argument count, argument length, argument syntax (numbers, AUTH mechanism name as in RFC 4422
/// section 3.1, base64 initial response, APOP digest of 32 hex digits).
/// Keywords are case-insensitive; arguments keep their case. Never throws.
std::error_code parse_command(std::string_view line, command& out, const command_limits& limits = {});

/// True when a successful ("+OK") reply to this command is multi-line (RFC 1939 section 3):
/// LIST and UIDL without argument, RETR, TOP, CAPA.
bool expects_multiline(verb v, std::size_t arg_count) noexcept;
inline bool expects_multiline(const command& c) noexcept { return expects_multiline(c.verb, c.arg_count); }

/// Appends "KEYWORD args\r\n" to `out` (client side).
///
/// Fails with errc::invalid_argument, appending nothing, when the keyword is empty or an argument
/// is empty or holds CR, LF or NUL (which would let one argument smuggle a second command), or a
/// space (except in the last argument of PASS, which is the rest of the line). It does not check
/// the argument count nor any length, so test tools can send wrong commands on purpose; run
/// parse_command() on the result to validate it.
std::error_code write_command(std::string& out, verb v, std::initializer_list<std::string_view> args = {});

/// Same with any keyword (for extensions and for deliberately unknown commands). The keyword must
/// be non-empty printable ASCII without spaces.
std::error_code write_command(std::string& out, std::string_view keyword,
                              std::initializer_list<std::string_view> args = {});

/// Re-serializes a parsed command with its canonical keyword (the sent keyword for verb::unknown).
std::error_code write_command(std::string& out, const command& c);

}  // namespace mailharness::pop3

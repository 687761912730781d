// POP3 responses: push parser (client side) and serializer (server side).
//
// Grammar (RFC 1939 section 3, RFC 2449 sections 3 and 8, RFC 5034 section 4):
//     single-line  = status [SP text] CRLF           ; 512 octets maximum, CRLF included
//     status       = "+OK" / "-ERR"
//     text         = *schar / resp-code *CHAR
//     resp-code    = "[" resp-level *("/" resp-level) "]"
//     resp-level   = 1*rchar                         ; printable ASCII except "/" and "]"
//     multi-line   = single-line *dot-stuffed "." CRLF
//     continue-req = "+" SP [base64] CRLF            ; SASL challenge during AUTH
//
// Sans-I/O: response_parser never reads a stream. The caller hands it bytes with put(); the parser
// says how many it consumed. Whether a "+OK" is followed by a multi-line body depends on the command
// that was sent, so the caller says what it expects with start() before each response.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "mailharness/line_framer.hpp"
#include "mailharness/pop3/command.hpp"
#include "mailharness/pop3/error.hpp"

namespace mailharness::pop3 {

enum class status {
    none,          ///< no status line parsed yet
    ok,            ///< "+OK"
    err,           ///< "-ERR"
    continuation,  ///< "+ " SASL server challenge (RFC 5034 section 4)
};

/// A parsed status line. Views point into the line given to parse_status_line().
struct status_line {
    pop3::status status = status::none;
    /// RFC 2449 section 8 extended response code without its brackets ("SYS/TEMP", "IN-USE"),
    /// empty when there is none. A "[" that does not open a well-formed code followed by a space
    /// or the end of the line is left in `text` (older servers put brackets in free text).
    std::string_view resp_code;
    /// The text after the status and response code (without the separating space). For a
    /// continuation, the base64 challenge (possibly empty).
    std::string_view text;
};

/// Parses one status line (without CRLF). Returns errc::invalid_status when the line starts with
/// none of "+OK", "-ERR" (each followed by a space or the end) or "+" (followed by a space or the
/// end); errc::invalid_character when it holds a NUL or CR. Status indicators are upper case
/// (RFC 1939 section 3). No length check: response_parser applies the limits.
std::error_code parse_status_line(std::string_view line, status_line& out);

/// Splits an RFC 2449 response code into its levels: "SYS/TEMP" gives {"SYS", "TEMP"}.
std::vector<std::string_view> resp_code_levels(std::string_view resp_code);

/// The APOP timestamp ("<1896.697170952@dbc.mtview.ca.us>", brackets included) in a greeting's
/// text, or "" when the greeting has none (RFC 1939 section 7: a msg-id, so it holds an "@").
std::string_view apop_timestamp(std::string_view greeting_text) noexcept;

/// The lines of a multi-line body as returned in response::body, without their CRLF. A body line
/// holding a bare LF stays one line (LF included); only CRLF separates lines.
std::vector<std::string_view> body_lines(std::string_view body);

/// What the caller expects after sending a command.
enum class expect {
    single_line,  ///< greeting, USER, PASS, STAT, LIST n, DELE, AUTH, ...
    multi_line,   ///< a "+OK" is followed by a dot-terminated body: RETR, TOP, CAPA, LIST, UIDL
};

/// The expectation for the reply to a command (see expects_multiline() in command.hpp).
inline expect expect_for(verb v, std::size_t arg_count) noexcept {
    return expects_multiline(v, arg_count) ? expect::multi_line : expect::single_line;
}
inline expect expect_for(const command& c) noexcept { return expect_for(c.verb, c.arg_count); }

struct response_limits {
    /// Longest "+OK"/"-ERR" line, not counting CRLF (512 with CRLF, RFC 1939 section 3).
    std::size_t max_status_line_length = 510;
    /// Longest body line (after the status line) and longest SASL continuation line, not counting
    /// CRLF. Message lines should stay under 998 octets (RFC 5322 section 2.1.1) but real mail
    /// exceeds that, so the default is generous. Also bounds the parser's line buffer.
    std::size_t max_line_length = 65536;
    /// Largest multi-line body, counted after dot-unstuffing, line endings included.
    std::size_t max_body_size = 64u << 20;
    /// Treat a line ending in LF without CR as fatal (errc::bare_lf). When false, a bare LF ends
    /// the status line, but inside a body it is kept as data: only CRLF ends a body line and
    /// only CRLF "." CRLF ends the body. Either way response::bare_lf records that one was seen.
    bool reject_bare_lf = false;
    /// Keep the body in response::body. When false the body is only counted and streamed through
    /// body_chunk(), so a load generator can fetch large messages without storing them.
    bool keep_body = true;
};

/// One complete response.
struct response {
    pop3::status status = status::none;
    std::string resp_code;  ///< see status_line::resp_code
    std::string text;       ///< see status_line::text
    /// True when a dot-terminated body followed the status line.
    bool multi_line = false;
    /// The body after dot-unstuffing, without the terminating ".CRLF"; every line keeps its CRLF.
    /// Empty when response_limits::keep_body is false.
    std::string body;
    /// Octets of body after unstuffing (counted even when the body is not kept).
    std::size_t body_size = 0;
    /// Number of CRLF-terminated body lines.
    std::size_t body_line_count = 0;
    /// A line ended in LF without CR somewhere in this response.
    bool bare_lf = false;
};

/// Incremental response parser, in the manner of Beast's basic_parser.
///
/// Usage, per response:
///     p.start(expect::multi_line);            // not needed for the greeting
///     while (!p.done()) {
///         if (buf.empty()) read_more(buf);
///         n = p.put(buf, ec);                  // consumes at most one line (or a partial one)
///         consume(buf, n);
///         if (ec) fail();                      // every error is fatal
///         sink(p.body_chunk());                // optional streaming of the body
///     }
///     use(p.get());                            // bytes left in buf belong to the next response
///
/// A partial line is copied into an internal buffer bounded by the line limits, so the caller may
/// reuse its buffer after each put().
class response_parser {
public:
    /// A new parser expects a single-line response (the greeting).
    explicit response_parser(response_limits limits = {});

    /// Prepares for the next response, forgetting the previous one and any error.
    void start(expect e);

    /// Consumes bytes of `in` up to and including at most one line ending.
    /// Returns the number of bytes consumed: 0 when `in` is empty, when the response is done (bytes
    /// after it belong to the next response; call start()), or after an error. `ec` is cleared or
    /// set to a fatal errc value (line_too_long, invalid_status, invalid_character, bare_lf,
    /// body_too_large); after an error, put() keeps returning 0 with the same error until start().
    std::size_t put(std::string_view in, std::error_code& ec);

    /// True once the whole response (status line, and body if any) has been parsed.
    bool done() const noexcept { return state_ == state::done; }

    /// True once the status line has been parsed; get().status etc. are then valid even while the
    /// body is still arriving.
    bool got_status() const noexcept { return res_.status != status::none; }

    /// Body octets (unstuffed, line endings included) produced by the last put(). Valid until the
    /// next put() or start().
    std::string_view body_chunk() const noexcept { return chunk_; }

    /// The response parsed so far.
    const response& get() const noexcept { return res_; }

    /// Moves the response out; the parser then needs start() before the next one.
    response release();

    const response_limits& limits() const noexcept { return limits_; }

private:
    enum class state { status_line, body, done, failed };

    std::size_t fail(std::size_t consumed, errc e, std::error_code& ec);
    std::error_code on_status_line(std::string_view line);
    std::error_code on_body_segment(std::string_view segment, bool bare_lf);

    response_limits limits_;
    line_framer framer_;
    response res_;
    std::string scratch_;       // body chunk when the body is not kept
    std::string_view chunk_;
    std::error_code error_;
    std::size_t line_length_ = 0;  // octets of the current body line seen before a bare LF
    state state_ = state::status_line;
    expect expect_ = expect::single_line;
    bool at_line_start_ = true;    // the next body segment starts a line (dot rules apply)
};

// --- serializer (server side) ---

/// Appends a status line: "+OK[ [CODE]][ text]\r\n", "-ERR[ [CODE]][ text]\r\n", or for
/// status::continuation "+ text\r\n" (text being the base64 challenge, RFC 5034 section 4).
/// Fails with errc::invalid_argument, appending nothing, when `text` holds CR, LF or NUL, when
/// `resp_code` is not "level *(/level)" (RFC 2449 section 8; no brackets), when a continuation has a
/// resp_code, or for status::none; with errc::line_too_long when a "+OK"/"-ERR" line would exceed
/// 512 octets with CRLF (RFC 1939 section 3).
std::error_code write_status(std::string& out, status st, std::string_view text = {},
                             std::string_view resp_code = {});

/// Dot-stuffing encoder for a multi-line body (RFC 1939 section 3), usable in pieces so that a
/// server can stream a message file. Lines may end in LF or CRLF in the input; the output always
/// uses CRLF (Maildir files usually hold LF). A CR not followed by LF is copied as is. A line that
/// starts with "." gets another "." in front.
class body_writer {
public:
    /// Appends the encoded form of `data` to `out`.
    void write(std::string& out, std::string_view data);
    /// Ends an unterminated last line with CRLF, appends the terminator ".\r\n", and makes the
    /// writer ready for a new body.
    void finish(std::string& out);

private:
    bool at_line_start_ = true;
    bool pending_cr_ = false;  // the last input octet was CR; its LF may come in the next piece
};

/// Appends a whole multi-line body, dot-stuffed and terminated (body_writer in one call).
void write_body(std::string& out, std::string_view body);

}  // namespace mailharness::pop3

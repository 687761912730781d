// SMTP replies (RFC 5321 4.2) with RFC 3463 enhanced status codes (RFC 2034).
//
//   Reply-line = *( Reply-code "-" [ textstring ] CRLF ) Reply-code [ SP textstring ] CRLF
//
// reply_parser is the client side: push raw bytes, get whole replies (multi-line joined).
// format_reply() / serialize() are the server side.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "mailharness/line_framer.hpp"

namespace mailharness::smtp {

/// RFC 3463 class.subject.detail; `present` is false when the reply carries none.
struct enhanced_status {
    std::uint8_t cls = 0;        ///< 2, 4 or 5
    std::uint16_t subject = 0;   ///< 0..999
    std::uint16_t detail = 0;    ///< 0..999
    bool present = false;

    friend bool operator==(const enhanced_status&, const enhanced_status&) = default;
    std::string to_string() const;  ///< "2.1.0", or "" when not present
};

/// Convenience for building statuses: es(5, 7, 1).
constexpr enhanced_status es(std::uint8_t c, std::uint16_t s, std::uint16_t d) noexcept {
    return {c, s, d, true};
}

struct reply {
    int code = 0;                    ///< 200..599
    enhanced_status status;          ///< from the first line, when every line carries it
    std::vector<std::string> lines;  ///< text of each line, enhanced status removed when present

    bool positive() const noexcept { return code >= 200 && code < 400; }
    bool transient() const noexcept { return code >= 400 && code < 500; }
    bool permanent() const noexcept { return code >= 500; }
    /// All lines joined with '\n'.
    std::string text() const;
};

/// Parses "x.y.z" at the start of `text` followed by a space or the end. Returns the length
/// consumed including the space, or 0 when there is no valid status. The class must match
/// `reply_class` (the first digit of the reply code) when that is non-zero.
std::size_t parse_enhanced_status(std::string_view text, enhanced_status& out, int reply_class = 0) noexcept;

/// Serializes a reply: every line but the last gets "code-", the last "code "; the enhanced status,
/// when present, is written on every line (RFC 2034 says each line carries it). An empty `lines`
/// yields one line with the code (and status) only.
std::string serialize(const reply& r);

/// One-line or multi-line (text split on '\n') reply, serialized. Example:
/// format_reply(250, es(2,1,0), "Ok") == "250 2.1.0 Ok\r\n".
std::string format_reply(int code, enhanced_status status, std::string_view text);
void append_reply(std::string& out, int code, enhanced_status status, std::string_view text);

struct reply_limits {
    std::size_t max_line_length = 4096;  ///< a reply line, without CRLF
    std::size_t max_lines = 256;         ///< lines in one multi-line reply
};

/// Client-side reply parser. Feed it bytes; when done() a complete reply is available.
class reply_parser {
public:
    explicit reply_parser(reply_limits limits = {});

    /// Consumes bytes up to the end of one complete reply at most. Returns bytes consumed.
    /// Errors (smtp::errc::invalid_reply, inconsistent_reply, reply_too_long) are fatal for the
    /// connection: a client cannot resynchronise with a server that sends them.
    /// A bare LF line ending is accepted (many servers' replies are tolerated that way by clients)
    /// but counted in bare_lf_count().
    std::size_t put(std::string_view in, std::error_code& ec);

    bool done() const noexcept { return done_; }
    /// The finished reply; valid while done(). Call next() before parsing the following reply.
    const reply& get() const noexcept { return reply_; }
    reply release();
    /// Prepares for the next reply (keeps nothing but the counters).
    void next();

    std::size_t bare_lf_count() const noexcept { return bare_lf_count_; }

private:
    std::error_code take_line(std::string_view line);

    reply_limits limits_;
    line_framer framer_;
    reply reply_;
    bool done_ = false;
    bool status_on_all_ = true;
    std::vector<enhanced_status> line_status_;
    std::size_t bare_lf_count_ = 0;
};

}  // namespace mailharness::smtp

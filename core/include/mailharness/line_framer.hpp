// CRLF line framing for the line-oriented mail protocols (SMTP, POP3, IMAP command lines).
//
// Sans-I/O: the framer never reads a stream. The caller hands it bytes with put(); the framer
// says how many it consumed and whether a complete line is available. Lines that arrive whole in
// one chunk are returned as views into the caller's buffer (no copy); lines split across chunks
// are assembled in an internal buffer bounded by line_limits::max_line_length.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <system_error>

namespace mailharness {

/// Errors reported by line_framer::put.
enum class line_errc {
    /// The line grew past line_limits::max_line_length before its end was seen. The framer has
    /// switched to discarding input up to and including the next LF; length_seen() tells how long
    /// the line was when the limit tripped. No line is delivered for it.
    line_too_long = 1,
    /// The line ended with a bare LF (no CR before it). The line is still delivered (without the LF)
    /// so that a lenient caller can accept it; a strict caller refuses it.
    bare_lf,
    /// The line contains a CR that is not followed by LF. The line is still delivered, CR included.
    bare_cr,
};

const std::error_category& line_category() noexcept;
std::error_code make_error_code(line_errc e) noexcept;

struct line_limits {
    /// Longest line accepted, in octets, not counting the CRLF. RFC 5321 4.5.3.1.4 sets 512
    /// octets (with CRLF) for SMTP command lines, 4.5.3.1.6 sets 1000 for text lines.
    std::size_t max_line_length = 998;
};

class line_framer {
public:
    explicit line_framer(line_limits limits = {}) : limits_(limits) {}

    /// Consumes bytes of `in` up to and including at most one line ending (LF).
    /// Returns the number of bytes consumed (0 only when `in` is empty).
    /// After the call, has_line() tells whether a complete line is available; if so, line() is valid
    /// until the next call to put() or reset(). `ec` is set to a line_errc value as documented there,
    /// or cleared.
    std::size_t put(std::string_view in, std::error_code& ec);

    /// True when the last put() completed a line.
    bool has_line() const noexcept { return has_line_; }

    /// The completed line without its CRLF (or bare LF). Valid until the next put().
    std::string_view line() const noexcept { return line_; }

    /// Length of the overlong line when line_too_long was reported.
    std::size_t length_seen() const noexcept { return length_seen_; }

    /// True while the framer is discarding the rest of an overlong line.
    bool discarding() const noexcept { return discarding_; }

    /// Number of bytes buffered for a line not yet complete.
    std::size_t buffered() const noexcept { return partial_.size(); }

    /// Forgets any partial line and the discard state (e.g. after STARTTLS).
    void reset() noexcept;

    /// Changes the limit (e.g. SMTP command lines vs. IMAP literals).
    void set_limits(line_limits limits) noexcept { limits_ = limits; }
    const line_limits& limits() const noexcept { return limits_; }

private:
    void finish_line(std::string_view line, std::error_code& ec);

    line_limits limits_;
    std::string partial_;
    std::string_view line_;
    std::size_t length_seen_ = 0;
    bool has_line_ = false;
    bool discarding_ = false;
    bool clear_partial_ = false;  // partial_ holds the line delivered last; drop it on next put()
};

}  // namespace mailharness

template <>
struct std::is_error_code_enum<mailharness::line_errc> : std::true_type {};

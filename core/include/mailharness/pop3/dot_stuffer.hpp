// Server side of a RETR / TOP reply body (RFC 1939 sections 3, 5 and 7) as a sans-I/O encoder.
//
// The network layer streams a stored message through it in chunks of any size and writes what it
// emits. The encoder
//  - turns every line ending into CRLF: a bare LF (Maildirs written by other programs use LF)
//    and CRLF both become CRLF; a CR not followed by LF is copied as data;
//  - dot-stuffs: a line that starts with "." gets one more "." in front;
//  - for TOP, stops after the header, the empty line that ends it, and `top_lines` body lines
//    (a message without an empty line is all header and is sent whole);
//  - on finish(), ends an unterminated last line with CRLF and appends the terminator ".\r\n".
// The output is the same wherever the input is split into chunks.
//
// The "+OK ..." status line is not the encoder's: the session writes it (server_session.hpp).
// response.hpp's body_writer does the same without TOP; this is the unit the POP3 server uses.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace mailharness::pop3 {

class dot_stuffer {
public:
    /// `top_lines`: nullopt sends the whole message (RETR); n sends the header and n body lines
    /// (TOP msg n; 0 sends the header and the empty line after it).
    explicit dot_stuffer(std::optional<std::uint32_t> top_lines = std::nullopt) noexcept { reset(top_lines); }

    /// Appends the wire form of the raw message bytes `data` to `out`. Returns false once TOP has
    /// sent everything it needs: the rest of the input is ignored and the caller may stop reading
    /// the file (still calling finish()). Always true for RETR.
    bool write(std::string_view data, std::string& out);

    /// True once TOP has sent all it needs (write() then ignores its input).
    bool done() const noexcept { return done_; }

    /// Ends the body: appends CRLF when the content did not end with a line ending (a CR at the
    /// very end counts as one), then ".\r\n". The encoder is then ready for a new body with the
    /// same `top_lines`.
    void finish(std::string& out);

    /// Starts a new body with another line limit, forgetting all state.
    void reset(std::optional<std::uint32_t> top_lines = std::nullopt) noexcept;

private:
    void content(std::string_view s, std::string& out);
    void end_line(std::string& out);

    std::optional<std::uint32_t> top_;
    std::uint32_t body_left_ = 0;  // TOP: body lines still to send
    bool in_header_ = true;        // TOP: no empty line seen yet
    bool at_line_start_ = true;    // nothing of the current line emitted yet
    bool pending_cr_ = false;      // the last input octet was a CR; its LF may come next
    bool done_ = false;
};

/// Encodes a whole message in one call: dot_stuffer{top_lines}.write(), then finish().
std::string dot_stuff(std::string_view message, std::optional<std::uint32_t> top_lines = std::nullopt);

}  // namespace mailharness::pop3

// The DATA transfer (RFC 5321 4.1.1.4 and 4.5.2): dot-stuffing and the end-of-data marker.
//
// End of data is recognised ONLY as CRLF "." CRLF (the data start counts as following a CRLF).
// A bare LF or bare CR never ends a line for this purpose, so "<LF>.<LF>", "<CR>.<CR>",
// "<LF>.<CR><LF>" and the like cannot end a message early: that is what defeats SMTP smuggling
// (CVE-2023-51764/51765/51766). Bare line endings are counted and reported; the caller refuses the
// message (reject policy) or they are rewritten as CRLF (normalize policy).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <system_error>

namespace mailharness::smtp {

struct data_limits {
    /// Largest message accepted, in octets after un-stuffing; 0 means no limit. Past it the
    /// decoder keeps reading to the end-of-data marker but stops storing (RFC 5321 4.5.3.1.10).
    std::uint64_t max_message_size = 50ull * 1024 * 1024;
    /// Rewrite bare LF and bare CR as CRLF instead of reporting them as errors.
    bool normalize_bare_line_endings = false;
};

/// Server-side DATA decoder: removes dot-stuffing and finds the end of data.
class data_decoder {
public:
    explicit data_decoder(data_limits limits = {}) : limits_(limits) {}

    /// Consumes bytes of `in`, appending the message content (CRLF line endings kept, leading
    /// dots removed) to `out`. Stops right after the end-of-data marker, so bytes after it
    /// (pipelined commands) are left unconsumed. Returns the number of bytes consumed.
    std::size_t put(std::string_view in, std::string& out);

    /// True once CRLF.CRLF has been consumed.
    bool done() const noexcept { return state_ == state::done; }

    /// Valid once done(): the first problem of message_too_big, bare_lf_in_data, bare_cr_in_data
    /// (bare line endings only when not normalized), or no error.
    std::error_code result() const noexcept;

    std::uint64_t size() const noexcept { return size_; }  ///< content octets seen (stored or not)
    std::uint64_t bare_lf_count() const noexcept { return bare_lf_; }
    std::uint64_t bare_cr_count() const noexcept { return bare_cr_; }
    bool too_big() const noexcept { return limits_.max_message_size != 0 && size_ > limits_.max_message_size; }

    /// Starts a new message with the same limits.
    void reset() noexcept;

private:
    enum class state : std::uint8_t {
        line_start,   ///< after CRLF (or at the start): a '.' here is special
        dot,          ///< saw '.' at line start
        dot_cr,       ///< saw ".\r" at line start
        mid,          ///< inside a line
        cr,           ///< saw '\r' inside a line; its LF decides
        done,
    };

    void emit(std::string& out, const char* p, std::size_t n);

    data_limits limits_;
    state state_ = state::line_start;
    bool may_end_ = true;  ///< the current line started after a real CRLF (or at the start)
    std::uint64_t size_ = 0;
    std::uint64_t bare_lf_ = 0;
    std::uint64_t bare_cr_ = 0;
};

struct data_encode_options {
    /// Rewrite bare LF and bare CR as CRLF (what a well-behaved client does). Off means the bytes
    /// go out as given, which a conformance or fuzz tool needs to probe smuggling defences.
    bool normalize_line_endings = true;
};

/// Client-side DATA encoder: dot-stuffs lines starting with '.', and finish() appends the
/// end-of-data marker (adding a CRLF first when the content did not end with one).
class data_encoder {
public:
    explicit data_encoder(data_encode_options options = {}) : options_(options) {}

    void put(std::string_view in, std::string& out);
    void finish(std::string& out);
    void reset() noexcept { line_start_ = true; pending_cr_ = false; }

private:
    data_encode_options options_;
    bool line_start_ = true;
    bool pending_cr_ = false;
};

/// Whole-message convenience: dot-stuffed content plus ".\r\n".
std::string encode_data(std::string_view message, data_encode_options options = {});

}  // namespace mailharness::smtp

// RFC 5322 2.2 header section of a message: header fields up to the first empty line.
//
//   field = field-name ":" unstructured CRLF     field-name = 1*ftext (printable US-ASCII but ':')
//   folding: a line starting with SP or HTAB continues the previous field (RFC 5322 2.2.3)
//
// header_parser is sans-I/O: push bytes with put(), as they arrive or all at once; it stops when
// the header section ends. Like Postfix's cleanup, it is lenient about where the header ends: the
// first line that is neither a field nor a continuation (no colon, or a bad field name) starts the
// body, as does an empty line. It is strict about size: the header section is bounded by
// header_limits, and going over is a distinct, fatal error. Line endings may be CRLF or bare LF
// (refmaild refuses bare LF earlier, in DATA; other callers may not).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace mailharness::mail {

enum class header_errc {
    header_too_big = 1,  ///< header section over header_limits::max_size (552 5.3.4)
    too_many_fields,     ///< over header_limits::max_fields (552 5.3.4)
};

const std::error_category& header_category() noexcept;
std::error_code make_error_code(header_errc e) noexcept;

struct header_limits {
    std::size_t max_size = 256 * 1024;  ///< octets of the header section, line endings included
    std::size_t max_fields = 1000;      ///< header fields
};

struct header_field {
    std::string name;   ///< as written (compare case-insensitively)
    std::string value;  ///< everything after the colon, folding kept ("a\r\n b"), final line ending removed
};

class header_parser {
public:
    explicit header_parser(header_limits limits = {});

    /// Consumes message bytes. Returns how many were consumed: all of `in`, or fewer once the header
    /// section is complete (done() is then true and the bytes not consumed belong to the body; a
    /// body line that ended the header by not being a field counts as consumed up to the point it
    /// was recognised, see body_offset()). On error, `ec` is set, done() stays false and further
    /// calls consume nothing.
    std::size_t put(std::string_view in, std::error_code& ec);

    /// The message ended (no more bytes): completes a header section that had no empty line, a
    /// final line without a line ending included. Sets `ec` if the header is over the limits.
    void finish(std::error_code& ec);

    bool done() const noexcept { return done_; }
    const std::vector<header_field>& fields() const noexcept { return fields_; }
    /// Octets of the header section, the empty line that ends it included; valid once done().
    std::size_t header_size() const noexcept { return header_size_; }
    /// Offset in the whole input where the body starts; valid once done().
    std::size_t body_offset() const noexcept { return header_size_; }
    /// First field named `name` (case-insensitive), nullptr when there is none.
    const header_field* find(std::string_view name) const noexcept;
    /// Number of fields named `name` (case-insensitive), e.g. Received: for a hop count.
    std::size_t count(std::string_view name) const noexcept;

    /// Prepares for another message.
    void reset();

private:
    // Processes one complete physical line (without its line ending); false when it ends the header.
    bool take_line(std::string_view line, std::size_t raw_size, std::error_code& ec);

    header_limits limits_;
    std::string line_;  // the physical line being read
    std::vector<header_field> fields_;
    std::size_t seen_ = 0;  // octets of complete lines taken so far
    std::size_t header_size_ = 0;
    bool done_ = false;
    bool failed_ = false;
};

/// Parses the header section at the start of a whole message (put() + finish()).
std::error_code parse_header(std::string_view message, std::vector<header_field>& fields,
                             std::size_t* header_size = nullptr, header_limits limits = {});

/// A field value with folding removed (CRLF or LF before SP/HTAB deleted, RFC 5322 2.2.3) and
/// leading and trailing white space trimmed.
std::string unfold(std::string_view value);

/// True when `name` is a valid field name: 1 to 996 printable US-ASCII characters except ':'.
bool is_field_name(std::string_view name) noexcept;

}  // namespace mailharness::mail

template <>
struct std::is_error_code_enum<mailharness::mail::header_errc> : std::true_type {};

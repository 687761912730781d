// The envelope of one message in refmaild's outbound queue, and its file format.
//
// A queued message is two files in the spool directory (see spool.hpp): <id>.msg holds the
// message as received (Received: header first, CRLF line endings, not dot-stuffed) and <id>.env
// holds this envelope, as UTF-8 text, one field per LF-terminated line:
//
//     refmaild-queue-envelope 1
//     id 0190F3A2B1C4D5E6F7A8B9C0
//     created 1717000000123            <- Unix time in milliseconds
//     next-attempt 1717000300123       <- Unix time in milliseconds
//     attempts 2
//     sender alice@example.test        <- "-" for the null reverse-path <>
//     arrival-from client.example ([192.0.2.1])   <- optional; for the DSN's human part
//     rcpt pending carol@remote.test 451 4.3.0 mx.remote.test try%20again%20later
//     rcpt delivered dave@remote.test 250 2.0.0 mx.remote.test ok
//     end
//
// Every field after the key is one token: bytes outside printable ASCII, space, '%' and a lone
// "-" are percent-encoded (%XX), and "-" stands for the empty string. A recipient line is
// "rcpt <state> <mailbox> <code> <status> <remote> <diagnostic>": its state (pending, delivered,
// failed), the mailbox as the next hop needs it in RCPT TO, and the last reply or error for it
// (code 0 when none, status the RFC 3463 x.y.z, remote the host that replied, diagnostic the reply
// text or the local error). The "end" line guards against truncation.
//
// The parser is sans-I/O and bounded (envelope_limits); anything it does not understand is an
// error, never a crash: the spool moves such a file aside.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "mailharness/smtp/client_session.hpp"

namespace mailharness::refmaild::queue {

enum class envelope_errc {
    bad_magic = 1,        ///< first line is not "refmaild-queue-envelope 1"
    line_too_long,        ///< a line over envelope_limits::max_line
    file_too_big,         ///< over envelope_limits::max_size
    too_many_recipients,  ///< over envelope_limits::max_recipients
    unknown_key,          ///< a line whose key is not a field of the format
    duplicate_key,        ///< a single-valued field given twice
    bad_value,            ///< a field that does not parse (number, state, escape, length)
    missing_field,        ///< id, created, next-attempt, attempts, sender or a recipient missing
    truncated,            ///< input ended before the "end" line (or mid-line)
    data_after_end,       ///< bytes after the "end" line
};

const std::error_category& envelope_category() noexcept;
std::error_code make_error_code(envelope_errc e) noexcept;

/// True for a queue ID the spool can use as a file name: 1..64 characters [0-9A-Za-z].
bool valid_queue_id(std::string_view id) noexcept;

enum class rcpt_state : std::uint8_t {
    pending,    ///< not delivered yet (never tried, or deferred by a temporary failure)
    delivered,  ///< accepted by the next hop (2xx after DATA)
    failed,     ///< permanent failure or expiry; goes into the DSN
};

std::string_view to_string(rcpt_state s) noexcept;

/// The last reply (or local error) seen for a recipient (the SMTP client's type, core/smtp).
using last_reply = smtp::last_reply;

struct recipient {
    std::string mailbox;  ///< "local@domain" as given in RCPT TO to the next hop
    rcpt_state state = rcpt_state::pending;
    last_reply last;

    friend bool operator==(const recipient&, const recipient&) = default;
};

using unix_millis = std::int64_t;

struct envelope {
    std::string id;             ///< stable queue ID, valid_queue_id()
    unix_millis created = 0;    ///< when the message was queued
    unix_millis next_attempt = 0;
    std::uint32_t attempts = 0;  ///< delivery attempts made so far
    std::string sender;         ///< reverse-path mailbox; empty for the null sender <>
    std::string arrival_from;   ///< who handed the message to us (free text), may be empty
    std::vector<recipient> recipients;

    bool null_sender() const noexcept { return sender.empty(); }
    /// Recipients still pending.
    std::size_t pending() const noexcept;

    friend bool operator==(const envelope&, const envelope&) = default;
};

struct envelope_limits {
    std::size_t max_size = 4u << 20;      ///< whole file, octets
    std::size_t max_line = 16384;         ///< one line without its LF
    std::size_t max_recipients = 100000;  ///< rcpt lines
    std::size_t max_field = 4096;         ///< one decoded token (mailbox, diagnostic, ...)
};

/// The file text of `e` (always parses back to `e` when its strings are within the limits).
std::string serialize(const envelope& e);

/// Sans-I/O envelope parser: feed the file's bytes in any chunks, then finish().
class envelope_parser {
public:
    explicit envelope_parser(envelope_limits limits = {}) : limits_(limits) {}

    /// Consumes all of `in` (returns in.size()) unless an error occurs; then returns the bytes
    /// consumed before it, sets `ec`, and every later call fails with the same error.
    std::size_t put(std::string_view in, std::error_code& ec);

    /// The input is complete. Returns the first error (truncated when "end" was not seen), or
    /// clears `ec` and leaves the envelope in get().
    void finish(std::error_code& ec);

    const envelope& get() const noexcept { return env_; }
    envelope release() { return std::move(env_); }
    /// 1-based line of the error, for the log.
    std::size_t error_line() const noexcept { return line_no_; }

private:
    std::error_code take_line(std::string_view line);

    envelope_limits limits_;
    envelope env_;
    std::string partial_;
    std::size_t total_ = 0;
    std::size_t line_no_ = 0;
    std::uint32_t seen_ = 0;  // bit per single-valued key
    bool ended_ = false;
    std::error_code error_;
};

/// Whole-text convenience.
std::error_code parse_envelope(std::string_view text, envelope& out, const envelope_limits& limits = {});

/// %XX-encoding of one token as described above (exposed for tests and the list command).
std::string encode_token(std::string_view s);
/// Reverse of encode_token(); false on a malformed escape or a raw byte that must be encoded.
bool decode_token(std::string_view s, std::string& out);

// ---- retry schedule ----

struct retry_schedule {
    std::chrono::milliseconds min{std::chrono::minutes(5)};   ///< delay after the first failure
    std::chrono::milliseconds max{std::chrono::hours(1)};     ///< the delay never grows past this
    std::chrono::milliseconds max_lifetime{std::chrono::hours(24 * 5)};  ///< then bounce (RFC 5321 4.5.4.1)
};

/// Delay before the next attempt after `attempts` failed attempts (attempts >= 1): min doubled
/// per earlier attempt, capped at max (exponential backoff, no overflow for any count).
std::chrono::milliseconds backoff(const retry_schedule& s, std::uint32_t attempts) noexcept;

/// True once a message created at `created` has been in the queue longer than max_lifetime.
bool expired(const retry_schedule& s, unix_millis created, unix_millis now) noexcept;

}  // namespace mailharness::refmaild::queue

template <>
struct std::is_error_code_enum<mailharness::refmaild::queue::envelope_errc> : std::true_type {};

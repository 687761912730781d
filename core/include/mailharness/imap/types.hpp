// Small IMAP value types shared by the command and response sides: sequence sets, dates, flags,
// mailbox names (INBOX, modified UTF-7). RFC 3501 section 9 unless noted.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "mailharness/imap/error.hpp"

namespace mailharness::imap {

/// "*" in a sequence set: the largest number in use. 0 is never a valid sequence number or UID
/// (nz-number), so it cannot be confused with one.
inline constexpr std::uint32_t star = 0;

/// One item of a sequence set: "n" (first == last) or "a:b" as sent (a may be greater than b,
/// RFC 3501 section 9 "seq-range": the order does not matter). Either end may be `star`.
struct seq_range {
    std::uint32_t first = 0;
    std::uint32_t last = 0;
    bool operator==(const seq_range&) const = default;
};

/// RFC 3501 sequence-set (also uid-set in RFC 4315 responses), items in the order sent.
struct sequence_set {
    std::vector<seq_range> ranges;

    bool empty() const noexcept { return ranges.empty(); }
    /// True when `n` is in the set, `largest` standing for "*" (the highest number or UID in use).
    bool contains(std::uint32_t n, std::uint32_t largest) const noexcept;
    bool operator==(const sequence_set&) const = default;
};

/// Parses a sequence set ("1:*", "*", "2,4:7"). Errors: invalid_sequence_set (syntax, or a 0),
/// sequence_set_too_large (more than `max_ranges` items). `out` is cleared first.
std::error_code parse_sequence_set(std::string_view text, sequence_set& out, std::size_t max_ranges = 10000);

/// Appends the set in RFC 3501 syntax ("*" for star). Appends nothing for an empty set.
void write_sequence_set(std::string& out, const sequence_set& set);

/// A calendar date: RFC 3501 "date" (dd-Mon-yyyy, used by SEARCH).
struct date {
    std::uint16_t year = 0;
    std::uint8_t month = 0;  ///< 1-12
    std::uint8_t day = 0;    ///< 1-31 (checked against the month, leap years included)
    bool operator==(const date&) const = default;
};

/// RFC 3501 "date-time" ("17-Jul-1996 02:44:25 -0700"), used by APPEND and INTERNALDATE.
struct date_time {
    imap::date date;
    std::uint8_t hour = 0, minute = 0, second = 0;
    /// Zone offset from UTC in minutes (-0700 gives -420).
    std::int16_t zone_minutes = 0;
    bool operator==(const date_time&) const = default;
};

/// Parses date-text "d-Mon-yyyy" or "dd-Mon-yyyy" (month name case-insensitive). errc::invalid_date.
std::error_code parse_date(std::string_view text, date& out);
/// Parses the inside of a date-time (without its quotes): date-day-fixed ("␣1" or "01" or "1"),
/// "-Mon-yyyy hh:mm:ss +zzzz". errc::invalid_date.
std::error_code parse_date_time(std::string_view text, date_time& out);
/// Appends "dd-Mon-yyyy" (two-digit day).
void write_date(std::string& out, const date& d);
/// Appends the quoted date-time "\"dd-Mon-yyyy hh:mm:ss +zzzz\"" (day padded with a space, as
/// RFC 3501 date-day-fixed).
void write_date_time(std::string& out, const date_time& dt);

/// True when `name` is INBOX in any case (RFC 3501 section 5.1: INBOX is case-insensitive).
bool is_inbox(std::string_view name) noexcept;

/// Decodes an RFC 3501 section 5.1.3 modified UTF-7 mailbox name into UTF-8, appending to `out`.
/// Errors (errc::invalid_mailbox_name): an 8-bit octet, "&" shift not closed by "-", bad modified
/// base64, an encoded run that holds only printable ASCII (must be sent directly), ill-formed
/// UTF-16, or two adjacent encoded runs ("&...-&...-"). `out` keeps what was appended before the
/// error.
std::error_code mutf7_decode(std::string_view in, std::string& out);
/// Encodes a UTF-8 mailbox name as modified UTF-7, appending to `out`. Fails with
/// errc::invalid_mailbox_name (appending nothing) when `in` is not valid UTF-8.
std::error_code mutf7_encode(std::string_view in, std::string& out);

/// True when `s` is a valid RFC 3501 atom (1*ATOM-CHAR, 7-bit).
bool is_atom(std::string_view s) noexcept;
/// True when `s` is a valid flag for STORE/APPEND: "\" atom (system flag or extension) or a
/// keyword atom. "\*" is only valid in PERMANENTFLAGS and is refused here.
bool is_flag(std::string_view s) noexcept;

}  // namespace mailharness::imap

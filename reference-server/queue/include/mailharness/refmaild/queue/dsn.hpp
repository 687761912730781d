// Delivery status notifications (bounces) for failed queued mail: RFC 3464 message/delivery-status
// inside an RFC 6522 multipart/report, with the original message's header section attached as
// text/rfc822-headers (RFC 6522 6.1 allows headers only; it keeps bounces small).
//
// The bounce goes to the original sender with the null reverse-path <> (RFC 5321 4.5.5), so that
// it can never bounce in turn; the caller never makes one for a message whose sender was null.
#pragma once

#include "mailharness/refmaild/queue/envelope.hpp"

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace mailharness::refmaild::queue {

struct dsn_recipient {
    std::string mailbox;  ///< Final-Recipient
    last_reply last;      ///< Status, Remote-MTA and Diagnostic-Code come from here
    bool expired = false; ///< gave up because the message was in the queue too long (not a 5xx)
};

struct dsn_params {
    std::string reporting_mta;  ///< our host name: Reporting-MTA, From: MAILER-DAEMON@...
    std::string queue_id;       ///< the failed message's queue ID (X-Queue-ID, Message-ID)
    std::string sender;         ///< the original reverse-path: the To: of the bounce; not empty
    std::string arrival_from;   ///< optional: who handed the message to us
    unix_millis arrival = 0;    ///< Arrival-Date
    unix_millis now = 0;        ///< Date, Last-Attempt-Date
    std::vector<dsn_recipient> failed;  ///< at least one
    /// The failed message as queued; its header section (up to the first empty line) is attached.
    std::string_view original;
    /// Longest header section attached; a longer one is cut at a line boundary.
    std::size_t max_attached_headers = 64 * 1024;
};

/// The bounce message, CRLF line endings, 7-bit header fields; ready to deliver or enqueue.
std::string make_dsn(const dsn_params& p);

/// The RFC 3463 status reported for a failed recipient: its reply's status when it has one of
/// the right class, else 5.0.0 (permanent) or 4.4.7 (expired: delivery time expired).
std::string dsn_status(const dsn_recipient& r);

/// RFC 5322 date-time in UTC, e.g. "Tue, 04 Jun 2024 10:00:00 +0000" (locale-independent).
std::string rfc5322_date(unix_millis t);

/// The header section of a message: everything before the first empty line (CRLF CRLF), with
/// the CRLF of the last header line; the whole text when there is no empty line.
std::string_view header_section(std::string_view message) noexcept;

}  // namespace mailharness::refmaild::queue

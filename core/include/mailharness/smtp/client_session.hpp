// The client side of one SMTP transaction (RFC 5321 3.3, 4.1), sans-I/O: the queue runner's
// coroutine reads replies with reply_parser, hands each to on_reply(), and does what the
// returned step says. No sockets here, so every path is unit-tested with scripted replies.
//
//   greeting --220--> EHLO --250--> [STARTTLS --220--> (handshake) EHLO --250-->]
//            MAIL FROM --> RCPT TO (each) --> DATA --354--> message + "." --> QUIT
//
// - EHLO refused with 5xx: HELO instead (RFC 5321 4.1.1.1), no extensions.
// - STARTTLS (RFC 3207) per tls_policy: required fails the host when not offered or refused;
//   opportunistic goes on in plaintext then.
// - PIPELINING (RFC 2920): MAIL, every RCPT and DATA in one write, replies read in order.
// - SIZE (RFC 1870): SIZE=n on MAIL; a message over the server's announced limit fails with
//   552 5.3.4 without being sent. BODY=8BITMIME (RFC 6152) when the message has 8-bit octets and
//   the server offers it; SMTPUTF8 (RFC 6531) when an address needs it (refused with 553 5.6.7
//   when the server does not offer it).
// - Each recipient's outcome is its RCPT reply when that failed, else the reply to DATA or to the
//   final dot. An all-refused pipelined transaction whose DATA still gets 354 is ended with a
//   lone "." (RFC 2920 3.1).
#pragma once

#include "mailharness/smtp/ehlo.hpp"
#include "mailharness/smtp/reply.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace mailharness::smtp {

/// When the client upgrades with STARTTLS (RFC 3207).
enum class tls_policy {
    none,           ///< never STARTTLS
    opportunistic,  ///< STARTTLS when offered; plaintext when not offered
    required,       ///< STARTTLS must be offered and succeed
};

/// The last reply (or local error) seen for a recipient.
struct last_reply {
    int code = 0;            ///< SMTP reply code, 0 when the error was not an SMTP reply
    std::string status;      ///< RFC 3463 "x.y.z", may be empty
    std::string remote;      ///< host that answered (for a DSN's Remote-MTA), may be empty
    std::string diagnostic;  ///< reply text, or the local error (connection refused, ...)

    friend bool operator==(const last_reply&, const last_reply&) = default;
};


/// What EHLO announced, parsed by core's one EHLO parser (mailharness/smtp/ehlo.hpp).

struct client_params {
    std::string helo;                     ///< our host name for EHLO/HELO
    std::string sender;                   ///< reverse-path mailbox; "" for <>
    std::vector<std::string> recipients;  ///< forward-path mailboxes, at least one
    std::uint64_t message_size = 0;       ///< octets of the message (for SIZE)
    bool message_8bit = false;            ///< the message has octets >= 0x80
    tls_policy tls = tls_policy::opportunistic;
    bool tls_possible = true;             ///< the caller can do TLS at all
    std::string remote;                   ///< host name put into every last_reply
};

/// What the caller does after a call.
enum class client_step {
    send,       ///< write `out`, then read the next reply
    wait,       ///< nothing to write; read the next reply (more pipelined replies are due)
    start_tls,  ///< TLS handshake on the same socket now, then on_tls_established()
    send_data,  ///< write the message dot-stuffed with ".\r\n" after it, then read the reply
    done,       ///< write `out` (a QUIT, or nothing) and close; outcomes are final
};

/// Which RFC 5321 4.5.3.2 timeout applies to the reply being waited for.
enum class client_wait { greeting, command, data_init, data_end, quit };

enum class rcpt_outcome { none, delivered, temporary, permanent };

class client_session {
public:
    explicit client_session(client_params p);

    /// The caller has connected: nothing to send, the greeting is due.
    client_wait waiting_for() const noexcept { return wait_; }

    /// Handles one complete reply; appends commands to `out`.
    client_step on_reply(const reply& r, std::string& out);

    /// The STARTTLS handshake succeeded: EHLO again (RFC 3207 4.2). Returns send.
    client_step on_tls_established(std::string& out);

    /// True while nothing has been sent that could deliver mail (before MAIL FROM): a failure
    /// now means "try the next host".
    bool before_transaction() const noexcept { return !mail_sent_; }

    /// The reason the host failed before the transaction (greeting, EHLO, STARTTLS), if it did.
    const std::optional<last_reply>& host_error() const noexcept { return host_error_; }

    /// Gives every recipient without an outcome `error` (e.g. the connection broke) as a
    /// temporary failure.
    void fail_unresolved(const last_reply& error);

    const std::vector<rcpt_outcome>& outcomes() const noexcept { return outcome_; }
    const std::vector<last_reply>& replies() const noexcept { return reply_; }
    bool tls_active() const noexcept { return tls_active_; }
    const capabilities& caps() const noexcept { return caps_; }

private:
    enum class state { greeting, ehlo, helo, starttls, transaction, data_end, abort_data, quit, done };
    enum class expect { mail, rcpt, data };

    client_step quit(std::string& out);
    client_step after_capabilities(std::string& out);
    client_step begin_transaction(std::string& out);
    void send_rcpt(std::size_t i, std::string& out);
    void set_all(rcpt_outcome o, const last_reply& r, bool only_accepted);
    last_reply make_reply(const reply& r) const;
    last_reply local_reply(int code, std::string status, std::string text) const;

    client_params p_;
    state state_ = state::greeting;
    client_wait wait_ = client_wait::greeting;
    capabilities caps_;
    bool tls_active_ = false;
    bool mail_sent_ = false;
    bool mail_ok_ = false;
    bool pipelined_ = false;
    std::vector<expect> due_;       // replies due, in order (pipelining)
    std::size_t next_rcpt_ = 0;     // next RCPT reply expected / to send
    std::vector<bool> accepted_;
    std::vector<rcpt_outcome> outcome_;
    std::vector<last_reply> reply_;
    std::optional<last_reply> host_error_;
};

}  // namespace mailharness::smtp

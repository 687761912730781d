// The server side of an ESMTP session (RFC 5321) as a sans-I/O state machine.
//
//   need_helo --EHLO/HELO--> ready --MAIL--> mail --RCPT--> rcpt --DATA/BDAT--> (deliver) --> ready
//                             |  ^--AUTH exchange--|
//
// The network layer owns the socket. It frames command lines, hands each to on_command(), writes
// what the session appended to `out`, and does what the returned `action` says: keep reading
// commands, read DATA (through data_decoder) or a BDAT chunk, upgrade to TLS, deliver, or close.
// Policy that needs the server's data (is this a local user? may this client relay?) and the
// credentials for AUTH come from `server_hooks`. Each command handler checks (state, syntax,
// policy) before it proceeds, as OpenSMTPD's smtp_session.c does.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "mailharness/sasl/server.hpp"
#include "mailharness/smtp/command.hpp"
#include "mailharness/smtp/data.hpp"
#include "mailharness/smtp/reply.hpp"

namespace mailharness::smtp {

struct server_session_settings {
    std::string hostname = "localhost";          ///< greeting, EHLO reply, Received: by
    std::string banner = "ESMTP ready";          ///< greeting text after the hostname
    std::uint64_t max_message_size = 25u << 20;  ///< SIZE (RFC 1870); 0 = no limit, not advertised with a value
    unsigned max_recipients = 100;               ///< RCPTs per transaction; more get 452 4.5.3
    bool tls_available = false;                  ///< a certificate is loaded: STARTTLS may be offered
    bool tls_active = false;                     ///< the connection is already TLS (implicit TLS)
    bool auth_required = false;                  ///< submission (RFC 6409): MAIL needs AUTH first
    bool allow_plaintext_auth = false;           ///< PLAIN/LOGIN without TLS (tests only)
    bool auth_enabled = true;                    ///< offer AUTH at all (needs a user database)
    /// SASL mechanisms this listener offers, upper case ("CRAM-MD5"); empty: every supported one.
    /// A mechanism left out is not advertised and AUTH with it gets 504 5.5.4 (e.g. only
    /// CRAM-MD5 and SCRAM-SHA-256, to require a challenge-response login).
    std::vector<std::string> sasl_mechanisms;
    bool normalize_bare_line_endings = false;    ///< rewrite bare CR/LF as CRLF instead of refusing
    command_limits limits;                       ///< command-line parser limits
    unsigned max_errors = 0;                     ///< failed commands before 421 and close; 0 = no limit
    std::chrono::milliseconds error_delay_step{0};  ///< extra reply delay per failed command past the third
    unsigned max_messages = 0;                   ///< messages per session; 0 = no limit
    unsigned max_commands = 0;                   ///< command lines per session, then 421 and close; 0 = no limit
    /// Reply to VRFY and EXPN alike: 252 ("cannot verify", RFC 5321 3.5.3) or 502 (not
    /// implemented). Neither ever depends on the argument, so neither enumerates users.
    int vrfy_code = 252;
};

/// Verdict of the recipient policy for one RCPT TO.
enum class rcpt_verdict {
    accept,        ///< 250 2.1.5
    unknown_user,  ///< 550 5.1.1: local domain, no such user
    relay_denied,  ///< 554 5.7.1: not local and this client may not relay
    temp_failure,  ///< 451 4.3.0
    refused,       ///< 550 5.7.1: refused by policy (e.g. listed in the kill file)
};

/// Verdict on a whole message (after DATA or the last BDAT chunk). `code` 0 accepts; otherwise the
/// transaction fails with this reply (4xx or 5xx) and nothing is delivered.
struct message_verdict {
    int code = 0;
    enhanced_status status;
    std::string text;

    bool accepted() const noexcept { return code == 0; }
};

struct envelope;

/// The server's policy and credentials, supplied by the program that runs the session.
class server_hooks {
public:
    virtual ~server_hooks() = default;
    /// Decides one recipient. `authenticated_user` is empty when not authenticated.
    /// On accept, sets `canonical` to the mailbox the message goes to (e.g. "user@domain").
    virtual rcpt_verdict check_recipient(const path& forward_path, std::string_view authenticated_user,
                                         std::string& canonical) = 0;
    /// Decides the envelope sender. False refuses it with 550 5.7.1. Default: accept.
    virtual bool check_sender(const path& reverse_path) {
        (void)reverse_path;
        return true;
    }
    /// Decides a complete message before it is delivered (header checks, processing rules).
    /// Default: accept.
    virtual message_verdict check_message(const envelope& env, std::string_view message) {
        (void)env;
        (void)message;
        return {};
    }
    /// Credentials for AUTH. nullptr disables AUTH.
    virtual sasl::credential_lookup* credentials() = 0;
    /// An AUTH attempt from `peer` failed. Returns how long to wait before answering (the server
    /// grows it per client IP with each failure). Default: no delay.
    virtual std::chrono::milliseconds auth_failed(std::string_view peer) {
        (void)peer;
        return std::chrono::milliseconds{0};
    }
};

/// What the network layer does after a call.
enum class action {
    read_command,  ///< write `out`, keep reading command lines
    read_data,     ///< write `out` (354), then feed bytes to data_decoder until done, then on_data_end()
    read_bdat,     ///< read exactly bdat_size() octets, then on_bdat_chunk()
    start_tls,     ///< write `out` (220), drop buffered input, handshake, then on_tls_established()
    deliver,       ///< deliver message() to recipients(), then on_delivered()
    close,         ///< write `out`, then close the connection
};

struct envelope {
    std::string helo;                     ///< EHLO/HELO argument
    bool esmtp = false;                   ///< EHLO (not HELO)
    std::string reverse_path;             ///< MAIL FROM mailbox, "" for <>
    std::vector<std::string> recipients;  ///< accepted canonical mailboxes, in order
    bool smtputf8 = false;                ///< MAIL FROM ... SMTPUTF8
    bool body_8bit = false;               ///< BODY=8BITMIME
};

class server_session {
public:
    /// `hooks` must outlive the session. `peer_address` is the client's IP as text.
    server_session(server_session_settings settings, server_hooks& hooks, std::string peer_address);

    /// Appends the 220 greeting.
    void greet(std::string& out) const;

    /// Handles one framed command line (or SASL response line during AUTH). `line_error` is the
    /// line_framer's verdict for it (bare_lf / bare_cr / none).
    action on_command(std::string_view line, std::error_code line_error, std::string& out);

    /// The framer reported line_too_long: appends 500 5.5.2 and asks to close.
    action on_line_too_long(std::size_t length_seen, std::string& out);

    /// True while the next line is a SASL response (after a 334 challenge). RFC 4954 4 keeps
    /// those apart from the command-line limit: the network layer frames them with a larger limit
    /// (12,288 octets is the usual ceiling) and never bans for them.
    bool awaiting_sasl_response() const noexcept { return phase_ == phase::auth || phase_ == phase::auth_final; }

    /// A SASL response exceeded its limit: appends 500 5.5.6 (RFC 4954 4), ends the exchange and
    /// counts an error; the session goes on.
    action on_sasl_response_too_long(std::string& out);

    /// Settings for the DATA decoder of this transaction.
    data_limits data_decoder_limits() const noexcept;

    /// DATA is complete: `decoder` has result() and size(). `content` is the decoded message.
    /// Returns deliver, or read_command with an error reply in `out`.
    action on_data_end(const data_decoder& decoder, std::string content, std::string& out);

    /// A BDAT chunk of bdat_size() octets has been read; `chunk` is its content.
    action on_bdat_chunk(std::string_view chunk, std::string& out);

    /// Result of the delivery asked for by action::deliver. `id` names the message in the reply.
    void on_delivered(std::error_code ec, std::string_view id, std::string& out);

    /// TLS is up (after STARTTLS): the session forgets everything the client said (RFC 3207 4.2).
    void on_tls_established(std::string tls_version);

    /// The message to deliver, after action::deliver; message() excludes the Received: header.
    const std::string& message() const noexcept { return message_; }
    std::string& message() noexcept { return message_; }
    const envelope& current() const noexcept { return env_; }

    /// A Received: header (RFC 5321 4.4) for the current transaction, ending in CRLF.
    std::string received_header(std::string_view id, std::chrono::system_clock::time_point when) const;

    std::uint64_t bdat_size() const noexcept { return bdat_size_; }
    /// True when the coming BDAT chunk will be refused anyway (no transaction, or the message
    /// would exceed the size limit): the network layer reads and drops it instead of storing it,
    /// and passes an empty chunk to on_bdat_chunk().
    bool bdat_discard() const noexcept { return bdat_failed_ || phase_ != phase::rcpt; }
    /// Delay the network layer waits before writing `out` (after a failed AUTH; grows per failure).
    std::chrono::milliseconds reply_delay() const noexcept { return reply_delay_; }
    const std::string& authenticated_user() const noexcept { return auth_user_; }
    bool tls_active() const noexcept { return settings_.tls_active; }
    const std::string& tls_version() const noexcept { return tls_version_; }
    unsigned auth_failures() const noexcept { return auth_failures_; }
    unsigned errors() const noexcept { return errors_; }
    unsigned commands() const noexcept { return commands_; }

private:
    enum class phase { need_helo, ready, mail, rcpt, auth, auth_final };

    action dispatch(std::string_view line, std::string& out);
    action count_errors(action a, std::size_t reply_start, std::string& out);
    action finish_message(std::string& out);
    action handle(const command& cmd, std::string& out);
    action do_helo(const command& cmd, std::string& out);
    action do_mail(const command& cmd, std::string& out);
    action do_rcpt(const command& cmd, std::string& out);
    action do_data(std::string& out);
    action do_bdat(const command& cmd, std::string& out);
    action do_auth(const command& cmd, std::string& out);
    action do_starttls(std::string& out);
    action auth_response(std::string_view line, std::string& out);
    action auth_result(const sasl::step_result& r, std::string& out);
    void reset_transaction();
    bool plaintext_auth_allowed() const noexcept;
    std::vector<std::string> offered_mechanisms() const;

    server_session_settings settings_;
    server_hooks& hooks_;
    std::string peer_;
    std::string tls_version_;
    phase phase_ = phase::need_helo;
    phase before_auth_ = phase::ready;
    envelope env_;
    std::string message_;
    bool in_bdat_ = false;
    bool bdat_failed_ = false;  // a chunk was refused; swallow the rest of the BDAT sequence
    bool bdat_last_ = false;
    std::uint64_t bdat_size_ = 0;
    std::unique_ptr<sasl::server_mechanism> mech_;
    std::string auth_user_;
    unsigned auth_failures_ = 0;
    unsigned errors_ = 0;
    unsigned messages_ = 0;
    unsigned commands_ = 0;
    std::chrono::milliseconds reply_delay_{0};
};

}  // namespace mailharness::smtp

// The server side of a POP3 session (RFC 1939, RFC 2449 CAPA and response codes, RFC 2595 STLS,
// RFC 5034 AUTH) as a sans-I/O state machine.
//
//   AUTHORIZATION --USER+PASS / APOP / AUTH--> (open_mailbox) --ok--> TRANSACTION --QUIT--> UPDATE
//        |  ^--STLS (start_tls)                                          | RETR/TOP (send_message)
//        '--QUIT--> close                                                 '--> close after update
//
// The network layer owns the socket. It frames lines with a line_framer limited by
// input_limits(), hands each line to on_command(), waits reply_delay(), writes what the session
// appended to `out`, and does what the returned `action` says. Where the RFCs leave a choice the
// session answers as Dovecot does (words, response codes, bad-command limits); it never names
// the software. Credentials come from `server_hooks`. Each handler checks (state, syntax,
// policy) before it proceeds.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "mailharness/line_framer.hpp"
#include "mailharness/pop3/command.hpp"
#include "mailharness/sasl/server.hpp"

namespace mailharness::pop3 {

struct server_session_settings {
    std::string banner = "Ready.";                ///< greeting text after "+OK"; must not name software
    /// APOP timestamp for the greeting, "<pid.counter.time@hostname>" (sasl::make_apop_timestamp()).
    /// Sent, and APOP offered, only when `apop` is true and this is not empty.
    std::string apop_timestamp;
    bool user_pass = true;                        ///< offer USER/PASS (RFC 1939 section 7)
    bool apop = false;                            ///< offer APOP (RFC 1939 section 7)
    /// SASL mechanisms offered with AUTH, in the order CAPA lists them. Names that
    /// sasl::make_server() does not support for `sasl_options` are dropped. SCRAM-SHA-256-PLUS needs
    /// sasl_options.binding, which this session does not set.
    std::vector<std::string> sasl_mechanisms = {"SCRAM-SHA-256", "CRAM-MD5", "PLAIN", "LOGIN"};
    /// Password methods in clear (USER/PASS, AUTH PLAIN and LOGIN) before TLS. Off: they are
    /// refused with "-ERR [AUTH] Plaintext authentication disallowed ..." and not advertised.
    bool allow_plaintext_auth = false;
    bool tls_available = false;                   ///< a certificate is loaded: STLS may be offered
    bool tls_active = false;                      ///< the connection is already TLS (implicit TLS, port 995)
    /// Options of the SASL mechanisms: CRAM-MD5 hostname, response limits, SCRAM iterations, salt
    /// key, and test seams for nonces and clock.
    sasl::server_options sasl_options;
    command_limits limits;                        ///< command-line parser limits (RFC 2449 section 4)
    /// Longest client line during an AUTH exchange, not counting CRLF (SASL responses can exceed
    /// the 255-octet command limit).
    std::size_t max_auth_line_length = 8192;
    bool close_on_line_too_long = true;           ///< overlong line: "-ERR" then close (else a bad command)
    /// Failed logins (USER/PASS, APOP or AUTH; unknown user or wrong secret alike) per session:
    /// the Nth failure reply is followed by "-ERR Too many authentication failures." and close;
    /// 0 = no limit. Each failure is also delayed by hooks.auth_failed().
    unsigned max_auth_failures = 3;
    /// Bad commands in a row (any "-ERR" reply except a failed login or a cancelled AUTH): the
    /// Nth one's reply is followed by "-ERR Too many bad commands." and close; any other
    /// command resets the count; 0 = no limit. As Dovecot: 3 before login, 20 after.
    unsigned max_bad_commands_authorization = 3;
    unsigned max_bad_commands_transaction = 20;
    unsigned max_commands = 0;                    ///< command lines per session, then "-ERR" and close; 0 = no limit
    /// IMPLEMENTATION capability text (RFC 2449 section 6.9); empty = not listed. Must not name
    /// the software or its version.
    std::string implementation;
};

/// The server's credentials and login throttle, supplied by the program that runs the session.
class server_hooks {
public:
    virtual ~server_hooks() = default;
    /// Credentials for USER/PASS (verify_plain), APOP (plaintext_secret) and AUTH. nullptr: no
    /// login method is offered.
    virtual sasl::credential_lookup* credentials() = 0;
    /// A login from `peer` failed. Returns how long to wait before the failure reply is written
    /// (the server grows it per client IP with each failure). Default: no delay.
    virtual std::chrono::milliseconds auth_failed(std::string_view peer) {
        (void)peer;
        return std::chrono::milliseconds{0};
    }
};

/// What the network layer does after a call. In every case it first waits reply_delay() (no
/// reading, no writing, pipelined commands stay unread), then writes `out`.
enum class action {
    read_command,  ///< keep reading lines (limits: input_limits())
    /// Lock and open the mailbox of authenticated_user(), then call on_mailbox_opened(). Read no
    /// command meanwhile.
    open_mailbox,
    /// `out` holds "+OK <size> octets". Stream message message_index() through a dot_stuffer
    /// (top_lines()), which ends with ".\r\n", then call on_message_sent().
    send_message,
    /// `out` holds "+OK Begin TLS negotiation now.". Drop everything buffered or framed (plaintext
    /// pipelined after STLS: RFC 2595 section 4, the defence against command injection), reset the
    /// framer, handshake, then call on_tls_established().
    start_tls,
    /// QUIT in TRANSACTION: delete marked() durably, release the mailbox, then call
    /// on_update_done().
    update,
    close,  ///< write `out`, then close the connection
};

/// One message of the maildrop, in the order given to on_mailbox_opened() (message n is
/// index n - 1).
struct message {
    /// Unique-id listing value (RFC 1939 section 7): 1 to 70 octets 0x21-0x7E, stable across
    /// sessions.
    std::string uid;
    /// Size in octets as sent on the wire before dot-stuffing: CRLF line endings (RFC 1939
    /// section 11: "exact size"; a Maildir's ",S=" holds it).
    std::uint64_t size = 0;
};

enum class mailbox_result {
    ok,            ///< opened and locked
    in_use,        ///< another session holds the lock: "-ERR [IN-USE] ..." and close
    temp_failure,  ///< could not be opened now: "-ERR [SYS/TEMP] ..." and close
};

/// RFC 1939 section 3 states.
enum class session_state { authorization, transaction, update };

class server_session {
public:
    /// `hooks` must outlive the session. `peer_address` is the client's IP as text (for
    /// hooks.auth_failed()).
    server_session(server_session_settings settings, server_hooks& hooks, std::string peer_address);

    /// Appends the greeting: "+OK <banner>", plus " <timestamp>" when APOP is offered.
    void greet(std::string& out) const;

    /// Handles one framed line (command, or SASL response during AUTH). `line_error` is the
    /// line_framer's verdict (a bare LF is accepted, as Dovecot does; a bare CR is an invalid
    /// character). Returns read_command, open_mailbox, send_message, start_tls, update or close.
    action on_command(std::string_view line, std::error_code line_error, std::string& out);

    /// The framer reported line_too_long: appends "-ERR" and closes, or counts a bad command when
    /// settings.close_on_line_too_long is false. Ends an AUTH exchange in progress.
    action on_line_too_long(std::size_t length_seen, std::string& out);

    /// Limits for the line framer before each read: the command limit, or
    /// settings.max_auth_line_length during an AUTH exchange.
    line_limits input_limits() const noexcept;

    /// Result of action::open_mailbox. On ok the session enters TRANSACTION with `messages`,
    /// appends "+OK Logged in." and returns read_command; otherwise appends "-ERR [IN-USE] ..." or
    /// "-ERR [SYS/TEMP] ..." and returns close (as Dovecot: no second login on this connection).
    /// A uid that is empty, longer than 70 octets or not printable ASCII counts as temp_failure.
    action on_mailbox_opened(mailbox_result result, std::vector<message> messages, std::string& out);

    /// End of action::send_message. No error: returns read_command. An error means the message
    /// could not be sent whole (vanished, unreadable, short): the reply cannot be repaired, so
    /// it returns close and appends nothing.
    action on_message_sent(std::error_code ec, std::string& out);

    /// End of action::update. Appends "+OK Logging out." (or "+OK Logging out, messages
    /// deleted."), or "-ERR [SYS/TEMP] ..." when `ec` says some deletion failed; returns close.
    action on_update_done(std::error_code ec, std::string& out);

    /// TLS is up after STLS. The session forgets a USER name given before.
    void on_tls_established();

    session_state state() const noexcept { return state_; }
    /// The user who logged in (SASL authorization identity when one was given); empty before.
    const std::string& authenticated_user() const noexcept { return user_; }
    bool tls_active() const noexcept { return settings_.tls_active; }
    /// Delay the network layer waits before writing `out` and before reading anything more: set
    /// after a failed login (hooks.auth_failed()), zero otherwise. Valid until the next call.
    std::chrono::milliseconds reply_delay() const noexcept { return reply_delay_; }

    /// The maildrop given to on_mailbox_opened().
    const std::vector<message>& messages() const noexcept { return messages_; }
    /// After action::send_message: the message to send (index into messages()).
    std::size_t message_index() const noexcept { return message_index_; }
    /// After action::send_message: nullopt for RETR, the line count for TOP.
    std::optional<std::uint32_t> top_lines() const noexcept { return top_lines_; }
    /// Indexes (into messages(), ascending) marked with DELE; after action::update, those to delete.
    std::vector<std::size_t> marked() const;

    unsigned auth_failures() const noexcept { return auth_failures_; }
    unsigned bad_commands() const noexcept { return bad_commands_; }
    unsigned commands() const noexcept { return commands_; }

private:
    enum class phase { authorization, auth, auth_final, opening, transaction, sending, update, closed };

    action dispatch(std::string_view line, std::string& out);
    action handle_authorization(const command& cmd, std::error_code ec, std::string& out);
    action handle_transaction(const command& cmd, std::error_code ec, std::string& out);
    action do_capa(std::string& out);
    action do_user(const command& cmd, std::string& out);
    action do_pass(const command& cmd, std::string& out);
    action do_apop(const command& cmd, std::string& out);
    action do_auth(const command& cmd, std::error_code ec, std::string& out);
    action do_stls(std::string& out);
    action auth_response(std::string_view line, std::string& out);
    action auth_result(const sasl::step_result& r, std::string& out);
    action login_succeeded(std::string user);
    action login_failed(std::string& out);
    action bad(std::string& out, std::string_view reply);
    action refuse_plaintext(std::string& out);
    // Why message number n (1-based) cannot be used (no such message, marked), or "".
    std::string unusable(std::uint32_t n) const;
    bool mechanism_configured(std::string_view name) const;

    bool plaintext_allowed() const noexcept { return settings_.tls_active || settings_.allow_plaintext_auth; }
    bool user_pass_offered() const noexcept;
    bool apop_offered() const noexcept;
    std::vector<std::string> offered_mechanisms() const;

    server_session_settings settings_;
    server_hooks& hooks_;
    std::string peer_;
    phase phase_ = phase::authorization;
    session_state state_ = session_state::authorization;
    bool counted_bad_ = false;  // the current command was counted as a bad command
    std::optional<std::string> pending_user_;  // USER given, PASS awaited
    std::unique_ptr<sasl::server_mechanism> mech_;
    std::string user_;
    std::vector<message> messages_;
    std::vector<bool> deleted_;
    std::size_t message_index_ = 0;
    std::optional<std::uint32_t> top_lines_;
    unsigned auth_failures_ = 0;
    unsigned bad_commands_ = 0;
    unsigned commands_ = 0;
    std::chrono::milliseconds reply_delay_{0};
};

}  // namespace mailharness::pop3

// refmaild's IMAP4rev1 session without I/O: parsed commands in (core/imap command_parser),
// response octets out. The connection coroutine (session.cpp) does the reading, writing, TLS,
// deadlines and IDLE waiting; this class does everything RFC 3501 and the extensions say about
// states, commands and untagged responses, on the shared folders of mail_folder.hpp.
//
// Blocking: the calls touch the file system (Maildir reads, renames, fsyncs); the coroutine runs
// them on the blocking pool. One session_core is used by one thread at a time.
//
// Untagged updates (RFC 3501 5.2, 7.4.1): after every command the selected folder is compared
// with what this session last told the client: new messages give EXISTS/RECENT, flag changes
// FETCH (FLAGS ...) (with MODSEQ once CONDSTORE is enabled), and removed messages EXPUNGE, except
// after FETCH, STORE, SEARCH, COPY and MOVE by sequence number, when the expunges wait for a later
// command so that sequence numbers do not shift under the client.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "mailharness/imap/command.hpp"
#include "mailharness/sasl/credentials.hpp"
#include "mailharness/sasl/server.hpp"

namespace mailharness::refmaild::imap_store {
class folder;
class mailbox_tree;
}  // namespace mailharness::refmaild::imap_store

namespace mailharness::refmaild::imap_room {

struct core_settings {
    std::string greeting = "ready";
    bool tls_available = false;
    bool tls_active = false;
    bool allow_plaintext_auth = false;
    /// listener login_methods (lower case); empty: all.
    std::vector<std::string> login_methods;
    sasl::server_options sasl_options;
    unsigned max_auth_failures = 3;
    unsigned max_errors = 20;
    std::uint64_t max_message_size = 64u << 20;
};

/// What the server provides to a session.
class core_hooks {
public:
    virtual ~core_hooks() = default;
    /// The user database as SASL credentials; nullptr when there is none (no login possible).
    virtual sasl::credential_lookup* credentials() = 0;
    /// A login failed: the delay before the reply (the per-IP throttle shared with SMTP/POP3).
    virtual std::chrono::milliseconds auth_failed() = 0;
    /// A login succeeded for `identity`: the canonical user name and Maildir, or nullopt when the
    /// user cannot log in now (`reason` = "limit" for too many sessions, else a failure).
    struct login_grant {
        std::string user;
        std::filesystem::path maildir;
    };
    virtual std::optional<login_grant> login(const std::string& identity, std::string& reason) = 0;
    /// A log event (key=value text).
    virtual void log(const std::string& event) = 0;
};

enum class core_action {
    read_command,  ///< go on reading commands
    read_line,     ///< the next line is raw (SASL response or DONE): parser.expect_line()
    start_tls,     ///< write `out`, then handshake; then on_tls_established()
    idle,          ///< IDLE began: watch selected(), call idle_poll() on changes, feed lines
    close,         ///< write `out`, then close
};

class session_core {
public:
    session_core(core_settings settings, core_hooks& hooks);
    ~session_core();
    session_core(const session_core&) = delete;
    session_core& operator=(const session_core&) = delete;

    void greet(std::string& out);
    core_action on_command(const imap::command& cmd, std::string& out);
    /// The parser reported an error for a command with `tag` ("" when unreadable).
    core_action on_parse_error(std::string_view tag, std::error_code ec, std::string& out);
    /// The raw line asked for by core_action::read_line / idle.
    core_action on_line(std::string_view line, std::string& out);

    /// APPEND message literal announced. False: refused (a tagged NO is in `out`); the caller
    /// then resets the parser for a synchronising literal, or lets the octets pass (non-sync),
    /// and the final command event gives nothing more.
    bool on_append_begin(const imap::command& cmd, std::string& out);
    void on_append_data(std::string_view data);

    void on_tls_established();
    /// Wait before writing `out` (failed logins).
    std::chrono::milliseconds reply_delay() const noexcept;

    /// IDLE: sync with the folder and append untagged updates.
    void idle_poll(std::string& out);
    /// The selected folder (IDLE watches it), or nullptr.
    std::shared_ptr<imap_store::folder> selected() const;
    bool authenticated() const noexcept;
    bool idling() const noexcept;
    const std::string& user() const noexcept;
    /// After core_action::close: why ("logout", "too_many_errors", "too_many_auth_failures", ...).
    const std::string& close_reason() const noexcept;

private:
    struct impl;
    std::unique_ptr<impl> p_;
};

}  // namespace mailharness::refmaild::imap_room

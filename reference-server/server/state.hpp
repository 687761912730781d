// What every protocol session of one refmaild shares: settings, log, metrics, the user database
// and access lists (snapshots swapped on reload), bans, the login throttle, TLS, the store and the
// delivery router. Owned by server::impl; sessions hold a reference for their lifetime (the
// server destroys its io_context, and with it every suspended session, before this state).
#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "log.hpp"
#include "metrics.hpp"
#include "mailharness/net/listener.hpp"
#include "mailharness/net/tls.hpp"
#include "mailharness/refmaild/access_list.hpp"
#include "mailharness/refmaild/auth/credentials.hpp"
#include "mailharness/refmaild/auth/throttle.hpp"
#include "mailharness/refmaild/ban_list.hpp"
#include "mailharness/refmaild/delivery/router.hpp"
#include "mailharness/refmaild/maildir_store.hpp"
#include "mailharness/refmaild/passwd_file.hpp"
#include "mailharness/refmaild/settings.hpp"

namespace boost::asio {
class thread_pool;
}

namespace mailharness::refmaild {

namespace queue {
class spool;
class runner;
}  // namespace queue

/// A consistent view of the reloadable material, taken once per session.
struct snapshot {
    std::shared_ptr<const users::user_db> users;
    std::shared_ptr<const std::set<std::string>> local_domains;
    std::shared_ptr<const policy::access_list> kill;
    std::shared_ptr<const policy::access_list> accept;
};

struct server_state {
    explicit server_state(config::refmaild_settings s);
    ~server_state();

    config::refmaild_settings settings;
    logger log;
    metric_counters metrics;
    auth::throttle throttle;
    std::string id_prefix;  // random per process: session ids are unique across restarts
    std::atomic<std::uint64_t> next_session{1};
    net::server_tls tls;
    policy::ban_list bans;
    std::vector<policy::ip_network> trusted;  // policy.trusted_networks, parsed once
    std::unique_ptr<store::maildir_store> store;
    std::unique_ptr<queue::spool> spool;        // null: no relaying
    std::unique_ptr<delivery::router> router;
    queue::runner* runner = nullptr;            // owned by server::impl (needs the io_context)
    std::unique_ptr<boost::asio::thread_pool> resolver_pool;  // reverse DNS off the io threads
    std::unique_ptr<boost::asio::thread_pool> blocking_pool;  // Maildir opens and removals (fsyncs)

    /// Mailboxes open in a POP3 session now (RFC 1939 8: one session per maildrop).
    std::mutex pop3_mutex;
    std::unordered_set<std::string> pop3_open;

    /// IMAP sessions per "user ip" (imap.max_user_ip_connections).
    std::mutex imap_mutex;
    std::unordered_map<std::string, unsigned> imap_user_ip;

    /// Message octets held in memory by receiving SMTP sessions (smtp.max_buffered_*).
    class memory_budget {
    public:
        memory_budget(std::uint64_t total, std::uint64_t per_ip) : max_total_(total), max_per_ip_(per_ip) {}
        /// Takes `n` more octets for `ip`; false (nothing taken) when a bound would be passed.
        bool take(const std::string& ip, std::uint64_t n);
        void give_back(const std::string& ip, std::uint64_t n);
        std::uint64_t in_use() const;

    private:
        std::uint64_t max_total_, max_per_ip_;
        mutable std::mutex mutex_;
        std::uint64_t total_ = 0;
        std::unordered_map<std::string, std::uint64_t> per_ip_;
    };
    memory_budget message_memory;

    snapshot current() const;
    bool trusted_ip(const std::string& ip) const;
    /// "session=<id> ip=<ip> listener=<name>": the prefix of every log line of a session.
    std::string new_session_tag(const std::string& ip, const std::string& listener, std::string& session_id);

    // ---- loading (constructor and SIGHUP) ----
    void load_users();
    void load_tls();
    void load_access_lists();

    /// Counts a disconnection of `ip` for naming unknown recipients; true when it reached
    /// smtp.unknown_recipient_ban_after within the last hour (then the count starts over).
    bool enumeration_offence(const std::string& ip);

    /// Bans `ip` for policy.long_line_ban (no-op when that is 0); logs it.
    void ban_long_line(const std::string& ip, const std::string& tag);

private:
    mutable std::mutex mutex_;
    snapshot snap_;
    struct offence {
        unsigned count = 0;
        std::chrono::steady_clock::time_point first{};
    };
    std::mutex offence_mutex_;
    std::unordered_map<std::string, offence> offences_;
};

}  // namespace mailharness::refmaild

// refmaild network server: Asio coroutines, one per connection, on a strand per connection.
#include "server.hpp"

#include <openssl/ssl.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <mutex>
#include <random>
#include <set>
#include <sstream>
#include <thread>
#include <unordered_map>
#include <vector>

#include <netdb.h>
#include <sys/socket.h>

#include "mailharness/line_framer.hpp"
#include "mailharness/mail/header.hpp"
#include "mailharness/refmaild/access_list.hpp"
#include "mailharness/refmaild/rules.hpp"
#include "mailharness/refmaild/ban_list.hpp"
#include "mailharness/refmaild/cert_tool.hpp"
#include "mailharness/refmaild/maildir_store.hpp"
#include "mailharness/refmaild/passwd_file.hpp"
#include "mailharness/refmaild/queue/runner.hpp"
#include "mailharness/refmaild/queue/spool.hpp"
#include "mailharness/smtp/data.hpp"
#include "mailharness/smtp/error.hpp"
#include "mailharness/smtp/server_session.hpp"

namespace mailharness::refmaild {

namespace asio = boost::asio;
namespace ssl = boost::asio::ssl;
namespace beast = boost::beast;
namespace http = boost::beast::http;
using tcp = asio::ip::tcp;
using asio::awaitable;
using asio::use_awaitable;
using clock_type = std::chrono::steady_clock;
constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

namespace {

// ---- logging: one line per session event ----

std::mutex log_mutex;
config::log_level log_threshold = config::log_level::info;

void log(config::log_level level, const std::string& line) {
    if (level < log_threshold) return;
    static const char* names[] = {"trace", "debug", "info", "warn", "error"};
    std::lock_guard lock(log_mutex);
    std::fprintf(stderr, "refmaild: %s %s\n", names[static_cast<int>(level)], line.c_str());
}

// ---- TLS ----

std::shared_ptr<ssl::context> build_tls_context(const config::tls_settings& t) {
    auto ctx = std::make_shared<ssl::context>(ssl::context::tls_server);
    SSL_CTX* c = ctx->native_handle();
    SSL_CTX_set_min_proto_version(c, t.min_version == config::tls_version::v1_3 ? TLS1_3_VERSION : TLS1_2_VERSION);
    SSL_CTX_set_options(c, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_NO_COMPRESSION);
    if (SSL_CTX_set_cipher_list(c, t.ciphers.c_str()) != 1) throw std::runtime_error("tls.ciphers: no usable cipher");
    if (SSL_CTX_set_ciphersuites(c, t.ciphersuites.c_str()) != 1) {
        throw std::runtime_error("tls.ciphersuites: no usable suite");
    }
    if (SSL_CTX_set1_groups_list(c, t.groups.c_str()) != 1) throw std::runtime_error("tls.groups: invalid list");
    boost::system::error_code ec;
    ctx->use_certificate_chain_file(t.cert_file.string(), ec);
    if (ec) throw std::runtime_error("tls.cert_file " + t.cert_file.string() + ": " + ec.message());
    ctx->use_private_key_file(t.key_file.string(), ssl::context::pem, ec);
    if (ec) throw std::runtime_error("tls.key_file " + t.key_file.string() + ": " + ec.message());
    if (SSL_CTX_check_private_key(c) != 1) throw std::runtime_error("tls.key_file does not match tls.cert_file");
    if (t.client_cert != config::client_cert_mode::none) {
        ctx->load_verify_file(t.ca_file.string(), ec);
        if (ec) throw std::runtime_error("tls.ca_file " + t.ca_file.string() + ": " + ec.message());
        SSL_CTX_set_client_CA_list(c, SSL_load_client_CA_file(t.ca_file.c_str()));
        int mode = SSL_VERIFY_PEER;
        if (t.client_cert == config::client_cert_mode::required) mode |= SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
        SSL_CTX_set_verify(c, mode, nullptr);
        static const unsigned char sid[] = "refmaild";
        SSL_CTX_set_session_id_context(c, sid, sizeof sid - 1);
    }
    return ctx;
}

// ---- metrics ----

struct latency_histogram {
    static constexpr std::array<double, 12> bounds{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                                   0.1,   0.25,   0.5,   1.0,  2.5,   10.0};
    std::array<std::atomic<std::uint64_t>, bounds.size() + 1> buckets{};
    std::atomic<std::uint64_t> count{0};
    std::atomic<std::uint64_t> sum_us{0};
    void observe(double seconds) {
        std::size_t i = 0;
        while (i < bounds.size() && seconds > bounds[i]) ++i;
        buckets[i].fetch_add(1, std::memory_order_relaxed);
        count.fetch_add(1, std::memory_order_relaxed);
        sum_us.fetch_add(static_cast<std::uint64_t>(seconds * 1e6), std::memory_order_relaxed);
    }
};

struct metric_counters {
    std::atomic<std::uint64_t> connections_smtp{0}, connections_submission{0}, connections_smtps{0};
    std::atomic<std::int64_t> connections_active{0};
    std::atomic<std::uint64_t> messages_accepted{0};
    std::atomic<std::uint64_t> rejected_too_big{0}, rejected_bare_newline{0}, rejected_delivery_failed{0};
    std::atomic<std::uint64_t> rcpt_unknown_user{0}, rcpt_relay_denied{0}, rcpt_relay_trick{0}, rcpt_refused{0};
    std::atomic<std::uint64_t> rejected_header{0}, rejected_loop{0}, rejected_no_from{0}, rejected_by_rule{0}, discarded_by_rule{0};
    std::atomic<std::uint64_t> session_limit_closes{0};
    std::atomic<std::uint64_t> bytes_received{0};
    std::atomic<std::uint64_t> auth_success{0}, auth_failure{0};
    std::atomic<std::uint64_t> tls_handshakes{0}, tls_failures{0};
    std::atomic<std::uint64_t> long_lines{0};
    std::atomic<std::uint64_t> refused_connections{0};
    std::atomic<long long> cert_days_left{0};
    std::atomic<bool> has_cert{false};
    latency_histogram delivery_latency;
};

// ---- per-IP authentication throttle ----

class auth_throttle {
public:
    auth_throttle(std::chrono::milliseconds base, std::chrono::milliseconds max) : base_(base), max_(max) {}
    std::chrono::milliseconds fail(const std::string& ip) {
        std::lock_guard lock(mutex_);
        auto now = clock_type::now();
        if (map_.size() > 100000) map_.clear();  // bound memory under a spray of addresses
        auto& e = map_[ip];
        if (now - e.last > std::chrono::minutes(15)) e.failures = 0;
        e.last = now;
        ++e.failures;
        auto d = base_ * (1LL << std::min<unsigned>(e.failures - 1, 20));
        return std::min<std::chrono::milliseconds>(d, max_);
    }

private:
    struct entry {
        unsigned failures = 0;
        clock_type::time_point last{};
    };
    std::chrono::milliseconds base_, max_;
    std::mutex mutex_;
    std::unordered_map<std::string, entry> map_;
};

// ---- the user database as SASL credentials ----

class credentials_adapter final : public sasl::credential_lookup {
public:
    explicit credentials_adapter(std::shared_ptr<const users::user_db> db) : db_(std::move(db)) {}
    result verify_plain(std::string_view authcid, std::string_view password) override {
        switch (db_->verify_password(authcid, password)) {
            case users::verify_result::ok: return result::ok;
            case users::verify_result::wrong_password: return result::wrong_password;
            case users::verify_result::unknown_user: return result::no_user;
            default: return result::no_secret;
        }
    }
    result plaintext_secret(std::string_view authcid, std::string& secret) override {
        if (!db_->lookup(authcid)) return result::no_user;
        auto s = db_->plaintext_secret(authcid);
        if (!s) return result::no_secret;
        secret = std::move(*s);
        return result::ok;
    }

private:
    std::shared_ptr<const users::user_db> db_;
};

enum class listener_kind { smtp, submission, smtps };

const char* kind_name(listener_kind k) {
    switch (k) {
        case listener_kind::smtp: return "smtp";
        case listener_kind::submission: return "submission";
        case listener_kind::smtps: return "smtps";
    }
    return "?";
}

}  // namespace

// ---- shared server state ----

struct server::impl {
    config::refmaild_settings settings;
    // Destroyed explicitly in ~server() before the members that coroutine frames still refer to.
    std::unique_ptr<asio::io_context> ioc;
    std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work;
    std::vector<std::thread> threads;
    std::unique_ptr<store::maildir_store> store;
    metric_counters metrics;
    auth_throttle throttle;
    std::string id_prefix;
    std::atomic<std::uint64_t> next_session{1};

    mutable std::mutex mutex;  // guards tls_ctx, users, local_domains, kill, accept
    std::shared_ptr<ssl::context> tls_ctx;
    std::shared_ptr<const policy::access_list> kill = std::make_shared<policy::access_list>();
    std::shared_ptr<const policy::access_list> accept = std::make_shared<policy::access_list>();
    std::vector<policy::ip_network> trusted;  // policy.trusted_networks, parsed once
    // Reverse DNS lookups (blocking getnameinfo/getaddrinfo) run here, off the io threads.
    asio::thread_pool resolver_pool{2};
    policy::ban_list bans{settings.store.data_dir.empty() ? std::filesystem::path() : settings.store.data_dir / "bans"};
    std::shared_ptr<const users::user_db> users;
    std::shared_ptr<const std::set<std::string>> local_domains;

    // Open SMTP connections, in total and per client IP (for the connection limits).
    std::mutex conn_mutex;
    std::size_t open_connections = 0;
    std::unordered_map<std::string, unsigned> open_per_ip;

    // Counts a new connection; false (and nothing counted) when a limit says no.
    bool admit(const std::string& ip) {
        std::lock_guard lock(conn_mutex);
        const auto& s = settings.smtp;
        if (s.max_connections && open_connections >= s.max_connections) return false;
        auto& n = open_per_ip[ip];
        if (s.max_connections_per_ip && n >= s.max_connections_per_ip) {
            if (n == 0) open_per_ip.erase(ip);
            return false;
        }
        ++n;
        ++open_connections;
        return true;
    }
    void release(const std::string& ip) {
        std::lock_guard lock(conn_mutex);
        --open_connections;
        if (auto it = open_per_ip.find(ip); it != open_per_ip.end() && --it->second == 0) open_per_ip.erase(it);
    }

    std::vector<std::unique_ptr<tcp::acceptor>> acceptors;
    std::map<std::string, std::uint16_t> ports;
    std::atomic<bool> stopped{false};

    // Outbound relay queue; null when there is no spool directory (no data_dir): no relaying.
    // The runner is destroyed before the io_context (see ~server).
    std::unique_ptr<queue::spool> spool;
    std::unique_ptr<queue::runner> runner;

    void start_queue() {
        const auto& q = settings.queue;
        if (q.spool_dir.empty() && settings.store.data_dir.empty()) return;
        auto dir = config::queue_spool_dir(settings);
        spool = std::make_unique<queue::spool>(queue::spool_settings{.dir = dir, .max_batch = settings.store.max_batch});
        if (auto ec = spool->prepare()) throw std::runtime_error("queue.spool_dir " + dir.string() + ": " + ec.message());
        queue::runner_settings rs{
            .hostname = settings.server.hostname,
            .retry = {.min = q.retry_min, .max = q.retry_max, .max_lifetime = q.max_lifetime},
            .concurrency = q.concurrency,
            .connect_timeout = q.connect_timeout,
            .greeting_timeout = q.greeting_timeout,
            .command_timeout = q.command_timeout,
            .data_init_timeout = q.data_init_timeout,
            .data_block_timeout = q.data_block_timeout,
            .data_end_timeout = q.data_end_timeout,
            .default_tls = q.default_tls,
            .tls_verify = q.tls_verify,
            .tls_ca_file = q.tls_ca_file,
            .transport_map = q.transport_map,
            .poll_interval = q.poll_interval,
            .max_message_size = settings.smtp.max_message_size + (1u << 20),
            .mx_port = q.mx_port,
            .dns_server = q.dns_server,
        };
        queue::runner_hooks hooks;
        hooks.is_local_domain = [this](std::string_view d) {
            auto domains = user_snapshot().second;
            return domains && domains->count(std::string(d)) > 0;
        };
        // Bounces to local senders go straight into the store.
        hooks.deliver_local = [this](const std::string& address, std::string message,
                                     std::function<void(std::error_code)> done) {
            auto db = user_snapshot().first;
            const users::user_entry* e = db ? db->lookup(address) : nullptr;
            if (!e) return false;
            store->deliver_async({{e->user, e->domain}, {}, std::make_shared<const std::string>(std::move(message))},
                                 [done = std::move(done)](std::error_code ec, std::string) { done(ec); });
            return true;
        };
        hooks.log = [](queue::runner_log_level level, const std::string& line) {
            static constexpr config::log_level map[] = {config::log_level::debug, config::log_level::info,
                                                        config::log_level::warn, config::log_level::error};
            log(map[static_cast<int>(level)], line);
        };
        runner = std::make_unique<queue::runner>(*ioc, std::move(rs), *spool, std::move(hooks));
    }

    explicit impl(config::refmaild_settings s)
        : settings(std::move(s)),
          ioc(std::make_unique<asio::io_context>(static_cast<int>(std::max(1u, settings.server.io_threads)))),
          throttle(settings.auth.failure_delay_base, settings.auth.failure_delay_max) {
        std::random_device rd;
        char buf[16];
        std::snprintf(buf, sizeof buf, "%08x", rd());
        id_prefix = buf;
    }

    std::shared_ptr<ssl::context> tls() const {
        std::lock_guard lock(mutex);
        return tls_ctx;
    }
    std::shared_ptr<const policy::access_list> kill_list() const {
        std::lock_guard lock(mutex);
        return kill;
    }
    std::shared_ptr<const policy::access_list> accept_list() const {
        std::lock_guard lock(mutex);
        return accept;
    }

    // Loads the kill file and the accept file (at start and on SIGHUP). A bad line is skipped and
    // logged; an unreadable file gives an empty list and a warning.
    void load_access_lists() {
        auto load = [](const std::filesystem::path& file, const char* what) {
            auto l = std::make_shared<policy::access_list>();
            if (file.empty()) return l;
            std::vector<policy::list_problem> problems;
            *l = policy::access_list::load(file, &problems);
            for (auto& p : problems) {
                log(config::log_level::warn, std::string("event=") + what + "_problem file=" + file.string() +
                                                 " line=" + std::to_string(p.line) + " " + p.message);
            }
            return l;
        };
        auto k = load(settings.policy.kill_file, "kill_file");
        auto a = load(settings.policy.accept_file, "accept_file");
        std::lock_guard lock(mutex);
        kill = std::move(k);
        accept = std::move(a);
    }

    bool trusted_ip(const std::string& ip) const {
        return std::any_of(trusted.begin(), trusted.end(), [&](const policy::ip_network& n) { return n.contains(ip); });
    }

    std::pair<std::shared_ptr<const users::user_db>, std::shared_ptr<const std::set<std::string>>> user_snapshot() const {
        std::lock_guard lock(mutex);
        return {users, local_domains};
    }

    void load_tls() {
        if (settings.tls.cert_file.empty()) return;
        auto ctx = build_tls_context(settings.tls);
        auto info = cert::check(settings.tls.cert_file);
        if (info) {
            metrics.cert_days_left = info->days_left;
            metrics.has_cert = true;
            if (info->expired) {
                log(config::log_level::warn, "event=certificate_expired file=" + settings.tls.cert_file.string());
            } else if (settings.tls.expiry_warning_days && info->days_left < settings.tls.expiry_warning_days) {
                log(config::log_level::warn, "event=certificate_expiring days_left=" + std::to_string(info->days_left) +
                                                 " file=" + settings.tls.cert_file.string());
            }
        }
        std::lock_guard lock(mutex);
        tls_ctx = std::move(ctx);
    }

    void load_users() {
        std::shared_ptr<users::user_db> db;
        if (settings.auth.passwd_file.empty()) {
            db = std::make_shared<users::user_db>();
        } else {
            auto r = users::user_db::load(settings.auth.passwd_file);
            if (r.error) {
                throw std::runtime_error("auth.passwd_file " + settings.auth.passwd_file.string() + ": " +
                                         r.error.message());
            }
            for (auto& p : r.problems) {
                log(config::log_level::warn, "event=passwd_problem line=" + std::to_string(p.line) + " " + p.message);
            }
            db = std::make_shared<users::user_db>(std::move(r.db));
        }
        auto domains = std::make_shared<std::set<std::string>>();
        for (auto& d : users::local_domains(*db, settings.local_domains)) domains->insert(d);  // already lower case
        std::lock_guard lock(mutex);
        users = std::move(db);
        local_domains = std::move(domains);
    }

    smtp::server_session_settings session_settings(listener_kind kind) const {
        const auto& s = settings.smtp;
        smtp::server_session_settings ss;
        ss.hostname = settings.server.hostname;
        ss.banner = settings.server.smtp_banner;
        ss.max_message_size = s.max_message_size;
        ss.max_recipients = s.max_recipients;
        ss.tls_available = tls() != nullptr;
        ss.tls_active = kind == listener_kind::smtps;
        ss.auth_required = kind != listener_kind::smtp;
        ss.allow_plaintext_auth = settings.auth.allow_plaintext_auth;
        ss.auth_enabled = !settings.auth.passwd_file.empty();
        ss.normalize_bare_line_endings = s.bare_lf == config::bare_lf_policy::normalize;
        ss.limits.max_line_length = s.max_line_length >= 2 ? s.max_line_length - 2 : s.max_line_length;
        ss.max_errors = s.max_errors;
        ss.error_delay_step = s.error_delay_step;
        ss.max_messages = s.max_messages_per_session;
        ss.max_commands = s.max_commands_per_session;
        ss.vrfy_code = s.vrfy_reply;
        return ss;
    }

    awaitable<void> accept_loop(tcp::acceptor& acceptor, listener_kind kind);
    awaitable<void> run_session(tcp::socket socket, listener_kind kind);
    awaitable<void> metrics_loop(tcp::acceptor& acceptor);
    awaitable<void> serve_metrics(tcp::socket socket);
    std::string metrics_text() const;
};

namespace {

// The client's host name, found in the background at connect by forward-confirmed reverse DNS
// (the PTR name must resolve back to the client's IP, or anyone could claim any name). The relay
// decision reads it once `done` is set; until then the client has no host name.
struct host_lookup {
    std::atomic<bool> done{false};
    std::string name;  // written before done is set; empty when there is none or it is not confirmed
};

std::string confirmed_host_name(const std::string& ip) {
    sockaddr_storage ss{};
    socklen_t len = 0;
    auto addr = asio::ip::make_address(ip);
    if (addr.is_v4()) {
        auto* sin = reinterpret_cast<sockaddr_in*>(&ss);
        sin->sin_family = AF_INET;
        auto b = addr.to_v4().to_bytes();
        std::memcpy(&sin->sin_addr, b.data(), b.size());
        len = sizeof(sockaddr_in);
    } else {
        auto* sin6 = reinterpret_cast<sockaddr_in6*>(&ss);
        sin6->sin6_family = AF_INET6;
        auto b = addr.to_v6().to_bytes();
        std::memcpy(&sin6->sin6_addr, b.data(), b.size());
        len = sizeof(sockaddr_in6);
    }
    char host[NI_MAXHOST];
    if (::getnameinfo(reinterpret_cast<sockaddr*>(&ss), len, host, sizeof host, nullptr, 0, NI_NAMEREQD) != 0) return {};
    addrinfo hints{};
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* res = nullptr;
    if (::getaddrinfo(host, nullptr, &hints, &res) != 0) return {};
    bool confirmed = false;
    for (auto* a = res; a && !confirmed; a = a->ai_next) {
        char text[INET6_ADDRSTRLEN] = {};
        const void* p = a->ai_family == AF_INET ? static_cast<const void*>(&reinterpret_cast<sockaddr_in*>(a->ai_addr)->sin_addr)
                                                : static_cast<const void*>(&reinterpret_cast<sockaddr_in6*>(a->ai_addr)->sin6_addr);
        if (::inet_ntop(a->ai_family, p, text, sizeof text)) {
            boost::system::error_code ec;
            auto got = asio::ip::make_address(text, ec);
            confirmed = !ec && got == addr;
        }
    }
    ::freeaddrinfo(res);
    return confirmed ? std::string(host) : std::string();
}

bool is_relay_trick(const smtp::path& p) {
    return p.has(smtp::source_route) || p.has(smtp::percent_hack) || p.has(smtp::bang_path) || p.has(smtp::at_in_local) ||
           p.has(smtp::address_literal);
}

// Relay control, recipient and message policy, and credentials for one session (a snapshot of the
// user database and the access lists, taken at connect).
class session_hooks final : public smtp::server_hooks {
public:
    session_hooks(server::impl& srv, std::string ip, std::shared_ptr<const host_lookup> host)
        : srv_(srv), ip_(std::move(ip)), host_(std::move(host)) {
        auto [db, domains] = srv.user_snapshot();
        db_ = std::move(db);
        domains_ = std::move(domains);
        kill_ = srv.kill_list();
        accept_ = srv.accept_list();
        trusted_ = srv.trusted_ip(ip_);
        accepted_ip_ = accept_->matches_ip(ip_);
        if (db_) creds_.emplace(db_);
    }

    // The session these hooks serve (for TLS state and the authenticated user in rules).
    void attach(const smtp::server_session& s) { session_ = &s; }

    // Accept-file clients (by IP) are exempt from the recipient and message limits.
    bool exempt_from_limits() const { return accepted_ip_; }
    bool local_domain(std::string_view domain) const { return domains_->count(std::string(domain)) != 0; }
    // Rules outcome for the message check_message() last accepted.
    const rules::decision& rules_decision() const { return decision_; }

    bool check_sender(const smtp::path& p) override {
        relayed_ = false;
        decision_ = {};
        if (p.is_null()) {
            if (srv_.settings.policy.null_sender == config::null_sender_policy::refuse) return false;
            null_sender_ = true;
            sender_in_accept_ = false;
            return true;
        }
        std::string mailbox = p.unquoted_local_part() + "@" + p.lowercase_domain();
        if (kill_->matches_address(mailbox)) return false;
        null_sender_ = false;
        sender_in_accept_ = accept_->matches_address(mailbox);
        return true;
    }

    smtp::rcpt_verdict check_recipient(const smtp::path& p, std::string_view user, std::string& canonical) override {
        if (!p.has(smtp::postmaster) && kill_->matches_address(p.unquoted_local_part() + "@" + p.lowercase_domain())) {
            srv_.metrics.rcpt_refused++;
            return smtp::rcpt_verdict::refused;
        }
        if (p.has(smtp::postmaster)) {
            // RFC 5321 4.5.1: <Postmaster> must be accepted; it goes to postmaster of the first
            // local domain that has one.
            for (auto& d : *domains_) {
                if (db_->lookup("postmaster@" + d)) {
                    canonical = "postmaster@" + d;
                    return smtp::rcpt_verdict::accept;
                }
            }
            srv_.metrics.rcpt_unknown_user++;
            return smtp::rcpt_verdict::unknown_user;
        }
        std::string domain = p.has(smtp::address_literal) ? std::string() : p.lowercase_domain();
        if (!domain.empty() && local_domain(domain)) {
            // Relay tricks aimed at a local domain (user%remote@local, remote!user@local,
            // "user@remote"@local) name no local user: they fall through to 550 here. A source
            // route in front of a local mailbox is ignored (RFC 5321 C).
            std::string address = p.unquoted_local_part() + "@" + domain;
            if (const auto* e = db_->lookup(address)) {
                canonical = e->user + "@" + e->domain;
                return smtp::rcpt_verdict::accept;
            }
            srv_.metrics.rcpt_unknown_user++;
            return smtp::rcpt_verdict::unknown_user;
        }
        // Not local: relaying. Tricks that hide another destination are never relayed, whoever
        // asks; nor is the null sender unless policy.null_sender says accept.
        if (is_relay_trick(p)) {
            srv_.metrics.rcpt_relay_trick++;
            return smtp::rcpt_verdict::relay_denied;
        }
        // Relaying needs the outbound queue (there is none without a spool directory).
        if (!srv_.spool || (null_sender_ && srv_.settings.policy.null_sender != config::null_sender_policy::accept) ||
            !may_relay(user)) {
            srv_.metrics.rcpt_relay_denied++;
            return smtp::rcpt_verdict::relay_denied;
        }
        canonical = std::string(p.local_part) + "@" + domain;
        relayed_ = true;
        return smtp::rcpt_verdict::accept;
    }

    smtp::message_verdict check_message(const smtp::envelope& env, std::string_view message) override {
        const auto& cfg = srv_.settings;
        mail::header_limits limits;
        if (cfg.smtp.max_header_size) limits.max_size = static_cast<std::size_t>(cfg.smtp.max_header_size);
        else limits.max_size = message.size() + 1;
        mail::header_parser header(limits);
        std::error_code ec;
        header.put(message, ec);
        if (!ec && !header.done()) header.finish(ec);
        if (ec) {
            srv_.metrics.rejected_header++;
            return {552, smtp::es(5, 3, 4), "Error: " + ec.message()};
        }
        if (cfg.smtp.max_hops) {
            // RFC 5321 6.3: a message that has passed through too many relays is in a loop.
            auto hops = header.count("Received");
            if (hops >= cfg.smtp.max_hops) {
                srv_.metrics.rejected_loop++;
                return {554, smtp::es(5, 4, 6), "Error: too many hops (" + std::to_string(hops) + " Received: fields); mail loop?"};
            }
        }
        if (relayed_ && cfg.policy.relay_requires_from && !header.find("From") && !header.find("Reply-To")) {
            srv_.metrics.rejected_no_from++;
            return {550, smtp::es(5, 7, 1), "Error: relayed mail needs a From: or Reply-To: header field"};
        }
        decision_ = {};
        if (!cfg.rules.empty()) {
            std::string_view auth = session_ ? std::string_view(session_->authenticated_user()) : std::string_view();
            decision_ = rules::evaluate(cfg.rules, {.client_ip = ip_,
                                                    .auth_user = auth,
                                                    .sender = env.reverse_path,
                                                    .recipients = &env.recipients,
                                                    .headers = &header.fields(),
                                                    .size = message.size(),
                                                    .tls = session_ && session_->tls_active()});
            if (decision_.outcome == rules::decision::verdict::reject) {
                srv_.metrics.rejected_by_rule++;
                return {decision_.code, decision_.status, decision_.text};
            }
        }
        return {};
    }

    sasl::credential_lookup* credentials() override { return creds_ ? &*creds_ : nullptr; }

    std::chrono::milliseconds auth_failed(std::string_view peer) override {
        srv_.metrics.auth_failure++;
        return srv_.throttle.fail(std::string(peer));
    }

private:
    bool may_relay(std::string_view user) const {
        if (!user.empty() || trusted_ || accepted_ip_ || sender_in_accept_) return true;
        return host_ && host_->done.load(std::memory_order_acquire) && !host_->name.empty() &&
               accept_->matches_host(host_->name);
    }

    server::impl& srv_;
    std::string ip_;
    std::shared_ptr<const host_lookup> host_;
    const smtp::server_session* session_ = nullptr;
    std::shared_ptr<const users::user_db> db_;
    std::shared_ptr<const std::set<std::string>> domains_;
    std::shared_ptr<const policy::access_list> kill_;
    std::shared_ptr<const policy::access_list> accept_;
    std::optional<credentials_adapter> creds_;
    bool trusted_ = false;
    bool accepted_ip_ = false;
    bool null_sender_ = false;
    bool sender_in_accept_ = false;
    bool relayed_ = false;  // the current transaction has a recipient outside the local domains
    rules::decision decision_;
};

// A client connection: plain TCP that may become TLS, with a watchdog deadline.
class connection {
public:
    explicit connection(tcp::socket s) : socket_(std::move(s)), watchdog_(socket_.get_executor()) {}

    awaitable<std::size_t> read_some(asio::mutable_buffer b, boost::system::error_code& ec) {
        std::size_t n = 0;
        if (tls_) {
            std::tie(ec, n) = co_await tls_->async_read_some(b, use_tuple);
        } else {
            std::tie(ec, n) = co_await socket_.async_read_some(b, use_tuple);
        }
        co_return n;
    }

    awaitable<void> write(std::string_view data, boost::system::error_code& ec) {
        if (data.empty()) co_return;
        std::size_t n = 0;
        if (tls_) {
            std::tie(ec, n) = co_await asio::async_write(*tls_, asio::buffer(data), use_tuple);
        } else {
            std::tie(ec, n) = co_await asio::async_write(socket_, asio::buffer(data), use_tuple);
        }
    }

    awaitable<void> handshake(std::shared_ptr<ssl::context> ctx, boost::system::error_code& ec) {
        ctx_ = std::move(ctx);
        tls_ = std::make_unique<ssl::stream<tcp::socket&>>(socket_, *ctx_);
        std::tie(ec) = co_await tls_->async_handshake(ssl::stream_base::server, use_tuple);
    }

    // Sends TLS close_notify (RFC 8446 6.1) and waits briefly for the peer's; the watchdog
    // deadline bounds the wait for a peer that never answers.
    awaitable<void> shutdown_tls() {
        if (!tls_ || timed_out_) co_return;
        set_deadline(std::chrono::seconds(5));
        co_await tls_->async_shutdown(use_tuple);
    }

    std::string tls_description() const {
        if (!tls_) return {};
        SSL* s = tls_->native_handle();
        return std::string(SSL_get_version(s)) + " " + SSL_get_cipher_name(s);
    }

    std::string tls_version() const { return tls_ ? SSL_get_version(tls_->native_handle()) : std::string(); }

    // Closes the socket when the deadline passes; every read or write first moves the deadline.
    // No deadline goes past the session's time limit.
    void set_deadline(std::chrono::milliseconds d) { deadline_ = std::min(clock_type::now() + d, limit_); }
    void set_session_limit(std::chrono::milliseconds d) {
        if (d.count() > 0) limit_ = clock_type::now() + d;
    }
    bool past_session_limit() const { return clock_type::now() >= limit_; }

    awaitable<void> watch() {
        while (!done_) {
            watchdog_.expires_at(deadline_);
            co_await watchdog_.async_wait(use_tuple);
            if (done_) break;
            if (clock_type::now() >= deadline_) {
                timed_out_ = true;
                boost::system::error_code ignored;
                socket_.shutdown(tcp::socket::shutdown_both, ignored);
                socket_.close(ignored);
                break;
            }
        }
    }

    void finish() {
        done_ = true;
        watchdog_.cancel();
        boost::system::error_code ignored;
        socket_.shutdown(tcp::socket::shutdown_both, ignored);
        socket_.close(ignored);
    }

    bool timed_out() const { return timed_out_; }
    tcp::socket& socket() { return socket_; }

private:
    tcp::socket socket_;
    std::shared_ptr<ssl::context> ctx_;
    std::unique_ptr<ssl::stream<tcp::socket&>> tls_;
    asio::steady_timer watchdog_;
    clock_type::time_point deadline_ = clock_type::now() + std::chrono::minutes(5);
    clock_type::time_point limit_ = clock_type::time_point::max();
    bool done_ = false;
    bool timed_out_ = false;
};

// Delivers one message to its local recipients through the store and, when `relay` is set, to
// the outbound spool; completes when all are durable (or one failed), on the session's executor.
// Both are taken by reference and consumed: gcc 12 mishandles temporaries with destructors that
// live across a co_await, so the caller passes named objects.
template <class Token>
auto async_deliver_all(store::maildir_store& st, std::vector<store::delivery_request>& requests, queue::spool* sp,
                       std::optional<queue::queued_message>& relay, Token&& token) {
    return asio::async_initiate<Token, void(std::error_code)>(
        [&st, sp](auto handler, std::vector<store::delivery_request> reqs, std::optional<queue::queued_message> q) {
            using handler_t = decltype(handler);
            using work_t = asio::executor_work_guard<asio::associated_executor_t<handler_t, asio::any_io_executor>>;
            struct state {
                std::mutex m;
                std::size_t left = 0;
                std::error_code first;
                std::optional<handler_t> h;
                std::optional<work_t> work;
            };
            auto s = std::make_shared<state>();
            s->left = reqs.size() + (q ? 1 : 0) + 1;  // +1: released below, after every start
            s->work.emplace(asio::make_work_guard(asio::get_associated_executor(handler)));
            s->h.emplace(std::move(handler));
            auto done = [s](std::error_code ec) {
                std::lock_guard lock(s->m);
                if (ec && !s->first) s->first = ec;
                if (--s->left == 0) {
                    auto ex2 = s->work->get_executor();
                    asio::post(ex2, [s]() mutable {
                        auto h = std::move(*s->h);
                        s->work.reset();
                        std::move(h)(s->first);
                    });
                }
            };
            for (auto& r : reqs) st.deliver_async(std::move(r), [done](std::error_code ec, std::string) { done(ec); });
            if (q) sp->enqueue_async(std::move(*q), done);
            done({});
        },
        token, std::move(requests), std::move(relay));
}

}  // namespace

awaitable<void> server::impl::accept_loop(tcp::acceptor& acceptor, listener_kind kind) {
    for (;;) {
        auto [ec, socket] = co_await acceptor.async_accept(asio::make_strand(*ioc), use_tuple);
        if (ec) {
            if (stopped || ec == asio::error::operation_aborted) co_return;
            log(config::log_level::warn, std::string("event=accept_error listener=") + kind_name(kind) + " error=" + ec.message());
            continue;
        }
        // Each reply is one write already. Without NODELAY, a reply sent while earlier data is
        // unacknowledged (TLS 1.3 session tickets right after the handshake) waits for the
        // client's delayed ACK: 40 ms or more before the greeting on smtps and the EHLO reply
        // after STARTTLS.
        socket.set_option(tcp::no_delay(true), ec);
        auto ex = socket.get_executor();
        asio::co_spawn(ex, run_session(std::move(socket), kind), [](std::exception_ptr e) {
            if (!e) return;
            try {
                std::rethrow_exception(e);
            } catch (const std::exception& ex) {
                log(config::log_level::error, std::string("event=session_exception what=") + ex.what());
            }
        });
    }
}

awaitable<void> server::impl::run_session(tcp::socket socket, listener_kind kind) {
    const auto& smtp_cfg = settings.smtp;
    auto conn = std::make_shared<connection>(std::move(socket));
    boost::system::error_code ec;
    auto remote = conn->socket().remote_endpoint(ec);
    std::string ip = ec ? std::string("unknown") : remote.address().to_string();
    char idbuf[48];
    std::snprintf(idbuf, sizeof idbuf, "%s%06llx", id_prefix.c_str(),
                  static_cast<unsigned long long>(next_session.fetch_add(1)));
    const std::string sid = idbuf;
    const std::string tag = "session=" + sid + " ip=" + ip + " listener=" + kind_name(kind);

    (kind == listener_kind::smtp ? metrics.connections_smtp
     : kind == listener_kind::submission ? metrics.connections_submission
                                         : metrics.connections_smtps)++;
    metrics.connections_active++;
    struct active_guard {
        metric_counters& m;
        std::shared_ptr<connection> c;
        ~active_guard() {
            m.connections_active--;
            c->finish();
        }
    } guard{metrics, conn};

    log(config::log_level::info, tag + " event=connect");
    if (!admit(ip)) {
        metrics.refused_connections++;
        log(config::log_level::info, tag + " event=refused reason=connection_limit");
        conn->set_deadline(std::chrono::seconds(10));
        co_await conn->write("421 4.7.0 " + settings.server.hostname + " Error: too many connections; try later\r\n", ec);
        co_return;
    }
    struct admit_guard {
        server::impl& srv;
        std::string ip;
        ~admit_guard() { srv.release(ip); }
    } admitted{*this, ip};
    if (bans.banned(ip) || kill_list()->matches_ip(ip)) {
        // Refused before any TLS or greeting (RFC 5321 3.1: 554 instead of 220).
        metrics.refused_connections++;
        log(config::log_level::info, tag + " event=refused reason=" + (bans.banned(ip) ? "banned" : "kill_file"));
        conn->set_deadline(std::chrono::seconds(10));
        co_await conn->write("554 5.7.1 " + settings.server.hostname + " access denied\r\n", ec);
        co_return;
    }
    conn->set_session_limit(smtp_cfg.session_timeout);
    conn->set_deadline(smtp_cfg.command_timeout);
    asio::co_spawn(conn->socket().get_executor(), [conn]() -> awaitable<void> { co_await conn->watch(); },
                   asio::detached);

    if (kind == listener_kind::smtps) {
        conn->set_deadline(std::chrono::seconds(30));
        co_await conn->handshake(tls(), ec);
        if (ec) {
            metrics.tls_failures++;
            log(config::log_level::info, tag + " event=tls_failed error=\"" + ec.message() + "\"");
            co_return;
        }
        metrics.tls_handshakes++;
    }

    // The host name matters only when the accept file names hosts; look it up in the background.
    std::shared_ptr<host_lookup> host;
    if (accept_list()->has_host_entries()) {
        host = std::make_shared<host_lookup>();
        asio::post(resolver_pool, [host, ip] {
            host->name = confirmed_host_name(ip);
            host->done.store(true, std::memory_order_release);
        });
    }
    session_hooks hooks(*this, ip, host);
    auto ss = session_settings(kind);
    if (hooks.exempt_from_limits()) {
        ss.max_recipients = std::max(ss.max_recipients, 100000u);
        ss.max_messages = 0;
    }
    smtp::server_session session(std::move(ss), hooks, ip);
    hooks.attach(session);
    if (kind == listener_kind::smtps) session.on_tls_established(conn->tls_version());

    std::string out;
    session.greet(out);
    line_framer framer({.max_line_length = smtp_cfg.max_line_length >= 2 ? smtp_cfg.max_line_length - 2 : 510});
    std::string in;
    std::size_t pos = 0;
    std::vector<char> rbuf(64 * 1024);
    asio::steady_timer delay_timer(conn->socket().get_executor());
    std::uint64_t message_seq = 0;

    auto flush = [&]() -> awaitable<bool> {
        if (out.empty()) co_return true;
        if (auto d = session.reply_delay(); d.count() > 0) {
            delay_timer.expires_after(d);
            co_await delay_timer.async_wait(use_tuple);
        }
        conn->set_deadline(smtp_cfg.command_timeout);
        co_await conn->write(out, ec);
        out.clear();
        co_return !ec;
    };
    // Reads more input into `in`; false on EOF, error or timeout.
    auto read_more = [&](std::chrono::milliseconds timeout) -> awaitable<bool> {
        if (pos > 0 && pos == in.size()) {
            in.clear();
            pos = 0;
        } else if (pos > 65536) {
            in.erase(0, pos);
            pos = 0;
        }
        conn->set_deadline(timeout);
        std::size_t n = co_await conn->read_some(asio::buffer(rbuf), ec);
        if (ec || n == 0) co_return false;
        metrics.bytes_received.fetch_add(n, std::memory_order_relaxed);
        in.append(rbuf.data(), n);
        co_return true;
    };

    std::string end_reason = "eof";
    bool open = true;
    bool auth_logged = false;
    while (open) {
        // Handle every complete line already buffered (PIPELINING), then flush the replies.
        while (open && pos < in.size()) {
            std::error_code lec;
            pos += framer.put(std::string_view(in).substr(pos), lec);
            smtp::action a;
            if (lec == line_errc::line_too_long) {
                metrics.long_lines++;
                log(config::log_level::info, tag + " event=line_too_long length=" + std::to_string(framer.length_seen()));
                a = session.on_line_too_long(framer.length_seen(), out);
                if (settings.policy.long_line_ban.count() > 0) {
                    auto secs = std::chrono::duration_cast<std::chrono::seconds>(settings.policy.long_line_ban);
                    if (auto bec = bans.ban(ip, std::max(secs, std::chrono::seconds(1)))) {
                        log(config::log_level::error, tag + " event=ban_save_failed error=\"" + bec.message() + "\"");
                    }
                    log(config::log_level::info, tag + " event=banned seconds=" + std::to_string(secs.count()));
                }
            } else if (!framer.has_line()) {
                continue;
            } else {
                a = session.on_command(framer.line(), lec, out);
            }

            while (a != smtp::action::read_command && open) {
                switch (a) {
                    case smtp::action::close:
                        co_await flush();
                        end_reason = "quit";
                        open = false;
                        break;

                    case smtp::action::start_tls: {
                        if (!co_await flush()) {
                            open = false;
                            break;
                        }
                        // Anything pipelined after STARTTLS was sent in clear: drop it
                        // (CVE-2011-0411 class command injection).
                        if (pos < in.size()) {
                            log(config::log_level::info, tag + " event=starttls_discarded bytes=" + std::to_string(in.size() - pos));
                        }
                        in.clear();
                        pos = 0;
                        framer.reset();
                        conn->set_deadline(std::chrono::seconds(30));
                        co_await conn->handshake(tls(), ec);
                        if (ec) {
                            metrics.tls_failures++;
                            log(config::log_level::info, tag + " event=tls_failed error=\"" + ec.message() + "\"");
                            open = false;
                            break;
                        }
                        metrics.tls_handshakes++;
                        session.on_tls_established(conn->tls_version());
                        log(config::log_level::info, tag + " event=starttls tls=\"" + conn->tls_description() + "\"");
                        a = smtp::action::read_command;
                        break;
                    }

                    case smtp::action::read_data: {
                        if (!co_await flush()) {
                            open = false;
                            break;
                        }
                        smtp::data_decoder decoder(session.data_decoder_limits());
                        std::string content;
                        for (;;) {
                            pos += decoder.put(std::string_view(in).substr(pos), content);
                            if (decoder.done()) break;
                            if (!co_await read_more(smtp_cfg.data_timeout)) {
                                open = false;
                                break;
                            }
                        }
                        if (!open) break;
                        a = session.on_data_end(decoder, std::move(content), out);
                        if (a == smtp::action::read_command) {
                            auto r = decoder.result();
                            (r == smtp::errc::message_too_big ? metrics.rejected_too_big : metrics.rejected_bare_newline)++;
                            log(config::log_level::info, tag + " event=message_rejected reason=\"" + r.message() + "\"");
                        }
                        break;
                    }

                    case smtp::action::read_bdat: {
                        std::uint64_t left = session.bdat_size();
                        const bool keep = !session.bdat_discard();
                        std::string chunk;
                        if (keep) chunk.reserve(static_cast<std::size_t>(left));
                        for (;;) {
                            std::size_t take = static_cast<std::size_t>(std::min<std::uint64_t>(left, in.size() - pos));
                            if (keep) chunk.append(in, pos, take);
                            pos += take;
                            left -= take;
                            if (left == 0) break;
                            if (!co_await read_more(smtp_cfg.data_timeout)) {
                                open = false;
                                break;
                            }
                        }
                        if (!open) break;
                        a = session.on_bdat_chunk(chunk, out);
                        break;
                    }

                    case smtp::action::deliver: {
                        auto started = clock_type::now();
                        std::string msg_id = sid + "." + std::to_string(++message_seq);
                        const auto& decision = hooks.rules_decision();
                        if (!decision.matched.empty()) {
                            std::string names;
                            for (const auto& m : decision.matched) names += (names.empty() ? "" : ",") + m;
                            log(config::log_level::info, tag + " event=rules id=" + msg_id + " matched=\"" + names + "\"");
                        }
                        if (decision.outcome == rules::decision::verdict::discard) {
                            // Accepted and dropped on purpose: the client gets 250, nothing is stored.
                            metrics.discarded_by_rule++;
                            log(config::log_level::info, tag + " event=discarded id=" + msg_id);
                            session.on_delivered({}, msg_id, out);
                            a = smtp::action::read_command;
                            break;
                        }
                        auto body = std::make_shared<const std::string>(std::move(session.message()));
                        std::string header = session.received_header(msg_id, std::chrono::system_clock::now());
                        for (const auto& h : decision.added_headers) header += h + "\r\n";
                        std::vector<store::delivery_request> reqs;
                        // Recipients in a local domain go to the store, the others (relayed) to one
                        // queue entry; 250 only once both are durable.
                        std::optional<queue::queued_message> relay;
                        for (const auto& rcpt : session.current().recipients) {
                            auto at = rcpt.rfind('@');
                            std::string domain = rcpt.substr(at + 1);
                            // Non-local recipients were only accepted when there is a spool.
                            if (hooks.local_domain(domain)) {
                                reqs.push_back({{rcpt.substr(0, at), domain, decision.folder}, header, body});
                                continue;
                            }
                            if (!relay) {
                                relay.emplace();
                                auto now = std::chrono::duration_cast<std::chrono::milliseconds>(
                                    std::chrono::system_clock::now().time_since_epoch()).count();
                                relay->env.id = spool->new_id();
                                relay->env.created = now;
                                relay->env.next_attempt = now;
                                relay->env.sender = session.current().reverse_path;
                                relay->env.arrival_from = session.current().helo + " ([" + ip + "])" +
                                    (session.authenticated_user().empty() ? "" : " auth=" + session.authenticated_user());
                                relay->header = header;
                                relay->body = body;
                            }
                            relay->env.recipients.push_back({rcpt, queue::rcpt_state::pending, {}});
                        }
                        std::optional<queue::envelope> queued;
                        if (relay) queued = relay->env;
                        auto [dec] = co_await async_deliver_all(*store, reqs, spool.get(), relay, use_tuple);
                        if (queued && !dec) {
                            runner->notify_enqueued(*queued);
                            log(config::log_level::info, tag + " event=queued id=" + msg_id + " queue_id=" + queued->id +
                                                             " rcpts=" + std::to_string(queued->recipients.size()));
                        }
                        double secs = std::chrono::duration<double>(clock_type::now() - started).count();
                        if (dec) {
                            metrics.rejected_delivery_failed++;
                            log(config::log_level::error, tag + " event=delivery_failed id=" + msg_id + " error=\"" + dec.message() + "\"");
                        } else {
                            metrics.messages_accepted++;
                            metrics.delivery_latency.observe(secs);
                            log(config::log_level::info, tag + " event=delivered id=" + msg_id + " from=<" +
                                                             session.current().reverse_path + "> rcpts=" +
                                                             std::to_string(session.current().recipients.size()) +
                                                             " size=" + std::to_string(body->size()) +
                                                             " auth=" + (session.authenticated_user().empty() ? "-" : session.authenticated_user()) +
                                                             " tls=" + (session.tls_version().empty() ? "-" : session.tls_version()));
                        }
                        session.on_delivered(dec, msg_id, out);
                        a = smtp::action::read_command;
                        break;
                    }

                    case smtp::action::read_command: break;
                }
            }
            if (!session.authenticated_user().empty() && !auth_logged) {
                metrics.auth_success++;
                auth_logged = true;
                log(config::log_level::info, tag + " event=auth user=" + session.authenticated_user());
            }
        }
        if (!open) break;
        if (!co_await flush()) {
            end_reason = "write_error";
            break;
        }
        if (!co_await read_more(smtp_cfg.command_timeout)) {
            end_reason = !conn->timed_out() ? "eof" : conn->past_session_limit() ? "session_timeout" : "timeout";
            if (conn->timed_out() && conn->past_session_limit()) metrics.session_limit_closes++;
            break;
        }
    }
    co_await conn->shutdown_tls();
    log(config::log_level::info, tag + " event=disconnect reason=" + end_reason);
}

// ---- Prometheus endpoint ----

std::string server::impl::metrics_text() const {
    std::ostringstream o;
    auto counter = [&](const char* name, const char* help, std::uint64_t v, const char* labels = "") {
        o << "# HELP " << name << ' ' << help << "\n# TYPE " << name << " counter\n" << name << labels << ' ' << v << '\n';
    };
    const auto& m = metrics;
    o << "# HELP refmaild_connections_total Connections accepted, by listener.\n"
         "# TYPE refmaild_connections_total counter\n"
      << "refmaild_connections_total{listener=\"smtp\"} " << m.connections_smtp << '\n'
      << "refmaild_connections_total{listener=\"submission\"} " << m.connections_submission << '\n'
      << "refmaild_connections_total{listener=\"smtps\"} " << m.connections_smtps << '\n';
    o << "# HELP refmaild_connections_active Connections open now.\n# TYPE refmaild_connections_active gauge\n"
      << "refmaild_connections_active " << m.connections_active << '\n';
    counter("refmaild_messages_accepted_total", "Messages stored durably and acknowledged with 250.", m.messages_accepted);
    o << "# HELP refmaild_messages_rejected_total Messages refused after DATA/BDAT, by reason.\n"
         "# TYPE refmaild_messages_rejected_total counter\n"
      << "refmaild_messages_rejected_total{reason=\"too_big\"} " << m.rejected_too_big << '\n'
      << "refmaild_messages_rejected_total{reason=\"bare_newline\"} " << m.rejected_bare_newline << '\n'
      << "refmaild_messages_rejected_total{reason=\"delivery_failed\"} " << m.rejected_delivery_failed << '\n'
      << "refmaild_messages_rejected_total{reason=\"header\"} " << m.rejected_header << '\n'
      << "refmaild_messages_rejected_total{reason=\"loop\"} " << m.rejected_loop << '\n'
      << "refmaild_messages_rejected_total{reason=\"relay_without_from\"} " << m.rejected_no_from << '\n'
      << "refmaild_messages_rejected_total{reason=\"rule\"} " << m.rejected_by_rule << '\n';
    counter("refmaild_messages_discarded_total", "Messages accepted and dropped by a processing rule.", m.discarded_by_rule);
    counter("refmaild_sessions_time_limited_total", "Sessions closed at smtp.session_timeout.", m.session_limit_closes);
    o << "# HELP refmaild_recipients_rejected_total RCPT TO refused, by reason.\n"
         "# TYPE refmaild_recipients_rejected_total counter\n"
      << "refmaild_recipients_rejected_total{reason=\"unknown_user\"} " << m.rcpt_unknown_user << '\n'
      << "refmaild_recipients_rejected_total{reason=\"relay_denied\"} " << m.rcpt_relay_denied << '\n'
      << "refmaild_recipients_rejected_total{reason=\"relay_trick\"} " << m.rcpt_relay_trick << '\n'
      << "refmaild_recipients_rejected_total{reason=\"kill_file\"} " << m.rcpt_refused << '\n';
    counter("refmaild_bytes_received_total", "Octets read from clients.", m.bytes_received);
    o << "# HELP refmaild_auth_total Authentication attempts, by result.\n# TYPE refmaild_auth_total counter\n"
      << "refmaild_auth_total{result=\"success\"} " << m.auth_success << '\n'
      << "refmaild_auth_total{result=\"failure\"} " << m.auth_failure << '\n';
    o << "# HELP refmaild_tls_handshakes_total TLS handshakes, by result.\n# TYPE refmaild_tls_handshakes_total counter\n"
      << "refmaild_tls_handshakes_total{result=\"success\"} " << m.tls_handshakes << '\n'
      << "refmaild_tls_handshakes_total{result=\"failure\"} " << m.tls_failures << '\n';
    counter("refmaild_long_lines_total", "Command lines over the length limit (each bans the client IP).", m.long_lines);
    counter("refmaild_refused_connections_total", "Connections refused at connect (banned, kill file, connection limits).", m.refused_connections);
    o << "# HELP refmaild_delivery_latency_seconds Time from end of data to durable storage.\n"
         "# TYPE refmaild_delivery_latency_seconds histogram\n";
    std::uint64_t cumulative = 0;
    const auto& h = m.delivery_latency;
    for (std::size_t i = 0; i < h.bounds.size(); ++i) {
        cumulative += h.buckets[i];
        o << "refmaild_delivery_latency_seconds_bucket{le=\"" << h.bounds[i] << "\"} " << cumulative << '\n';
    }
    cumulative += h.buckets[h.bounds.size()];
    o << "refmaild_delivery_latency_seconds_bucket{le=\"+Inf\"} " << cumulative << '\n'
      << "refmaild_delivery_latency_seconds_sum " << static_cast<double>(h.sum_us) / 1e6 << '\n'
      << "refmaild_delivery_latency_seconds_count " << h.count << '\n';
    if (m.has_cert) {
        o << "# HELP refmaild_tls_certificate_days_left Whole days until the server certificate expires.\n"
             "# TYPE refmaild_tls_certificate_days_left gauge\n"
          << "refmaild_tls_certificate_days_left " << m.cert_days_left << '\n';
    }
    if (runner) {
        auto q = runner->stats();
        o << "# HELP refmaild_queue_messages Messages in the outbound queue.\n# TYPE refmaild_queue_messages gauge\n"
          << "refmaild_queue_messages " << q.queued << '\n';
        o << "# HELP refmaild_queue_deliveries_active Outbound deliveries running now.\n"
             "# TYPE refmaild_queue_deliveries_active gauge\n"
          << "refmaild_queue_deliveries_active " << q.in_flight << '\n';
        counter("refmaild_queue_enqueued_total", "Messages put into the outbound queue (relayed mail and bounces).", q.enqueued);
        counter("refmaild_queue_delivered_total", "Queued recipients accepted by the next hop.", q.delivered);
        counter("refmaild_queue_deferred_total", "Queued recipient attempts that failed temporarily (retried later).", q.deferred);
        counter("refmaild_queue_bounced_total", "Queued recipients that failed permanently or expired.", q.bounced);
        o << "# HELP refmaild_queue_dsn_total Delivery status notifications, by result.\n"
             "# TYPE refmaild_queue_dsn_total counter\n"
          << "refmaild_queue_dsn_total{result=\"sent\"} " << q.dsn_sent << '\n'
          << "refmaild_queue_dsn_total{result=\"suppressed_null_sender\"} " << q.dsn_suppressed << '\n';
        o << "# HELP refmaild_queue_connections_total Outbound SMTP connections, by result.\n"
             "# TYPE refmaild_queue_connections_total counter\n"
          << "refmaild_queue_connections_total{result=\"ok\"} " << q.connections << '\n'
          << "refmaild_queue_connections_total{result=\"failed\"} " << q.connection_failures << '\n';
        auto sp = spool->stats();
        counter("refmaild_queue_spool_dir_syncs_total", "fsync calls on the spool directory (one per group commit).", sp.dir_syncs);
    }
    if (store) {
        auto st = store->stats();
        counter("refmaild_store_batches_total", "Group-commit batches written by the store.", st.batches);
        counter("refmaild_store_file_syncs_total", "fdatasync calls on message files.", st.file_syncs);
        counter("refmaild_store_dir_syncs_total", "fsync calls on directories.", st.dir_syncs);
    }
    return o.str();
}

awaitable<void> server::impl::serve_metrics(tcp::socket socket) {
    beast::tcp_stream stream(std::move(socket));
    beast::flat_buffer buffer;
    http::request<http::string_body> req;
    stream.expires_after(std::chrono::seconds(10));
    auto [ec, n] = co_await http::async_read(stream, buffer, req, use_tuple);
    if (ec) co_return;
    http::response<http::string_body> res;
    res.version(req.version());
    res.keep_alive(false);
    if (req.method() == http::verb::get && (req.target() == "/metrics" || req.target().starts_with("/metrics?"))) {
        res.result(http::status::ok);
        res.set(http::field::content_type, "text/plain; version=0.0.4; charset=utf-8");
        res.body() = metrics_text();
    } else {
        res.result(http::status::not_found);
        res.set(http::field::content_type, "text/plain");
        res.body() = "not found; try /metrics\n";
    }
    res.prepare_payload();
    co_await http::async_write(stream, res, use_tuple);
    beast::error_code ignored;
    stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
}

awaitable<void> server::impl::metrics_loop(tcp::acceptor& acceptor) {
    for (;;) {
        auto [ec, socket] = co_await acceptor.async_accept(asio::make_strand(*ioc), use_tuple);
        if (ec) {
            if (stopped || ec == asio::error::operation_aborted) co_return;
            continue;
        }
        auto ex = socket.get_executor();
        asio::co_spawn(ex, serve_metrics(std::move(socket)), asio::detached);
    }
}

// ---- server ----

server::server(config::refmaild_settings settings) : impl_(std::make_unique<impl>(std::move(settings))) {
    log_threshold = impl_->settings.log.level;
    impl_->load_users();
    impl_->load_tls();
    impl_->load_access_lists();
    for (const auto& net : impl_->settings.policy.trusted_networks) {
        auto n = policy::ip_network::parse(net);
        if (!n) throw std::runtime_error("policy.trusted_networks: \"" + net + "\" is not an IP address or CIDR network");
        impl_->trusted.push_back(*n);
    }
    if (!impl_->settings.store.data_dir.empty()) {
        std::error_code dec;
        std::filesystem::create_directories(impl_->settings.store.data_dir, dec);
        if (dec) throw std::runtime_error("store.data_dir " + impl_->settings.store.data_dir.string() + ": " + dec.message());
    }
    if (auto ec = impl_->bans.load()) log(config::log_level::warn, "event=bans_load_failed error=\"" + ec.message() + "\"");
    const auto& st = impl_->settings.store;
    impl_->store = std::make_unique<store::maildir_store>(store::store_settings{
        .root = st.maildir_root,
        .sync = st.sync,
        .max_batch = st.max_batch,
        .batch_delay = st.batch_delay,
        .hostname = impl_->settings.server.hostname,
    });
    impl_->start_queue();
}

server::~server() {
    stop();
    wait();
    // Sessions still open when the loop stopped live on as suspended coroutine frames owned by the
    // io_context; destroy them (and the acceptors) while the state they refer to still exists.
    impl_->work.reset();
    impl_->acceptors.clear();
    impl_->runner.reset();  // its timers belong to the io_context; suspended deliveries keep its state alive
    impl_->ioc.reset();
}

void server::start() {
    auto& im = *impl_;
    // Recover the spool before any session can enqueue (the recovery removes unfinished files).
    if (im.runner) im.runner->start();
    auto bind = [&](const std::string& name, const config::listener_settings& l) -> tcp::acceptor& {
        auto addr = asio::ip::make_address(l.address);
        tcp::endpoint ep(addr, l.port);
        auto acc = std::make_unique<tcp::acceptor>(*im.ioc);
        acc->open(ep.protocol());
        acc->set_option(asio::socket_base::reuse_address(true));
        if (ep.address().is_v6()) acc->set_option(asio::ip::v6_only(false));
        boost::system::error_code ec;
        acc->bind(ep, ec);
        if (ec) throw std::system_error(ec, "cannot bind " + name + " to " + l.address + ":" + std::to_string(l.port));
        acc->listen(asio::socket_base::max_listen_connections);
        im.ports[name] = acc->local_endpoint().port();
        im.acceptors.push_back(std::move(acc));
        return *im.acceptors.back();
    };
    const auto& ls = im.settings.listeners;
    if (ls.smtp.enabled) {
        auto& a = bind("smtp", ls.smtp);
        asio::co_spawn(*im.ioc, im.accept_loop(a, listener_kind::smtp), asio::detached);
    }
    if (ls.submission.enabled) {
        auto& a = bind("submission", ls.submission);
        asio::co_spawn(*im.ioc, im.accept_loop(a, listener_kind::submission), asio::detached);
    }
    if (ls.smtps.enabled) {
        if (!im.tls()) throw std::runtime_error("listeners.smtps needs tls.cert_file and tls.key_file");
        auto& a = bind("smtps", ls.smtps);
        asio::co_spawn(*im.ioc, im.accept_loop(a, listener_kind::smtps), asio::detached);
    }
    if (im.settings.metrics.enabled) {
        auto& a = bind("metrics", {.enabled = true, .address = im.settings.metrics.address, .port = im.settings.metrics.port});
        asio::co_spawn(*im.ioc, im.metrics_loop(a), asio::detached);
    }
    im.work.emplace(im.ioc->get_executor());
    unsigned n = std::max(1u, im.settings.server.io_threads);
    for (unsigned i = 0; i < n; ++i) im.threads.emplace_back([&im] { im.ioc->run(); });
    std::string line = "event=listening";
    for (auto& [name, port] : im.ports) line += " " + name + "=" + std::to_string(port);
    log(config::log_level::info, line);
}

std::map<std::string, std::uint16_t> server::ports() const { return impl_->ports; }

void server::write_ports_file(const std::filesystem::path& file) const {
    auto tmp = file;
    tmp += ".tmp";
    {
        std::ofstream o(tmp, std::ios::trunc);
        for (auto& [name, port] : impl_->ports) o << name << ' ' << port << '\n';
        if (!o) throw std::runtime_error("cannot write " + tmp.string());
    }
    std::filesystem::rename(tmp, file);
}

bool server::reload() {
    try {
        impl_->load_tls();
        impl_->load_users();
        impl_->load_access_lists();
        log(config::log_level::info, "event=reloaded");
        return true;
    } catch (const std::exception& e) {
        log(config::log_level::error, std::string("event=reload_failed error=\"") + e.what() + "\"");
        return false;
    }
}

void server::stop() {
    auto& im = *impl_;
    if (im.stopped.exchange(true)) return;
    if (im.runner) im.runner->stop();
    asio::post(*im.ioc, [&im] {
        for (auto& a : im.acceptors) {
            boost::system::error_code ignored;
            a->close(ignored);
        }
    });
    im.work.reset();
    im.ioc->stop();
}

void server::wait() {
    for (auto& t : impl_->threads) {
        if (t.joinable()) t.join();
    }
    impl_->threads.clear();
    if (impl_->store) impl_->store->stop();
    if (impl_->spool) impl_->spool->stop();
}

std::string server::metrics_text() const { return impl_->metrics_text(); }

}  // namespace mailharness::refmaild

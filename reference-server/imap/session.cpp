// The IMAP connection coroutine: framing (core/imap command_parser), deadlines, TLS, APPEND
// streaming and IDLE; the protocol itself is session_core, run on the blocking pool.
#include "session.hpp"

#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>

#include <algorithm>
#include <optional>

#include "../server/session_io.hpp"
#include "../server/state.hpp"
#include "mail_folder.hpp"
#include "mailharness/imap/command.hpp"
#include "session_core.hpp"

namespace mailharness::refmaild::imap_room {

namespace asio = boost::asio;
using asio::awaitable;

namespace {

class hooks_impl final : public core_hooks {
public:
    hooks_impl(server_state& srv, snapshot snap, std::string ip, session_scope& scope)
        : srv_(srv), snap_(std::move(snap)), ip_(std::move(ip)), scope_(scope) {
        if (snap_.users) creds_.emplace(snap_.users);
    }
    ~hooks_impl() override {
        if (held_.empty()) return;
        std::lock_guard lock(srv_.imap_mutex);
        auto it = srv_.imap_user_ip.find(held_);
        if (it != srv_.imap_user_ip.end() && --it->second == 0) srv_.imap_user_ip.erase(it);
    }

    sasl::credential_lookup* credentials() override { return creds_ ? &*creds_ : nullptr; }

    std::chrono::milliseconds auth_failed() override {
        srv_.metrics.auth.add("imap/failure");
        return srv_.throttle.failed(ip_);
    }

    std::optional<login_grant> login(const std::string& identity, std::string& reason) override {
        const users::user_entry* e = snap_.users ? snap_.users->lookup(identity) : nullptr;
        if (!e) {
            reason = "unknown_user";
            return std::nullopt;
        }
        auto path = srv_.store->maildir_path({e->user, e->domain, {}});
        if (!path) {
            reason = "bad_mailbox";
            return std::nullopt;
        }
        const std::string user = e->address();
        const unsigned max = srv_.settings.imap.max_user_ip_connections;
        {
            std::lock_guard lock(srv_.imap_mutex);
            auto& n = srv_.imap_user_ip[user + " " + ip_];
            if (max && n >= max) {
                if (n == 0) srv_.imap_user_ip.erase(user + " " + ip_);
                reason = "limit";
                return std::nullopt;
            }
            ++n;
            held_ = user + " " + ip_;
        }
        srv_.metrics.auth.add("imap/success");
        // The IP's penalty from earlier failures holds for a right password too.
        penalty_ = srv_.throttle.penalty(ip_);
        srv_.throttle.succeeded(ip_);
        scope_.set_user(user);
        return login_grant{user, *path};
    }

    void log(const std::string& event) override { srv_.log.info(scope_.tag() + " " + event); }

    std::chrono::milliseconds take_penalty() { return std::exchange(penalty_, std::chrono::milliseconds(0)); }

private:
    server_state& srv_;
    snapshot snap_;
    std::string ip_;
    session_scope& scope_;
    std::optional<auth::credentials_adapter> creds_;
    std::string held_;
    std::chrono::milliseconds penalty_{0};
};

// Wakes the connection's read when the selected folder changes (IDLE).
struct idle_watch {
    std::shared_ptr<imap_store::folder> folder;
    std::uint64_t id = 0;
    idle_watch(std::shared_ptr<imap_store::folder> f, const std::shared_ptr<net::connection>& conn) : folder(std::move(f)) {
        std::weak_ptr<net::connection> weak = conn;
        auto ex = conn->get_executor();
        id = folder->watch([weak, ex] {
            asio::post(ex, [weak] {
                if (auto c = weak.lock()) c->interrupt();
            });
        });
    }
    ~idle_watch() { folder->unwatch(id); }
    idle_watch(const idle_watch&) = delete;
    idle_watch& operator=(const idle_watch&) = delete;
};

std::string verb_label(const imap::command& c) {
    std::string v(imap::to_string(c.verb));
    if (v.empty()) return "unknown";
    return c.uid ? "UID " + v : v;
}

}  // namespace

awaitable<void> run_session(server_state& srv, std::shared_ptr<net::connection> conn, std::string listener,
                            const config::listener_settings& l) {
    const auto& cfg = srv.settings.imap;
    const std::string ip = conn->remote_ip();
    session_scope scope(srv, *conn, listener);
    conn->set_session_limit(cfg.session_timeout);

    hooks_impl hooks(srv, srv.current(), ip, scope);
    core_settings cs;
    cs.greeting = !l.banner.empty() ? l.banner : srv.settings.server.imap_banner;
    cs.tls_available = srv.tls.get() != nullptr;
    cs.tls_active = conn->tls_active();
    cs.allow_plaintext_auth = srv.settings.auth.allow_plaintext_auth;
    cs.login_methods = l.login_methods;
    cs.sasl_options.hostname = srv.settings.server.hostname;
    cs.max_auth_failures = cfg.max_auth_failures;
    cs.max_errors = cfg.max_errors;
    cs.max_message_size = cfg.max_message_size;
    if (srv.settings.auth.passwd_file.empty()) cs.login_methods = {"none"};
    session_core core(std::move(cs), hooks);

    imap::command_limits limits;
    limits.max_line_length = cfg.max_line_length;
    limits.max_append_size = cfg.max_message_size;
    imap::command_parser parser(limits);

    std::string out;
    core.greet(out);
    asio::steady_timer delay_timer(conn->get_executor());
    std::string end_reason = "logout";
    net::error_code ec;
    bool open = true;
    std::optional<idle_watch> watch;
    auto& pool = *srv.blocking_pool;

    auto flush = [&]() -> awaitable<bool> {
        const auto delay = std::max(core.reply_delay(), hooks.take_penalty());
        return write_replies(*conn, out, delay, delay_timer, cfg.write_timeout, ec);
    };
    auto timeout = [&] { return core.authenticated() ? cfg.idle_timeout : cfg.login_timeout; };
    auto deadline = net::after(timeout());
    constexpr auto idle_poll_interval = std::chrono::seconds(2);

    // Returns false when the session ends.
    auto handle = [&](core_action a) -> awaitable<bool> {
        switch (a) {
            case core_action::read_command: co_return true;
            case core_action::read_line: parser.expect_line(); co_return true;
            case core_action::idle:
                parser.expect_line();
                if (auto f = core.selected()) watch.emplace(f, conn);
                co_return true;
            case core_action::close:
                end_reason = core.close_reason().empty() ? "closed" : core.close_reason();
                co_await flush();
                co_return false;
            case core_action::start_tls: {
                if (!co_await flush()) {
                    end_reason = "write_error";
                    co_return false;
                }
                parser.reset();
                if (co_await upgrade_to_tls(srv, *conn, scope.tag(), "starttls")) {
                    end_reason = "tls_failed";
                    co_return false;
                }
                core.on_tls_established();
                co_return true;
            }
        }
        co_return true;
    };

    while (open) {
        while (open && !conn->input().empty()) {
            const auto [used, ev] = parser.put(conn->input());
            conn->consume(used);
            if (ev != imap::event::need_more && ev != imap::event::literal_data) deadline = net::after(timeout());
            switch (ev) {
                case imap::event::need_more: break;
                case imap::event::continuation:
                    out += "+ OK\r\n";
                    if (!co_await flush()) open = false, end_reason = "write_error";
                    break;
                case imap::event::append_begin: {
                    const bool ok = co_await run_blocking(pool, [&] { return core.on_append_begin(parser.get(), out); });
                    const bool sync = !parser.append().non_sync;
                    if (!ok && sync) parser.reset();  // the client sends no literal after a NO
                    if (ok && sync) out += "+ OK\r\n";
                    if (!co_await flush()) open = false, end_reason = "write_error";
                    break;
                }
                case imap::event::literal_data: core.on_append_data(parser.literal_data()); break;
                case imap::event::command: {
                    const auto& cmd = parser.get();
                    srv.metrics.imap_commands.add(verb_label(cmd));
                    const bool was_append = cmd.verb == imap::verb::append;
                    const auto a = co_await run_blocking(pool, [&] { return core.on_command(cmd, out); });
                    if (was_append && out.find(" OK [APPENDUID") != std::string::npos) srv.metrics.imap_appends++;
                    if (!co_await handle(a)) open = false;
                    break;
                }
                case imap::event::line: {
                    const auto a = co_await run_blocking(pool, [&] { return core.on_line(parser.line(), out); });
                    if (!core.idling()) watch.reset();
                    if (!co_await handle(a)) open = false;
                    break;
                }
                case imap::event::error: {
                    const auto err = parser.error();
                    if (err == imap::errc::line_too_long) {
                        srv.metrics.long_lines++;
                        srv.log.info(scope.tag() + " event=line_too_long");
                        if (cfg.ban_long_lines) {
                            srv.ban_long_line(ip, scope.tag());
                            out += "* BYE Command line too long.\r\n";
                            end_reason = "line_too_long";
                            co_await flush();
                            open = false;
                            break;
                        }
                    }
                    const auto a = core.on_parse_error(parser.tag(), err, out);
                    if (!co_await handle(a)) open = false;
                    break;
                }
            }
            if (open && out.size() >= 64 * 1024) {
                if (!co_await flush()) open = false, end_reason = "write_error";
            }
        }
        if (!open) break;
        if (!co_await flush()) {
            end_reason = "write_error";
            break;
        }
        conn->release_memory();
        auto read_deadline = deadline;
        if (core.idling()) read_deadline = std::min(deadline, net::after(idle_poll_interval));
        ec = co_await conn->read_more(read_deadline, 16384);
        if (ec) {
            const bool interrupted = ec == net::errc::interrupted;
            const bool poll = core.idling() && (interrupted || (net::is_timeout(ec) && net::clock::now() < deadline &&
                                                                ec != net::errc::session_expired));
            if (poll) {
                if (interrupted) srv.metrics.imap_idle_wakeups++;
                co_await run_blocking(pool, [&] {
                    core.idle_poll(out);
                    return 0;
                });
                continue;
            }
            if (interrupted) continue;  // a late wake-up after IDLE ended
            end_reason = read_failure_reason(srv, ec);
            if (end_reason == "timeout" || end_reason == "session_timeout") {
                co_await conn->write("* BYE Disconnected for inactivity.\r\n", net::after(std::chrono::seconds(5)));
            }
            break;
        }
    }
    watch.reset();
    if (end_reason != "logout" && end_reason != "eof") srv.metrics.server_closes.add(end_reason);
    co_await conn->shutdown(net::after(srv.settings.tls.close_timeout));
    srv.log.info(scope.tag() + " event=disconnect reason=" + end_reason);
}

}  // namespace mailharness::refmaild::imap_room

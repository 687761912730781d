// The POP3 connection coroutine: framing, deadlines, TLS, the maildrop lock and the Maildir.
#include "session.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <algorithm>
#include <cstdio>
#include <optional>

#include "../server/session_io.hpp"
#include "../server/state.hpp"
#include "mailharness/line_framer.hpp"
#include "mailharness/pop3/dot_stuffer.hpp"
#include "mailharness/pop3/server_session.hpp"
#include "mailharness/refmaild/maildir_folder.hpp"
#include "mailharness/sasl/apop.hpp"

namespace mailharness::refmaild::pop3_room {

namespace asio = boost::asio;
using asio::awaitable;
constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

std::string uidl(std::uint32_t uid, std::uint32_t uid_validity) {
    char buf[24];
    std::snprintf(buf, sizeof buf, "%08x%08x", uid, uid_validity);
    return buf;
}

namespace {

class hooks_impl final : public pop3::server_hooks {
public:
    hooks_impl(server_state& srv, std::shared_ptr<const users::user_db> db) : srv_(srv) {
        if (db) creds_.emplace(std::move(db));
    }
    sasl::credential_lookup* credentials() override { return creds_ ? &*creds_ : nullptr; }
    std::chrono::milliseconds auth_failed(std::string_view peer) override {
        ++failures;
        return srv_.throttle.failed(std::string(peer));
    }
    bool any_plaintext_secret() const { return creds_ && creds_->any_plaintext_secret(); }
    unsigned failures = 0;

private:
    server_state& srv_;
    std::optional<auth::credentials_adapter> creds_;
};

bool offers(const config::listener_settings& l, std::string_view method) {
    return l.login_methods.empty() || std::find(l.login_methods.begin(), l.login_methods.end(), method) != l.login_methods.end();
}

// Releases the maildrop lock (RFC 1939 8: one session per maildrop) when the session ends.
struct maildrop_lock {
    server_state& srv;
    std::string key;
    bool held = false;
    bool acquire(std::string k) {
        std::lock_guard lock(srv.pop3_mutex);
        if (!srv.pop3_open.insert(k).second) return false;
        key = std::move(k);
        held = true;
        return true;
    }
    void release() {
        if (!held) return;
        std::lock_guard lock(srv.pop3_mutex);
        srv.pop3_open.erase(key);
        held = false;
    }
    ~maildrop_lock() { release(); }
};

}  // namespace

awaitable<void> run_session(server_state& srv, std::shared_ptr<net::connection> conn, std::string listener,
                            const config::listener_settings& l) {
    const auto& cfg = srv.settings.pop3;
    const std::string& ip = conn->remote_ip();
    session_scope scope(srv, *conn, listener);
    const std::string& tag = scope.tag();
    conn->set_session_limit(cfg.session_timeout);

    auto snap = srv.current();
    hooks_impl hooks(srv, snap.users);
    pop3::server_session_settings ss;
    ss.banner = !l.banner.empty() ? l.banner : srv.settings.server.pop3_banner;
    ss.user_pass = offers(l, "user");
    // APOP needs a plaintext-equivalent secret: offer it (and the timestamp) only when a user has one.
    ss.apop = offers(l, "apop") && !srv.settings.auth.passwd_file.empty() && hooks.any_plaintext_secret();
    if (ss.apop) ss.apop_timestamp = sasl::make_apop_timestamp(srv.settings.server.hostname);
    ss.sasl_mechanisms.clear();
    for (const char* m : {"SCRAM-SHA-256", "CRAM-MD5", "PLAIN", "LOGIN"}) {
        std::string lower(m);
        std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
        if (offers(l, lower)) ss.sasl_mechanisms.emplace_back(m);
    }
    if (srv.settings.auth.passwd_file.empty()) {
        ss.user_pass = false;
        ss.sasl_mechanisms.clear();
    }
    ss.allow_plaintext_auth = srv.settings.auth.allow_plaintext_auth;
    ss.tls_available = srv.tls.get() != nullptr;
    ss.tls_active = conn->tls_active();
    ss.sasl_options.hostname = srv.settings.server.hostname;
    ss.limits.max_line_length = cfg.max_line_length >= 2 ? cfg.max_line_length - 2 : cfg.max_line_length;
    ss.max_auth_failures = cfg.max_auth_failures;
    ss.max_bad_commands_transaction = cfg.max_errors;
    pop3::server_session session(std::move(ss), hooks, ip);

    std::string out;
    session.greet(out);
    line_framer framer(session.input_limits());
    asio::steady_timer delay_timer(conn->get_executor());
    maildrop_lock lock{srv, {}};
    std::optional<store::maildir_folder> folder;
    std::string end_reason = "quit";
    net::error_code ec;
    bool open = true;

    auto flush = [&](std::chrono::milliseconds extra = std::chrono::milliseconds(0)) -> awaitable<bool> {
        return write_replies(*conn, out, std::max(session.reply_delay(), extra), delay_timer, cfg.write_timeout, ec);
    };
    auto line_timeout = [&] {
        return session.state() == pop3::session_state::authorization ? cfg.login_timeout : cfg.command_timeout;
    };
    auto line_deadline = net::after(line_timeout());

    while (open) {
        while (open && !conn->input().empty()) {
            framer.set_limits(session.input_limits());
            const bool in_auth = session.input_limits().max_line_length > (cfg.max_line_length >= 2 ? cfg.max_line_length - 2 : 0);
            std::error_code lec;
            const std::size_t used = framer.put(conn->input(), lec);
            const unsigned failures_before = hooks.failures;
            const bool authenticated_before = !session.authenticated_user().empty();
            pop3::action a;
            if (lec == line_errc::line_too_long) {
                srv.log.info(tag + " event=line_too_long length=" + std::to_string(framer.length_seen()) +
                             (in_auth ? " in=sasl" : ""));
                a = session.on_line_too_long(framer.length_seen(), out);
                if (!in_auth) {
                    srv.metrics.long_lines++;
                    if (cfg.ban_long_lines) srv.ban_long_line(ip, tag);
                    end_reason = "line_too_long";
                }
            } else if (!framer.has_line()) {
                conn->consume(used);
                continue;
            } else {
                std::string_view line = framer.line();
                if (!in_auth) {
                    auto sp = line.find(' ');
                    std::string verb(line.substr(0, std::min<std::size_t>(sp, 8)));
                    std::transform(verb.begin(), verb.end(), verb.begin(), [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
                    static const char* known[] = {"USER", "PASS", "APOP", "STAT", "LIST", "RETR", "DELE", "NOOP",
                                                  "RSET", "QUIT", "TOP",  "UIDL", "CAPA", "STLS", "AUTH", "UTF8"};
                    bool is_known = std::find(std::begin(known), std::end(known), verb) != std::end(known);
                    srv.metrics.pop3_commands.add(is_known ? verb : "unknown");
                }
                a = session.on_command(line, lec, out);
            }
            conn->consume(used);
            line_deadline = net::after(line_timeout());
            std::chrono::milliseconds extra{0};
            if (hooks.failures != failures_before) {
                srv.metrics.auth.add("pop3/failure");
                srv.log.info(tag + " event=auth_failed reason=bad_credentials");
            }
            if (!authenticated_before && !session.authenticated_user().empty()) {
                // The IP's penalty from earlier failures holds for a right password too.
                extra = srv.throttle.penalty(ip);
                srv.throttle.succeeded(ip);
            }

            switch (a) {
                case pop3::action::read_command: break;

                case pop3::action::close:
                    if (end_reason == "quit" && session.state() != pop3::session_state::update) {
                        end_reason = session.auth_failures() >= cfg.max_auth_failures && cfg.max_auth_failures
                                         ? "too_many_auth_failures"
                                         : session.bad_commands() ? "too_many_errors" : "quit";
                    }
                    co_await flush();
                    open = false;
                    break;

                case pop3::action::start_tls: {
                    if (!co_await flush()) {
                        open = false;
                        end_reason = "write_error";
                        break;
                    }
                    framer.reset();
                    if (co_await upgrade_to_tls(srv, *conn, tag, "stls")) {
                        open = false;
                        end_reason = "tls_failed";
                        break;
                    }
                    session.on_tls_established();
                    break;
                }

                case pop3::action::open_mailbox: {
                    const std::string user = session.authenticated_user();
                    srv.metrics.auth.add("pop3/success");
                    const users::user_entry* e = snap.users ? snap.users->lookup(user) : nullptr;
                    pop3::mailbox_result result = pop3::mailbox_result::temp_failure;
                    std::vector<pop3::message> listing;
                    std::error_code oec;
                    if (e) {
                        auto path = srv.store->maildir_path({e->user, e->domain, {}});
                        if (!path) {
                            oec = path.error();
                        } else if (!lock.acquire(path->string())) {
                            result = pop3::mailbox_result::in_use;
                        } else {
                            auto dir = *path;
                            auto opened = co_await run_blocking(*srv.blocking_pool, [&dir] { return store::maildir_folder::open(dir); });
                            if (opened) {
                                folder.emplace(std::move(*opened));
                                for (const auto& m : folder->messages()) listing.push_back({uidl(m.uid, folder->uid_validity()), m.size});
                                result = pop3::mailbox_result::ok;
                            } else {
                                oec = opened.error();
                            }
                        }
                    }
                    if (result == pop3::mailbox_result::ok) {
                        srv.log.info(tag + " event=auth user=" + user + " messages=" + std::to_string(listing.size()));
                        scope.set_user(user);
                    } else {
                        srv.log.info(tag + " event=mailbox_refused user=" + user + " reason=" +
                                     (result == pop3::mailbox_result::in_use ? "in_use" : "temp_failure") +
                                     (oec ? " error=\"" + oec.message() + "\"" : ""));
                        end_reason = result == pop3::mailbox_result::in_use ? "in_use" : "mailbox_error";
                    }
                    a = session.on_mailbox_opened(result, std::move(listing), out);
                    if (a == pop3::action::close) open = false;
                    if (!co_await flush(extra)) {
                        open = false;
                        end_reason = "write_error";
                    }
                    extra = {};
                    break;
                }

                case pop3::action::send_message: {
                    // "+OK n octets" is in `out`; stream the file through the dot-stuffer, a chunk
                    // at a time, so a 50 MB message never sits in memory.
                    const std::size_t index = session.message_index();
                    pop3::dot_stuffer stuffer(session.top_lines());
                    std::error_code sec;
                    auto fd = folder ? folder->open_message(index) : boost::system::result<detail::unique_fd, std::error_code>(
                                                                        std::make_error_code(std::errc::bad_file_descriptor));
                    std::uint64_t sent = 0;
                    if (!fd) {
                        sec = fd.error();
                    } else {
                        std::string chunk(64 * 1024, '\0');
                        for (;;) {
                            ssize_t n = ::read(fd->get(), chunk.data(), chunk.size());
                            if (n < 0) {
                                if (errno == EINTR) continue;
                                sec = std::error_code(errno, std::system_category());
                                break;
                            }
                            if (n == 0) break;
                            if (!stuffer.write(std::string_view(chunk.data(), static_cast<std::size_t>(n)), out)) break;
                            if (out.size() >= 64 * 1024) {
                                sent += out.size();
                                if (!co_await flush()) break;
                            }
                        }
                        if (!ec && !sec) stuffer.finish(out);
                    }
                    if (ec) {
                        open = false;
                        end_reason = "write_error";
                        break;
                    }
                    if (sec) {
                        // The reply cannot be completed: the session closes (nothing more is sent).
                        srv.log.error(tag + " event=retr_failed index=" + std::to_string(index + 1) + " error=\"" + sec.message() + "\"");
                        out.clear();
                    } else {
                        sent += out.size();
                        srv.metrics.pop3_bytes_sent.fetch_add(sent, std::memory_order_relaxed);
                        if (!session.top_lines()) srv.metrics.pop3_messages_retrieved++;
                    }
                    a = session.on_message_sent(sec, out);
                    if (a == pop3::action::close) {
                        open = false;
                        end_reason = "retr_failed";
                    }
                    conn->release_memory();
                    break;
                }

                case pop3::action::update: {
                    // RFC 1939 6: the marked messages are removed, and only then +OK; cur/ is
                    // fsynced before the reply, so an acknowledged deletion survives a crash and
                    // an unmarked message is never touched.
                    auto marked = session.marked();
                    std::error_code uec;
                    if (folder && !marked.empty()) {
                        auto* f = &*folder;
                        uec = co_await run_blocking(*srv.blocking_pool, [f, &marked] { return f->remove(marked); });
                    }
                    if (!uec) srv.metrics.pop3_messages_deleted.fetch_add(marked.size(), std::memory_order_relaxed);
                    srv.log.info(tag + " event=update deleted=" + std::to_string(uec ? 0 : marked.size()) +
                                 (uec ? " error=\"" + uec.message() + "\"" : ""));
                    a = session.on_update_done(uec, out);
                    // RFC 1939 6: the maildrop is released before the reply, so a client may log
                    // in again as soon as it has read "+OK".
                    lock.release();
                    co_await flush();
                    open = false;
                    end_reason = "quit";
                    break;
                }
            }
            if (open && (session.reply_delay().count() > 0 || extra.count() > 0)) {
                if (!co_await flush(extra)) {
                    open = false;
                    end_reason = "write_error";
                }
            }
        }
        if (!open) break;
        if (!co_await flush()) {
            end_reason = "write_error";
            break;
        }
        conn->release_memory();
        ec = co_await conn->read_more(line_deadline);
        if (ec) {
            end_reason = read_failure_reason(srv, ec);
            if (end_reason == "timeout" || end_reason == "session_timeout") {
                co_await conn->write("-ERR Disconnected for inactivity.\r\n", net::after(std::chrono::seconds(5)));
            }
            break;
        }
    }
    if (end_reason != "quit" && end_reason != "eof") srv.metrics.server_closes.add(end_reason);
    // The maildrop is free once the session's last reply is out: a client that keeps its end
    // open (or ignores close_notify) must not hold the mailbox for the close timeout.
    lock.release();
    folder.reset();
    co_await conn->shutdown(net::after(srv.settings.tls.close_timeout));
    srv.log.info(tag + " event=disconnect reason=" + end_reason);
}

}  // namespace mailharness::refmaild::pop3_room

// The SMTP connection coroutine and its policy hooks (relay control, recipients, message checks).
#include "session.hpp"

#include <netdb.h>
#include <sys/socket.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/bind_executor.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <cstring>
#include <optional>

#include "../server/session_io.hpp"
#include "../server/state.hpp"
#include "mailharness/line_framer.hpp"
#include "mailharness/mail/header.hpp"
#include "mailharness/refmaild/queue/runner.hpp"
#include "mailharness/refmaild/queue/spool.hpp"
#include "mailharness/refmaild/rules.hpp"
#include "mailharness/smtp/data.hpp"
#include "mailharness/smtp/error.hpp"
#include "mailharness/smtp/server_session.hpp"

namespace mailharness::refmaild::smtp_room {

namespace asio = boost::asio;
using asio::awaitable;
using clock_type = std::chrono::steady_clock;
constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

const char* name(listener_kind k) noexcept {
    switch (k) {
        case listener_kind::smtp: return "smtp";
        case listener_kind::submission: return "submission";
        case listener_kind::smtps: return "smtps";
    }
    return "?";
}

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
    session_hooks(server_state& srv, std::string ip, std::shared_ptr<const host_lookup> host)
        : srv_(srv), ip_(std::move(ip)), host_(std::move(host)) {
        auto snap = srv.current();
        db_ = std::move(snap.users);
        domains_ = std::move(snap.local_domains);
        kill_ = std::move(snap.kill);
        accept_ = std::move(snap.accept);
        trusted_ = srv.trusted_ip(ip_);
        accepted_ip_ = accept_->matches_ip(ip_);
        if (db_) creds_.emplace(db_);
    }

    // The session these hooks serve (for TLS state and the authenticated user in rules).
    void attach(const smtp::server_session& s) { session_ = &s; }

    // Accept-file clients (by IP) are exempt from the recipient and message limits.
    bool exempt_from_limits() const { return accepted_ip_; }
    bool local_domain(std::string_view domain) const { return domains_->count(std::string(domain)) != 0; }
    // Why check_message() last refused a message, and check_recipient() a recipient (metric label).
    std::string reject_reason_;
    std::string rcpt_reason_;
    unsigned auth_failures_ = 0;  // failures recorded so far (the loop logs each)
    bool out_of_memory_budget = false;  // the message in progress went past smtp.max_buffered_*
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
        rcpt_reason_.clear();
        if (!p.has(smtp::postmaster) && kill_->matches_address(p.unquoted_local_part() + "@" + p.lowercase_domain())) {
            rcpt_reason_ = "kill_file";
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
            rcpt_reason_ = "unknown_user";
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
            rcpt_reason_ = "unknown_user";
            return smtp::rcpt_verdict::unknown_user;
        }
        // Not local: relaying. Tricks that hide another destination are never relayed, whoever
        // asks; nor is the null sender unless policy.null_sender says accept.
        if (is_relay_trick(p)) {
            rcpt_reason_ = "relay_trick";
            return smtp::rcpt_verdict::relay_denied;
        }
        // Relaying needs the outbound queue (there is none without a spool directory).
        if (!srv_.spool || (null_sender_ && srv_.settings.policy.null_sender != config::null_sender_policy::accept) ||
            !may_relay(user)) {
            rcpt_reason_ = "relay_denied";
            return smtp::rcpt_verdict::relay_denied;
        }
        canonical = std::string(p.local_part) + "@" + domain;
        relayed_ = true;
        return smtp::rcpt_verdict::accept;
    }

    smtp::message_verdict check_message(const smtp::envelope& env, std::string_view message) override {
        reject_reason_.clear();
        if (out_of_memory_budget) {
            // The content was dropped while it arrived (smtp.max_buffered_*): refuse, try later.
            out_of_memory_budget = false;
            reject_reason_ = "memory";
            return {452, smtp::es(4, 3, 1), "Insufficient system storage; try again later"};
        }
        const auto& cfg = srv_.settings;
        mail::header_limits limits;
        if (cfg.smtp.max_header_size) limits.max_size = static_cast<std::size_t>(cfg.smtp.max_header_size);
        else limits.max_size = message.size() + 1;
        mail::header_parser header(limits);
        std::error_code ec;
        header.put(message, ec);
        if (!ec && !header.done()) header.finish(ec);
        if (ec) {
            reject_reason_ = "header";
            return {552, smtp::es(5, 3, 4), "Error: " + ec.message()};
        }
        if (cfg.smtp.max_hops) {
            // RFC 5321 6.3: a message that has passed through too many relays is in a loop.
            auto hops = header.count("Received");
            if (hops >= cfg.smtp.max_hops) {
                reject_reason_ = "loop";
                return {554, smtp::es(5, 4, 6), "Error: too many hops (" + std::to_string(hops) + " Received: fields); mail loop?"};
            }
        }
        if (relayed_ && cfg.policy.relay_requires_from && !header.find("From") && !header.find("Reply-To")) {
            reject_reason_ = "relay_without_from";
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
                reject_reason_ = "rule";
                return {decision_.code, decision_.status, decision_.text};
            }
        }
        return {};
    }

    sasl::credential_lookup* credentials() override { return creds_ ? &*creds_ : nullptr; }

    std::chrono::milliseconds auth_failed(std::string_view peer) override {
        ++auth_failures_;
        return srv_.throttle.failed(std::string(peer));
    }

private:
    bool may_relay(std::string_view user) const {
        if (!user.empty() || trusted_ || accepted_ip_ || sender_in_accept_) return true;
        return host_ && host_->done.load(std::memory_order_acquire) && !host_->name.empty() &&
               accept_->matches_host(host_->name);
    }

    server_state& srv_;
    std::string ip_;
    std::shared_ptr<const host_lookup> host_;
    const smtp::server_session* session_ = nullptr;
    std::shared_ptr<const users::user_db> db_;
    std::shared_ptr<const std::set<std::string>> domains_;
    std::shared_ptr<const policy::access_list> kill_;
    std::shared_ptr<const policy::access_list> accept_;
    std::optional<auth::credentials_adapter> creds_;
    bool trusted_ = false;
    bool accepted_ip_ = false;
    bool null_sender_ = false;
    bool sender_in_accept_ = false;
    bool relayed_ = false;  // the current transaction has a recipient outside the local domains
    rules::decision decision_;
};

// A client connection: plain TCP that may become TLS, with a watchdog deadline.

// Routes one message and completes on the session's executor. `m` is taken by reference and
// consumed: gcc 12 mishandles temporaries with destructors that live across a co_await.
template <class Token>
auto async_route(delivery::router& r, delivery::message& m, Token&& token) {
    return asio::async_initiate<Token, void(delivery::outcome)>(
        [&r](auto handler, delivery::message msg) {
            using handler_t = decltype(handler);
            auto ex = asio::get_associated_executor(handler);
            auto work = std::make_shared<asio::executor_work_guard<decltype(ex)>>(asio::make_work_guard(ex));
            auto h = std::make_shared<handler_t>(std::move(handler));
            r.deliver(std::move(msg), [h, work](delivery::outcome o) {
                auto ex2 = work->get_executor();
                asio::post(ex2, [h, work, o = std::move(o)]() mutable {
                    auto handler2 = std::move(*h);
                    work->reset();
                    std::move(handler2)(std::move(o));
                });
            });
        },
        token, std::move(m));
}

// The first reply code (and enhanced code) in `out` from `from` on, e.g. "452 4.5.3".
std::string_view reply_head(const std::string& out, std::size_t from) {
    if (from + 3 > out.size()) return {};
    std::string_view v(out.data() + from, out.size() - from);
    auto eol = v.find('\r');
    v = v.substr(0, eol);
    auto sp = v.find(' ', 4);
    return v.substr(0, sp == std::string_view::npos ? v.size() : sp);
}

// Message octets a session holds in memory, charged to the server's budget (smtp.max_buffered_*)
// and given back when the message is delivered, refused or dropped.
struct memory_charge {
    server_state& srv;
    const std::string& ip;
    std::uint64_t held = 0;
    bool take(std::uint64_t n) {
        if (!srv.message_memory.take(ip, n)) return false;
        held += n;
        return true;
    }
    void give_back(std::uint64_t n) {
        n = std::min(n, held);
        srv.message_memory.give_back(ip, n);
        held -= n;
    }
    void release() {
        if (held) srv.message_memory.give_back(ip, held);
        held = 0;
    }
    ~memory_charge() { release(); }
};

smtp::server_session_settings session_settings(const server_state& srv, listener_kind kind) {
    const auto& s = srv.settings.smtp;
    smtp::server_session_settings ss;
    ss.hostname = srv.settings.server.hostname;
    ss.banner = srv.settings.server.smtp_banner;
    ss.max_message_size = s.max_message_size;
    ss.max_recipients = s.max_recipients;
    ss.tls_available = srv.tls.get() != nullptr;
    ss.tls_active = kind == listener_kind::smtps;
    ss.auth_required = kind != listener_kind::smtp;
    ss.allow_plaintext_auth = srv.settings.auth.allow_plaintext_auth;
    ss.auth_enabled = !srv.settings.auth.passwd_file.empty();
    ss.normalize_bare_line_endings = s.bare_lf == config::bare_lf_policy::normalize;
    ss.limits.max_line_length = s.max_line_length >= 2 ? s.max_line_length - 2 : s.max_line_length;
    ss.max_errors = s.max_errors;
    ss.error_delay_step = s.error_delay_step;
    ss.max_messages = s.max_messages_per_session;
    ss.max_commands = s.max_commands_per_session;
    ss.vrfy_code = s.vrfy_reply;
    const auto& l = kind == listener_kind::smtp ? srv.settings.listeners.smtp
                    : kind == listener_kind::submission ? srv.settings.listeners.submission
                                                        : srv.settings.listeners.smtps;
    if (!l.banner.empty()) ss.banner = l.banner;
    for (const auto& m : l.login_methods) {
        std::string upper = m;
        for (char& c : upper) c = (c >= 'a' && c <= 'z') ? static_cast<char>(c - 'a' + 'A') : c;
        ss.sasl_mechanisms.push_back(upper);
    }
    return ss;
}

}  // namespace

awaitable<void> run_session(server_state& srv, std::shared_ptr<net::connection> conn, listener_kind kind) {
    const auto& cfg = srv.settings.smtp;
    const std::string& ip = conn->remote_ip();
    session_scope scope(srv, *conn, name(kind));
    const std::string& tag = scope.tag();
    const std::string& sid = scope.id();
    conn->set_session_limit(cfg.session_timeout);

    // The host name matters only when the accept file names hosts; look it up in the background.
    std::shared_ptr<host_lookup> host;
    if (srv.current().accept->has_host_entries()) {
        host = std::make_shared<host_lookup>();
        asio::post(*srv.resolver_pool, [host, ip] {
            host->name = confirmed_host_name(ip);
            host->done.store(true, std::memory_order_release);
        });
    }
    session_hooks hooks(srv, ip, host);
    auto ss = session_settings(srv, kind);
    if (hooks.exempt_from_limits()) {
        ss.max_recipients = std::max(ss.max_recipients, 100000u);
        ss.max_messages = 0;
    }
    smtp::server_session session(std::move(ss), hooks, ip);
    hooks.attach(session);
    if (kind == listener_kind::smtps) session.on_tls_established(conn->tls_version());

    std::string out;
    session.greet(out);
    const std::size_t command_limit = cfg.max_line_length >= 2 ? cfg.max_line_length - 2 : 510;
    constexpr std::size_t sasl_limit = 12288;  // RFC 4954 4: SASL responses have their own limit
    line_framer framer({.max_line_length = command_limit});
    asio::steady_timer delay_timer(conn->get_executor());
    std::uint64_t message_seq = 0;
    std::string end_reason = "quit";
    net::error_code ec;
    memory_charge charge{srv, ip};
    unsigned unknown_recipients = 0;
    const bool enumeration_guard = kind == listener_kind::smtp && cfg.unknown_recipient_limit > 0;

    // Writes the pending replies, after the delay the session asks for (failed AUTH, errors).
    auto flush = [&](std::chrono::milliseconds extra = std::chrono::milliseconds(0)) -> awaitable<bool> {
        if (out.empty()) co_return true;
        co_return co_await write_replies(*conn, out, std::max(session.reply_delay(), extra), delay_timer, cfg.command_timeout, ec);
    };
    auto read_failure = [&]() { return read_failure_reason(srv, ec); };

    bool open = true;
    bool auth_logged = false;
    // A whole command line must arrive within command_timeout of when the server starts waiting
    // for it: trickling bytes does not extend it (slow-loris).
    auto line_deadline = net::after(cfg.command_timeout);
    while (open) {
        // Handle every complete line already buffered (PIPELINING), then flush the replies. A reply
        // that must be delayed (failed AUTH, repeated errors) is written before the next line is
        // even looked at, so pipelining cannot skip the delay.
        while (open && !conn->input().empty()) {
            const bool sasl = session.awaiting_sasl_response();
            framer.set_limits({.max_line_length = sasl ? sasl_limit : command_limit});
            std::error_code lec;
            // The line may point into the connection's buffer: consume only once it is handled.
            const std::size_t used = framer.put(conn->input(), lec);
            const std::size_t reply_start = out.size();
            const unsigned auth_failures_before = hooks.auth_failures_;
            smtp::action a;
            if (lec == line_errc::line_too_long) {
                if (sasl) {
                    srv.log.info(tag + " event=sasl_response_too_long length=" + std::to_string(framer.length_seen()));
                    a = session.on_sasl_response_too_long(out);
                } else {
                    srv.metrics.long_lines++;
                    srv.log.info(tag + " event=line_too_long length=" + std::to_string(framer.length_seen()));
                    a = session.on_line_too_long(framer.length_seen(), out);
                    srv.ban_long_line(ip, tag);
                    end_reason = "line_too_long";
                }
            } else if (!framer.has_line()) {
                conn->consume(used);
                continue;
            } else {
                a = session.on_command(framer.line(), lec, out);
            }
            conn->consume(used);
            line_deadline = net::after(cfg.command_timeout);
            // A transaction ended by RSET, QUIT or a refusal holds no message memory.
            if (charge.held && session.current().recipients.empty()) charge.release();

            // Log what the policy refused (the lines fail2ban-style tools match on).
            if (hooks.auth_failures_ != auth_failures_before) {
                srv.metrics.auth.add("smtp/failure");
                srv.log.info(tag + " event=auth_failed reason=bad_credentials");
            }
            if (auto head = reply_head(out, reply_start); !head.empty()) {
                if (head.starts_with("452 4.5.3")) {
                    srv.metrics.recipients_rejected.add("limit");
                    srv.log.info(tag + " event=rcpt_refused reason=too_many_recipients");
                } else if (!hooks.rcpt_reason_.empty() && (head[0] == '5' || head[0] == '4') &&
                           (head.starts_with("550") || head.starts_with("554") || head.starts_with("553"))) {
                    srv.metrics.recipients_rejected.add(hooks.rcpt_reason_);
                    srv.log.info(tag + " event=rcpt_refused reason=" + hooks.rcpt_reason_);
                    if (hooks.rcpt_reason_ == "unknown_user") ++unknown_recipients;
                }
            }
            std::chrono::milliseconds tarpit{0};
            if (hooks.rcpt_reason_ == "unknown_user" && enumeration_guard && session.authenticated_user().empty()) {
                if (unknown_recipients >= cfg.unknown_recipient_limit) {
                    // Mailbox enumeration through RCPT TO: disconnect, and ban a repeat offender.
                    out += "421 4.7.0 " + srv.settings.server.hostname + " Error: too many unknown recipients; closing connection\r\n";
                    a = smtp::action::close;
                    end_reason = "too_many_unknown_recipients";
                    srv.log.info(tag + " event=enumeration_disconnect unknown_recipients=" + std::to_string(unknown_recipients));
                    if (srv.enumeration_offence(ip) && srv.settings.policy.enumeration_ban.count() > 0) {
                        auto secs = std::chrono::duration_cast<std::chrono::seconds>(srv.settings.policy.enumeration_ban);
                        srv.bans.ban(ip, std::max(secs, std::chrono::seconds(1)));
                        srv.log.info(tag + " event=banned reason=enumeration seconds=" + std::to_string(secs.count()));
                    }
                } else if (unknown_recipients >= 2) {
                    tarpit = std::min<std::chrono::milliseconds>(
                        cfg.unknown_recipient_delay * (1LL << std::min<unsigned>(unknown_recipients - 2, 10)), std::chrono::seconds(10));
                }
            }
            hooks.rcpt_reason_.clear();
            if (a == smtp::action::close && end_reason == "quit" && out.size() > reply_start) {
                // The server ends the session: say why.
                auto head = reply_head(out, out.rfind("421 ", out.size()) == std::string::npos ? reply_start : out.rfind("421 "));
                if (head.starts_with("421")) {
                    end_reason = session.errors() >= cfg.max_errors && cfg.max_errors ? "too_many_errors"
                                 : cfg.max_commands_per_session && session.commands() >= cfg.max_commands_per_session
                                     ? "too_many_commands"
                                     : "server_closed";
                }
            }

            while (a != smtp::action::read_command && open) {
                switch (a) {
                    case smtp::action::close:
                        co_await flush();
                        open = false;
                        break;

                    case smtp::action::start_tls: {
                        if (!co_await flush()) {
                            open = false;
                            end_reason = "write_error";
                            break;
                        }
                        // Anything pipelined after STARTTLS was sent in clear: the upgrade drops
                        // it (CVE-2011-0411 class command injection).
                        framer.reset();
                        if (co_await upgrade_to_tls(srv, *conn, tag, "starttls")) {
                            open = false;
                            end_reason = "tls_failed";
                            break;
                        }
                        session.on_tls_established(conn->tls_version());
                        a = smtp::action::read_command;
                        break;
                    }

                    case smtp::action::read_data: {
                        if (!co_await flush()) {
                            open = false;
                            end_reason = "write_error";
                            break;
                        }
                        smtp::data_decoder decoder(session.data_decoder_limits());
                        std::string content;
                        // Each read must come within data_timeout (RFC 5321 4.5.3.2.5), and the
                        // whole transfer must keep up smtp.min_data_rate after a grace period.
                        const auto data_start = clock_type::now();
                        std::uint64_t received = 0;
                        for (;;) {
                            auto in = conn->input();
                            // The buffer grows here, under the budget, never inside the decoder:
                            // the new buffer is charged before it is allocated, and the old one is
                            // given back after the copy, so the budget bounds real memory, the
                            // moment of the copy included.
                            // (2x: with smtp.bare_lf normalize, each LF may become CRLF.)
                            if (!hooks.out_of_memory_budget && content.size() + 2 * in.size() > content.capacity()) {
                                const std::size_t old_cap = content.capacity();
                                const std::size_t new_cap =
                                    std::max(content.size() + 2 * in.size(), std::max<std::size_t>(old_cap * 2, 64 * 1024));
                                if (charge.take(new_cap)) {
                                    content.reserve(new_cap);
                                    charge.give_back(old_cap);
                                } else {
                                    // Over the server's (or this IP's) in-flight budget: read the
                                    // rest, keep nothing, refuse with 452 at the end.
                                    hooks.out_of_memory_budget = true;
                                    srv.log.warn(tag + " event=memory_budget_exceeded in_use=" +
                                                 std::to_string(srv.message_memory.in_use()));
                                }
                            }
                            const std::size_t n = decoder.put(in, content);
                            conn->consume(n);
                            received += n;
                            if (hooks.out_of_memory_budget) {
                                std::string().swap(content);
                                charge.release();
                            }
                            if (decoder.done()) break;
                            auto deadline = net::after(cfg.data_timeout);
                            if (cfg.min_data_rate > 0) {
                                auto allowed = data_start + cfg.data_rate_grace +
                                               std::chrono::milliseconds(received * 1000 / cfg.min_data_rate);
                                deadline = std::min(deadline, allowed);
                            }
                            ec = co_await conn->read_more(deadline, 65536);
                            if (ec) {
                                open = false;
                                end_reason = read_failure() == "timeout" && clock_type::now() < data_start + cfg.data_timeout
                                                 ? "data_too_slow" : "data_" + read_failure();
                                break;
                            }
                        }
                        conn->release_memory();
                        if (!open) break;
                        srv.metrics.bytes_received.fetch_add(received, std::memory_order_relaxed);
                        a = session.on_data_end(decoder, std::move(content), out);
                        if (a != smtp::action::deliver) charge.release();
                        if (a == smtp::action::read_command) {
                            auto r = decoder.result();
                            std::string reason = r == smtp::errc::message_too_big ? "too_big"
                                                 : r ? "bare_newline"
                                                 : !hooks.reject_reason_.empty() ? hooks.reject_reason_
                                                                                 : "refused";
                            srv.metrics.messages_rejected.add(reason);
                            srv.log.info(tag + " event=message_rejected reason=" + reason + " reply=" +
                                         log_quote(reply_head(out, 0)));
                        }
                        break;
                    }

                    case smtp::action::read_bdat: {
                        std::uint64_t left = session.bdat_size();
                        const bool keep = !session.bdat_discard();
                        std::string chunk;
                        if (keep) chunk.reserve(static_cast<std::size_t>(std::min<std::uint64_t>(left, 1u << 20)));
                        const auto chunk_start = clock_type::now();
                        std::uint64_t got = 0;
                        for (;;) {
                            auto in = conn->input();
                            std::size_t take = static_cast<std::size_t>(std::min<std::uint64_t>(left, in.size()));
                            if (keep && !hooks.out_of_memory_budget && take > 0 && !charge.take(take)) {
                                hooks.out_of_memory_budget = true;
                                srv.log.warn(tag + " event=memory_budget_exceeded in_use=" +
                                             std::to_string(srv.message_memory.in_use()));
                            }
                            if (hooks.out_of_memory_budget) {
                                std::string().swap(chunk);
                                charge.release();
                            } else if (keep) {
                                chunk.append(in.substr(0, take));
                            }
                            conn->consume(take);
                            left -= take;
                            got += take;
                            if (left == 0) break;
                            auto deadline = net::after(cfg.data_timeout);
                            if (cfg.min_data_rate > 0) {
                                deadline = std::min(deadline, chunk_start + cfg.data_rate_grace +
                                                                  std::chrono::milliseconds(got * 1000 / cfg.min_data_rate));
                            }
                            ec = co_await conn->read_more(deadline, 65536);
                            if (ec) {
                                open = false;
                                end_reason = "bdat_" + read_failure();
                                break;
                            }
                        }
                        conn->release_memory();
                        if (!open) break;
                        srv.metrics.bytes_received.fetch_add(got, std::memory_order_relaxed);
                        hooks.reject_reason_.clear();
                        a = session.on_bdat_chunk(chunk, out);
                        if (a != smtp::action::deliver && session.current().recipients.empty()) charge.release();
                        if (!hooks.reject_reason_.empty()) {
                            srv.metrics.messages_rejected.add(hooks.reject_reason_);
                            srv.log.info(tag + " event=message_rejected reason=" + hooks.reject_reason_);
                        }
                        break;
                    }

                    case smtp::action::deliver: {
                        auto started = clock_type::now();
                        std::string msg_id = sid + "." + std::to_string(++message_seq);
                        const auto& decision = hooks.rules_decision();
                        if (!decision.matched.empty()) {
                            std::string names;
                            for (const auto& m : decision.matched) names += (names.empty() ? "" : ",") + m;
                            srv.log.info(tag + " event=rules id=" + msg_id + " matched=\"" + names + "\"");
                        }
                        if (decision.outcome == rules::decision::verdict::discard) {
                            // Accepted and dropped on purpose: the client gets 250, nothing is stored.
                            srv.metrics.discarded_by_rule++;
                            srv.log.info(tag + " event=discarded id=" + msg_id);
                            session.on_delivered({}, msg_id, out);
                            charge.release();
                            a = smtp::action::read_command;
                            break;
                        }
                        delivery::message m;
                        m.sender = session.current().reverse_path;
                        m.body = std::make_shared<const std::string>(std::move(session.message()));
                        m.trace = session.received_header(msg_id, std::chrono::system_clock::now());
                        for (const auto& h : decision.added_headers) m.trace += h + "\r\n";
                        m.folder = decision.folder;
                        m.arrival_from = session.current().helo + " ([" + ip + "])" +
                                         (session.authenticated_user().empty() ? "" : " auth=" + session.authenticated_user());
                        for (const auto& rcpt : session.current().recipients) {
                            m.recipients.push_back(rcpt);
                            m.local.push_back(hooks.local_domain(rcpt.substr(rcpt.rfind('@') + 1)));
                        }
                        const std::size_t size = m.body->size();
                        auto [result] = co_await async_route(*srv.router, m, use_tuple);
                        if (result.queued && !result.ec && srv.runner) {
                            srv.runner->notify_enqueued(*result.queued);
                            srv.log.info(tag + " event=queued id=" + msg_id + " queue_id=" + result.queued->id +
                                         " rcpts=" + std::to_string(result.queued->recipients.size()));
                        }
                        double secs = std::chrono::duration<double>(clock_type::now() - started).count();
                        if (result.ec) {
                            srv.metrics.messages_rejected.add("delivery_failed");
                            srv.log.error(tag + " event=delivery_failed id=" + msg_id + " error=\"" + result.ec.message() + "\"");
                        } else {
                            srv.metrics.messages_accepted++;
                            srv.metrics.delivery_latency.observe(secs);
                            srv.log.info(tag + " event=delivered id=" + msg_id + " from=<" + session.current().reverse_path +
                                         "> rcpts=" + std::to_string(session.current().recipients.size()) +
                                         " size=" + std::to_string(size) + " auth=" +
                                         (session.authenticated_user().empty() ? "-" : session.authenticated_user()) +
                                         " tls=" + (session.tls_version().empty() ? "-" : session.tls_version()));
                        }
                        session.on_delivered(result.ec, msg_id, out);
                        charge.release();
                        a = smtp::action::read_command;
                        break;
                    }

                    case smtp::action::read_command: break;
                }
            }
            std::chrono::milliseconds extra = tarpit;
            if (!session.authenticated_user().empty() && !auth_logged) {
                srv.metrics.auth.add("smtp/success");
                auth_logged = true;
                // The IP's penalty from earlier failures holds for a right password too.
                extra = srv.throttle.penalty(ip);
                srv.throttle.succeeded(ip);
                srv.log.info(tag + " event=auth user=" + session.authenticated_user());
                scope.set_user(session.authenticated_user());
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
            end_reason = read_failure();
            if (end_reason == "timeout" || end_reason == "session_timeout") {
                // RFC 5321 4.2: 421 before closing a connection the server gives up on.
                out = "421 4.4.2 " + srv.settings.server.hostname + " Error: timeout exceeded\r\n";
                co_await conn->write(out, net::after(std::chrono::seconds(5)));
                out.clear();
            }
            break;
        }
    }
    srv.metrics.bytes_received.fetch_add(0, std::memory_order_relaxed);
    if (end_reason != "quit" && end_reason != "eof") srv.metrics.server_closes.add(end_reason);
    co_await conn->shutdown(net::after(srv.settings.tls.close_timeout));
    srv.log.info(tag + " event=disconnect reason=" + end_reason);
}

}  // namespace mailharness::refmaild::smtp_room

// The queue runner: Asio coroutines on the server's io_context. See runner.hpp for the flow.
#include "mailharness/refmaild/queue/runner.hpp"

#include "mailharness/smtp/client_session.hpp"
#include "mailharness/refmaild/queue/dns.hpp"
#include "mailharness/refmaild/queue/dsn.hpp"
#include "mailharness/net/connection.hpp"
#include "mailharness/net/connector.hpp"
#include "mailharness/net/tls.hpp"
#include "mailharness/smtp/data.hpp"
#include "mailharness/smtp/reply.hpp"

#include <openssl/ssl.h>

#include <algorithm>
#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <map>
#include <mutex>
#include <random>
#include <set>

namespace mailharness::refmaild::queue {

// The sans-I/O client transaction lives in core/smtp.
using smtp::client_params;
using smtp::client_session;
using smtp::client_step;
using smtp::client_wait;
using smtp::rcpt_outcome;

namespace asio = boost::asio;
namespace ssl = boost::asio::ssl;
using tcp = asio::ip::tcp;
using asio::awaitable;
using clock_type = std::chrono::steady_clock;
using std::chrono::milliseconds;
constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

namespace {

unix_millis unix_now() {
    return std::chrono::duration_cast<milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

std::string lower(std::string_view s) {
    std::string out(s);
    for (char& c : out) {
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    }
    return out;
}

std::string domain_of(std::string_view mailbox) {
    auto at = mailbox.rfind('@');
    return at == std::string_view::npos ? std::string() : lower(mailbox.substr(at + 1));
}

bool has_8bit(std::string_view s) {
    return std::any_of(s.begin(), s.end(), [](char c) { return static_cast<unsigned char>(c) >= 0x80; });
}

struct hop {
    std::string host;
    std::uint16_t port = 25;
};

// Where the recipients of one domain go.
struct route {
    mx_route::kind result = mx_route::kind::temporary;
    std::vector<hop> hops;
    tls_policy tls = tls_policy::opportunistic;
    last_reply error;  // when not hosts

    // Domains with equal keys share a transaction (same hosts, same TLS) or the same error.
    std::string key() const {
        std::string k = std::to_string(static_cast<int>(result)) + "|" + std::string(to_string(tls));
        for (const auto& h : hops) k += "|" + h.host + ":" + std::to_string(h.port);
        if (result != mx_route::kind::hosts) k += "|" + error.status + "|" + error.diagnostic;
        return k;
    }
};

// Reads from `conn` until `parser` has a whole reply, every read bounded by `deadline`. A parser
// error is returned as is; socket errors as net gives them (errc::timed_out past the deadline).
awaitable<boost::system::error_code> read_reply(net::connection& conn, smtp::reply_parser& parser, smtp::reply& out,
                                                net::time_point deadline) {
    for (;;) {
        while (!conn.input().empty()) {
            std::error_code ec;
            conn.consume(parser.put(conn.input(), ec));
            if (ec) co_return boost::system::error_code(ec);
            if (parser.done()) {
                out = parser.release();
                parser.next();
                co_return boost::system::error_code{};
            }
        }
        if (auto ec = co_await conn.read_more(deadline, 16384)) co_return ec;
    }
}

// What one connection attempt gave.
struct attempt_result {
    bool transaction = false;  // the session got past MAIL FROM: its outcomes are final for now
    bool tls_failed = false;   // the STARTTLS handshake failed
    last_reply error;          // why the host failed (when !transaction)
};

}  // namespace

struct runner::core : std::enable_shared_from_this<runner::core> {
    core(asio::io_context& io, runner_settings s, spool& sp_, runner_hooks h)
        : ioc(io), strand(asio::make_strand(io)), timer(strand), settings(std::move(s)), sp(sp_), hooks(std::move(h)),
          rng(std::random_device{}()) {}

    asio::io_context& ioc;
    asio::strand<asio::io_context::executor_type> strand;
    asio::steady_timer timer;
    runner_settings settings;
    spool& sp;
    runner_hooks hooks;
    std::shared_ptr<ssl::context> tls;

    // DNS queries run here (res_nquery blocks). Jobs see `dns_stop` and answer at once after stop().
    std::unique_ptr<asio::thread_pool> dns_pool = std::make_unique<asio::thread_pool>(2);
    std::shared_ptr<std::atomic<bool>> dns_stop = std::make_shared<std::atomic<bool>>(false);

    std::mutex tmap_mutex;
    std::shared_ptr<const transport_map> tmap = std::make_shared<transport_map>();
    std::filesystem::file_time_type tmap_mtime{};
    bool tmap_loaded = false;

    struct entry {
        unix_millis next = 0;
        bool in_flight = false;
    };
    std::map<std::string, entry> index;  // on `strand` only
    unsigned in_flight = 0;              // on `strand` only
    std::atomic<bool> stopped{false};

    std::mutex rng_mutex;
    std::mt19937 rng;

    struct {
        std::atomic<std::uint64_t> queued{0}, in_flight{0}, enqueued{0}, delivered{0}, deferred{0}, bounced{0},
            dsn_sent{0}, dsn_suppressed{0}, connections{0}, connection_failures{0};
    } counters;

    void log(runner_log_level level, const std::string& line) {
        if (hooks.log) hooks.log(level, line);
    }

    std::shared_ptr<const transport_map> transports() {
        std::lock_guard lock(tmap_mutex);
        return tmap;
    }

    // (Re)loads the transport map when the file changed; keeps the old map when it cannot be read.
    void load_transport_map(bool force) {
        if (settings.transport_map.empty()) return;
        std::error_code ec;
        auto mtime = std::filesystem::last_write_time(settings.transport_map, ec);
        if (!force && tmap_loaded && (ec || mtime == tmap_mtime)) return;
        std::vector<transport_problem> problems;
        auto map = transport_map::load(settings.transport_map, ec, &problems);
        if (ec) {
            log(runner_log_level::error, "event=transport_map_unreadable file=" + settings.transport_map.string() +
                                             " error=\"" + ec.message() + "\"");
            return;
        }
        for (const auto& p : problems) {
            log(runner_log_level::warn, "event=transport_map_problem file=" + settings.transport_map.string() +
                                            " line=" + std::to_string(p.line) + " problem=\"" + p.message + "\"");
        }
        {
            std::lock_guard lock(tmap_mutex);
            tmap = std::make_shared<transport_map>(std::move(map));
        }
        tmap_mtime = mtime;
        if (tmap_loaded) log(runner_log_level::info, "event=transport_map_reloaded entries=" + std::to_string(tmap->size()));
        tmap_loaded = true;
    }

    milliseconds timeout_for(client_wait w) const {
        switch (w) {
            case client_wait::greeting: return settings.greeting_timeout;
            case client_wait::command: return settings.command_timeout;
            case client_wait::data_init: return settings.data_init_timeout;
            case client_wait::data_end: return settings.data_end_timeout;
            case client_wait::quit: return std::min(settings.command_timeout, milliseconds(10000));
        }
        return settings.command_timeout;
    }

    // ---- scheduling (on `strand`) ----

    void schedule(const std::string& id, unix_millis next) {
        auto [it, inserted] = index.try_emplace(id);
        it->second.next = next;
        counters.queued = index.size();
        (void)inserted;
    }

    void wake() { timer.cancel(); }

    awaitable<void> loop() {
        auto self = shared_from_this();
        while (!stopped) {
            if (sp.take_flush_request()) {
                std::size_t n = 0;
                for (auto& [id, e] : index) {
                    if (!e.in_flight) {
                        e.next = 0;
                        ++n;
                    }
                }
                log(runner_log_level::info, "event=queue_flush messages=" + std::to_string(n));
            }
            load_transport_map(false);
            unix_millis now = unix_now();
            unix_millis earliest = now + settings.poll_interval.count();
            std::vector<std::pair<unix_millis, std::string>> due;
            for (auto& [id, e] : index) {
                if (e.in_flight) continue;
                if (e.next <= now) {
                    due.emplace_back(e.next, id);
                } else {
                    earliest = std::min(earliest, e.next);
                }
            }
            std::sort(due.begin(), due.end());
            for (auto& [when, id] : due) {
                if (in_flight >= std::max(1u, settings.concurrency)) break;
                start_delivery(id);
            }
            timer.expires_after(milliseconds(std::max<unix_millis>(earliest - now, 1)));
            co_await timer.async_wait(use_tuple);
        }
    }

    struct delivery_result {
        enum class kind { removed, rescheduled, busy, gone } result = kind::rescheduled;
        unix_millis next = 0;
    };

    void start_delivery(const std::string& id) {
        auto& e = index[id];
        e.in_flight = true;
        ++in_flight;
        counters.in_flight = in_flight;
        auto self = shared_from_this();
        asio::co_spawn(asio::make_strand(ioc), deliver(id),
                       asio::bind_executor(strand, [self, id](std::exception_ptr ex, delivery_result r) {
                           if (ex) {
                               try {
                                   std::rethrow_exception(ex);
                               } catch (const std::exception& what) {
                                   self->log(runner_log_level::error,
                                             "event=queue_exception id=" + id + " what=\"" + what.what() + "\"");
                               }
                               r = {delivery_result::kind::rescheduled, unix_now() + self->settings.retry.min.count()};
                           }
                           self->finished(id, r);
                       }));
    }

    void finished(const std::string& id, const delivery_result& r) {
        --in_flight;
        counters.in_flight = in_flight;
        auto it = index.find(id);
        if (it != index.end()) {
            it->second.in_flight = false;
            switch (r.result) {
                case delivery_result::kind::removed:
                case delivery_result::kind::gone: index.erase(it); break;
                case delivery_result::kind::rescheduled: it->second.next = r.next; break;
                case delivery_result::kind::busy: it->second.next = unix_now() + settings.poll_interval.count(); break;
            }
        }
        counters.queued = index.size();
        wake();
    }

    // ---- one message ----

    awaitable<delivery_result> deliver(std::string id);
    awaitable<void> deliver_group(envelope& env, const std::vector<std::size_t>& idx, const route& r,
                                  const std::string& wire, std::uint64_t size, bool eight_bit);
    awaitable<attempt_result> try_endpoint(const tcp::endpoint& ep, const hop& h, const client_params& params,
                                           const std::string& wire, bool verify, client_session& session);
    awaitable<route> resolve_route(const std::string& domain);
    awaitable<bool> send_dsn(const envelope& env, const std::string& content);

    template <class Token>
    auto async_query_mx(const std::string& domain, Token&& token) {
        return asio::async_initiate<Token, void(mx_answer)>(
            [this](auto handler, std::string d) {
                auto work = asio::make_work_guard(asio::get_associated_executor(handler, strand));
                asio::post(*dns_pool, [h = std::move(handler), work = std::move(work), d = std::move(d),
                                       server = settings.dns_server, stop = dns_stop]() mutable {
                    mx_answer a;
                    if (*stop) {
                        a.status = dns_status::temporary;
                        a.error = "server stopping";
                    } else {
                        a = query_mx(d, server);
                    }
                    auto ex = work.get_executor();
                    asio::post(ex, [h = std::move(h), a = std::move(a)]() mutable { std::move(h)(std::move(a)); });
                    work.reset();
                });
            },
            token, domain);
    }

    template <class Token>
    auto async_deliver_local(const std::string& address, std::string& message, Token&& token) {
        return asio::async_initiate<Token, void(bool, std::error_code)>(
            [this](auto handler, std::string addr, std::string msg) {
                auto work = std::make_shared<std::optional<decltype(asio::make_work_guard(
                    asio::get_associated_executor(handler, strand)))>>();
                work->emplace(asio::make_work_guard(asio::get_associated_executor(handler, strand)));
                auto shared_h = std::make_shared<std::optional<decltype(handler)>>(std::move(handler));
                bool exists = hooks.deliver_local(addr, std::move(msg), [work, shared_h](std::error_code ec) {
                    auto ex = (*work)->get_executor();
                    asio::post(ex, [work, shared_h, ec]() mutable {
                        auto h = std::move(**shared_h);
                        work->reset();
                        std::move(h)(true, ec);
                    });
                });
                if (!exists) {
                    auto ex = (*work)->get_executor();
                    asio::post(ex, [work, shared_h]() mutable {
                        auto h = std::move(**shared_h);
                        work->reset();
                        std::move(h)(false, std::error_code{});
                    });
                }
            },
            token, address, std::move(message));  // `message` is consumed
    }

    // Starts a spool change and completes on the caller's executor. Arguments are taken by
    // reference and moved into the operation: no temporaries live across the co_await (gcc 12
    // mishandles temporaries with destructors in co_await expressions).
    template <class Start, class Token>
    auto async_spool_op(Start start, Token&& token) {
        return asio::async_initiate<Token, void(std::error_code)>(
            [this](auto handler, Start st) {
                auto work = asio::make_work_guard(asio::get_associated_executor(handler, strand));
                auto shared_h = std::make_shared<std::optional<decltype(handler)>>(std::move(handler));
                auto shared_w = std::make_shared<std::optional<decltype(work)>>(std::move(work));
                st([shared_h, shared_w](std::error_code ec) {
                    auto ex = (*shared_w)->get_executor();
                    asio::post(ex, [shared_h, shared_w, ec]() mutable {
                        auto h = std::move(**shared_h);
                        shared_w->reset();
                        std::move(h)(ec);
                    });
                });
            },
            token, std::move(start));
    }
    auto async_enqueue(queued_message& m) {
        return async_spool_op([this, m = std::move(m)](spool_handler done) mutable { sp.enqueue_async(std::move(m), std::move(done)); },
                              asio::use_awaitable);
    }
    auto async_update(const envelope& e) {
        return async_spool_op([this, e](spool_handler done) mutable { sp.update_async(std::move(e), std::move(done)); },
                              asio::use_awaitable);
    }
    auto async_remove(const std::string& id) {
        return async_spool_op([this, id](spool_handler done) mutable { sp.remove_async(std::move(id), std::move(done)); },
                              asio::use_awaitable);
    }
};

awaitable<route> runner::core::resolve_route(const std::string& domain) {
    route r;
    r.tls = settings.default_tls;
    if (domain.empty()) {
        r.result = mx_route::kind::permanent;
        r.error = {0, "5.1.3", "", "recipient address has no domain"};
        co_return r;
    }
    auto map = transports();
    if (const transport_entry* e = map->find(domain)) {
        r.result = mx_route::kind::hosts;
        r.hops.push_back({e->host, e->port});
        r.tls = e->tls.value_or(settings.default_tls);
        co_return r;
    }
    mx_answer answer = co_await async_query_mx(domain, asio::use_awaitable);
    mx_route m;
    {
        std::lock_guard lock(rng_mutex);
        m = route_from_mx(answer, domain, rng);
    }
    r.result = m.result;
    for (auto& h : m.hosts) r.hops.push_back({h, settings.mx_port});
    if (m.result == mx_route::kind::permanent) {
        r.error = {0, answer.status == dns_status::nxdomain ? "5.1.2" : "5.1.10", "", m.error};
    } else if (m.result == mx_route::kind::temporary) {
        r.error = {0, "4.4.3", "", m.error};
    }
    co_return r;
}

awaitable<attempt_result> runner::core::try_endpoint(const tcp::endpoint& ep, const hop& h, const client_params& params,
                                                     const std::string& wire, bool verify, client_session& session) {
    attempt_result res;
    const std::string where = h.host + "[" + ep.address().to_string() + "]:" + std::to_string(ep.port());
    auto fail = [&](std::string status, std::string text) {
        res.error = {0, std::move(status), h.host, std::move(text)};
    };
    // Every deadline below is joined to the operation it guards (net::connection): no watchdog.
    net::connect_options options;
    options.host = ep.address().to_string();
    options.port = ep.port();
    options.connect_timeout = settings.connect_timeout;
    auto ex = co_await asio::this_coro::executor;
    net::connect_result connected = co_await net::connect(ex, options);
    if (connected.ec) {
        counters.connection_failures++;
        fail("4.4.1", "connect to " + where + ": " +
                          (net::is_timeout(connected.ec) ? std::string("timed out") : connected.ec.message()));
        co_return res;
    }
    std::shared_ptr<net::connection> conn = std::move(connected.conn);
    struct closer {
        std::shared_ptr<net::connection> c;
        ~closer() { c->close(); }
    } fin{conn};
    counters.connections++;
    session = client_session(params);
    smtp::reply_parser parser;
    std::string out;
    std::string error;  // set when the connection failed mid-way
    for (;;) {
        smtp::reply reply;
        if (auto ec = co_await read_reply(*conn, parser, reply, net::after(timeout_for(session.waiting_for())))) {
            error = net::is_timeout(ec) ? "timed out waiting for a reply from " + where
                                        : "lost connection with " + where + ": " + ec.message();
            break;
        }
        client_step step = session.on_reply(reply, out);
        if (step == client_step::start_tls) {
            // handshake_client drops any plaintext received after the 220 (RFC 3207 5) and sets
            // SNI and the host-name check.
            net::client_tls_options tls_options{.host = h.host, .verify = verify};
            auto ec = co_await conn->handshake_client(tls, tls_options, net::after(settings.greeting_timeout));
            if (ec) {
                res.tls_failed = true;
                error = "TLS handshake with " + where + " failed: " +
                        (net::is_timeout(ec) ? std::string("timed out") : ec.message());
                break;
            }
            log(runner_log_level::info, "event=queue_starttls host=" + where + " tls=" + conn->tls_version() +
                                             (verify ? " verified=yes" : " verified=no"));
            step = session.on_tls_established(out);
        }
        if (step == client_step::send || step == client_step::done) {
            auto ec = co_await conn->write(out, net::after(step == client_step::done ? timeout_for(client_wait::quit)
                                                                                     : settings.command_timeout));
            out.clear();
            if (step == client_step::done) {
                if (!ec) co_await conn->shutdown(net::after(timeout_for(client_wait::quit)));
                break;
            }
            if (ec) {
                error = "lost connection with " + where + " while sending: " + ec.message();
                break;
            }
        } else if (step == client_step::send_data) {
            std::string_view rest = wire;
            boost::system::error_code ec;
            while (!rest.empty() && !ec) {
                std::size_t n = std::min<std::size_t>(rest.size(), 256 * 1024);
                ec = co_await conn->write(rest.substr(0, n), net::after(settings.data_block_timeout));
                rest.remove_prefix(n);
            }
            if (ec) {
                error = net::is_timeout(ec) ? "timed out sending the message to " + where
                                            : "lost connection with " + where + " while sending the message: " + ec.message();
                break;
            }
        }
    }
    if (session.before_transaction()) {
        if (!error.empty()) {
            counters.connection_failures++;
            fail(res.tls_failed ? "4.7.5" : "4.4.2", error);
        } else if (session.host_error()) {
            counters.connection_failures++;
            res.error = *session.host_error();
            if (res.error.remote.empty()) res.error.remote = h.host;
        } else {
            fail("4.4.2", "session with " + where + " ended before the transaction");
        }
        co_return res;
    }
    if (!error.empty()) session.fail_unresolved({0, "4.4.2", h.host, error});
    res.transaction = true;
    co_return res;
}

awaitable<void> runner::core::deliver_group(envelope& env, const std::vector<std::size_t>& idx, const route& r,
                                            const std::string& wire, std::uint64_t size, bool eight_bit) {
    if (r.result != mx_route::kind::hosts) {
        for (auto i : idx) {
            env.recipients[i].last = r.error;
            if (r.result == mx_route::kind::permanent) env.recipients[i].state = rcpt_state::failed;
        }
        co_return;
    }
    client_params params;
    params.helo = settings.hostname;
    params.sender = env.sender;
    for (auto i : idx) params.recipients.push_back(env.recipients[i].mailbox);
    params.message_size = size;
    params.message_8bit = eight_bit;
    params.tls_possible = tls != nullptr;
    const bool verify = settings.tls_verify;

    last_reply last_error{0, "4.4.1", "", "no host to try"};
    auto ex = co_await asio::this_coro::executor;
    for (const hop& h : r.hops) {
        std::vector<tcp::endpoint> endpoints;
        if (net::is_ip_literal(h.host)) {
            endpoints.emplace_back(asio::ip::make_address(h.host), h.port);
        } else {
            tcp::resolver resolver(ex);
            const std::string port = std::to_string(h.port);
            auto [ec, results] = co_await resolver.async_resolve(h.host, port, use_tuple);
            if (ec) {
                last_error = {0, "4.4.4", h.host, "cannot find the address of " + h.host + ": " + ec.message()};
                log(runner_log_level::info, "event=queue_host_failed id=" + env.id + " host=" + h.host + " error=\"" +
                                                last_error.diagnostic + "\"");
                continue;
            }
            for (const auto& e : results) endpoints.push_back(e.endpoint());
        }
        for (const auto& ep : endpoints) {
            params.remote = h.host;
            params.tls = r.tls;
            client_session session(params);
            const bool verify_this = verify && r.tls == tls_policy::required;
            attempt_result a = co_await try_endpoint(ep, h, params, wire, verify_this, session);
            if (!a.transaction && a.tls_failed && r.tls == tls_policy::opportunistic) {
                // Opportunistic TLS that fails falls back to plaintext on the same host (RFC 7435).
                log(runner_log_level::info, "event=queue_tls_fallback id=" + env.id + " host=" + h.host + " error=\"" +
                                                a.error.diagnostic + "\"");
                params.tls = tls_policy::none;
                a = co_await try_endpoint(ep, h, params, wire, false, session);
            }
            if (!a.transaction) {
                last_error = a.error;
                log(runner_log_level::info, "event=queue_host_failed id=" + env.id + " host=" + h.host + " error=\"" +
                                                a.error.diagnostic + "\"");
                continue;
            }
            for (std::size_t k = 0; k < idx.size(); ++k) {
                recipient& rc = env.recipients[idx[k]];
                rc.last = session.replies()[k];
                switch (session.outcomes()[k]) {
                    case rcpt_outcome::delivered: rc.state = rcpt_state::delivered; break;
                    case rcpt_outcome::permanent: rc.state = rcpt_state::failed; break;
                    default: break;  // temporary: stays pending
                }
            }
            co_return;
        }
    }
    for (auto i : idx) env.recipients[i].last = last_error;  // every host failed: try again later
}

awaitable<bool> runner::core::send_dsn(const envelope& env, const std::string& content) {
    dsn_params p;
    p.reporting_mta = settings.hostname;
    p.queue_id = env.id;
    p.sender = env.sender;
    p.arrival_from = env.arrival_from;
    p.arrival = env.created;
    p.now = unix_now();
    p.original = content;
    for (const auto& r : env.recipients) {
        if (r.state != rcpt_state::failed) continue;
        bool permanent = r.last.code >= 500 || (!r.last.status.empty() && r.last.status[0] == '5');
        p.failed.push_back({r.mailbox, r.last, !permanent});
    }
    std::string dsn = make_dsn(p);
    std::string domain = domain_of(env.sender);
    if (!domain.empty() && hooks.is_local_domain && hooks.is_local_domain(domain)) {
        auto [exists, ec] = co_await async_deliver_local(env.sender, dsn, asio::use_awaitable);
        if (!exists) {
            log(runner_log_level::warn, "event=queue_dsn_dropped id=" + env.id + " to=<" + env.sender +
                                            "> reason=\"no such local mailbox\"");
            co_return true;
        }
        if (ec) {
            log(runner_log_level::error, "event=queue_dsn_failed id=" + env.id + " to=<" + env.sender + "> error=\"" +
                                             ec.message() + "\"");
            co_return false;
        }
        counters.dsn_sent++;
        log(runner_log_level::info, "event=queue_dsn id=" + env.id + " to=<" + env.sender + "> delivery=local failed=" +
                                        std::to_string(p.failed.size()));
        co_return true;
    }
    queued_message m;
    m.env.id = sp.new_id();
    m.env.created = p.now;
    m.env.next_attempt = p.now;
    m.env.sender = "";  // RFC 5321 4.5.5: bounces have the null reverse-path, so they never bounce
    m.env.arrival_from = "DSN for " + env.id;
    m.env.recipients.push_back({env.sender, rcpt_state::pending, {}});
    m.body = std::make_shared<const std::string>(std::move(dsn));
    envelope queued = m.env;
    auto ec = co_await async_enqueue(m);
    if (ec) {
        log(runner_log_level::error, "event=queue_dsn_failed id=" + env.id + " to=<" + env.sender + "> error=\"" +
                                         ec.message() + "\"");
        co_return false;
    }
    counters.dsn_sent++;
    counters.enqueued++;
    log(runner_log_level::info, "event=queue_dsn id=" + env.id + " to=<" + env.sender + "> delivery=queued dsn_id=" +
                                    queued.id + " failed=" + std::to_string(p.failed.size()));
    auto self = shared_from_this();
    asio::post(strand, [self, queued] {
        self->schedule(queued.id, queued.next_attempt);
        self->wake();
    });
    co_return true;
}

awaitable<runner::core::delivery_result> runner::core::deliver(std::string id) {
    using kind = delivery_result::kind;
    auto self = shared_from_this();
    auto lock = sp.try_lock(id);
    if (!lock) {
        if (lock.error() == spool_errc::busy) co_return delivery_result{kind::busy, 0};
        if (lock.error() == spool_errc::not_found) co_return delivery_result{kind::gone, 0};
        log(runner_log_level::error, "event=queue_lock_failed id=" + id + " error=\"" + lock.error().message() + "\"");
        co_return delivery_result{kind::rescheduled, unix_now() + settings.retry.min.count()};
    }
    auto read = sp.read_envelope(id);
    if (!read) {
        if (read.error() == spool_errc::not_found) co_return delivery_result{kind::gone, 0};
        auto qec = sp.quarantine(id);
        log(runner_log_level::error, "event=queue_corrupt id=" + id + " error=\"" + read.error().message() + "\"" +
                                         (qec ? " quarantine_error=\"" + qec.message() + "\"" : " moved=corrupt/"));
        co_return delivery_result{kind::gone, 0};
    }
    envelope env = std::move(*read);
    auto content = lock->read_message(settings.max_message_size);
    if (!content) {
        log(runner_log_level::error, "event=queue_read_failed id=" + id + " error=\"" + content.error().message() + "\"");
        co_return delivery_result{kind::rescheduled, unix_now() + settings.retry.min.count()};
    }

    if (env.pending() > 0) {
        // Group pending recipients by route (domains that share a next hop share a transaction).
        std::map<std::string, std::vector<std::size_t>> by_domain;
        for (std::size_t i = 0; i < env.recipients.size(); ++i) {
            if (env.recipients[i].state == rcpt_state::pending) by_domain[domain_of(env.recipients[i].mailbox)].push_back(i);
        }
        std::map<std::string, std::pair<route, std::vector<std::size_t>>> groups;
        for (auto& [domain, idx] : by_domain) {
            route r = co_await resolve_route(domain);
            auto& g = groups[r.key()];
            g.first = r;
            g.second.insert(g.second.end(), idx.begin(), idx.end());
        }
        const std::string wire = smtp::encode_data(*content);
        const bool eight_bit = has_8bit(*content);
        for (auto& [key, g] : groups) {
            auto& [r, idx] = g;
            std::sort(idx.begin(), idx.end());
            for (std::size_t start = 0; start < idx.size(); start += 100) {
                std::vector<std::size_t> chunk(idx.begin() + static_cast<std::ptrdiff_t>(start),
                                               idx.begin() + static_cast<std::ptrdiff_t>(std::min(idx.size(), start + 100)));
                co_await deliver_group(env, chunk, r, wire, content->size(), eight_bit);
                for (auto i : chunk) {
                    const recipient& rc = env.recipients[i];
                    std::string line = "id=" + id + " to=<" + rc.mailbox + "> relay=" +
                                       (rc.last.remote.empty() ? std::string("none") : rc.last.remote) +
                                       " attempt=" + std::to_string(env.attempts + 1) + " status=" +
                                       (rc.last.status.empty() ? std::string("-") : rc.last.status) + " reply=\"" +
                                       (rc.last.code ? std::to_string(rc.last.code) + " " : std::string()) +
                                       rc.last.diagnostic + "\"";
                    if (rc.state == rcpt_state::delivered) {
                        counters.delivered++;
                        log(runner_log_level::info, "event=queue_delivered " + line);
                    } else if (rc.state == rcpt_state::failed) {
                        counters.bounced++;
                        log(runner_log_level::info, "event=queue_bounced " + line);
                    } else {
                        counters.deferred++;
                        log(runner_log_level::info, "event=queue_deferred " + line);
                    }
                }
            }
        }
        env.attempts++;
    }

    unix_millis now = unix_now();
    if (env.pending() > 0 && expired(settings.retry, env.created, now)) {
        for (auto& rc : env.recipients) {
            if (rc.state != rcpt_state::pending) continue;
            rc.state = rcpt_state::failed;
            if (rc.last.status.empty() || rc.last.status[0] != '4') rc.last.status = "4.4.7";
            counters.bounced++;
            log(runner_log_level::info, "event=queue_expired id=" + id + " to=<" + rc.mailbox + ">");
        }
    }
    if (env.pending() == 0) {
        bool any_failed = std::any_of(env.recipients.begin(), env.recipients.end(),
                                      [](const recipient& r) { return r.state == rcpt_state::failed; });
        if (any_failed && env.null_sender()) {
            counters.dsn_suppressed++;
            log(runner_log_level::info, "event=queue_dsn_suppressed id=" + id + " reason=\"null sender\"");
        } else if (any_failed && !co_await send_dsn(env, *content)) {
            env.next_attempt = now + settings.retry.min.count();
            if (auto ec = co_await async_update(env)) {
                log(runner_log_level::error, "event=queue_update_failed id=" + id + " error=\"" + ec.message() + "\"");
            }
            co_return delivery_result{kind::rescheduled, env.next_attempt};
        }
        if (auto ec = co_await async_remove(id)) {
            log(runner_log_level::error, "event=queue_remove_failed id=" + id + " error=\"" + ec.message() + "\"");
            co_return delivery_result{kind::rescheduled, now + settings.retry.min.count()};
        }
        log(runner_log_level::info, "event=queue_done id=" + id);
        co_return delivery_result{kind::removed, 0};
    }
    // Never later than the expiry time, so that an expired message bounces on time.
    env.next_attempt = std::min(now + backoff(settings.retry, env.attempts).count(),
                                std::max(now, env.created + settings.retry.max_lifetime.count()));
    if (auto ec = co_await async_update(env)) {
        log(runner_log_level::error, "event=queue_update_failed id=" + id + " error=\"" + ec.message() + "\"");
    }
    co_return delivery_result{kind::rescheduled, env.next_attempt};
}

// ---- runner ----

runner::runner(asio::io_context& ioc, runner_settings settings, spool& sp, runner_hooks hooks)
    : core_(std::make_shared<core>(ioc, std::move(settings), sp, std::move(hooks))) {
    auto ctx = std::make_shared<ssl::context>(ssl::context::tls_client);
    SSL_CTX_set_min_proto_version(ctx->native_handle(), TLS1_2_VERSION);
    boost::system::error_code ec;
    if (!core_->settings.tls_ca_file.empty()) {
        ctx->load_verify_file(core_->settings.tls_ca_file.string(), ec);
        if (ec) throw std::runtime_error("queue.tls_ca_file " + core_->settings.tls_ca_file.string() + ": " + ec.message());
    } else {
        ctx->set_default_verify_paths(ec);  // no usable store only matters when verifying
    }
    core_->tls = std::move(ctx);
}

runner::~runner() { stop(); }

void runner::start() {
    auto c = core_;
    auto scan = c->sp.scan(scan_mode::recover);
    for (const auto& p : scan.problems) {
        c->log(runner_log_level::warn, "event=queue_recover file=" + p.file + " problem=\"" + p.message + "\"");
    }
    c->load_transport_map(true);
    asio::post(c->strand, [c, entries = std::move(scan.entries)] {
        for (const auto& e : entries) c->schedule(e.env.id, e.env.next_attempt);
        c->log(runner_log_level::info, "event=queue_started messages=" + std::to_string(entries.size()));
    });
    asio::co_spawn(c->strand, c->loop(), [c](std::exception_ptr ex) {
        if (!ex) return;
        try {
            std::rethrow_exception(ex);
        } catch (const std::exception& e) {
            c->log(runner_log_level::error, std::string("event=queue_loop_exception what=\"") + e.what() + "\"");
        }
    });
}

void runner::stop() {
    auto c = core_;
    if (c->stopped.exchange(true)) return;
    *c->dns_stop = true;
    asio::post(c->strand, [c] { c->timer.cancel(); });
    c->dns_pool->join();
}

void runner::notify_enqueued(const envelope& e) {
    auto c = core_;
    c->counters.enqueued++;
    asio::post(c->strand, [c, id = e.id, next = e.next_attempt] {
        c->schedule(id, next);
        c->wake();
    });
}

runner_stats runner::stats() const noexcept {
    const auto& k = core_->counters;
    auto get = [](const std::atomic<std::uint64_t>& v) { return v.load(std::memory_order_relaxed); };
    return {.queued = get(k.queued),
            .in_flight = get(k.in_flight),
            .enqueued = get(k.enqueued),
            .delivered = get(k.delivered),
            .deferred = get(k.deferred),
            .bounced = get(k.bounced),
            .dsn_sent = get(k.dsn_sent),
            .dsn_suppressed = get(k.dsn_suppressed),
            .connections = get(k.connections),
            .connection_failures = get(k.connection_failures)};
}

}  // namespace mailharness::refmaild::queue

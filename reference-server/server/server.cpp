// refmaild's server: io threads, the listener table, the metrics endpoint, reload and stop.
#include "mailharness/refmaild/server.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <fstream>
#include <thread>

#include "../imap/session.hpp"
#include "../pop3/session.hpp"
#include "../smtp/session.hpp"
#include "mailharness/refmaild/queue/runner.hpp"
#include "mailharness/refmaild/queue/spool.hpp"
#include "mailharness/refmaild/detail/durable_file.hpp"
#include "mailharness/refmaild/maildir_folder.hpp"
#include "state.hpp"

#include <malloc.h>
#include <unistd.h>

namespace mailharness::refmaild {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = boost::beast::http;
using tcp = asio::ip::tcp;
using asio::awaitable;
constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

struct server::impl {
    explicit impl(config::refmaild_settings s)
        : state(std::move(s)),
          ioc(std::make_unique<asio::io_context>(static_cast<int>(std::max(1u, state.settings.server.io_threads)))),
          smtp_limits(state.settings.smtp.max_connections, state.settings.smtp.max_connections_per_ip),
          pop3_limits(state.settings.pop3.max_connections, state.settings.pop3.max_connections_per_ip),
          imap_limits(state.settings.imap.max_connections, state.settings.imap.max_connections_per_ip) {}

    server_state state;
    // Destroyed explicitly in ~server() before the state that suspended coroutine frames refer to.
    std::unique_ptr<asio::io_context> ioc;
    std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work;
    std::vector<std::thread> threads;
    net::connection_limits smtp_limits, pop3_limits, imap_limits;
    std::vector<std::unique_ptr<net::listener>> listeners;
    std::unique_ptr<tcp::acceptor> metrics_acceptor;
    std::map<std::string, std::uint16_t> ports;
    std::atomic<bool> stopped{false};
    std::unique_ptr<queue::runner> runner;

    void start_queue();
    void add_listener(const std::string& name, const config::listener_settings& l, bool implicit_tls,
                      net::connection_limits& limits, std::string busy_text,
                      std::function<awaitable<void>(std::shared_ptr<net::connection>)> session);
    std::optional<std::string> admit(const std::string& ip, const std::string& listener, const std::string& refusal);
    std::string metrics_text() const;
    awaitable<void> metrics_loop();
    awaitable<void> memory_loop();
    awaitable<void> housekeeping_loop();
    awaitable<void> serve_metrics(tcp::socket socket);
};

void server::impl::start_queue() {
    const auto& q = state.settings.queue;
    const auto& settings = state.settings;
    if (q.spool_dir.empty() && settings.store.data_dir.empty()) return;
    auto dir = config::queue_spool_dir(settings);
    state.spool = std::make_unique<queue::spool>(queue::spool_settings{.dir = dir, .max_batch = settings.store.max_batch});
    if (auto ec = state.spool->prepare()) throw std::runtime_error("queue.spool_dir " + dir.string() + ": " + ec.message());
    state.router = std::make_unique<delivery::router>(*state.store, state.spool.get());
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
        auto domains = state.current().local_domains;
        return domains && domains->count(std::string(d)) > 0;
    };
    // Bounces to local senders go through the router into the store.
    hooks.deliver_local = [this](const std::string& address, std::string message, std::function<void(std::error_code)> done) {
        auto db = state.current().users;
        const users::user_entry* e = db ? db->lookup(address) : nullptr;
        if (!e) return false;
        state.router->deliver_local(e->user, e->domain, std::move(message), std::move(done));
        return true;
    };
    hooks.log = [this](queue::runner_log_level level, const std::string& line) {
        static constexpr config::log_level map[] = {config::log_level::debug, config::log_level::info, config::log_level::warn,
                                                    config::log_level::error};
        state.log.log(map[static_cast<int>(level)], line);
    };
    runner = std::make_unique<queue::runner>(*ioc, std::move(rs), *state.spool, std::move(hooks));
    state.runner = runner.get();
}

std::optional<std::string> server::impl::admit(const std::string& ip, const std::string& listener, const std::string& refusal) {
    const char* reason = state.bans.banned(ip) ? "banned" : state.current().kill->matches_ip(ip) ? "kill_file" : nullptr;
    if (!reason) return std::nullopt;
    state.metrics.refused.add(reason);
    state.log.info("ip=" + ip + " listener=" + listener + " event=refused reason=" + reason);
    return refusal;
}

void server::impl::add_listener(const std::string& name, const config::listener_settings& l, bool implicit_tls,
                                net::connection_limits& limits, std::string busy_text,
                                std::function<awaitable<void>(std::shared_ptr<net::connection>)> session) {
    if (!l.enabled) return;
    if (implicit_tls && !state.tls.get()) throw std::runtime_error("listeners." + name + " needs tls.cert_file and tls.key_file");
    const std::string& host = state.settings.server.hostname;
    std::string refusal = name.starts_with("pop3")   ? "-ERR [AUTH] access denied\r\n"
                          : name.starts_with("imap") ? "* BYE access denied\r\n"
                                                     : "554 5.7.1 " + host + " access denied\r\n";
    net::listener_options o;
    o.name = name;
    o.endpoint = tcp::endpoint(asio::ip::make_address(l.address), l.port);
    o.implicit_tls = implicit_tls;
    o.tls = &state.tls;
    o.limits = &limits;
    o.handshake_timeout = state.settings.tls.handshake_timeout;
    o.busy_text = std::move(busy_text);
    o.admit = [this, name, refusal](const std::string& ip) { return admit(ip, name, refusal); };
    o.session = [session](std::shared_ptr<net::connection> c, net::connection_limits::ticket t) -> awaitable<void> {
        auto ticket = std::move(t);  // held for the whole session
        co_await session(std::move(c));
    };
    o.on_refused = [this, name](const std::string& ip, net::refusal why, const std::string&) {
        if (why != net::refusal::limit) return;
        state.metrics.refused.add("connection_limit");
        state.log.info("ip=" + ip + " listener=" + name + " event=refused reason=connection_limit");
    };
    o.on_tls_failed = [this, name](const std::string& ip, const net::error_code& ec) {
        state.metrics.tls_failures++;
        state.log.info("ip=" + ip + " listener=" + name + " event=tls_failed error=\"" + ec.message() + "\"");
    };
    o.on_tls_done = [this] { state.metrics.tls_handshakes++; };
    o.log = [this](net::log_severity sev, const std::string& line) {
        static constexpr config::log_level map[] = {config::log_level::debug, config::log_level::info, config::log_level::warn,
                                                    config::log_level::error};
        state.log.log(map[static_cast<int>(sev)], line);
    };
    auto lst = std::make_unique<net::listener>(*ioc, std::move(o));
    ports[name] = lst->port();
    listeners.push_back(std::move(lst));
}

// ---- Prometheus endpoint ----

std::string server::impl::metrics_text() const {
    std::string o;
    const auto& m = state.metrics;
    o += "# HELP refmaild_connections_total Connections accepted, by listener.\n"
         "# TYPE refmaild_connections_total counter\n";
    for (const auto& l : listeners) o += "refmaild_connections_total{listener=\"" + l->name() + "\"} " + std::to_string(l->accepted()) + '\n';
    render_gauge(o, "refmaild_connections_active", "Connections open now.", m.connections_active);
    render_counter(o, "refmaild_messages_accepted_total", "Messages stored durably and acknowledged with 250.", m.messages_accepted);
    render_labelled(o, "refmaild_messages_rejected_total", "Messages refused after DATA/BDAT, by reason.", "reason",
                    m.messages_rejected.snapshot());
    render_counter(o, "refmaild_messages_discarded_total", "Messages accepted and dropped by a processing rule.", m.discarded_by_rule);
    render_counter(o, "refmaild_sessions_time_limited_total", "Sessions closed at their session_timeout.", m.session_limit_closes);
    render_labelled(o, "refmaild_sessions_closed_by_server_total", "Sessions the server ended, by reason.", "reason",
                    m.server_closes.snapshot());
    render_labelled(o, "refmaild_recipients_rejected_total", "RCPT TO refused, by reason.", "reason", m.recipients_rejected.snapshot());
    render_counter(o, "refmaild_bytes_received_total", "Message octets read from clients.", m.bytes_received);
    // Totals over every protocol, then per protocol.
    auto auth = m.auth.snapshot();
    std::uint64_t ok = 0, bad = 0;
    for (const auto& [k, v] : auth) (k.ends_with("/success") ? ok : bad) += v;
    o += "# HELP refmaild_auth_total Authentication attempts (every protocol), by result.\n# TYPE refmaild_auth_total counter\n";
    o += "refmaild_auth_total{result=\"success\"} " + std::to_string(ok) + "\nrefmaild_auth_total{result=\"failure\"} " +
         std::to_string(bad) + '\n';
    render_labelled(o, "refmaild_auth_by_protocol_total", "Authentication attempts, by protocol/result.", "protocol_result", auth);
    o += "# HELP refmaild_tls_handshakes_total TLS handshakes, by result.\n# TYPE refmaild_tls_handshakes_total counter\n"
         "refmaild_tls_handshakes_total{result=\"success\"} " + std::to_string(m.tls_handshakes) +
         "\nrefmaild_tls_handshakes_total{result=\"failure\"} " + std::to_string(m.tls_failures) + '\n';
    render_counter(o, "refmaild_long_lines_total", "Command lines over the length limit.", m.long_lines);
    auto refused = m.refused.snapshot();
    std::uint64_t fd_refusals = 0;
    for (const auto& l : listeners) fd_refusals += l->descriptor_refusals();
    if (fd_refusals) refused["descriptors"] = fd_refusals;
    std::uint64_t refused_total = 0;
    for (const auto& [k, v] : refused) refused_total += v;
    render_counter(o, "refmaild_refused_connections_total", "Connections refused at connect (banned, kill file, limits, descriptors).",
                   refused_total);
    render_labelled(o, "refmaild_refused_connections_by_reason_total", "Connections refused at connect, by reason.", "reason", refused);
    render_labelled(o, "refmaild_pop3_commands_total", "POP3 commands, by verb.", "verb", m.pop3_commands.snapshot());
    render_counter(o, "refmaild_pop3_messages_retrieved_total", "Messages sent by POP3 RETR.", m.pop3_messages_retrieved);
    render_counter(o, "refmaild_pop3_messages_deleted_total", "Messages removed in the POP3 UPDATE state.", m.pop3_messages_deleted);
    render_counter(o, "refmaild_pop3_bytes_sent_total", "Octets of RETR/TOP responses.", m.pop3_bytes_sent);
    render_labelled(o, "refmaild_imap_commands_total", "IMAP commands, by verb.", "verb", m.imap_commands.snapshot());
    render_counter(o, "refmaild_imap_appends_total", "Messages stored by IMAP APPEND.", m.imap_appends);
    render_counter(o, "refmaild_imap_idle_wakeups_total", "IDLE sessions woken by a mailbox change.", m.imap_idle_wakeups);
    render_histogram(o, "refmaild_delivery_latency_seconds", "Time from end of data to durable storage.", m.delivery_latency);
    if (m.has_cert) {
        render_gauge(o, "refmaild_tls_certificate_days_left", "Whole days until the server certificate expires.", m.cert_days_left);
    }
    if (runner) {
        auto q = runner->stats();
        render_gauge(o, "refmaild_queue_messages", "Messages in the outbound queue.", static_cast<long long>(q.queued));
        render_gauge(o, "refmaild_queue_deliveries_active", "Outbound deliveries running now.", static_cast<long long>(q.in_flight));
        render_counter(o, "refmaild_queue_enqueued_total", "Messages put into the outbound queue (relayed mail and bounces).", q.enqueued);
        render_counter(o, "refmaild_queue_delivered_total", "Queued recipients accepted by the next hop.", q.delivered);
        render_counter(o, "refmaild_queue_deferred_total", "Queued recipient attempts that failed temporarily (retried later).", q.deferred);
        render_counter(o, "refmaild_queue_bounced_total", "Queued recipients that failed permanently or expired.", q.bounced);
        o += "# HELP refmaild_queue_dsn_total Delivery status notifications, by result.\n# TYPE refmaild_queue_dsn_total counter\n"
             "refmaild_queue_dsn_total{result=\"sent\"} " + std::to_string(q.dsn_sent) +
             "\nrefmaild_queue_dsn_total{result=\"suppressed_null_sender\"} " + std::to_string(q.dsn_suppressed) + '\n';
        o += "# HELP refmaild_queue_connections_total Outbound SMTP connections, by result.\n"
             "# TYPE refmaild_queue_connections_total counter\n"
             "refmaild_queue_connections_total{result=\"ok\"} " + std::to_string(q.connections) +
             "\nrefmaild_queue_connections_total{result=\"failed\"} " + std::to_string(q.connection_failures) + '\n';
        render_counter(o, "refmaild_queue_spool_dir_syncs_total", "fsync calls on the spool directory (one per group commit).",
                       state.spool->stats().dir_syncs);
    }
    if (state.store) {
        auto st = state.store->stats();
        render_counter(o, "refmaild_store_batches_total", "Group-commit batches written by the store.", st.batches);
        render_counter(o, "refmaild_store_file_syncs_total", "fdatasync calls on message files.", st.file_syncs);
        render_counter(o, "refmaild_store_dir_syncs_total", "fsync calls on directories.", st.dir_syncs);
    }
    return o;
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

awaitable<void> server::impl::metrics_loop() {
    asio::steady_timer backoff(metrics_acceptor->get_executor());
    for (;;) {
        auto [ec, socket] = co_await metrics_acceptor->async_accept(asio::make_strand(*ioc), use_tuple);
        if (ec) {
            if (stopped || ec == asio::error::operation_aborted) co_return;
            backoff.expires_after(std::chrono::milliseconds(20));  // e.g. out of descriptors: no spinning
            co_await backoff.async_wait(use_tuple);
            continue;
        }
        auto ex = socket.get_executor();
        asio::co_spawn(ex, serve_metrics(std::move(socket)), asio::detached);
    }
}

// After a flood of connections closes, glibc keeps the freed memory in its arenas; give it back
// to the system once the connection count has fallen well below its peak.
awaitable<void> server::impl::memory_loop() {
    asio::steady_timer timer(*ioc);
    std::int64_t peak = 0;
    while (!stopped) {
        timer.expires_after(std::chrono::seconds(5));
        auto [ec] = co_await timer.async_wait(use_tuple);
        if (ec || stopped) co_return;
        const std::int64_t now = state.metrics.connections_active.load();
        peak = std::max({peak, now, state.metrics.connections_peak.exchange(now)});
        if (peak - now >= 256 && now <= peak / 2) {
            ::malloc_trim(0);
            state.log.debug("event=memory_trimmed connections=" + std::to_string(now) + " peak=" + std::to_string(peak));
            peak = now;
        }
    }
}

// Maildir convention: files in tmp/ older than 36 hours belong to no delivery (a crashed writer
// of any program); refmaild's own leftovers are removed at start. Hourly, on the blocking pool.
awaitable<void> server::impl::housekeeping_loop() {
    asio::steady_timer timer(*ioc);
    while (!stopped) {
        timer.expires_after(std::chrono::hours(1));
        auto [ec] = co_await timer.async_wait(use_tuple);
        if (ec || stopped) co_return;
        asio::post(*state.blocking_pool, [this] {
            auto r = store::clean_own_tmp_tree(state.settings.store.maildir_root, state.settings.server.hostname, ::getpid(),
                                               std::chrono::hours(36));
            if (!r) state.log.warn("event=tmp_clean_failed error=\"" + r.error().message() + "\"");
            else if (*r) state.log.info("event=tmp_cleaned files=" + std::to_string(*r));
        });
    }
}

// ---- server ----

server::server(config::refmaild_settings settings) : impl_(std::make_unique<impl>(std::move(settings))) {
    // Message buffers of 128 KiB and more are mapped and given back to the system when freed.
    // (Setting the threshold turns off glibc's dynamic threshold, which after the first large
    // free would keep every later message buffer in the heap, resident after use.)
    ::mallopt(M_MMAP_THRESHOLD, 128 * 1024);
    auto& st = impl_->state;
    st.load_users();
    st.load_tls();
    st.load_access_lists();
    if (!st.settings.store.data_dir.empty()) {
        std::error_code dec;
        std::filesystem::create_directories(st.settings.store.data_dir, dec);
        if (dec) throw std::runtime_error("store.data_dir " + st.settings.store.data_dir.string() + ": " + dec.message());
    }
    if (auto ec = st.bans.load()) st.log.warn("event=bans_load_failed error=\"" + ec.message() + "\"");
    const auto& sc = st.settings.store;
    st.store = std::make_unique<store::maildir_store>(store::store_settings{
        .root = sc.maildir_root,
        .sync = sc.sync,
        .max_batch = sc.max_batch,
        .batch_delay = sc.batch_delay,
        .hostname = st.settings.server.hostname,
    });
    st.router = std::make_unique<delivery::router>(*st.store, nullptr);
    impl_->start_queue();
}

server::~server() {
    stop();
    wait();
    // Sessions still open when the loop stopped live on as suspended coroutine frames owned by the
    // io_context; destroy them (and the listeners) while the state they refer to still exists.
    impl_->work.reset();
    impl_->listeners.clear();
    impl_->metrics_acceptor.reset();
    impl_->runner.reset();  // its timers belong to the io_context
    impl_->state.runner = nullptr;
    impl_->ioc.reset();
}

void server::start() {
    auto& im = *impl_;
    auto& st = im.state;
    // Recover the spool before any session can enqueue (the recovery removes unfinished files).
    if (im.runner) im.runner->start();
    // Message files an earlier refmaild process left unfinished in tmp/ (a kill -9 mid-delivery):
    // no live delivery owns them. Other programs' files are left alone.
    if (std::error_code dec; std::filesystem::exists(st.settings.store.maildir_root, dec)) {
        auto cleaned = store::clean_own_tmp_tree(st.settings.store.maildir_root, st.settings.server.hostname, ::getpid(),
                                                 std::chrono::hours(36));
        if (!cleaned) st.log.warn("event=tmp_clean_failed error=\"" + cleaned.error().message() + "\"");
        else if (*cleaned) st.log.info("event=tmp_cleaned files=" + std::to_string(*cleaned));
    }
    // Descriptors: every connection needs one (two while a session holds a message file open).
    auto fd_limit = net::raise_descriptor_limit();
    std::uint64_t wanted = 64;
    const auto& ls = st.settings.listeners;
    if (ls.smtp.enabled || ls.submission.enabled || ls.smtps.enabled) wanted += st.settings.smtp.max_connections;
    if (ls.pop3.enabled || ls.pop3s.enabled) wanted += 2ull * st.settings.pop3.max_connections;
    if (ls.imap.enabled || ls.imaps.enabled) wanted += 2ull * st.settings.imap.max_connections;
    if (fd_limit && fd_limit < wanted) {
        st.log.warn("event=descriptor_limit_low limit=" + std::to_string(fd_limit) + " needed=" + std::to_string(wanted) +
                    " hint=\"raise the open-file limit (LimitNOFILE) or lower max_connections; clients past the limit "
                    "are refused\"");
    }
    const std::string& host = st.settings.server.hostname;
    const std::string smtp_busy = "421 4.7.0 " + host + " Error: too many connections; try later\r\n";
    const std::string pop3_busy = "-ERR [SYS/TEMP] too many connections; try later\r\n";
    using smtp_room::listener_kind;
    auto smtp_session = [&st](listener_kind k) {
        return [&st, k](std::shared_ptr<net::connection> c) { return smtp_room::run_session(st, std::move(c), k); };
    };
    im.add_listener("smtp", ls.smtp, false, im.smtp_limits, smtp_busy, smtp_session(listener_kind::smtp));
    im.add_listener("submission", ls.submission, false, im.smtp_limits, smtp_busy, smtp_session(listener_kind::submission));
    im.add_listener("smtps", ls.smtps, true, im.smtp_limits, smtp_busy, smtp_session(listener_kind::smtps));
    auto pop3_session = [&st](bool implicit, const config::listener_settings& l) {
        return [&st, implicit, &l](std::shared_ptr<net::connection> c) {
            return pop3_room::run_session(st, std::move(c), implicit ? "pop3s" : "pop3", l);
        };
    };
    im.add_listener("pop3", ls.pop3, false, im.pop3_limits, pop3_busy, pop3_session(false, ls.pop3));
    im.add_listener("pop3s", ls.pop3s, true, im.pop3_limits, pop3_busy, pop3_session(true, ls.pop3s));
    const std::string imap_busy = "* BYE [UNAVAILABLE] too many connections; try later\r\n";
    auto imap_session = [&st](bool implicit, const config::listener_settings& l) {
        return [&st, implicit, &l](std::shared_ptr<net::connection> c) {
            return imap_room::run_session(st, std::move(c), implicit ? "imaps" : "imap", l);
        };
    };
    im.add_listener("imap", ls.imap, false, im.imap_limits, imap_busy, imap_session(false, ls.imap));
    im.add_listener("imaps", ls.imaps, true, im.imap_limits, imap_busy, imap_session(true, ls.imaps));
    if (st.settings.metrics.enabled) {
        tcp::endpoint ep(asio::ip::make_address(st.settings.metrics.address), st.settings.metrics.port);
        im.metrics_acceptor = std::make_unique<tcp::acceptor>(*im.ioc);
        im.metrics_acceptor->open(ep.protocol());
        im.metrics_acceptor->set_option(asio::socket_base::reuse_address(true));
        boost::system::error_code ec;
        im.metrics_acceptor->bind(ep, ec);
        if (ec) throw std::system_error(ec, "cannot bind metrics to " + st.settings.metrics.address + ":" +
                                                std::to_string(st.settings.metrics.port));
        im.metrics_acceptor->listen(asio::socket_base::max_listen_connections);
        im.ports["metrics"] = im.metrics_acceptor->local_endpoint().port();
        asio::co_spawn(*im.ioc, im.metrics_loop(), asio::detached);
    }
    for (auto& l : im.listeners) l->start();
    asio::co_spawn(*im.ioc, im.memory_loop(), asio::detached);
    asio::co_spawn(*im.ioc, im.housekeeping_loop(), asio::detached);
    im.work.emplace(im.ioc->get_executor());
    unsigned n = std::max(1u, st.settings.server.io_threads);
    for (unsigned i = 0; i < n; ++i) im.threads.emplace_back([&im] { im.ioc->run(); });
    std::string line = "event=listening";
    for (auto& [name, port] : im.ports) line += " " + name + "=" + std::to_string(port);
    st.log.info(line);
}

std::map<std::string, std::uint16_t> server::ports() const { return impl_->ports; }

void server::write_ports_file(const std::filesystem::path& file) const {
    std::string text;
    for (auto& [name, port] : impl_->ports) text += name + ' ' + std::to_string(port) + '\n';
    if (auto ec = detail::write_file_durable(file, text, 0644)) throw std::runtime_error("cannot write " + file.string() + ": " + ec.message());
}

bool server::reload() {
    auto& st = impl_->state;
    try {
        st.load_tls();
        st.load_users();
        st.load_access_lists();
        st.log.info("event=reloaded");
        return true;
    } catch (const std::exception& e) {
        st.log.error(std::string("event=reload_failed error=\"") + e.what() + "\"");
        return false;
    }
}

void server::stop() {
    auto& im = *impl_;
    if (im.stopped.exchange(true)) return;
    if (im.runner) im.runner->stop();
    for (auto& l : im.listeners) l->close();
    if (im.metrics_acceptor) {
        asio::post(*im.ioc, [&im] {
            boost::system::error_code ignored;
            im.metrics_acceptor->close(ignored);
        });
    }
    im.work.reset();
    im.ioc->stop();
}

void server::wait() {
    for (auto& t : impl_->threads) {
        if (t.joinable()) t.join();
    }
    impl_->threads.clear();
    if (impl_->state.store) impl_->state.store->stop();
    if (impl_->state.spool) impl_->state.spool->stop();
}

std::string server::metrics_text() const { return impl_->metrics_text(); }

}  // namespace mailharness::refmaild

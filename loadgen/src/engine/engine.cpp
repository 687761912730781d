// The engine: workers (a thread and an io_context each), executors, the flow interpreter, and
// the control thread that shows progress and checks abort thresholds once a second.
#include "mailharness/load/engine.hpp"

#include <sys/resource.h>

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <deque>
#include <fstream>
#include <thread>

#include "engine_detail.hpp"
#include "mailharness/load/actions.hpp"
#include "mailharness/net/connector.hpp"

namespace mailharness::load {

namespace detail {

std::string_view metric_name(metric m) noexcept {
    static constexpr std::array<std::string_view, metric_count> names{
        "smtp.connect", "smtp.tls_handshake", "smtp.greeting", "smtp.ehlo", "smtp.helo",  "smtp.starttls",
        "smtp.auth",    "smtp.mail",          "smtp.rcpt",     "smtp.data", "smtp.bdat",  "smtp.message",
        "smtp.rset",    "smtp.noop",          "smtp.quit",     "iteration", "schedule_lag"};
    return names[static_cast<std::size_t>(m)];
}

// ---- recorder ----

recorder::recorder(collector& sink, std::size_t workloads, time_point start, unsigned worker_index)
    : sink_(sink),
      start_(start),
      worker_(worker_index),
      hist_(workloads * metric_count),
      counters_(workloads),
      seconds_(workloads),
      active_(workloads) {}

void recorder::record(std::uint16_t workload, metric m, std::uint64_t us, time_point now) {
    roll(now);
    auto& h = hist_[workload * metric_count + static_cast<std::size_t>(m)];
    if (!h) h = std::make_unique<stats::histogram>();
    h->record(us);
}

void recorder::roll(time_point now) {
    const auto since = now - start_;
    const auto s = since.count() <= 0 ? 0u : static_cast<std::uint32_t>(std::chrono::duration_cast<std::chrono::seconds>(since).count());
    if (s == second_) return;
    flush();
    second_ = s;
}

void recorder::flush() { sink_.add(worker_, second_, hist_, counters_, seconds_, active_, errors_); }

// ---- collector ----

collector::collector(std::size_t workloads, unsigned workers)
    : workloads_(workloads), counters_(workloads), flushed_(workers, -1) {}

void collector::add(unsigned worker, std::uint32_t second, std::vector<std::unique_ptr<stats::histogram>>& hist,
                    std::vector<workload_counters>& counters, std::vector<second_counts>& seconds,
                    const std::vector<std::uint64_t>& active, std::map<error_key, error_value>& errors) {
    std::lock_guard lock(m_);
    flushed_[worker] = std::max<std::int64_t>(flushed_[worker], second);
    auto& entry = series_[second];
    if (entry.workloads.empty()) entry.workloads.resize(workloads_);
    for (std::size_t id = 0; id < hist.size(); ++id) {
        auto& h = hist[id];
        if (!h || h->empty()) continue;
        (void)totals_[id].merge(*h);
        entry.latency[id].add(compact_histogram::from(*h));
        h->reset();
    }
    for (std::size_t w = 0; w < workloads_; ++w) {
        counters_[w].add(counters[w]);
        counters[w] = {};
        auto sc = seconds[w];
        sc.active = active[w];
        entry.workloads[w].add(sc);
        seconds[w] = {};
    }
    for (auto& [k, v] : errors) {
        auto& mine = errors_[k];
        if (mine.count == 0) mine.example = std::move(v.example);
        mine.count += v.count;
    }
    errors.clear();
}

std::map<std::size_t, stats::histogram> collector::totals() const {
    std::lock_guard lock(m_);
    return totals_;
}
std::vector<workload_counters> collector::counters() const {
    std::lock_guard lock(m_);
    return counters_;
}
std::map<error_key, error_value> collector::errors() const {
    std::lock_guard lock(m_);
    return errors_;
}
std::map<std::uint32_t, collector::series_entry> collector::series() const {
    std::lock_guard lock(m_);
    return series_;
}
std::int64_t collector::complete_second() const {
    std::lock_guard lock(m_);
    return *std::min_element(flushed_.begin(), flushed_.end());
}
bool collector::series_at(std::uint32_t s, series_entry& out) const {
    std::lock_guard lock(m_);
    auto it = series_.find(s);
    if (it == series_.end()) return false;
    out = it->second;
    return true;
}

// ---- connection ----

connection::connection(worker& w) : w_(w), socket_(w.ioc) { w_.add(this); }

connection::~connection() {
    close();
    w_.remove(this);
}

time_point connection::deadline(std::chrono::microseconds timeout) noexcept {
    constexpr auto grain = std::chrono::duration_cast<clock_type::duration>(std::chrono::milliseconds(100));
    auto t = (clock_type::now() + timeout).time_since_epoch();
    t = (t + grain - clock_type::duration(1)) / grain * grain;
    const time_point rounded(t);
    capped_ = rounded >= hard_;
    return capped_ ? hard_ : rounded;
}

boost::system::error_code connection::classify(boost::system::error_code ec) noexcept {
    if (!ec) return ec;
    if (w_.aborting || (net::is_timeout(ec) && (capped_ || clock_type::now() >= hard_))) {
        interrupted_ = true;
        close();
    } else if (net::is_timeout(ec)) {
        timed_out_ = true;
        close();
    }
    return ec;
}

void connection::close() noexcept {
    boost::system::error_code ignored;
    if (conn_) conn_->close();
    socket_.close(ignored);
}

asio::awaitable<boost::system::error_code> connection::connect(const tcp::endpoint& to, const asio::ip::address* from,
                                                               std::chrono::microseconds timeout) {
    boost::system::error_code ec;
    socket_.open(to.protocol(), ec);
    if (ec) co_return ec;
    if (from) {
        socket_.bind(tcp::endpoint(*from, 0), ec);
        if (ec) co_return ec;
    }
    ec = co_await net::connect_endpoint(socket_, to, deadline(timeout));
    if (ec) co_return classify(ec);
    conn_.emplace(std::move(socket_));  // sets TCP_NODELAY
    co_return ec;
}

asio::awaitable<boost::system::error_code> connection::handshake(std::shared_ptr<ssl::context> ctx,
                                                                 net::client_tls_options options,
                                                                 std::chrono::microseconds timeout) {
    // Named arguments only: gcc 12 mishandles temporaries in a co_await expression.
    const time_point until = deadline(timeout);
    co_return classify(co_await conn_->handshake_client(ctx, options, until));
}

asio::awaitable<boost::system::error_code> connection::read_more(std::chrono::microseconds timeout, std::size_t max_read) {
    co_return classify(co_await conn_->read_more(deadline(timeout), max_read));
}

asio::awaitable<boost::system::error_code> connection::write(std::span<const asio::const_buffer> b,
                                                             std::chrono::microseconds timeout) {
    co_return classify(co_await conn_->write(b, deadline(timeout)));
}

// ---- sleeper, worker ----

sleeper::sleeper(worker& w) : w_(w), timer_(w.ioc) { w_.sleepers.insert(this); }
sleeper::~sleeper() { w_.sleepers.erase(this); }

asio::awaitable<bool> sleeper::until(time_point t) {
    if (w_.aborting) co_return false;
    if (t <= clock_type::now()) co_return true;
    timer_.expires_at(t);
    auto [ec] = co_await timer_.async_wait(use_tuple);
    co_return !ec && !w_.aborting;
}

worker::worker(shared_state& s, unsigned i)
    : shared(s), index(i), rec(*s.sink, s.workloads.size(), s.start, i) {}

void worker::abort() noexcept {
    aborting = true;
    for (auto* s : sleepers) s->cancel();
    for (auto* c : live) c->close();  // pending operations fail; the connection counts them as interrupted
}

namespace {

struct task_guard {
    worker& w;
    explicit task_guard(worker& x) : w(x) {}
    ~task_guard() { --w.tasks; }
};

template <class Awaitable>
void spawn(worker& w, Awaitable&& a) {
    ++w.tasks;
    asio::co_spawn(w.ioc, std::forward<Awaitable>(a), [](std::exception_ptr e) {
        if (!e) return;
        try {
            std::rethrow_exception(e);
        } catch (const std::exception& x) {
            std::fprintf(stderr, "mailload: internal error in a session: %s\n", x.what());
        }
    });
}

std::unique_ptr<session_driver> make_driver(worker& w, workload_runtime& wl) {
    switch (wl.spec->proto) {
        case protocol::smtp: return make_smtp_driver(w, wl);
        case protocol::pop3:
        case protocol::imap: break;  // their drivers come with the POP3 and IMAP work
    }
    return nullptr;
}

usec draw(const think_time& t, rng& r) {
    switch (t.type) {
        case think_time::kind::none: return usec(0);
        case think_time::kind::fixed: return t.min;
        case think_time::kind::uniform: return usec(static_cast<std::int64_t>(r.between(t.min.count(), t.max.count())));
        case think_time::kind::exponential:
            return usec(static_cast<std::int64_t>(r.exponential(static_cast<double>(t.min.count()))));
    }
    return usec(0);
}

asio::awaitable<outcome> think(iteration& it, const think_time& t) {
    const auto until = clock_type::now() + draw(t, it.r);
    if (until >= it.hard_deadline) {
        co_await it.nap.until(it.hard_deadline);
        co_return outcome::interrupted;
    }
    co_return co_await it.nap.until(until) ? outcome::ok : outcome::interrupted;
}

asio::awaitable<outcome> run_steps(session_driver& d, iteration& it, const std::vector<step>& steps) {
    for (const auto& s : steps) {
        if (it.w.aborting) co_return outcome::interrupted;
        if (s.probability < 1 && !it.r.chance(s.probability)) continue;
        outcome o = outcome::ok;
        if (s.kind == action_kind::think) {
            o = co_await think(it, std::get<think_params>(s.params).think);
        } else if (s.kind == action_kind::group) {
            const auto n = it.r.between(s.repeat.min, s.repeat.max);
            for (std::uint64_t i = 0; i < n && o == outcome::ok; ++i) o = co_await run_steps(d, it, s.steps);
        } else {
            o = co_await d.execute(s, it);
        }
        if (o != outcome::ok) co_return o;
        if (s.think_after.type != think_time::kind::none) {
            o = co_await think(it, s.think_after);
            if (o != outcome::ok) co_return o;
        }
    }
    co_return outcome::ok;
}

asio::awaitable<void> run_iteration(session_driver& d, iteration& it, bool open) {
    auto& rec = it.w.rec;
    const auto wl = it.wl.index;
    const auto started = clock_type::now();
    if (open) rec.record(wl, metric::schedule_lag, micros(started - it.intended), started);
    ++rec.active(wl);
    outcome o = outcome::interrupted;
    try {
        o = co_await run_steps(d, it, it.wl.spec->flow);
    } catch (...) {
        d.end_session();
        --rec.active(wl);
        throw;
    }
    d.end_session();
    --rec.active(wl);
    const auto now = clock_type::now();
    rec.roll(now);
    auto& c = rec.counters(wl);
    auto& s = rec.second(wl);
    switch (o) {
        case outcome::ok:
            ++c.iterations;
            ++s.iterations;
            rec.record(wl, metric::iteration, micros(now - it.intended), now);
            break;
        case outcome::failed:
            ++c.iterations;
            ++c.failed;
            ++s.iterations;
            ++s.failed;
            break;
        case outcome::interrupted: ++c.interrupted; break;
    }
}

// Closed model: one virtual user, running the flow again and again while the stages want it.
asio::awaitable<void> run_vu(worker& w, workload_runtime& wl, std::uint32_t vu) {
    task_guard guard(w);
    sleeper nap(w);
    std::unique_ptr<session_driver> driver;  // made when the VU first runs: ramps stay cheap
    const auto& e = wl.spec->exec;
    const auto seed = w.shared.sc->seed;
    std::uint64_t done = 0;
    for (const auto& span : vu_intervals(e, vu)) {
        if (!co_await nap.until(wl.start + span.start)) break;
        if (!driver) driver = make_driver(w, wl);
        const bool last = span.end == e.duration();
        const auto stop_at = wl.start + span.end;
        const auto hard = std::min(stop_at + (last ? e.graceful_stop : e.graceful_ramp_down), wl.hard_end);
        while (!w.aborting && clock_type::now() < stop_at && (e.iterations == 0 || done < e.iterations)) {
            const std::uint64_t number = (static_cast<std::uint64_t>(vu) << 32) | (done & 0xffffffffu);
            iteration it{w,   wl, rng(stream_seed(seed, wl.index, static_cast<std::uint64_t>(stream::vu_iteration), number)),
                         number, clock_type::now(), hard, nap};
            co_await run_iteration(*driver, it, false);
            ++done;
        }
        if (w.aborting || (e.iterations && done >= e.iterations)) break;
    }
}

// Open model: this worker's share of the arrivals; iterations that cannot start (max_in_flight)
// wait in a backlog and keep their due time, so their latency counts the wait.
struct open_state {
    std::uint64_t in_flight = 0;
    std::uint64_t cap = 1;
    std::uint64_t backlog_cap = 0;
    std::deque<std::pair<std::uint64_t, time_point>> backlog;
    std::vector<std::unique_ptr<session_driver>> idle;  // drivers reused by later sessions
    bool generating = true;
};

void drop_leftovers(worker& w, workload_runtime& wl, open_state& st) {
    if (st.generating || st.in_flight || st.backlog.empty()) return;
    w.rec.counters(wl.index).dropped += st.backlog.size();
    st.backlog.clear();
}

asio::awaitable<void> open_session(worker& w, workload_runtime& wl, std::shared_ptr<open_state> st, std::uint64_t k,
                                   time_point due) {
    task_guard guard(w);
    ++st->in_flight;
    sleeper nap(w);
    std::unique_ptr<session_driver> driver;
    if (!st->idle.empty()) {
        driver = std::move(st->idle.back());
        st->idle.pop_back();
    } else {
        driver = make_driver(w, wl);
    }
    const auto seed = w.shared.sc->seed;
    for (;;) {
        iteration it{w, wl, rng(stream_seed(seed, wl.index, static_cast<std::uint64_t>(stream::arrival_iteration), k)), k, due,
                     wl.hard_end, nap};
        co_await run_iteration(*driver, it, true);
        if (st->backlog.empty() || w.aborting || clock_type::now() >= wl.hard_end) break;
        std::tie(k, due) = st->backlog.front();
        st->backlog.pop_front();
    }
    st->idle.push_back(std::move(driver));
    --st->in_flight;
    drop_leftovers(w, wl, *st);
}

asio::awaitable<void> run_arrivals(worker& w, workload_runtime& wl) {
    task_guard guard(w);
    sleeper nap(w);
    const auto& e = wl.spec->exec;
    const auto& sh = w.shared;
    auto st = std::make_shared<open_state>();
    st->cap = std::max<std::uint64_t>(1, share_of(share_of(e.max_in_flight, sh.shard.index, sh.shard.count), w.index, sh.threads));
    st->backlog_cap = share_of(share_of(e.max_backlog, sh.shard.index, sh.shard.count), w.index, sh.threads);
    arrival_schedule schedule(e, stream_seed(sh.sc->seed, wl.index, static_cast<std::uint64_t>(stream::arrivals)));
    std::uint64_t k = 0;
    usec due{};
    while (schedule.next(k, due)) {
        if (k % sh.shard.count != sh.shard.index) continue;
        if ((k / sh.shard.count) % sh.threads != w.index) continue;
        const auto at = wl.start + due;
        if (!co_await nap.until(at)) break;
        if (st->in_flight < st->cap) spawn(w, open_session(w, wl, st, k, at));
        else if (st->backlog.size() < st->backlog_cap) st->backlog.emplace_back(k, at);
        else ++w.rec.counters(wl.index).dropped;
    }
    st->generating = false;
    drop_leftovers(w, wl, *st);
}

// Flushes each finished second even while no session records anything.
asio::awaitable<void> roll_loop(worker& w) {
    asio::steady_timer t(w.ioc);
    while (w.tasks > 0) {
        t.expires_after(std::chrono::milliseconds(100));
        co_await t.async_wait(use_tuple);
        w.rec.roll(clock_type::now());
    }
}

// ---- set-up ----

std::shared_ptr<ssl::context> make_tls_context(const target& t, std::string& error) {
    auto ctx = std::make_shared<ssl::context>(ssl::context::tls_client);
    SSL_CTX* c = ctx->native_handle();
    SSL_CTX_set_min_proto_version(c, TLS1_2_VERSION);
    // A load test measures full handshakes unless the scenario says otherwise: no session cache.
    SSL_CTX_set_session_cache_mode(c, SSL_SESS_CACHE_OFF);
    boost::system::error_code ec;
    if (t.verify) {
        ctx->set_verify_mode(ssl::verify_peer);
        if (t.ca_file.empty()) ctx->set_default_verify_paths(ec);
        else ctx->load_verify_file(t.ca_file.string(), ec);
        if (ec) {
            error = "target " + t.name + ": CA certificates " + t.ca_file.string() + ": " + ec.message();
            return nullptr;
        }
    } else {
        ctx->set_verify_mode(ssl::verify_none);
    }
    if (!t.client_cert.empty()) {
        ctx->use_certificate_chain_file(t.client_cert.string(), ec);
        if (!ec) ctx->use_private_key_file(t.client_key.string(), ssl::context::pem, ec);
        if (ec) {
            error = "target " + t.name + ": client certificate: " + ec.message();
            return nullptr;
        }
    }
    return ctx;
}

std::string describe(const executor& e) {
    char buf[160];
    const auto d = format_duration(e.duration());
    const bool constant = e.stages.size() == 1 && e.stages[0].target == e.start;
    if (e.kind == executor_kind::closed) {
        if (constant) std::snprintf(buf, sizeof buf, "closed, %.0f VUs for %s", e.start, d.c_str());
        else std::snprintf(buf, sizeof buf, "closed, up to %u VUs in %zu stages over %s", max_vus(e), e.stages.size(), d.c_str());
        std::string s = buf;
        if (e.iterations) s += ", " + std::to_string(e.iterations) + " iterations per VU";
        return s;
    }
    const char* p = e.arrivals == arrival_process::poisson ? "poisson" : "uniform";
    if (constant) std::snprintf(buf, sizeof buf, "open, %g/s %s for %s", e.start, p, d.c_str());
    else std::snprintf(buf, sizeof buf, "open, %s arrivals in %zu stages over %s", p, e.stages.size(), d.c_str());
    return buf;
}

std::string iso8601(std::time_t t) {
    char buf[32];
    std::tm tm{};
    gmtime_r(&t, &tm);
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return buf;
}

}  // namespace

// Results from what the collector holds (a snapshot while running, the final results after).
results build_results(const shared_state& sh, double duration_s, bool with_series) {
    const auto& sc = *sh.sc;
    results r;
    r.scenario = sc.name;
    r.description = sc.description;
    r.scenario_file = sc.file.string();
    r.seed = sc.seed;
    r.run.duration_s = duration_s;
    r.run.planned_duration_s = static_cast<double>(sc.planned_duration().count()) / 1e6;
    r.run.shard = sh.shard;
    r.run.shards = {sh.shard.index};
    r.run.threads = sh.threads;
    const auto counters = sh.sink->counters();
    for (const auto& wl : sh.workloads) {
        const auto& t = *wl.tgt;
        r.workloads.push_back({wl.spec->name, to_string(wl.spec->proto),
                               t.host + ":" + std::to_string(t.port) + " (tls " + to_string(t.tls) + ")",
                               describe(wl.spec->exec)});
        r.counters[wl.spec->name] = counters[wl.index];
    }
    auto key_of = [&](std::size_t id) {
        return std::make_pair(sh.workloads[id / metric_count].spec->name,
                              std::string(metric_name(static_cast<metric>(id % metric_count))));
    };
    for (auto& [id, h] : sh.sink->totals()) r.latency.emplace(key_of(id), std::move(h));
    for (const auto& [k, v] : sh.sink->errors())
        r.errors.push_back({sh.workloads[k.workload].spec->name, std::string(metric_name(k.action)), k.cls, k.code, v.count,
                            v.example});
    if (with_series) {
        for (auto& [sec, e] : sh.sink->series()) {
            second_sample s;
            s.second = sec;
            for (std::size_t w = 0; w < e.workloads.size(); ++w) s.workloads[sh.workloads[w].spec->name] = e.workloads[w];
            for (auto& [id, h] : e.latency) {
                const auto k = key_of(id);
                s.latency[k.first + "/" + k.second] = std::move(h);
            }
            r.series.push_back(std::move(s));
        }
    }
    return r;
}

}  // namespace detail

std::uint64_t raise_file_limit() noexcept {
    rlimit rl{};
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return 0;
    // Raising the hard limit needs CAP_SYS_RESOURCE; try up to the kernel's per-process maximum.
    std::uint64_t nr_open = 1 << 20;
    if (std::ifstream f("/proc/sys/fs/nr_open"); f) f >> nr_open;
    if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < nr_open) {
        rlimit up{static_cast<rlim_t>(nr_open), static_cast<rlim_t>(nr_open)};
        if (setrlimit(RLIMIT_NOFILE, &up) == 0) return nr_open;
    }
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
    getrlimit(RLIMIT_NOFILE, &rl);
    return rl.rlim_cur;
}

bool run(const scenario& s, const run_options& o, results& out, std::string& error) {
    using namespace detail;
    shared_state sh;
    sh.sc = &s;
    sh.shard = o.shard;
    sh.threads = o.threads ? o.threads : std::max(1u, std::thread::hardware_concurrency());

    // Everything that can fail is done before the clock starts.
    auto& messages = sh.messages;
    for (const auto& m : s.messages) {
        auto src = message_source::make(m, s.seed, error);
        if (!src) {
            error = "message " + m.name + ": " + error;
            return false;
        }
        messages.emplace(m.name, std::move(src));
    }
    std::map<std::string, std::shared_ptr<ssl::context>> tls_contexts;
    asio::io_context resolver_ctx;
    tcp::resolver resolver(resolver_ctx);
    for (std::size_t i = 0; i < s.workloads.size(); ++i) {
        const auto& w = s.workloads[i];
        workload_runtime rt;
        rt.index = static_cast<std::uint16_t>(i);
        rt.spec = &w;
        rt.tgt = s.find_target(w.target);
        if (!rt.tgt) {
            error = "workload " + w.name + ": no target " + w.target;
            return false;
        }
        const auto& t = *rt.tgt;
        boost::system::error_code ec;
        for (const auto& e : resolver.resolve(t.host, std::to_string(t.port), ec)) rt.endpoints.push_back(e.endpoint());
        if (ec || rt.endpoints.empty()) {
            error = "target " + t.name + ": cannot resolve " + t.host + ": " + ec.message();
            return false;
        }
        for (const auto& a : t.source_addresses) {
            auto addr = asio::ip::make_address(a, ec);
            if (ec) {
                error = "target " + t.name + ": bad source address " + a;
                return false;
            }
            rt.sources.push_back(addr);
        }
        if (t.tls != tls_mode::none) {
            auto& ctx = tls_contexts[t.name];
            if (!ctx) ctx = make_tls_context(t, error);
            if (!ctx) return false;
            rt.tls = ctx;
            // net sends the name as SNI unless it is an IP literal, and checks the certificate
            // against it (as a name or an address) when verifying.
            rt.tls_options = {.host = t.sni.empty() ? t.host : t.sni, .verify = t.verify};
        }
        rt.users = w.users.empty() ? nullptr : s.find_pool(w.users);
        if (!w.message.empty()) rt.default_message = messages.at(w.message).get();
        sh.workloads.push_back(std::move(rt));
    }
    raise_file_limit();
    sh.sink = std::make_unique<collector>(sh.workloads.size(), sh.threads);
    sh.start = clock_type::now() + std::chrono::milliseconds(100);
    for (auto& rt : sh.workloads) {
        rt.start = sh.start + rt.spec->exec.start_after;
        rt.end = rt.start + rt.spec->exec.duration();
        rt.hard_end = rt.end + rt.spec->exec.graceful_stop + o.extra_grace;
    }

    std::vector<std::unique_ptr<worker>> workers;
    for (unsigned i = 0; i < sh.threads; ++i) workers.push_back(std::make_unique<worker>(sh, i));
    for (auto& w : workers) {
        for (auto& rt : sh.workloads) {
            const auto& e = rt.spec->exec;
            if (e.kind == executor_kind::closed) {
                const auto n = max_vus(e);
                for (std::uint32_t vu = 0; vu < n; ++vu) {
                    if (vu % sh.shard.count != sh.shard.index) continue;
                    if ((vu / sh.shard.count) % sh.threads != w->index) continue;
                    spawn(*w, run_vu(*w, rt, vu));
                }
            } else {
                spawn(*w, run_arrivals(*w, rt));
            }
        }
        asio::co_spawn(w->ioc, roll_loop(*w), asio::detached);
    }

    std::atomic<unsigned> finished{0};
    std::vector<time_point> finish_times(sh.threads);
    std::vector<std::thread> threads;
    for (auto& w : workers) {
        threads.emplace_back([&, wp = w.get()] {
            wp->ioc.run();
            wp->rec.flush();
            finish_times[wp->index] = clock_type::now();
            ++finished;
        });
    }

    // Control loop: progress and abort thresholds, a little after each second boundary so
    // that the workers have flushed it.
    std::vector<threshold> abort_defs;
    for (const auto& t : s.all_thresholds())
        if (t.abort_on_fail) abort_defs.push_back(t);
    bool aborted = false;
    std::string abort_reason;
    progress last;
    for (int tick = 1; finished < sh.threads; ++tick) {
        const auto wake = sh.start + std::chrono::seconds(tick) + std::chrono::milliseconds(150);
        while (clock_type::now() < wake && finished < sh.threads) std::this_thread::sleep_for(std::chrono::milliseconds(20));
        if (finished == sh.threads) break;
        const double elapsed = std::chrono::duration<double>(clock_type::now() - sh.start).count();
        if (!aborted && !abort_defs.empty()) {
            const auto snap = build_results(sh, elapsed, false);
            for (const auto& t : abort_defs) {
                if (elapsed * 1e6 < static_cast<double>(t.abort_delay.count())) continue;
                bool no_data = false;
                const double v = observe(t, snap, no_data);
                if (no_data || compare(v, t.op, t.value)) continue;
                aborted = true;
                abort_reason = "threshold '" + t.expression + "' failed at " + format_micros(elapsed * 1e6) +
                               " (observed " + format_threshold_value(t, v) + ")";
                for (auto& w : workers) asio::post(w->ioc, [wp = w.get()] { wp->abort(); });
                break;
            }
        }
        if (o.on_progress) {
            progress p;
            p.elapsed_s = elapsed;
            p.planned_s = static_cast<double>(s.planned_duration().count()) / 1e6;
            p.aborting = aborted;
            p.abort_reason = abort_reason;
            const auto counters = sh.sink->counters();
            for (const auto& e : sh.sink->errors()) p.errors += e.second.count;
            const auto sec = sh.sink->complete_second();
            collector::series_entry entry;
            const bool have = sec >= 0 && sh.sink->series_at(static_cast<std::uint32_t>(sec), entry);
            for (const auto& rt : sh.workloads) {
                progress::workload_view v;
                v.name = rt.spec->name;
                v.iterations = counters[rt.index].iterations;
                v.failed = counters[rt.index].failed;
                v.messages = counters[rt.index].messages;
                if (have) {
                    const auto& c = entry.workloads[rt.index];
                    v.active = c.active;
                    v.iteration_rate = static_cast<double>(c.iterations);
                    v.message_rate = static_cast<double>(c.messages);
                    auto it = entry.latency.find(rt.index * metric_count + static_cast<std::size_t>(metric::iteration));
                    if (it != entry.latency.end()) {
                        const auto h = it->second.expand();
                        v.p50_us = h.value_at_percentile(50);
                        v.p99_us = h.value_at_percentile(99);
                    }
                }
                p.workloads.push_back(std::move(v));
            }
            o.on_progress(p);
        }
    }
    for (auto& t : threads) t.join();
    const auto end = *std::max_element(finish_times.begin(), finish_times.end());
    const double duration = std::chrono::duration<double>(end - sh.start).count();

    out = build_results(sh, duration, true);
    // started_at: the wall clock at the start (now minus the measured duration).
    out.run.started_at = iso8601(std::time(nullptr) - static_cast<std::time_t>(duration));
    out.run.aborted = aborted;
    out.run.abort_reason = abort_reason;
    out.run.version = o.version;
    out.thresholds = evaluate(s.all_thresholds(), out);
    return true;
}

}  // namespace mailharness::load

// Engine internals shared by engine.cpp and the protocol drivers. Included only by the engine's
// .cpp files (it carries Asio).
#pragma once

#include <array>
#include <atomic>
#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <unordered_set>
#include <vector>

#include "mailharness/load/message.hpp"
#include "mailharness/load/results.hpp"
#include "mailharness/load/scenario.hpp"
#include "mailharness/load/schedule.hpp"
#include "mailharness/net/connection.hpp"
#include "mailharness/stats/histogram.hpp"

namespace mailharness::load::detail {

namespace asio = boost::asio;
namespace ssl = boost::asio::ssl;
using tcp = asio::ip::tcp;
using clock_type = std::chrono::steady_clock;
using time_point = clock_type::time_point;
constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

enum class outcome : std::uint8_t { ok, failed, interrupted };

// Latency metrics, by number (the names are the ones in actions.cpp and the README).
enum class metric : std::uint8_t {
    smtp_connect, smtp_tls_handshake, smtp_greeting, smtp_ehlo, smtp_helo, smtp_starttls, smtp_auth,
    smtp_mail, smtp_rcpt, smtp_data, smtp_bdat, smtp_message, smtp_rset, smtp_noop, smtp_quit,
    iteration, schedule_lag,
    count_
};
inline constexpr std::size_t metric_count = static_cast<std::size_t>(metric::count_);
std::string_view metric_name(metric m) noexcept;

inline std::uint64_t micros(clock_type::duration d) noexcept {
    const auto us = std::chrono::duration_cast<std::chrono::microseconds>(d).count();
    return us < 0 ? 0 : static_cast<std::uint64_t>(us);
}

// ---- results, per thread, and their collection ----

struct error_key {
    std::uint16_t workload;
    metric action;
    error_class cls;
    int code;
    auto operator<=>(const error_key&) const = default;
};

struct error_value {
    std::uint64_t count = 0;
    std::string example;
};

class collector;

// What one worker thread measured in the current second. Histograms are made on first use and
// reset (not freed) after each flush, so recording never allocates after warm-up.
class recorder {
public:
    recorder(collector& sink, std::size_t workloads, time_point start, unsigned worker_index);

    void record(std::uint16_t workload, metric m, std::uint64_t us, time_point now);
    workload_counters& counters(std::uint16_t workload) noexcept { return counters_[workload]; }
    second_counts& second(std::uint16_t workload) noexcept { return seconds_[workload]; }
    std::uint64_t& active(std::uint16_t workload) noexcept { return active_[workload]; }
    /// Counts an error; `example` is called only for the first of its kind in the second.
    template <class F>
    void error(std::uint16_t workload, metric action, error_class cls, int code, time_point now, F&& example) {
        roll(now);
        auto& v = errors_[error_key{workload, action, cls, code}];
        if (v.count++ == 0) v.example = example();
    }
    /// Flushes the current second when `now` is past it.
    void roll(time_point now);
    /// Flushes whatever is pending (end of run).
    void flush();

private:
    collector& sink_;
    time_point start_;
    unsigned worker_;
    std::uint32_t second_ = 0;
    std::vector<std::unique_ptr<stats::histogram>> hist_;  // workload * metric_count + metric
    std::vector<workload_counters> counters_;
    std::vector<second_counts> seconds_;
    std::vector<std::uint64_t> active_;
    std::map<error_key, error_value> errors_;
};

// Where the workers' seconds meet: whole-run totals and the time series. One mutex, taken by
// each worker once a second and by the control thread for progress and thresholds.
class collector {
public:
    collector(std::size_t workloads, unsigned workers);

    void add(unsigned worker, std::uint32_t second, std::vector<std::unique_ptr<stats::histogram>>& hist,
             std::vector<workload_counters>& counters, std::vector<second_counts>& seconds,
             const std::vector<std::uint64_t>& active, std::map<error_key, error_value>& errors);

    struct series_entry {
        std::vector<second_counts> workloads;
        std::map<std::size_t, compact_histogram> latency;  // by metric id
    };

    // Copies of the state (under the lock).
    std::map<std::size_t, stats::histogram> totals() const;
    std::vector<workload_counters> counters() const;
    std::map<error_key, error_value> errors() const;
    std::map<std::uint32_t, series_entry> series() const;
    /// The last second every worker has flushed, or -1.
    std::int64_t complete_second() const;
    /// The series entry of second `s`, when present.
    bool series_at(std::uint32_t s, series_entry& out) const;

private:
    mutable std::mutex m_;
    std::size_t workloads_;
    std::map<std::size_t, stats::histogram> totals_;
    std::vector<workload_counters> counters_;
    std::map<error_key, error_value> errors_;
    std::map<std::uint32_t, series_entry> series_;
    std::vector<std::int64_t> flushed_;  // per worker, last second flushed
};

// ---- network ----

struct worker;

// A client connection: a net::connection (a deadline joined to every operation, TLS with SNI
// and the host-name check, plaintext dropped at a STARTTLS upgrade), plus what the driver needs.
// Every operation's deadline is now + its timeout, rounded up to the next 100 ms (so that the
// operations of a busy connection share one armed timer instead of re-arming it each time), and
// never past the iteration's hard deadline (ramp-down, end of run). A failure at the hard
// deadline, or after an abort (which closes every live connection), counts as interrupted;
// one at an operation's own deadline as timed out.
class connection {
public:
    explicit connection(worker& w);
    ~connection();
    connection(const connection&) = delete;
    connection& operator=(const connection&) = delete;

    asio::awaitable<boost::system::error_code> connect(const tcp::endpoint& to, const asio::ip::address* from,
                                                       std::chrono::microseconds timeout);
    asio::awaitable<boost::system::error_code> handshake(std::shared_ptr<ssl::context> ctx,
                                                         net::client_tls_options options,
                                                         std::chrono::microseconds timeout);
    /// Reads at least one more byte (at most `max_read`) into input().
    asio::awaitable<boost::system::error_code> read_more(std::chrono::microseconds timeout, std::size_t max_read);
    std::string_view input() const noexcept { return conn_ ? conn_->input() : std::string_view(); }
    void consume(std::size_t n) noexcept {
        if (conn_) conn_->consume(n);
    }
    /// Writes every buffer, in one gather write on plain TCP.
    asio::awaitable<boost::system::error_code> write(std::span<const asio::const_buffer> b,
                                                     std::chrono::microseconds timeout);

    void set_hard_deadline(time_point t) noexcept { hard_ = t; }
    /// Closes now (abort, end of session). Safe to call twice.
    void close() noexcept;
    bool is_open() noexcept { return conn_ ? conn_->socket().is_open() : socket_.is_open(); }
    bool timed_out() const noexcept { return timed_out_; }
    bool interrupted() const noexcept { return interrupted_; }
    bool tls() const noexcept { return conn_ && conn_->tls_active(); }
    SSL* ssl_handle() noexcept { return conn_ ? conn_->ssl_handle() : nullptr; }

    std::size_t registry_index = 0;

private:
    // The deadline of an operation that may take `timeout`.
    time_point deadline(std::chrono::microseconds timeout) noexcept;
    // Notes what a failed operation means (interrupted, timed out); returns `ec`.
    boost::system::error_code classify(boost::system::error_code ec) noexcept;

    worker& w_;
    tcp::socket socket_;                 // until connected
    std::optional<net::connection> conn_;  // once connected
    time_point hard_ = time_point::max();
    bool capped_ = false;  // the last operation's deadline was the hard deadline
    bool timed_out_ = false;
    bool interrupted_ = false;
};

// ---- the run ----

// One workload, ready to run: everything resolved and built before the clock starts.
struct workload_runtime {
    std::uint16_t index = 0;
    const workload* spec = nullptr;
    const target* tgt = nullptr;
    std::vector<tcp::endpoint> endpoints;
    std::vector<asio::ip::address> sources;
    std::shared_ptr<ssl::context> tls;   // for tls != none
    net::client_tls_options tls_options; // SNI and the name the certificate must match
    const user_pool* users = nullptr;
    const message_source* default_message = nullptr;
    time_point start;                    // after start_after
    time_point end;                      // start + stages
    time_point hard_end;                 // end + graceful_stop
};

struct shared_state {
    const scenario* sc = nullptr;
    shard_spec shard;
    unsigned threads = 1;
    time_point start;
    std::vector<workload_runtime> workloads;
    std::map<std::string, std::unique_ptr<message_source>, std::less<>> messages;
    std::unique_ptr<collector> sink;
};

// A cancellable sleep, registered with the worker so that an abort wakes it.
class sleeper {
public:
    explicit sleeper(worker& w);
    ~sleeper();
    sleeper(const sleeper&) = delete;
    sleeper& operator=(const sleeper&) = delete;
    /// Sleeps until `t`; false when woken early by an abort.
    asio::awaitable<bool> until(time_point t);
    void cancel() noexcept { timer_.cancel(); }

private:
    worker& w_;
    asio::steady_timer timer_;
};

struct worker {
    worker(shared_state& s, unsigned index);

    shared_state& shared;
    unsigned index;
    asio::io_context ioc{1};
    recorder rec;
    std::vector<connection*> live;      // closed by an abort
    std::unordered_set<sleeper*> sleepers;
    bool aborting = false;
    std::size_t tasks = 0;              // coroutines still running
    std::size_t next_source = 0;

    void add(connection* c) {
        c->registry_index = live.size();
        live.push_back(c);
    }
    void remove(connection* c) {
        live.back()->registry_index = c->registry_index;
        live[c->registry_index] = live.back();
        live.pop_back();
    }
    void abort() noexcept;
};

// One run of a flow.
struct iteration {
    worker& w;
    workload_runtime& wl;
    rng r;
    std::uint64_t number;         // a number unique in the workload (for Message-IDs)
    time_point intended;          // when it was due (open model) or started (closed)
    time_point hard_deadline;     // cut here (interrupted)
    sleeper& nap;
};

// A protocol's session: runs that protocol's actions for one virtual user or arrival. Reused
// across the iterations of a VU, so buffers are allocated once.
class session_driver {
public:
    virtual ~session_driver() = default;
    /// Runs one action of the driver's protocol. Errors are recorded by the driver.
    virtual asio::awaitable<outcome> execute(const step& s, iteration& it) = 0;
    /// Ends the session (closes the connection if the flow left it open).
    virtual void end_session() noexcept = 0;
};

std::unique_ptr<session_driver> make_smtp_driver(worker& w, workload_runtime& wl);

}  // namespace mailharness::load::detail

// What every protocol session of refmaild does around its state machine, written once: the
// session's log tag and active-connection count, replies written after the delay the state
// machine asks for, the TLS upgrade after STARTTLS/STLS, and the name of a read failure.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <type_traits>

#include "mailharness/net/connection.hpp"

namespace mailharness::refmaild {

struct server_state;

/// One session's identity: "session=<id> ip=<ip> listener=<name>" for every log line; counts
/// the connection as active while it lives; logs the connect (with TLS details for implicit TLS).
class session_scope {
public:
    session_scope(server_state& srv, net::connection& conn, const std::string& listener);
    ~session_scope();
    session_scope(const session_scope&) = delete;
    session_scope& operator=(const session_scope&) = delete;
    const std::string& id() const noexcept { return id_; }
    /// The log prefix; gains " user=<name>" once set_user() is called.
    const std::string& tag() const noexcept { return tag_; }
    /// The session authenticated as `user`: every later log line names it.
    void set_user(const std::string& user);

private:
    server_state& srv_;
    std::string id_, tag_;
};

/// Waits `delay` (a failed login, repeated errors: nothing is read meanwhile), then writes and
/// clears `out` within `write_timeout` counted from the end of the wait. False when the write
/// failed (`ec` says why).
boost::asio::awaitable<bool> write_replies(net::connection& conn, std::string& out, std::chrono::milliseconds delay,
                                           boost::asio::steady_timer& timer, std::chrono::milliseconds write_timeout,
                                           net::error_code& ec);

/// The server side of STARTTLS / STLS, once the go-ahead reply is written: logs and drops
/// whatever plaintext the client pipelined after the command (CVE-2011-0411 class injection),
/// handshakes within tls.handshake_timeout, counts and logs the outcome (`verb` names the
/// command in the log: "starttls", "stls"). Returns the handshake error.
boost::asio::awaitable<net::error_code> upgrade_to_tls(server_state& srv, net::connection& conn, const std::string& tag,
                                                       const char* verb);

/// The disconnect reason for a failed read: "session_timeout" (counted), "timeout", "eof" or
/// "read_error".
std::string read_failure_reason(server_state& srv, const net::error_code& ec);

// Runs `fn` on the blocking pool (file-system work with fsyncs stays off the io threads) and
// resumes on the caller's executor.
template <class F>
boost::asio::awaitable<std::invoke_result_t<F&>> run_blocking(boost::asio::thread_pool& pool, F fn) {
    using R = std::invoke_result_t<F&>;
    std::optional<R> result;
    co_await boost::asio::async_initiate<const boost::asio::use_awaitable_t<>&, void()>(
        [&pool, &fn, &result](auto handler) {
            auto work = boost::asio::make_work_guard(boost::asio::get_associated_executor(handler));
            boost::asio::post(pool, [&fn, &result, h = std::move(handler), work = std::move(work)]() mutable {
                result.emplace(fn());
                auto ex = work.get_executor();
                boost::asio::post(ex, std::move(h));
            });
        },
        boost::asio::use_awaitable);
    co_return std::move(*result);
}

}  // namespace mailharness::refmaild

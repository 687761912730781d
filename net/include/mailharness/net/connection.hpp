// One network connection, server or client side: TCP that may become TLS in place, an input
// buffer, and a deadline on every operation.
//
// Deadlines are joined to the operation they guard, as Beast's tcp_stream::expires_after does:
// every read, write, handshake and shutdown takes an absolute deadline; one timer per connection
// is (re)armed when that deadline differs from the armed one, and when it fires during an
// operation it cancels the socket, so the operation completes with errc::timed_out. No detached
// watchdog coroutine shares the connection's state. A session limit caps every deadline (a
// client cannot hold a slot past it whatever it does); past it operations fail with
// errc::session_expired.
//
// TLS writes go through OpenSSL's socket BIO (write(2)): the first handshake sets SIGPIPE to
// SIG_IGN for the process, so a peer that vanishes gives EPIPE, not a dead process.
//
// The connection lives on one strand (the socket's executor) and is not thread-safe: the
// coroutine that owns it runs every operation, one at a time.
//
// Memory: the input buffer starts empty and grows only as far as a read needs (read_more's
// `max_read`); release_memory() gives back a buffer grown past 16 KiB once it is empty. TLS runs
// OpenSSL directly on the socket (no BIO pair and no 2 x 17 KiB stream buffers of Asio's
// ssl::stream), with SSL_MODE_RELEASE_BUFFERS, so an idle TLS connection holds little more than
// its SSL object.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/system/error_code.hpp>

#include <chrono>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <system_error>

#include "mailharness/net/error.hpp"

namespace mailharness::net {

using clock = std::chrono::steady_clock;
using time_point = clock::time_point;
using tcp = boost::asio::ip::tcp;
using error_code = boost::system::error_code;

/// now() + d, saturating (a zero or negative duration means "no deadline" only where documented).
inline time_point after(std::chrono::milliseconds d) {
    if (d.count() <= 0) return time_point::max();
    return clock::now() + d;
}

/// What a client does about the server's certificate.
struct client_tls_options {
    /// Name sent in SNI and checked against the certificate; an IP literal is checked as an IP
    /// address (and not sent as SNI, RFC 6066 3). Empty: no SNI, no name check.
    std::string host;
    /// Verify the chain against the context's trust store and the name against `host`.
    bool verify = true;
};

class connection {
public:
    /// Takes an open TCP socket (accepted or connected). Sets TCP_NODELAY: every reply is one
    /// write already, and without it a reply sent while earlier data is unacknowledged waits for
    /// the peer's delayed ACK (40 ms and more after a TLS handshake).
    explicit connection(tcp::socket socket);
    ~connection();
    connection(const connection&) = delete;
    connection& operator=(const connection&) = delete;

    // ---- deadlines ----

    /// Caps every later deadline at now() + d (the total session time limit); d <= 0: no cap.
    void set_session_limit(std::chrono::milliseconds d);
    /// True once the session limit has passed.
    bool past_session_limit() const noexcept;
    /// The cap set by set_session_limit() (time_point::max() when none).
    time_point session_deadline() const noexcept { return session_limit_; }

    // ---- input ----

    /// Bytes received and not yet consumed.
    std::string_view input() const noexcept { return std::string_view(in_).substr(pos_); }
    /// Marks `n` bytes of input() as used.
    void consume(std::size_t n) noexcept;
    /// Drops all buffered input (before a TLS upgrade: plaintext pipelined after STARTTLS/STLS
    /// must never be read as if it came over TLS, CVE-2011-0411). Returns how many bytes it dropped.
    std::size_t discard_input() noexcept;
    /// Reads at least one more byte (at most `max_read`) and appends it to input(). Fails with
    /// the socket's error, boost::asio::error::eof, errc::timed_out or errc::session_expired.
    boost::asio::awaitable<error_code> read_more(time_point deadline, std::size_t max_read = 4096);
    /// Ends a read_more() in progress with errc::interrupted, or makes the next one return it at
    /// once; buffered and TLS data stay intact. Only reads are affected, and only when no write
    /// is in progress. Call on the connection's executor (IMAP IDLE: another session changed
    /// the mailbox).
    void interrupt();
    /// Frees the input buffer when it is empty and has grown past 16 KiB (after a long line, a
    /// literal or a DATA transfer), so that idle connections stay small.
    void release_memory();

    // ---- output ----

    /// Writes all of `data`.
    boost::asio::awaitable<error_code> write(std::string_view data, time_point deadline);
    /// Writes `a` then `b` in one gather write.
    boost::asio::awaitable<error_code> write(std::string_view a, std::string_view b, time_point deadline);
    /// Writes every buffer of `buffers` in order, as one gather write on plain TCP (writev, so a
    /// pipelined batch of commands and message parts costs one system call; under TLS each buffer
    /// is its own record). The buffers must stay valid until the write completes.
    boost::asio::awaitable<error_code> write(std::span<const boost::asio::const_buffer> buffers, time_point deadline);

    // ---- TLS ----

    /// Server-side handshake on this socket (implicit TLS, or after STARTTLS/STLS: the caller
    /// has already written the go-ahead reply). Drops buffered plaintext first. `ctx` is kept
    /// alive for the connection's lifetime (a reload does not disturb running sessions).
    boost::asio::awaitable<error_code> handshake_server(std::shared_ptr<boost::asio::ssl::context> ctx,
                                                        time_point deadline);
    /// Client-side handshake with SNI and, when options.verify, chain and host-name checks.
    /// Drops buffered plaintext first (RFC 3207 5: nothing received before the handshake counts).
    boost::asio::awaitable<error_code> handshake_client(std::shared_ptr<boost::asio::ssl::context> ctx,
                                                        client_tls_options options, time_point deadline);
    bool tls_active() const noexcept { return ssl_ != nullptr && tls_done_; }
    /// "TLSv1.3" etc.; empty without TLS.
    std::string tls_version() const;
    /// The negotiated cipher's OpenSSL name; empty without TLS.
    std::string tls_cipher() const;
    /// The OpenSSL handle (nullptr without TLS), for certificate inspection.
    SSL* ssl_handle() const noexcept;

    // ---- closing ----

    /// Closes gracefully: TLS close_notify (waiting for the peer's until `deadline`, so a peer
    /// that ignores it costs at most that long), then the TCP connection. Never fails.
    boost::asio::awaitable<void> shutdown(time_point deadline);
    /// Closes at once (no close_notify). Safe to call more than once.
    void close() noexcept;

    // ---- facts ----

    /// The peer's IP address as text ("unknown" when the socket has none).
    const std::string& remote_ip() const noexcept { return remote_ip_; }
    std::uint16_t local_port() const noexcept { return local_port_; }
    /// Octets read from the socket (before TLS decryption: the wire count).
    std::uint64_t bytes_read() const noexcept { return bytes_read_; }
    tcp::socket& socket() noexcept { return socket_; }
    boost::asio::any_io_executor get_executor() { return socket_.get_executor(); }

private:
    // Runs one OpenSSL call on the non-blocking socket until it completes, waiting for the
    // socket whenever OpenSSL wants to read or write. `op` returns the OpenSSL result (> 0: done).
    template <class Op>
    boost::asio::awaitable<error_code> tls_op(Op op);
    boost::asio::awaitable<error_code> handshake(std::shared_ptr<boost::asio::ssl::context> ctx, bool server,
                                                 const client_tls_options* client, time_point deadline);
    template <class Buffers>
    boost::asio::awaitable<error_code> write_tls(const Buffers& bufs);

    // Arms the timer for `deadline` (capped by the session limit). False when that deadline has
    // already passed: the operation must not start.
    bool arm(time_point deadline, error_code& ec);
    // The result of an operation that returned `ec`: a timer-caused cancel becomes timed_out.
    error_code finish_op(error_code ec);
    // The write operations' body (defined and instantiated in connection.cpp only). By value: the
    // coroutine outlives the callers' locals.
    template <class Buffers>
    boost::asio::awaitable<error_code> write_buffers(Buffers buffers, time_point deadline);

    tcp::socket socket_;
    boost::asio::steady_timer timer_;
    std::shared_ptr<boost::asio::ssl::context> ctx_;
    struct ssl_free_t {
        void operator()(SSL* s) const noexcept;
    };
    std::unique_ptr<SSL, ssl_free_t> ssl_;
    std::string staging_;  // small gather writes are copied here to go out in one TLS record
    bool tls_done_ = false;
    std::string in_;
    std::size_t pos_ = 0;
    std::uint64_t bytes_read_ = 0;
    std::string remote_ip_;
    std::uint16_t local_port_ = 0;
    time_point session_limit_ = time_point::max();
    time_point armed_at_ = time_point::min();  // deadline the timer waits for (min: not armed)
    std::uint64_t gen_ = 0;                    // identifies the armed wait
    bool fired_ = false;                       // the armed wait has expired
    bool op_active_ = false;                   // an operation is in progress
    bool cancelled_by_timer_ = false;          // the timer cancelled the operation in progress
    bool reading_ = false;                     // read_more() is waiting
    bool interrupted_ = false;                 // interrupt() cancelled it
    bool interrupt_pending_ = false;           // interrupt() came while not reading
    std::shared_ptr<int> alive_ = std::make_shared<int>(0);  // timer handlers check it
};

}  // namespace mailharness::net

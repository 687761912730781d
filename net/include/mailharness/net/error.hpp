// Errors of the net layer itself; socket and TLS errors come back as Asio's / OpenSSL's codes.
#pragma once

#include <boost/system/error_code.hpp>

#include <string>

namespace mailharness::net {

enum class errc {
    /// The operation's deadline passed before it completed (the socket was cancelled).
    timed_out = 1,
    /// The session's total time limit (connection::set_session_limit) has passed.
    session_expired,
    /// A host name or port could not be resolved to any address.
    resolve_failed,
    /// The TLS peer certificate's name does not match (set up failed for the name given).
    bad_tls_name,
    /// read_more() was ended by connection::interrupt() (no data lost; read again).
    interrupted,
};

const boost::system::error_category& net_category() noexcept;

inline boost::system::error_code make_error_code(errc e) noexcept {
    return {static_cast<int>(e), net_category()};
}

/// True for errors that mean "the deadline or the session limit passed".
inline bool is_timeout(const boost::system::error_code& ec) noexcept {
    return ec.category() == net_category() &&
           (ec.value() == static_cast<int>(errc::timed_out) || ec.value() == static_cast<int>(errc::session_expired));
}

}  // namespace mailharness::net

namespace boost::system {
template <>
struct is_error_code_enum<mailharness::net::errc> : std::true_type {};
}  // namespace boost::system

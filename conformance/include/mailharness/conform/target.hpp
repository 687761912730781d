// The server under test: where it is and the names and credentials cases may use.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

#include "mailharness/conform/expand.hpp"

namespace mailharness::conform {

enum class tls_mode {
    none,      ///< plaintext only; cases with a starttls step are skipped
    starttls,  ///< plaintext connect; cases may upgrade with a starttls step
    implicit,  ///< TLS from the first byte (RFC 8314, port 465); starttls steps are skipped
};

const char* to_string(tls_mode m) noexcept;
/// "none" | "starttls" | "implicit"; throws std::invalid_argument otherwise.
tls_mode parse_tls_mode(const std::string& s);

struct target {
    std::string host = "127.0.0.1";
    std::uint16_t port = 25;
    tls_mode tls = tls_mode::starttls;
    /// A domain the server accepts mail for (${local_domain}); used in EHLO too.
    std::string local_domain = "localhost";
    /// A domain the server must not relay to (${remote_domain}); nothing is delivered there.
    std::string remote_domain = "example.net";
    /// An existing local mailbox (${rcpt}), e.g. postmaster@local_domain.
    std::string rcpt;
    /// Credentials of a local user (${user}, ${password}), for AUTH cases.
    std::string user;
    std::string password;
    /// Skip certificate and host name verification.
    bool insecure = false;
    /// PEM CA certificates to verify the server with; empty: the system's default store.
    std::string cafile;
    /// The name the server certificate must carry (SNI and verification); empty: `host`.
    std::string tls_name;
    /// tls_check expiry without `days`: the certificate must stay valid this many more days.
    int cert_warn_days = 14;
    /// Bound on every connect, read, write and handshake.
    std::chrono::milliseconds timeout{10000};
    /// How long expect_not and expect_closed wait for data that must not come.
    std::chrono::milliseconds quiet_time{1000};

    /// tls_name, or host when it is empty.
    const std::string& certificate_name() const noexcept { return tls_name.empty() ? host : tls_name; }

    /// The case variables: host, port, local_domain, remote_domain, rcpt, user, password,
    /// rcpt_local (the part of rcpt before '@'), auth_plain (base64 of the RFC 4616 PLAIN
    /// message for user and password) and auth_plain_bad (the same with a wrong password).
    variables vars() const;
};

/// Loads a target YAML file whose keys are the field names above (host, port, tls, local_domain,
/// remote_domain, rcpt, user, password, insecure, cafile, tls_name, cert_warn_days, timeout_ms,
/// quiet_ms) into `t`, leaving
/// absent keys as they are. Throws std::runtime_error "file:line: message" on bad input.
void load_target(const std::string& path, target& t);

}  // namespace mailharness::conform

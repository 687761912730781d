// Judges the certificate and version of an established TLS connection, one property at a time, so
// that a case can say "expired" or "incomplete chain" instead of OpenSSL's one verdict.
// Private to mh_conform.
#pragma once

#include <chrono>
#include <string>

#include <openssl/ssl.h>

#include "mailharness/conform/test_case.hpp"

namespace mailharness::conform::detail {

struct tls_check_params {
    /// hostname: the DNS name or IP literal the certificate must name.
    std::string name;
    /// chain: PEM CA certificates to trust; empty: OpenSSL's default paths.
    std::string cafile;
    /// expiry: the certificate must still be valid `days` days after `now`.
    int days = 14;
    /// version: "1.2" or "1.3".
    std::string min_version;
    std::chrono::system_clock::time_point now = std::chrono::system_clock::now();
};

/// Checks `kind` on the connection `ssl` (handshake done; the client may have verified nothing).
/// Returns an empty string when the check passes, otherwise one line saying what is wrong, naming
/// the certificate (subject, issuer, dates, names) so that an operator can act on it.
/// Throws std::runtime_error when the check cannot be made (no peer certificate, unreadable CA file).
std::string check_tls(SSL* ssl, tls_check_kind kind, const tls_check_params& p);

}  // namespace mailharness::conform::detail

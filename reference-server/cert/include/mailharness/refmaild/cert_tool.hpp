// Certificates for refmaild and its tests, made and inspected with OpenSSL 3 (EVP / X509 APIs).
//
// - generate_*: a key pair and an X.509 v3 certificate, returned as PEM text (nothing on disk),
//   e.g. for loading into an ssl::context in a test.
// - make_self_signed / make_ca / issue: the same, written to files (key mode 0600, cert 0644).
// - inspect_pem / check: what an operator (or mailprobe) wants to know about a certificate file:
//   names, issuer, validity, days left, key type, and a human-readable report.
//
// Certificates are signed with SHA-256, have a random 159-bit serial, a subject key identifier,
// an authority key identifier, critical basicConstraints and keyUsage, and (leaves only) an
// extendedKeyUsage for TLS server and/or client authentication.
#pragma once

#include <boost/system/result.hpp>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace mailharness::refmaild::cert {

template <class T>
using result = boost::system::result<T, std::error_code>;

enum class cert_errc {
    /// cert_options out of range: days < 1 or > 36500, an empty or over-long common name, or a
    /// subject alternative name that is neither an IP literal nor a DNS name (letters, digits,
    /// '-', '.', and an optional leading "*.").
    invalid_options = 1,
    /// OpenSSL failed to generate a key or build / sign the certificate.
    openssl_failure,
    /// The input holds no PEM (or DER) certificate.
    no_certificate,
    /// The input holds no readable private key.
    no_private_key,
    /// The private key does not belong to the certificate.
    key_mismatch,
    /// The issuer certificate given to issue() is not a CA (basicConstraints CA:TRUE).
    issuer_not_ca,
};

const std::error_category& cert_category() noexcept;
std::error_code make_error_code(cert_errc e) noexcept;

enum class key_type {
    ecdsa_p256,  ///< ECDSA on NIST P-256 (prime256v1): small, fast, accepted everywhere
    rsa_2048,
    rsa_3072,
};

/// extendedKeyUsage of a leaf certificate.
enum class cert_usage { server, client, server_and_client };

struct cert_options {
    /// Subject CN (UTF-8, 1..64 octets).
    std::string common_name = "localhost";
    /// Subject O; omitted when empty.
    std::string organization;
    /// subjectAltName entries: IPv4/IPv6 literals become IP entries, anything else a DNS entry.
    /// When empty, a leaf gets its common_name as its only SAN (clients ignore the CN); a CA gets
    /// no SAN.
    std::vector<std::string> sans;
    /// Validity length in days (1..36500), counted from notBefore.
    int days = 365;
    /// notBefore = now + not_before_offset. Negative values back-date the certificate: with
    /// -(days + 1) days it is already expired; positive values make it not yet valid.
    std::chrono::seconds not_before_offset{0};
    key_type key = key_type::ecdsa_p256;
    /// basicConstraints CA:TRUE and keyUsage keyCertSign, cRLSign; no extendedKeyUsage.
    bool is_ca = false;
    /// extendedKeyUsage when !is_ca.
    cert_usage usage = cert_usage::server;
};

/// A certificate and its private key (unencrypted PKCS#8) as PEM text.
struct pem_pair {
    std::string cert_pem;
    std::string key_pem;
};

/// Where a certificate and its key live.
struct pem_paths {
    std::filesystem::path cert_file;
    std::filesystem::path key_file;

    /// <dir>/cert.pem and <dir>/key.pem when `name` is empty, else <dir>/<name>.pem and
    /// <dir>/<name>-key.pem.
    static pem_paths in(const std::filesystem::path& dir, std::string_view name = {});
};

/// A self-signed certificate (a CA if options.is_ca).
result<pem_pair> generate_self_signed(const cert_options& options);

/// A certificate for `options` signed by `issuer` (its cert must be a CA and its key must match).
result<pem_pair> generate_signed(const cert_options& options, const pem_pair& issuer);

/// Writes both files, each through a temporary file + fsync + rename: the key with mode 0600, the
/// certificate with mode 0644. Does not create `paths`' directories.
std::error_code write_pem(const pem_pair& pair, const pem_paths& paths);

/// Reads a pair written by write_pem (or any PEM certificate and key files).
result<pem_pair> read_pem(const pem_paths& paths);

/// Self-signed certificate into <dir>/cert.pem and <dir>/key.pem (dir created if missing).
result<pem_paths> make_self_signed(const cert_options& options, const std::filesystem::path& dir);

/// Self-signed CA certificate (is_ca forced on) into <dir>/ca.pem and <dir>/ca-key.pem.
result<pem_paths> make_ca(cert_options options, const std::filesystem::path& dir);

/// A certificate signed by the CA in `ca`, into pem_paths::in(dir, name): <dir>/<name>.pem and
/// <dir>/<name>-key.pem (or cert.pem / key.pem for an empty name).
result<pem_paths> issue(const cert_options& options, const pem_paths& ca, const std::filesystem::path& dir,
                        std::string_view name = {});

/// What check() reports about a certificate.
struct cert_info {
    std::string subject;      ///< RFC 2253 form, e.g. "CN=mail.example,O=Example"
    std::string common_name;  ///< first CN of the subject; empty if none
    std::string issuer;       ///< RFC 2253 form
    std::vector<std::string> dns_names;     ///< subjectAltName DNS entries, in order
    std::vector<std::string> ip_addresses;  ///< subjectAltName IP entries, printed (inet_ntop)
    std::chrono::system_clock::time_point not_before;
    std::chrono::system_clock::time_point not_after;
    /// Whole days from `now` to notAfter, truncated toward zero: 0 on the last day; once expired,
    /// minus the whole days since expiry (so 0 during the first day after: check `expired`).
    long long days_left = 0;
    bool expired = false;        ///< now > notAfter
    bool not_yet_valid = false;  ///< now < notBefore
    std::string key_type;        ///< "EC P-256", "RSA", "ED25519", ...
    int key_bits = 0;            ///< e.g. 256, 2048
    bool self_signed = false;    ///< issuer == subject and the signature verifies with its own key
    bool is_ca = false;          ///< basicConstraints CA:TRUE
    std::string serial_hex;      ///< upper-case hex, no separators
    std::string sha256_fingerprint;   ///< "AB:CD:..." over the DER encoding
    std::string signature_algorithm;  ///< e.g. "ecdsa-with-SHA256"
};

/// Inspects the first certificate in `pem` (PEM, or DER when there is no PEM header).
result<cert_info> inspect_pem(std::string_view pem,
                              std::chrono::system_clock::time_point now = std::chrono::system_clock::now());

/// Inspects the first certificate in a file (a chain file reports its leaf).
result<cert_info> check(const std::filesystem::path& file,
                        std::chrono::system_clock::time_point now = std::chrono::system_clock::now());

/// Multi-line, human-readable summary of `info`, one "label: value" per line, ending in '\n'.
/// The status line says "valid, N days left", "EXPIRED N days ago" (or "less than a day ago") or
/// "NOT YET VALID".
std::string report(const cert_info& info);

/// Checks that the private key in `key_file` belongs to the certificate in `cert_file`.
/// Returns no_certificate, no_private_key, key_mismatch or a file error; clear when they match.
std::error_code check_key_pair(const std::filesystem::path& cert_file, const std::filesystem::path& key_file);

}  // namespace mailharness::refmaild::cert

template <>
struct std::is_error_code_enum<mailharness::refmaild::cert::cert_errc> : std::true_type {};

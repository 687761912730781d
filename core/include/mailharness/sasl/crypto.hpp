// Thin wrappers over OpenSSL 3 (libcrypto EVP) for the digests SASL and APOP need. Nothing here
// is home-made crypto: each function is one OpenSSL call plus buffer handling.
//
// Inputs and outputs are octet strings held in std::string (binary, not text). These functions
// report an OpenSSL failure (allocation, a provider without MD5) by throwing
// std::system_error(errc::internal_error); the mechanisms in server.hpp and client.hpp catch it
// and turn it into a failed step, so no exception leaves a SASL exchange.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace mailharness::sasl {

/// MD5 (RFC 1321) of `data`: 16 octets. Only for APOP and CRAM-MD5, which are defined on it.
std::string md5(std::string_view data);

/// SHA-256 of `data`: 32 octets.
std::string sha256(std::string_view data);

/// HMAC-MD5 (RFC 2104) of `data` under `key`: 16 octets.
std::string hmac_md5(std::string_view key, std::string_view data);

/// HMAC-SHA-256 of `data` under `key`: 32 octets.
std::string hmac_sha256(std::string_view key, std::string_view data);

/// PBKDF2 with HMAC-SHA-256 (RFC 8018 section 5.2), which is SCRAM's Hi() (RFC 5802 section 2.2)
/// when `length` is 32. `iterations` must be at least 1.
std::string pbkdf2_hmac_sha256(std::string_view password, std::string_view salt, std::uint32_t iterations,
                               std::size_t length = 32);

/// `n` octets from OpenSSL's CSPRNG (RAND_bytes).
std::string random_bytes(std::size_t n);

/// Lowercase hexadecimal of `data` (two characters per octet).
std::string to_hex(std::string_view data);

/// Compares two octet strings in time that depends only on their lengths (CRYPTO_memcmp), for
/// digests, proofs and passwords. Different lengths compare unequal.
bool constant_time_equal(std::string_view a, std::string_view b) noexcept;

}  // namespace mailharness::sasl

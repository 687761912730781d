#include "mailharness/sasl/crypto.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include <climits>
#include <system_error>

#include "mailharness/sasl/error.hpp"

namespace mailharness::sasl {

namespace {

[[noreturn]] void fail() { throw std::system_error(make_error_code(errc::internal_error), "OpenSSL"); }

const unsigned char* bytes(std::string_view s) { return reinterpret_cast<const unsigned char*>(s.data()); }

std::string digest(const EVP_MD* md, std::string_view data) {
    if (md == nullptr) fail();
    unsigned char out[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    if (EVP_Digest(data.data(), data.size(), out, &len, md, nullptr) != 1) fail();
    return {reinterpret_cast<const char*>(out), len};
}

std::string hmac(const char* digest_name, std::string_view key, std::string_view data) {
    unsigned char out[EVP_MAX_MD_SIZE];
    std::size_t len = 0;
    // EVP_Q_mac rejects a NULL key pointer even with length 0; an empty key is valid HMAC.
    static const unsigned char empty = 0;
    const unsigned char* k = key.empty() ? &empty : bytes(key);
    if (EVP_Q_mac(nullptr, "HMAC", nullptr, digest_name, nullptr, k, key.size(), bytes(data), data.size(),
                  out, sizeof out, &len) == nullptr) {
        fail();
    }
    return {reinterpret_cast<const char*>(out), len};
}

}  // namespace

std::string md5(std::string_view data) { return digest(EVP_md5(), data); }

std::string sha256(std::string_view data) { return digest(EVP_sha256(), data); }

std::string hmac_md5(std::string_view key, std::string_view data) { return hmac("MD5", key, data); }

std::string hmac_sha256(std::string_view key, std::string_view data) { return hmac("SHA256", key, data); }

std::string pbkdf2_hmac_sha256(std::string_view password, std::string_view salt, std::uint32_t iterations,
                               std::size_t length) {
    if (iterations == 0 || iterations > INT_MAX || password.size() > INT_MAX || salt.size() > INT_MAX ||
        length > INT_MAX) {
        fail();
    }
    std::string out(length, '\0');
    if (PKCS5_PBKDF2_HMAC(password.data(), static_cast<int>(password.size()), bytes(salt),
                          static_cast<int>(salt.size()), static_cast<int>(iterations), EVP_sha256(),
                          static_cast<int>(length), reinterpret_cast<unsigned char*>(out.data())) != 1) {
        fail();
    }
    return out;
}

std::string random_bytes(std::size_t n) {
    std::string out(n, '\0');
    if (n > INT_MAX || RAND_bytes(reinterpret_cast<unsigned char*>(out.data()), static_cast<int>(n)) != 1) fail();
    return out;
}

std::string to_hex(std::string_view data) {
    static constexpr char digits[] = "0123456789abcdef";
    std::string out;
    out.reserve(data.size() * 2);
    for (unsigned char c : data) {
        out.push_back(digits[c >> 4]);
        out.push_back(digits[c & 0x0f]);
    }
    return out;
}

bool constant_time_equal(std::string_view a, std::string_view b) noexcept {
    if (a.size() != b.size()) return false;
    return a.empty() || CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace mailharness::sasl

#include "mailharness/sasl/credentials.hpp"

#include "mailharness/sasl/crypto.hpp"

namespace mailharness::sasl {

scram_credentials make_scram_credentials(std::string_view password, std::string_view salt,
                                         std::uint32_t iterations) {
    std::string salted = pbkdf2_hmac_sha256(password, salt, iterations);
    scram_credentials c;
    c.salt = std::string(salt);
    c.iterations = iterations;
    c.stored_key = sha256(hmac_sha256(salted, "Client Key"));
    c.server_key = hmac_sha256(salted, "Server Key");
    return c;
}

scram_credentials make_scram_credentials(std::string_view password, std::uint32_t iterations) {
    return make_scram_credentials(password, random_bytes(16), iterations);
}

credential_lookup::result credential_lookup::verify_plain(std::string_view authcid, std::string_view password) {
    std::string secret;
    result r = plaintext_secret(authcid, secret);
    if (r != result::ok) return r;
    return constant_time_equal(secret, password) ? result::ok : result::wrong_password;
}

credential_lookup::result credential_lookup::plaintext_secret(std::string_view, std::string&) {
    return result::no_secret;
}

credential_lookup::result credential_lookup::scram_sha256_credentials(std::string_view, scram_credentials&) {
    return result::no_secret;
}

bool credential_lookup::authorize(std::string_view, std::string_view) { return false; }

}  // namespace mailharness::sasl

// CRAM-MD5 (RFC 2195): challenge "<random.timestamp@hostname>", response
// "user SP lowercase-hex(HMAC-MD5(secret, challenge))".
#include <chrono>
#include <cstring>

#include "detail/mechanisms.hpp"
#include "mailharness/sasl/apop.hpp"
#include "mailharness/sasl/crypto.hpp"

namespace mailharness::sasl::detail {

namespace {

// dot-atom-text of RFC 5322 section 3.2.3: atext runs separated by single dots.
bool dot_atom(std::string_view s) {
    if (s.empty() || s.front() == '.' || s.back() == '.') return false;
    char prev = 0;
    for (char c : s) {
        bool atext = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                     std::strchr("!#$%&'*+-/=?^_`{|}~", c) != nullptr;
        if (c == '.' ? prev == '.' : !atext) return false;
        prev = c;
    }
    return true;
}

class cram_md5_server final : public server_mechanism {
public:
    cram_md5_server(credential_lookup& lookup, server_options options)
        : server_mechanism(lookup, std::move(options)) {}
    std::string_view name() const noexcept override { return "CRAM-MD5"; }

private:
    step_result on_start(std::optional<std::string_view> initial_response) override {
        if (initial_response) return failure(errc::unexpected_initial_response);  // server-first
        std::string random;
        if (options_.nonce) {
            random = options_.nonce();
            if (!dot_atom(random) || random.size() > 256) return failure(errc::internal_error);
        } else {
            std::string r = random_bytes(8);
            std::uint64_t n = 0;
            std::memcpy(&n, r.data(), sizeof n);
            random = std::to_string(n);
        }
        std::int64_t now = options_.clock ? options_.clock()
                                          : std::chrono::duration_cast<std::chrono::seconds>(
                                                std::chrono::system_clock::now().time_since_epoch())
                                                .count();
        challenge_ = format_msg_id_challenge(random, now, options_.hostname);
        return challenge(challenge_);
    }

    step_result on_step(std::string_view response) override {
        // The user name may contain spaces; the digest cannot, so split at the last one.
        std::size_t sp = response.rfind(' ');
        if (sp == std::string_view::npos || sp == 0) return failure(errc::malformed_message);
        std::string_view user = response.substr(0, sp);
        std::string_view digest = response.substr(sp + 1);
        if (digest.size() != 32) return failure(errc::malformed_message);
        std::string lowered(digest);
        for (char& c : lowered) {
            if (c >= 'A' && c <= 'F') c = static_cast<char>(c - 'A' + 'a');
            if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return failure(errc::malformed_message);
        }
        if (user.find('\0') != std::string_view::npos) return failure(errc::malformed_message);
        if (user.size() > options_.limits.max_field_size) return failure(errc::field_too_long);
        authcid_ = std::string(user);

        std::string secret;
        std::error_code lookup_ec = lookup_error(lookup_.plaintext_secret(user, secret));
        // Compute the digest even for an unknown user so that both paths cost the same.
        bool match = constant_time_equal(to_hex(hmac_md5(secret, challenge_)), lowered);
        if (lookup_ec) return failure(lookup_ec);
        if (!match) return failure(errc::authentication_failed);
        return succeed();
    }

    std::string challenge_;
};

}  // namespace

std::unique_ptr<server_mechanism> make_cram_md5_server(credential_lookup& lookup, server_options options) {
    return std::make_unique<cram_md5_server>(lookup, std::move(options));
}

}  // namespace mailharness::sasl::detail

// SCRAM-SHA-256 and SCRAM-SHA-256-PLUS, server side (RFC 5802 sections 5-7, RFC 7677).
#include "detail/mechanisms.hpp"
#include "mailharness/sasl/base64.hpp"
#include "mailharness/sasl/crypto.hpp"
#include "mailharness/sasl/scram.hpp"

namespace mailharness::sasl::detail {

namespace {

// Key for the salts of users without stored credentials, when the options give none.
const std::string& process_salt_key() {
    static const std::string key = random_bytes(32);
    return key;
}

class scram_server final : public server_mechanism {
public:
    scram_server(credential_lookup& lookup, server_options options, bool plus)
        : server_mechanism(lookup, std::move(options)), plus_(plus) {}
    std::string_view name() const noexcept override { return plus_ ? "SCRAM-SHA-256-PLUS" : "SCRAM-SHA-256"; }

private:
    enum class state { want_client_first, want_client_final };

    step_result on_start(std::optional<std::string_view> initial_response) override {
        if (initial_response) return client_first(*initial_response);
        return challenge({});
    }

    step_result on_step(std::string_view response) override {
        if (state_ == state::want_client_first) return client_first(response);
        return client_final(response);
    }

    // Failure with the server-error message the server may send in place of server-final.
    static step_result fail(std::error_code ec) {
        return failure(ec, "e=" + std::string(scram::server_error_value(ec)));
    }

    step_result client_first(std::string_view message) {
        scram::client_first_message m;
        if (auto ec = scram::parse_client_first(message, m)) return fail(ec);

        // Channel binding negotiation (RFC 5802 section 6).
        if (plus_) {
            if (m.flag != scram::cbind_flag::used) return fail(errc::malformed_message);
            if (m.cbind_type != options_.binding->type) {
                return failure(errc::channel_binding_not_supported, "e=unsupported-channel-binding-type");
            }
        } else if (m.flag == scram::cbind_flag::used) {
            return fail(errc::channel_binding_not_supported);
        } else if (m.flag == scram::cbind_flag::client_supports && options_.binding) {
            return fail(errc::channel_binding_downgrade);
        }
        std::size_t max = options_.limits.max_field_size;
        if (m.username.size() > max || m.authzid.size() > max) return fail(errc::field_too_long);
        authcid_ = std::move(m.username);
        authzid_ = std::move(m.authzid);
        gs2_header_ = std::move(m.gs2_header);
        bare_ = std::move(m.bare);

        if (options_.scram_iterations == 0) return fail(errc::internal_error);
        std::string server_part = options_.nonce ? options_.nonce() : random_nonce();
        if (!scram::valid_nonce(server_part)) return fail(errc::internal_error);
        nonce_ = m.nonce + server_part;

        load_credentials();
        server_first_ = "r=" + nonce_ + ",s=" + base64_encode(creds_.salt) + ",i=" + std::to_string(creds_.iterations);
        state_ = state::want_client_final;
        return challenge(server_first_);
    }

    // Fills creds_: stored credentials, or derived from a plaintext password, or (unknown user, no
    // usable secret) random keys that no proof matches. The last two get the same keyed salt and
    // iteration count, so the server-first message does not tell an unknown user apart.
    void load_credentials() {
        using result = credential_lookup::result;
        result r = lookup_.scram_sha256_credentials(authcid_, creds_);
        if (r == result::ok && !creds_.salt.empty() && creds_.iterations > 0 && creds_.stored_key.size() == 32 &&
            creds_.server_key.size() == 32) {
            return;
        }
        const std::string& key = options_.salt_key.empty() ? process_salt_key() : options_.salt_key;
        std::string salt = hmac_sha256(key, "scram-salt\n" + authcid_).substr(0, 16);
        std::string secret;
        result p = lookup_.plaintext_secret(authcid_, secret);
        if (p == result::ok) {
            creds_ = make_scram_credentials(secret, salt, options_.scram_iterations);
            return;
        }
        lookup_error_ = lookup_error(r == result::no_user || p == result::no_user ? result::no_user : result::no_secret);
        creds_ = {salt, options_.scram_iterations, random_bytes(32), random_bytes(32)};
    }

    step_result client_final(std::string_view message) {
        scram::client_final_message m;
        if (auto ec = scram::parse_client_final(message, m)) return fail(ec);
        if (m.nonce != nonce_) return fail(errc::nonce_mismatch);
        // c= carries the gs2 header, then the binding data when 'p' was used.
        std::string expected = gs2_header_;
        if (plus_) expected += options_.binding->data;
        if (!constant_time_equal(m.channel_binding, expected)) return fail(errc::channel_binding_mismatch);

        std::string auth = scram::auth_message(bare_, server_first_, m.without_proof);
        bool proof_ok = scram::verify_client_proof(creds_, auth, m.proof);
        if (lookup_error_) return fail(lookup_error_);
        if (!proof_ok) return fail(errc::authentication_failed);
        if (!authorized()) return failure(errc::authorization_failed, "e=other-error");
        return succeed("v=" + base64_encode(scram::server_signature(creds_.server_key, auth)));
    }

    bool plus_;
    state state_ = state::want_client_first;
    std::string gs2_header_;
    std::string bare_;
    std::string nonce_;
    std::string server_first_;
    scram_credentials creds_;
    std::error_code lookup_error_;
};

}  // namespace

std::unique_ptr<server_mechanism> make_scram_server(credential_lookup& lookup, server_options options, bool plus) {
    return std::make_unique<scram_server>(lookup, std::move(options), plus);
}

}  // namespace mailharness::sasl::detail

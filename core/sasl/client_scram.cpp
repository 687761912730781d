// SCRAM-SHA-256 and SCRAM-SHA-256-PLUS, client side (RFC 5802 sections 5-7, RFC 7677).
#include "detail/mechanisms.hpp"
#include "detail/text.hpp"
#include "mailharness/sasl/base64.hpp"
#include "mailharness/sasl/crypto.hpp"
#include "mailharness/sasl/scram.hpp"

namespace mailharness::sasl::detail {

namespace {

class scram_client final : public client_mechanism {
public:
    scram_client(client_credentials credentials, client_options options, bool plus)
        : client_mechanism(std::move(credentials), std::move(options)), plus_(plus) {}
    std::string_view name() const noexcept override { return plus_ ? "SCRAM-SHA-256-PLUS" : "SCRAM-SHA-256"; }
    bool has_initial_response() const noexcept override { return true; }

private:
    enum class state { want_server_first, want_server_final, done };

    client_step_result on_first() override {
        const auto& c = credentials_;
        if (c.authcid.empty()) return fail(errc::malformed_message);
        if (!valid_utf8(c.authcid) || !valid_utf8(c.authzid)) return fail(errc::invalid_utf8);
        if (c.authcid.find('\0') != std::string::npos || c.authzid.find('\0') != std::string::npos) {
            return fail(errc::malformed_message);
        }
        nonce_ = options_.nonce ? options_.nonce() : random_nonce();
        if (!scram::valid_nonce(nonce_)) return fail(errc::internal_error);
        // gs2-header: 'p' for -PLUS, 'y' when we could bind but the server did not offer -PLUS.
        if (plus_) gs2_header_ = "p=" + options_.binding->type + ",";
        else gs2_header_ = options_.binding ? "y," : "n,";
        if (!c.authzid.empty()) gs2_header_ += "a=" + scram::encode_saslname(c.authzid);
        gs2_header_ += ",";
        bare_ = "n=" + scram::encode_saslname(c.authcid) + ",r=" + nonce_;
        return respond(gs2_header_ + bare_);
    }

    client_step_result on_step(std::string_view challenge) override {
        switch (state_) {
            case state::want_server_first: return server_first(challenge);
            case state::want_server_final: {
                if (auto ec = verify(challenge)) return fail(ec);
                return respond({});  // RFC 4422 section 5: empty response to the final challenge
            }
            case state::done: break;
        }
        return fail(errc::out_of_sequence);
    }

    client_step_result server_first(std::string_view message) {
        scram::server_first_message m;
        if (auto ec = scram::parse_server_first(message, m)) return fail(ec);
        // The server nonce must extend ours (RFC 5802 section 5.1, 'r').
        if (m.nonce.size() <= nonce_.size() || !m.nonce.starts_with(nonce_)) return fail(errc::nonce_mismatch);
        if (m.iterations < options_.limits.min_iterations || m.iterations > options_.limits.max_iterations) {
            return fail(errc::bad_iteration_count);
        }
        std::string cbind = gs2_header_;
        if (plus_) cbind += options_.binding->data;
        std::string without_proof = "c=" + base64_encode(cbind) + ",r=" + m.nonce;
        std::string salted = scram::salted_password(credentials_.password, m.salt, m.iterations);
        std::string auth = scram::auth_message(bare_, message, without_proof);
        expected_signature_ = scram::server_signature(hmac_sha256(salted, "Server Key"), auth);
        state_ = state::want_server_final;
        return respond(without_proof + ",p=" + base64_encode(scram::client_proof(salted, auth)));
    }

    std::error_code verify(std::string_view message) {
        state_ = state::done;
        scram::server_final_message m;
        if (auto ec = scram::parse_server_final(message, m)) return ec;
        if (!m.error.empty()) return errc::server_error;
        if (!constant_time_equal(m.verifier, expected_signature_)) return errc::server_signature_mismatch;
        verified_ = true;
        return {};
    }

    std::error_code on_finish(std::string_view additional_data) override {
        // The server-final message may come as the outcome's additional data instead of a challenge.
        if (!additional_data.empty()) {
            if (state_ != state::want_server_final) return errc::out_of_sequence;
            return verify(additional_data);
        }
        return verified_ ? std::error_code{} : make_error_code(errc::server_signature_missing);
    }

    bool plus_;
    state state_ = state::want_server_first;
    std::string nonce_;
    std::string gs2_header_;
    std::string bare_;
    std::string expected_signature_;
    bool verified_ = false;
};

}  // namespace

std::unique_ptr<client_mechanism> make_scram_client(client_credentials credentials, client_options options, bool plus) {
    return std::make_unique<scram_client>(std::move(credentials), std::move(options), plus);
}

}  // namespace mailharness::sasl::detail

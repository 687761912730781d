#include "mailharness/sasl/client.hpp"

#include <exception>

#include "detail/mechanisms.hpp"
#include "detail/text.hpp"
#include "mailharness/sasl/base64.hpp"
#include "mailharness/sasl/crypto.hpp"

namespace mailharness::sasl {

std::string client_mechanism::initial_response() {
    if (started_ || failed_ || !has_initial_response()) {
        failed_ = true;
        return {};
    }
    started_ = true;
    try {
        client_step_result r = on_first();
        if (r.status == client_status::failure) failed_ = true;
        return r.response;
    } catch (const std::exception&) {
        failed_ = true;
        return {};
    }
}

client_step_result client_mechanism::step(std::string_view challenge) {
    if (failed_ || complete_) {
        failed_ = true;
        return fail(errc::out_of_sequence);
    }
    if (challenge.size() > options_.limits.max_challenge_size) {
        failed_ = true;
        return fail(errc::message_too_large);
    }
    try {
        client_step_result r;
        if (!started_ && has_initial_response()) {
            // The server asked for the initial response with an empty challenge (RFC 4422 section 5).
            started_ = true;
            r = challenge.empty() ? on_first() : fail(errc::malformed_message);
        } else {
            started_ = true;
            r = on_step(challenge);
        }
        if (r.status == client_status::failure) failed_ = true;
        return r;
    } catch (const std::exception&) {
        failed_ = true;
        return fail(errc::internal_error);
    }
}

std::error_code client_mechanism::finish(std::string_view additional_data) {
    if (failed_ || complete_ || !started_) {
        failed_ = true;
        return errc::out_of_sequence;
    }
    if (additional_data.size() > options_.limits.max_challenge_size) {
        failed_ = true;
        return errc::message_too_large;
    }
    std::error_code ec;
    try {
        ec = on_finish(additional_data);
    } catch (const std::exception&) {
        ec = errc::internal_error;
    }
    if (ec) failed_ = true;
    else complete_ = true;
    return ec;
}

std::unique_ptr<client_mechanism> make_client(std::string_view name, client_credentials credentials,
                                              client_options options) {
    if (detail::iequals_upper(name, "PLAIN")) return detail::make_plain_client(std::move(credentials), std::move(options));
    if (detail::iequals_upper(name, "LOGIN")) return detail::make_login_client(std::move(credentials), std::move(options));
    if (detail::iequals_upper(name, "CRAM-MD5")) {
        return detail::make_cram_md5_client(std::move(credentials), std::move(options));
    }
    if (detail::iequals_upper(name, "SCRAM-SHA-256")) {
        return detail::make_scram_client(std::move(credentials), std::move(options), false);
    }
    if (detail::iequals_upper(name, "SCRAM-SHA-256-PLUS") && options.binding) {
        return detail::make_scram_client(std::move(credentials), std::move(options), true);
    }
    return nullptr;
}

std::string encode_initial_response(std::string_view data) { return data.empty() ? "=" : base64_encode(data); }

namespace detail {

namespace {

// The password-sending mechanisms share one shape: a fixed number of responses, then success
// with no additional data.
class simple_client : public client_mechanism {
protected:
    simple_client(client_credentials c, client_options o) : client_mechanism(std::move(c), std::move(o)) {}

    std::error_code on_finish(std::string_view additional_data) override {
        if (!sent_all_) return errc::out_of_sequence;
        if (!additional_data.empty()) return errc::malformed_message;
        return {};
    }

    bool valid_field(std::string_view s) const { return !s.empty() && s.find('\0') == std::string_view::npos; }

    bool sent_all_ = false;
};

class plain_client final : public simple_client {
public:
    plain_client(client_credentials c, client_options o) : simple_client(std::move(c), std::move(o)) {}
    std::string_view name() const noexcept override { return "PLAIN"; }
    bool has_initial_response() const noexcept override { return true; }

private:
    client_step_result on_first() override {
        const auto& c = credentials_;
        if (!valid_field(c.authcid) || !valid_field(c.password) || c.authzid.find('\0') != std::string::npos) {
            return fail(errc::malformed_message);
        }
        sent_all_ = true;
        std::string m = c.authzid;
        m.push_back('\0');
        m += c.authcid;
        m.push_back('\0');
        m += c.password;
        return respond(std::move(m));
    }

    client_step_result on_step(std::string_view) override { return fail(errc::out_of_sequence); }
};

class login_client final : public simple_client {
public:
    login_client(client_credentials c, client_options o) : simple_client(std::move(c), std::move(o)) {}
    std::string_view name() const noexcept override { return "LOGIN"; }
    bool has_initial_response() const noexcept override { return false; }

private:
    client_step_result on_first() override { return fail(errc::out_of_sequence); }

    // Servers word the prompts differently ("Username:", "User Name"), so answer by position as
    // common clients do.
    client_step_result on_step(std::string_view) override {
        if (!valid_field(credentials_.authcid) || !valid_field(credentials_.password)) {
            return fail(errc::malformed_message);
        }
        switch (answered_++) {
            case 0: return respond(credentials_.authcid);
            case 1: sent_all_ = true; return respond(credentials_.password);
            default: return fail(errc::out_of_sequence);
        }
    }

    int answered_ = 0;
};

class cram_md5_client final : public simple_client {
public:
    cram_md5_client(client_credentials c, client_options o) : simple_client(std::move(c), std::move(o)) {}
    std::string_view name() const noexcept override { return "CRAM-MD5"; }
    bool has_initial_response() const noexcept override { return false; }

private:
    client_step_result on_first() override { return fail(errc::out_of_sequence); }

    client_step_result on_step(std::string_view challenge) override {
        if (sent_all_) return fail(errc::out_of_sequence);
        if (challenge.empty() || credentials_.authcid.empty()) return fail(errc::malformed_message);
        sent_all_ = true;
        return respond(credentials_.authcid + " " + to_hex(hmac_md5(credentials_.password, challenge)));
    }
};

}  // namespace

std::unique_ptr<client_mechanism> make_plain_client(client_credentials credentials, client_options options) {
    return std::make_unique<plain_client>(std::move(credentials), std::move(options));
}

std::unique_ptr<client_mechanism> make_login_client(client_credentials credentials, client_options options) {
    return std::make_unique<login_client>(std::move(credentials), std::move(options));
}

std::unique_ptr<client_mechanism> make_cram_md5_client(client_credentials credentials, client_options options) {
    return std::make_unique<cram_md5_client>(std::move(credentials), std::move(options));
}

}  // namespace detail

}  // namespace mailharness::sasl

#include "mailharness/sasl/server.hpp"

#include <exception>

#include "detail/mechanisms.hpp"
#include "detail/text.hpp"
#include "mailharness/sasl/base64.hpp"
#include "mailharness/sasl/crypto.hpp"

namespace mailharness::sasl {

namespace {

constexpr std::string_view scram_plus = "SCRAM-SHA-256-PLUS";
constexpr std::string_view scram = "SCRAM-SHA-256";
constexpr std::string_view cram_md5 = "CRAM-MD5";
constexpr std::string_view plain = "PLAIN";
constexpr std::string_view login = "LOGIN";

}  // namespace

step_result server_mechanism::finish(step_result r) {
    if (r.status != step_status::challenge) {
        state_ = phase::done;
        authenticated_ = r.status == step_status::success;
    }
    return r;
}

step_result server_mechanism::start(std::optional<std::string_view> initial_response) {
    if (state_ != phase::not_started) {
        state_ = phase::done;
        return failure(errc::out_of_sequence);
    }
    state_ = phase::running;
    if (initial_response && initial_response->size() > options_.limits.max_response_size) {
        return finish(failure(errc::message_too_large));
    }
    // Crypto wrappers throw only when OpenSSL itself fails; keep that inside the exchange.
    try {
        return finish(on_start(initial_response));
    } catch (const std::exception&) {
        return finish(failure(errc::internal_error));
    }
}

step_result server_mechanism::step(std::string_view response) {
    if (state_ != phase::running) {
        state_ = phase::done;
        return failure(errc::out_of_sequence);
    }
    if (response.size() > options_.limits.max_response_size) return finish(failure(errc::message_too_large));
    try {
        return finish(on_step(response));
    } catch (const std::exception&) {
        return finish(failure(errc::internal_error));
    }
}

bool server_mechanism::authorized() {
    return authzid_.empty() || authzid_ == authcid_ || lookup_.authorize(authcid_, authzid_);
}

step_result server_mechanism::succeed(std::string data) {
    if (!authorized()) return failure(errc::authorization_failed);
    return {step_status::success, std::move(data), {}};
}

std::vector<std::string> supported_server_mechanisms(const server_options& options) {
    std::vector<std::string> names;
    if (options.binding) names.emplace_back(scram_plus);
    for (auto n : {scram, cram_md5, plain, login}) names.emplace_back(n);
    return names;
}

bool is_plaintext_mechanism(std::string_view name) noexcept {
    return detail::iequals_upper(name, plain) || detail::iequals_upper(name, login);
}

std::unique_ptr<server_mechanism> make_server(std::string_view name, credential_lookup& lookup,
                                              server_options options) {
    if (detail::iequals_upper(name, plain)) return detail::make_plain_server(lookup, std::move(options));
    if (detail::iequals_upper(name, login)) return detail::make_login_server(lookup, std::move(options));
    if (detail::iequals_upper(name, cram_md5)) return detail::make_cram_md5_server(lookup, std::move(options));
    if (detail::iequals_upper(name, scram)) return detail::make_scram_server(lookup, std::move(options), false);
    if (detail::iequals_upper(name, scram_plus) && options.binding) {
        return detail::make_scram_server(lookup, std::move(options), true);
    }
    return nullptr;
}

std::error_code decode_initial_response(std::string_view arg, std::string& out, const server_limits& limits) {
    if (arg == "=") {
        out.clear();
        return {};
    }
    return base64_decode(arg, out, limits.max_response_size);
}

std::error_code decode_response(std::string_view line, std::string& out, const server_limits& limits) {
    if (line == "*") {
        out.clear();
        return errc::cancelled;
    }
    return base64_decode(line, out, limits.max_response_size);
}

std::string encode_challenge(std::string_view challenge) { return base64_encode(challenge); }

namespace detail {

std::error_code lookup_error(credential_lookup::result r) noexcept {
    switch (r) {
        case credential_lookup::result::ok: return {};
        case credential_lookup::result::wrong_password: return errc::authentication_failed;
        case credential_lookup::result::no_user: return errc::unknown_user;
        case credential_lookup::result::no_secret: return errc::secret_unavailable;
    }
    return errc::authentication_failed;
}

std::string random_nonce() { return base64_encode(random_bytes(18)); }

}  // namespace detail

}  // namespace mailharness::sasl

// LOGIN (draft-murchison-sasl-login-00): challenges "Username:" and "Password:". Obsolete but
// still what many clients send; the server accepts the user name as an initial response
// (section 2.1 of the draft).
#include "detail/mechanisms.hpp"

namespace mailharness::sasl::detail {

namespace {

class login_server final : public server_mechanism {
public:
    login_server(credential_lookup& lookup, server_options options) : server_mechanism(lookup, std::move(options)) {}
    std::string_view name() const noexcept override { return "LOGIN"; }

private:
    enum class state { want_user, want_password };

    step_result on_start(std::optional<std::string_view> initial_response) override {
        if (initial_response) return take_user(*initial_response);
        return challenge("Username:");
    }

    step_result on_step(std::string_view response) override {
        if (state_ == state::want_user) return take_user(response);
        return take_password(response);
    }

    step_result take_user(std::string_view user) {
        if (auto ec = check_field(user)) return failure(ec);
        authcid_ = std::string(user);
        state_ = state::want_password;
        return challenge("Password:");
    }

    step_result take_password(std::string_view password) {
        if (auto ec = check_field(password)) return failure(ec);
        if (auto ec = lookup_error(lookup_.verify_plain(authcid_, password))) return failure(ec);
        return succeed();
    }

    std::error_code check_field(std::string_view s) const {
        if (s.empty() || s.find('\0') != std::string_view::npos) return errc::malformed_message;
        if (s.size() > options_.limits.max_field_size) return errc::field_too_long;
        return {};
    }

    state state_ = state::want_user;
};

}  // namespace

std::unique_ptr<server_mechanism> make_login_server(credential_lookup& lookup, server_options options) {
    return std::make_unique<login_server>(lookup, std::move(options));
}

}  // namespace mailharness::sasl::detail

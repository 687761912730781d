// PLAIN (RFC 4616): message = [authzid] NUL authcid NUL passwd, all UTF-8.
#include <cstring>

#include "detail/mechanisms.hpp"
#include "detail/text.hpp"

namespace mailharness::sasl::detail {

namespace {

class plain_server final : public server_mechanism {
public:
    plain_server(credential_lookup& lookup, server_options options) : server_mechanism(lookup, std::move(options)) {}
    std::string_view name() const noexcept override { return "PLAIN"; }

private:
    step_result on_start(std::optional<std::string_view> initial_response) override {
        if (initial_response) return check(*initial_response);
        return challenge({});  // RFC 4616 section 2: empty challenge, then the message
    }

    step_result on_step(std::string_view response) override { return check(response); }

    step_result check(std::string_view message) {
        std::size_t nul1 = message.find('\0');
        if (nul1 == std::string_view::npos) return failure(errc::malformed_message);
        std::size_t nul2 = message.find('\0', nul1 + 1);
        if (nul2 == std::string_view::npos) return failure(errc::malformed_message);
        std::string_view authzid = message.substr(0, nul1);
        std::string_view authcid = message.substr(nul1 + 1, nul2 - nul1 - 1);
        std::string_view passwd = message.substr(nul2 + 1);
        // Each field is 1*SAFE (authzid optional); SAFE excludes NUL, so a third NUL is an error.
        if (authcid.empty() || passwd.empty() || passwd.find('\0') != std::string_view::npos) {
            return failure(errc::malformed_message);
        }
        std::size_t max = options_.limits.max_field_size;
        if (authzid.size() > max || authcid.size() > max || passwd.size() > max) {
            return failure(errc::field_too_long);
        }
        if (!valid_utf8(authzid) || !valid_utf8(authcid) || !valid_utf8(passwd)) {
            return failure(errc::invalid_utf8);
        }
        authcid_ = std::string(authcid);
        authzid_ = std::string(authzid);
        if (auto ec = lookup_error(lookup_.verify_plain(authcid, passwd))) return failure(ec);
        return succeed();
    }
};

}  // namespace

std::unique_ptr<server_mechanism> make_plain_server(credential_lookup& lookup, server_options options) {
    return std::make_unique<plain_server>(lookup, std::move(options));
}

}  // namespace mailharness::sasl::detail

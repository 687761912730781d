#include "mailharness/sasl/error.hpp"

#include <string>

namespace mailharness::sasl {

namespace {

struct sasl_category_impl final : std::error_category {
    const char* name() const noexcept override { return "mailharness.sasl"; }
    std::string message(int ev) const override {
        switch (static_cast<errc>(ev)) {
            case errc::bad_base64: return "invalid base64";
            case errc::bad_base64_padding: return "invalid base64 padding";
            case errc::base64_noncanonical: return "non-canonical base64 (pad bits set)";
            case errc::base64_too_large: return "base64 data too large";
            case errc::message_too_large: return "SASL message too large";
            case errc::field_too_long: return "SASL field too long";
            case errc::malformed_message: return "malformed SASL message";
            case errc::invalid_utf8: return "invalid UTF-8";
            case errc::unexpected_initial_response: return "initial response not allowed";
            case errc::out_of_sequence: return "SASL step out of sequence";
            case errc::cancelled: return "authentication cancelled by client";
            case errc::authentication_failed: return "authentication failed";
            case errc::unknown_user: return "unknown user";
            case errc::secret_unavailable: return "no usable secret for mechanism";
            case errc::authorization_failed: return "authorization identity not permitted";
            case errc::channel_binding_not_supported: return "channel binding not supported";
            case errc::channel_binding_mismatch: return "channel binding mismatch";
            case errc::channel_binding_downgrade: return "channel binding downgrade";
            case errc::extensions_not_supported: return "mandatory SCRAM extension not supported";
            case errc::nonce_mismatch: return "SCRAM nonce mismatch";
            case errc::bad_iteration_count: return "SCRAM iteration count out of range";
            case errc::server_signature_mismatch: return "SCRAM server signature mismatch";
            case errc::server_signature_missing: return "SCRAM server signature missing";
            case errc::server_error: return "SCRAM server error";
            case errc::unsupported_mechanism: return "unsupported SASL mechanism";
            case errc::internal_error: return "internal error";
        }
        return "unknown sasl error";
    }
};

}  // namespace

const std::error_category& sasl_category() noexcept {
    static const sasl_category_impl cat;
    return cat;
}

std::error_code make_error_code(errc e) noexcept { return {static_cast<int>(e), sasl_category()}; }

}  // namespace mailharness::sasl

#include "mailharness/smtp/error.hpp"

#include <string>

namespace mailharness::smtp {

namespace {

struct category final : std::error_category {
    const char* name() const noexcept override { return "mailharness.smtp"; }
    std::string message(int ev) const override {
        switch (static_cast<errc>(ev)) {
            case errc::empty_command: return "empty command line";
            case errc::unknown_command: return "command unrecognized";
            case errc::syntax_error: return "syntax error in parameters or arguments";
            case errc::missing_argument: return "argument required";
            case errc::unexpected_argument: return "command takes no argument";
            case errc::invalid_domain: return "invalid domain name";
            case errc::invalid_address_literal: return "invalid address literal";
            case errc::invalid_path: return "invalid address syntax";
            case errc::local_part_too_long: return "local part too long";
            case errc::domain_too_long: return "domain too long";
            case errc::path_too_long: return "path too long";
            case errc::invalid_utf8: return "malformed UTF-8";
            case errc::invalid_parameter: return "invalid ESMTP parameter";
            case errc::duplicate_parameter: return "duplicate ESMTP parameter";
            case errc::too_many_parameters: return "too many ESMTP parameters";
            case errc::invalid_bdat_size: return "invalid BDAT chunk size";
            case errc::invalid_auth_mechanism: return "invalid AUTH mechanism name";
            case errc::line_too_long: return "command line too long";
            case errc::invalid_reply: return "malformed reply line";
            case errc::inconsistent_reply: return "multi-line reply with differing codes";
            case errc::reply_too_long: return "reply too long";
            case errc::message_too_big: return "message size exceeds limit";
            case errc::bare_lf_in_data: return "bare LF in message data";
            case errc::bare_cr_in_data: return "bare CR in message data";
        }
        return "unknown smtp error";
    }
};

}  // namespace

const std::error_category& smtp_category() noexcept {
    static const category cat;
    return cat;
}

std::error_code make_error_code(errc e) noexcept { return {static_cast<int>(e), smtp_category()}; }

}  // namespace mailharness::smtp

#include "mailharness/pop3/error.hpp"

#include <string>

namespace mailharness::pop3 {

namespace {

struct pop3_category_impl final : std::error_category {
    const char* name() const noexcept override { return "mailharness.pop3"; }
    std::string message(int ev) const override {
        switch (static_cast<errc>(ev)) {
            case errc::empty_line: return "empty command line";
            case errc::line_too_long: return "line too long";
            case errc::invalid_character: return "invalid character in line";
            case errc::invalid_syntax: return "stray space in command line";
            case errc::unknown_command: return "unknown command";
            case errc::missing_argument: return "missing argument";
            case errc::too_many_arguments: return "too many arguments";
            case errc::argument_too_long: return "argument too long";
            case errc::invalid_number: return "invalid number";
            case errc::invalid_argument: return "invalid argument";
            case errc::invalid_status: return "invalid status indicator";
            case errc::bare_lf: return "bare LF line ending";
            case errc::body_too_large: return "multi-line body too large";
            case errc::invalid_capability: return "invalid capability line";
        }
        return "unknown pop3 error";
    }
};

}  // namespace

const std::error_category& pop3_category() noexcept {
    static const pop3_category_impl cat;
    return cat;
}

std::error_code make_error_code(errc e) noexcept { return {static_cast<int>(e), pop3_category()}; }

}  // namespace mailharness::pop3

#include "mailharness/imap/error.hpp"

#include <string>

namespace mailharness::imap {

namespace {

struct imap_category_impl final : std::error_category {
    const char* name() const noexcept override { return "mailharness.imap"; }
    std::string message(int ev) const override {
        switch (static_cast<errc>(ev)) {
            case errc::line_too_long: return "line too long";
            case errc::literal_too_large: return "literal too large";
            case errc::message_too_large: return "APPEND message too large";
            case errc::too_deep: return "lists nested too deep";
            case errc::too_many_arguments: return "too many arguments";
            case errc::sequence_set_too_large: return "sequence set too large";
            case errc::invalid_character: return "invalid character";
            case errc::invalid_tag: return "invalid tag";
            case errc::missing_command: return "missing command";
            case errc::unknown_command: return "unknown command";
            case errc::syntax_error: return "syntax error";
            case errc::missing_argument: return "missing argument";
            case errc::too_many_tokens: return "unexpected extra arguments";
            case errc::invalid_number: return "invalid number";
            case errc::invalid_sequence_set: return "invalid sequence set";
            case errc::invalid_date: return "invalid date";
            case errc::invalid_flag: return "invalid flag";
            case errc::invalid_fetch_attribute: return "invalid FETCH attribute";
            case errc::invalid_search_key: return "invalid SEARCH key";
            case errc::invalid_status_item: return "invalid STATUS item";
            case errc::unsupported_charset: return "unsupported charset";
            case errc::unexpected_literal: return "unexpected string or literal";
            case errc::invalid_argument: return "invalid argument";
            case errc::invalid_mailbox_name: return "invalid mailbox name";
            case errc::invalid_response: return "invalid response";
            case errc::invalid_response_code: return "invalid response code";
            case errc::invalid_fetch_item: return "invalid FETCH response item";
        }
        return "unknown imap error";
    }
};

}  // namespace

const std::error_category& imap_category() noexcept {
    static const imap_category_impl cat;
    return cat;
}

std::error_code make_error_code(errc e) noexcept { return {static_cast<int>(e), imap_category()}; }

}  // namespace mailharness::imap

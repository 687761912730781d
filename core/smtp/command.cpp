#include "mailharness/smtp/command.hpp"

#include <algorithm>
#include <cstring>

#include "mailharness/detail/ascii.hpp"
#include "mailharness/smtp/error.hpp"

namespace mailharness::smtp {

namespace {

using mailharness::detail::iequals;

constexpr char upper(char c) noexcept { return (c >= 'a' && c <= 'z') ? static_cast<char>(c - 32) : c; }


bool istarts_with(std::string_view s, std::string_view prefix) noexcept {
    return s.size() >= prefix.size() && iequals(s.substr(0, prefix.size()), prefix);
}

constexpr std::uint32_t pack4(const char* s) noexcept {
    return static_cast<std::uint32_t>(static_cast<unsigned char>(upper(s[0]))) |
           static_cast<std::uint32_t>(static_cast<unsigned char>(upper(s[1]))) << 8 |
           static_cast<std::uint32_t>(static_cast<unsigned char>(upper(s[2]))) << 16 |
           static_cast<std::uint32_t>(static_cast<unsigned char>(upper(s[3]))) << 24;
}

verb lookup_verb(std::string_view v) noexcept {
    if (v.size() == 4) {
        switch (pack4(v.data())) {
            case pack4("HELO"): return verb::helo;
            case pack4("EHLO"): return verb::ehlo;
            case pack4("MAIL"): return verb::mail;
            case pack4("RCPT"): return verb::rcpt;
            case pack4("DATA"): return verb::data;
            case pack4("BDAT"): return verb::bdat;
            case pack4("RSET"): return verb::rset;
            case pack4("VRFY"): return verb::vrfy;
            case pack4("EXPN"): return verb::expn;
            case pack4("HELP"): return verb::help;
            case pack4("NOOP"): return verb::noop;
            case pack4("QUIT"): return verb::quit;
            case pack4("AUTH"): return verb::auth;
            default: return verb::unknown;
        }
    }
    if (v.size() == 8 && iequals(v, "STARTTLS")) return verb::starttls;
    return verb::unknown;
}

constexpr bool is_alnum(unsigned char c) noexcept {
    return (c >= '0' && c <= '9') || ((c | 0x20) >= 'a' && (c | 0x20) <= 'z');
}

// esmtp-keyword = (ALPHA / DIGIT) *(ALPHA / DIGIT / "-")
bool valid_keyword(std::string_view k) noexcept {
    if (k.empty() || !is_alnum(static_cast<unsigned char>(k[0]))) return false;
    return std::all_of(k.begin(), k.end(), [](char c) { return is_alnum(static_cast<unsigned char>(c)) || c == '-'; });
}

// esmtp-value = 1*(%d33-60 / %d62-126), widened by RFC 6531 to UTF-8.
bool valid_value(std::string_view v) noexcept {
    if (v.empty()) return false;
    return std::all_of(v.begin(), v.end(), [](char ch) {
        auto c = static_cast<unsigned char>(ch);
        return (c >= 33 && c <= 60) || (c >= 62 && c <= 126) || c >= 0x80;
    });
}

std::error_code parse_params(std::string_view rest, command& out, const command_limits& limits) {
    std::size_t max = std::min(limits.max_params, max_esmtp_params);
    std::size_t pos = 0;
    while (pos < rest.size()) {
        if (rest[pos] == ' ') {
            ++pos;
            continue;
        }
        std::size_t end = rest.find(' ', pos);
        if (end == std::string_view::npos) end = rest.size();
        std::string_view tok = rest.substr(pos, end - pos);
        pos = end;
        if (out.param_count >= max) return errc::too_many_parameters;
        esmtp_param p;
        auto eq = tok.find('=');
        if (eq == std::string_view::npos) {
            p.keyword = tok;
        } else {
            p.keyword = tok.substr(0, eq);
            p.value = tok.substr(eq + 1);
            p.has_value = true;
            if (!valid_value(p.value)) return errc::invalid_parameter;
        }
        if (!valid_keyword(p.keyword)) return errc::invalid_parameter;
        for (std::size_t i = 0; i < out.param_count; ++i) {
            if (iequals(out.params[i].keyword, p.keyword)) return errc::duplicate_parameter;
        }
        out.params[out.param_count++] = p;
    }
    return {};
}

std::error_code parse_path_command(std::string_view arg, std::string_view prefix, command& out,
                                   const command_limits& limits) {
    if (!istarts_with(arg, prefix)) return arg.empty() ? errc::missing_argument : errc::syntax_error;
    arg.remove_prefix(prefix.size());
    // RFC 5321 has no space after the colon, but many clients send one; accept it.
    while (!arg.empty() && arg.front() == ' ') arg.remove_prefix(1);
    if (arg.empty()) return errc::missing_argument;
    std::error_code ec;
    std::size_t used = parse_path(arg, out.address, ec, limits.path);
    if (ec) return ec;
    std::string_view rest = arg.substr(used);
    if (!rest.empty() && rest.front() != ' ') return errc::invalid_path;
    return parse_params(rest, out, limits);
}

// Mechanism names: 1*20 (UPPER-ALPHA / DIGIT / "-" / "_") (RFC 4422 3.1); accepted in any case.
bool valid_mechanism(std::string_view m) noexcept {
    if (m.empty() || m.size() > 20) return false;
    return std::all_of(m.begin(), m.end(), [](char c) {
        return is_alnum(static_cast<unsigned char>(c)) || c == '-' || c == '_';
    });
}

bool valid_helo_argument(std::string_view a) noexcept {
    if (!a.empty() && a.front() == '[') {
        std::uint32_t flags = 0;
        return is_valid_address_literal(a, flags);
    }
    return is_valid_domain(a);
}

}  // namespace

std::string_view to_string(verb v) noexcept {
    switch (v) {
        case verb::helo: return "HELO";
        case verb::ehlo: return "EHLO";
        case verb::mail: return "MAIL";
        case verb::rcpt: return "RCPT";
        case verb::data: return "DATA";
        case verb::bdat: return "BDAT";
        case verb::rset: return "RSET";
        case verb::vrfy: return "VRFY";
        case verb::expn: return "EXPN";
        case verb::help: return "HELP";
        case verb::noop: return "NOOP";
        case verb::quit: return "QUIT";
        case verb::auth: return "AUTH";
        case verb::starttls: return "STARTTLS";
        case verb::unknown: return "";
    }
    return "";
}

const esmtp_param* command::param(std::string_view keyword) const noexcept {
    for (std::size_t i = 0; i < param_count; ++i) {
        if (iequals(params[i].keyword, keyword)) return &params[i];
    }
    return nullptr;
}

std::error_code parse_command(std::string_view line, command& out, const command_limits& limits) {
    out.cmd = verb::unknown;
    out.verb_text = {};
    out.argument = {};
    out.address = {};
    out.param_count = 0;
    out.bdat_size = 0;
    out.bdat_last = false;
    out.auth_mechanism = {};
    out.auth_initial = {};
    out.has_auth_initial = false;

    if (line.size() > limits.max_line_length) return errc::line_too_long;
    if (line.empty()) return errc::empty_command;

    const void* sp = std::memchr(line.data(), ' ', line.size());
    std::size_t vend = sp ? static_cast<std::size_t>(static_cast<const char*>(sp) - line.data()) : line.size();
    out.verb_text = line.substr(0, vend);
    out.cmd = lookup_verb(out.verb_text);
    if (out.cmd == verb::unknown) return out.verb_text.empty() ? errc::syntax_error : errc::unknown_command;

    std::string_view arg = vend < line.size() ? line.substr(vend + 1) : std::string_view{};
    while (!arg.empty() && arg.back() == ' ') arg.remove_suffix(1);
    out.argument = arg;

    switch (out.cmd) {
        case verb::helo:
        case verb::ehlo:
            if (arg.empty()) return errc::missing_argument;
            if (limits.check_helo_syntax && !valid_helo_argument(arg)) return errc::invalid_domain;
            return {};
        case verb::mail: return parse_path_command(arg, "FROM:", out, limits);
        case verb::rcpt: return parse_path_command(arg, "TO:", out, limits);
        case verb::data:
        case verb::rset:
        case verb::quit:
        case verb::starttls:
            return arg.empty() ? std::error_code{} : std::error_code{errc::unexpected_argument};
        case verb::noop:
        case verb::help:
            return {};
        case verb::vrfy:
        case verb::expn:
            return arg.empty() ? std::error_code{errc::missing_argument} : std::error_code{};
        case verb::bdat: {
            if (arg.empty()) return errc::missing_argument;
            std::size_t i = 0;
            std::uint64_t size = 0;
            while (i < arg.size() && arg[i] >= '0' && arg[i] <= '9') {
                if (size > (UINT64_MAX - 9) / 10) return errc::invalid_bdat_size;
                size = size * 10 + static_cast<unsigned>(arg[i] - '0');
                ++i;
            }
            if (i == 0) return errc::invalid_bdat_size;
            out.bdat_size = size;
            std::string_view rest = arg.substr(i);
            if (rest.empty()) return {};
            if (rest.front() != ' ') return errc::invalid_bdat_size;
            while (!rest.empty() && rest.front() == ' ') rest.remove_prefix(1);
            if (!iequals(rest, "LAST")) return errc::syntax_error;
            out.bdat_last = true;
            return {};
        }
        case verb::auth: {
            if (arg.empty()) return errc::missing_argument;
            auto space = arg.find(' ');
            out.auth_mechanism = arg.substr(0, space);
            if (!valid_mechanism(out.auth_mechanism)) return errc::invalid_auth_mechanism;
            if (space != std::string_view::npos) {
                std::string_view ir = arg.substr(space + 1);
                if (ir.empty() || ir.find(' ') != std::string_view::npos) return errc::syntax_error;
                out.auth_initial = ir;
                out.has_auth_initial = true;
            }
            return {};
        }
        case verb::unknown: break;
    }
    return errc::unknown_command;
}

void append_helo(std::string& out, verb helo_or_ehlo, std::string_view domain) {
    out.append(helo_or_ehlo == verb::helo ? "HELO " : "EHLO ");
    out.append(domain);
    out.append("\r\n");
}

void append_mail(std::string& out, std::string_view reverse_path, std::string_view params) {
    out.append("MAIL FROM:<");
    out.append(reverse_path);
    out.push_back('>');
    if (!params.empty()) {
        out.push_back(' ');
        out.append(params);
    }
    out.append("\r\n");
}

void append_rcpt(std::string& out, std::string_view forward_path, std::string_view params) {
    out.append("RCPT TO:<");
    out.append(forward_path);
    out.push_back('>');
    if (!params.empty()) {
        out.push_back(' ');
        out.append(params);
    }
    out.append("\r\n");
}

void append_bdat(std::string& out, std::uint64_t size, bool last) {
    out.append("BDAT ");
    out.append(std::to_string(size));
    if (last) out.append(" LAST");
    out.append("\r\n");
}

void append_auth(std::string& out, std::string_view mechanism, std::string_view initial_response) {
    out.append("AUTH ");
    out.append(mechanism);
    if (!initial_response.empty()) {
        out.push_back(' ');
        out.append(initial_response);
    }
    out.append("\r\n");
}

void append_command(std::string& out, verb v, std::string_view argument) {
    out.append(to_string(v));
    if (!argument.empty()) {
        out.push_back(' ');
        out.append(argument);
    }
    out.append("\r\n");
}

}  // namespace mailharness::smtp

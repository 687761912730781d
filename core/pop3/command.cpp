#include "mailharness/pop3/command.hpp"

#include <algorithm>

#include "detail/ascii.hpp"

namespace mailharness::pop3 {

namespace {

using detail::is_digit;

struct verb_info {
    verb v;
    std::string_view name;
    std::size_t min_args;
    std::size_t max_args;
};

// PASS is listed with one argument, but the parser takes the rest of the line for it.
constexpr std::array<verb_info, 16> verbs{{
    {verb::user, "USER", 1, 1}, {verb::pass, "PASS", 1, 1}, {verb::apop, "APOP", 2, 2},
    {verb::stat, "STAT", 0, 0}, {verb::list, "LIST", 0, 1}, {verb::retr, "RETR", 1, 1},
    {verb::dele, "DELE", 1, 1}, {verb::noop, "NOOP", 0, 0}, {verb::rset, "RSET", 0, 0},
    {verb::quit, "QUIT", 0, 0}, {verb::top, "TOP", 2, 2},   {verb::uidl, "UIDL", 0, 1},
    {verb::capa, "CAPA", 0, 0}, {verb::stls, "STLS", 0, 0}, {verb::auth, "AUTH", 1, 2},
    {verb::utf8, "UTF8", 0, 0},
}};

const verb_info* find_info(verb v) noexcept {
    for (const auto& i : verbs) {
        if (i.v == v) return &i;
    }
    return nullptr;
}

// Decimal number in [min, max]; digits only, leading zeros allowed.
bool parse_number(std::string_view s, std::uint32_t min, std::uint32_t max, std::uint32_t& out) noexcept {
    if (s.empty()) return false;
    std::uint64_t v = 0;
    for (char c : s) {
        if (!is_digit(c)) return false;
        v = v * 10 + static_cast<std::uint64_t>(c - '0');
        if (v > max) return false;  // also stops overflow: max < 2^32
    }
    if (v < min) return false;
    out = static_cast<std::uint32_t>(v);
    return true;
}

// RFC 4422 section 3.1: sasl-mech = 1*20mech-char (upper-case letters, digits, '-', '_').
// Lower case is accepted too: mechanism names are matched case-insensitively in practice.
bool valid_mechanism(std::string_view s) noexcept {
    if (s.empty() || s.size() > 20) return false;
    return std::all_of(s.begin(), s.end(),
                       [](char c) { return detail::is_alpha(c) || is_digit(c) || c == '-' || c == '_'; });
}

// RFC 5034 section 4: initial-response = base64 / "=" (the "=" meaning an empty response).
bool valid_initial_response(std::string_view s) noexcept {
    if (s == "=") return true;
    if (s.empty() || s.size() % 4 != 0) return false;
    std::size_t pad = 0;
    for (std::size_t i = 0; i < s.size(); ++i) {
        char c = s[i];
        if (c == '=') {
            ++pad;
            continue;
        }
        if (pad != 0) return false;  // '=' only at the end
        if (!(detail::is_alpha(c) || is_digit(c) || c == '+' || c == '/')) return false;
    }
    return pad <= 2;
}

// RFC 1939 section 7: the APOP digest is the MD5 digest in hex (32 digits).
bool valid_digest(std::string_view s) noexcept {
    return s.size() == 32 && std::all_of(s.begin(), s.end(), detail::is_hex);
}

std::error_code write_line(std::string& out, std::string_view keyword, verb v,
                           std::span<const std::string_view> args) {
    if (keyword.empty()) return errc::invalid_argument;
    if (!std::all_of(keyword.begin(), keyword.end(), detail::is_vchar)) return errc::invalid_argument;
    for (std::size_t i = 0; i < args.size(); ++i) {
        std::string_view a = args[i];
        bool spaces_ok = v == verb::pass && i + 1 == args.size();
        if (a.empty()) return errc::invalid_argument;
        for (char c : a) {
            if (detail::breaks_line(c) || (c == ' ' && !spaces_ok)) return errc::invalid_argument;
        }
    }
    out.append(keyword);
    for (auto a : args) {
        out.push_back(' ');
        out.append(a);
    }
    out.append("\r\n");
    return {};
}

}  // namespace

std::string_view to_string(verb v) noexcept {
    const verb_info* i = find_info(v);
    return i ? i->name : std::string_view{};
}

verb parse_verb(std::string_view keyword) noexcept {
    for (const auto& i : verbs) {
        if (detail::iequals(keyword, i.name)) return i.v;
    }
    return verb::unknown;
}

bool expects_multiline(verb v, std::size_t arg_count) noexcept {
    switch (v) {
        case verb::list:
        case verb::uidl: return arg_count == 0;
        case verb::retr:
        case verb::top:
        case verb::capa: return true;
        default: return false;
    }
}

std::error_code parse_command(std::string_view line, command& out, const command_limits& limits) {
    out = command{};
    if (line.size() > limits.max_line_length) return errc::line_too_long;
    if (line.empty()) return errc::empty_line;
    for (char c : line) {
        if (detail::is_ctl(c) || (detail::is_8bit(c) && !limits.allow_8bit)) return errc::invalid_character;
    }

    std::size_t sp = line.find(' ');
    out.keyword = line.substr(0, sp);
    if (out.keyword.empty()) return errc::invalid_syntax;
    out.verb = parse_verb(out.keyword);
    if (out.verb == verb::unknown) return errc::unknown_command;
    const verb_info& info = *find_info(out.verb);

    std::string_view rest = sp == std::string_view::npos ? std::string_view{} : line.substr(sp + 1);

    if (out.verb == verb::pass) {
        // RFC 1939 section 7: the server may treat spaces as part of the password.
        if (rest.empty()) return errc::missing_argument;
        out.args[0] = rest;
        out.arg_count = 1;
        return {};
    }

    if (sp != std::string_view::npos) {
        std::size_t end = rest.find_last_not_of(' ');
        std::size_t trimmed = end == std::string_view::npos ? 0 : end + 1;
        if (trimmed != rest.size() || rest.empty()) {
            if (!limits.allow_trailing_space) return errc::invalid_syntax;
            rest = rest.substr(0, trimmed);
        }
    }

    std::size_t count = 0;
    while (!rest.empty()) {
        std::size_t next = rest.find(' ');
        std::string_view arg = rest.substr(0, next);
        if (arg.empty()) return errc::invalid_syntax;  // two spaces in a row
        if (count < command::max_args) out.args[count] = arg;
        ++count;
        rest = next == std::string_view::npos ? std::string_view{} : rest.substr(next + 1);
    }
    out.arg_count = std::min(count, command::max_args);
    if (count < info.min_args) return errc::missing_argument;
    if (count > info.max_args) return errc::too_many_arguments;

    for (std::size_t i = 0; i < out.arg_count; ++i) {
        bool unbounded = out.verb == verb::auth && i == 1;  // initial response: line limit only
        if (!unbounded && out.args[i].size() > limits.max_argument_length) return errc::argument_too_long;
    }

    switch (out.verb) {
        case verb::list:
        case verb::uidl:
        case verb::retr:
        case verb::dele:
        case verb::top:
            if (out.arg_count > 0 && !parse_number(out.args[0], 1, limits.max_number, out.message)) {
                out.message = 0;
                return errc::invalid_number;
            }
            if (out.verb == verb::top && !parse_number(out.args[1], 0, limits.max_number, out.lines)) {
                return errc::invalid_number;
            }
            break;
        case verb::auth:
            if (!valid_mechanism(out.args[0])) return errc::invalid_argument;
            if (out.arg_count == 2 && !valid_initial_response(out.args[1])) return errc::invalid_argument;
            break;
        case verb::apop:
            if (!valid_digest(out.args[1])) return errc::invalid_argument;
            break;
        default: break;
    }
    return {};
}

std::error_code write_command(std::string& out, verb v, std::initializer_list<std::string_view> args) {
    return write_line(out, to_string(v), v, {args.begin(), args.size()});
}

std::error_code write_command(std::string& out, std::string_view keyword,
                              std::initializer_list<std::string_view> args) {
    return write_line(out, keyword, parse_verb(keyword), {args.begin(), args.size()});
}

std::error_code write_command(std::string& out, const command& c) {
    std::string_view keyword = c.verb == verb::unknown ? c.keyword : to_string(c.verb);
    return write_line(out, keyword, c.verb, c.arguments());
}

}  // namespace mailharness::pop3

#include "mailharness/smtp/path.hpp"

#include <arpa/inet.h>

#include <algorithm>

#include "mailharness/detail/ascii.hpp"
#include "mailharness/smtp/error.hpp"

namespace mailharness::smtp {

namespace {

using mailharness::detail::iequals;

constexpr bool is_alpha(unsigned char c) noexcept { return (c | 0x20) >= 'a' && (c | 0x20) <= 'z'; }
constexpr bool is_digit(unsigned char c) noexcept { return c >= '0' && c <= '9'; }
constexpr bool is_let_dig(unsigned char c) noexcept { return is_alpha(c) || is_digit(c); }

// RFC 5322 atext, as used by RFC 5321 Atom.
constexpr bool is_atext(unsigned char c) noexcept {
    if (is_let_dig(c)) return true;
    switch (c) {
        case '!': case '#': case '$': case '%': case '&': case '\'': case '*': case '+': case '-':
        case '/': case '=': case '?': case '^': case '_': case '`': case '{': case '|': case '}':
        case '~':
            return true;
        default:
            return false;
    }
}


bool has_non_ascii(std::string_view s) noexcept {
    return std::any_of(s.begin(), s.end(), [](char c) { return static_cast<unsigned char>(c) >= 0x80; });
}

bool valid_ipv4(std::string_view s) noexcept {
    // Snum "." Snum "." Snum "." Snum, Snum = 1*3DIGIT with value 0..255
    int parts = 0;
    std::size_t i = 0;
    while (true) {
        std::size_t start = i;
        unsigned value = 0;
        while (i < s.size() && is_digit(static_cast<unsigned char>(s[i])) && i - start < 3) {
            value = value * 10 + static_cast<unsigned>(s[i] - '0');
            ++i;
        }
        if (i == start || value > 255) return false;
        ++parts;
        if (parts == 4) return i == s.size();
        if (i >= s.size() || s[i] != '.') return false;
        ++i;
    }
}

}  // namespace

bool is_valid_utf8(std::string_view s) noexcept {
    const auto* p = reinterpret_cast<const unsigned char*>(s.data());
    const auto* end = p + s.size();
    while (p < end) {
        unsigned char c = *p;
        if (c < 0x80) {
            ++p;
            continue;
        }
        int n;
        std::uint32_t cp;
        if (c >= 0xC2 && c <= 0xDF) {
            n = 1;
            cp = c & 0x1F;
        } else if (c >= 0xE0 && c <= 0xEF) {
            n = 2;
            cp = c & 0x0F;
        } else if (c >= 0xF0 && c <= 0xF4) {
            n = 3;
            cp = c & 0x07;
        } else {
            return false;
        }
        if (end - p <= n) return false;
        for (int k = 1; k <= n; ++k) {
            if ((p[k] & 0xC0) != 0x80) return false;
            cp = (cp << 6) | (p[k] & 0x3F);
        }
        if ((n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) || cp > 0x10FFFF ||
            (cp >= 0xD800 && cp <= 0xDFFF)) {
            return false;
        }
        p += n + 1;
    }
    return true;
}

bool is_valid_domain(std::string_view s, bool allow_utf8) noexcept {
    if (s.empty()) return false;
    bool utf8 = has_non_ascii(s);
    if (utf8 && (!allow_utf8 || !is_valid_utf8(s))) return false;
    std::size_t label_start = 0;
    for (std::size_t i = 0; i <= s.size(); ++i) {
        if (i < s.size() && s[i] != '.') {
            auto c = static_cast<unsigned char>(s[i]);
            if (!(is_let_dig(c) || c == '-' || c >= 0x80)) return false;
            continue;
        }
        std::size_t len = i - label_start;
        if (len == 0 || len > 63) return false;
        auto first = static_cast<unsigned char>(s[label_start]);
        auto last = static_cast<unsigned char>(s[i - 1]);
        if (first == '-' || last == '-') return false;
        label_start = i + 1;
    }
    return true;
}

bool is_valid_address_literal(std::string_view s, std::uint32_t& flags) noexcept {
    flags = 0;
    if (s.size() < 3 || s.front() != '[' || s.back() != ']') return false;
    std::string_view body = s.substr(1, s.size() - 2);
    if (valid_ipv4(body)) {
        flags = ipv4_literal;
        return true;
    }
    auto colon = body.find(':');
    if (colon == std::string_view::npos || colon == 0) return false;
    std::string_view tag = body.substr(0, colon);
    std::string_view content = body.substr(colon + 1);
    if (iequals(tag, "IPv6")) {
        char buf[64];
        unsigned char addr[16];
        if (content.empty() || content.size() >= sizeof buf) return false;
        std::copy(content.begin(), content.end(), buf);
        buf[content.size()] = '\0';
        if (inet_pton(AF_INET6, buf, addr) != 1) return false;
        flags = ipv6_literal;
        return true;
    }
    // General-address-literal: Standardized-tag ":" 1*dcontent; tag is an Ldh-str.
    if (!is_let_dig(static_cast<unsigned char>(tag.back()))) return false;
    for (char c : tag) {
        if (!is_let_dig(static_cast<unsigned char>(c)) && c != '-') return false;
    }
    if (content.empty()) return false;
    for (char ch : content) {
        auto c = static_cast<unsigned char>(ch);
        if (!((c >= 33 && c <= 90) || (c >= 94 && c <= 126))) return false;
    }
    flags = general_literal;
    return true;
}

std::string path::unquoted_local_part() const {
    if (!has(quoted_local) || local_part.size() < 2) return std::string(local_part);
    std::string r;
    r.reserve(local_part.size());
    std::string_view q = local_part.substr(1, local_part.size() - 2);
    for (std::size_t i = 0; i < q.size(); ++i) {
        if (q[i] == '\\' && i + 1 < q.size()) ++i;
        r.push_back(q[i]);
    }
    return r;
}

std::string path::lowercase_domain() const {
    std::string r(domain);
    for (char& c : r) {
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c | 0x20);
    }
    return r;
}

std::string path::mailbox() const {
    if (is_null()) return {};
    std::string r(local_part);
    if (!domain.empty()) {
        r.push_back('@');
        r.append(domain);
    }
    return r;
}

std::size_t parse_path(std::string_view in, path& out, std::error_code& ec, const path_limits& limits) {
    out = path{};
    ec.clear();
    auto fail = [&](errc e) -> std::size_t {
        ec = e;
        out = path{};
        return 0;
    };
    if (in.empty()) return fail(errc::invalid_path);

    const bool bracket = in[0] == '<';
    if (!bracket && !limits.allow_missing_brackets) return fail(errc::invalid_path);
    std::size_t pos = bracket ? 1 : 0;
    const std::size_t n = in.size();

    if (bracket && n >= 2 && in[1] == '>') {
        out.text = in.substr(0, 2);
        out.flags = null_path;
        return 2;
    }

    // Optional source route: "@" Domain *( "," "@" Domain ) ":"
    if (bracket && pos < n && in[pos] == '@') {
        std::size_t route_start = pos;
        while (true) {
            if (pos >= n || in[pos] != '@') return fail(errc::invalid_path);
            std::size_t d = ++pos;
            while (pos < n && in[pos] != ',' && in[pos] != ':' && in[pos] != '>') ++pos;
            if (!is_valid_domain(in.substr(d, pos - d))) return fail(errc::invalid_domain);
            if (pos >= n) return fail(errc::invalid_path);
            if (in[pos] == ',') {
                ++pos;
                continue;
            }
            if (in[pos] != ':') return fail(errc::invalid_path);
            out.source_route = in.substr(route_start, pos - route_start);
            out.flags |= source_route;
            ++pos;
            break;
        }
    }

    // Local-part = Dot-string / Quoted-string
    std::size_t local_start = pos;
    if (pos < n && in[pos] == '"') {
        out.flags |= quoted_local;
        ++pos;
        bool closed = false;
        while (pos < n) {
            auto c = static_cast<unsigned char>(in[pos]);
            if (c == '"') {
                closed = true;
                ++pos;
                break;
            }
            if (c == '\\') {
                // quoted-pairSMTP = %d92 %d32-126
                if (pos + 1 >= n) return fail(errc::invalid_path);
                auto e = static_cast<unsigned char>(in[pos + 1]);
                if (e < 32 || e > 126) return fail(errc::invalid_path);
                if (e == '@') out.flags |= at_in_local;
                if (e == '%') out.flags |= percent_hack;
                if (e == '!') out.flags |= bang_path;
                pos += 2;
                continue;
            }
            // qtextSMTP = %d32-33 / %d35-91 / %d93-126, plus UTF-8 under RFC 6531
            if (c < 32 || c == 127) return fail(errc::invalid_path);
            if (c == '@') out.flags |= at_in_local;
            if (c == '%') out.flags |= percent_hack;
            if (c == '!') out.flags |= bang_path;
            if (c >= 0x80) out.flags |= utf8;
            ++pos;
        }
        if (!closed) return fail(errc::invalid_path);
    } else {
        bool need_atom = true;  // at start or right after a dot
        while (pos < n) {
            auto c = static_cast<unsigned char>(in[pos]);
            if (c == '.') {
                if (need_atom) return fail(errc::invalid_path);
                need_atom = true;
            } else if (is_atext(c) || c >= 0x80) {
                if (c == '%') out.flags |= percent_hack;
                if (c == '!') out.flags |= bang_path;
                if (c >= 0x80) out.flags |= utf8;
                need_atom = false;
            } else {
                break;
            }
            ++pos;
        }
        if (need_atom) {
            // empty local part, or one ending in a dot
            return fail(errc::invalid_path);
        }
    }
    out.local_part = in.substr(local_start, pos - local_start);
    if (out.local_part.size() > limits.max_local_part) return fail(errc::local_part_too_long);

    if (pos < n && in[pos] == '@') {
        ++pos;
        std::size_t dom_start = pos;
        if (pos < n && in[pos] == '[') {
            while (pos < n && in[pos] != ']' && in[pos] != '>') ++pos;
            if (pos >= n || in[pos] != ']') return fail(errc::invalid_address_literal);
            ++pos;
            std::uint32_t lit = 0;
            if (!is_valid_address_literal(in.substr(dom_start, pos - dom_start), lit)) {
                return fail(errc::invalid_address_literal);
            }
            out.flags |= address_literal | lit;
        } else {
            while (pos < n && in[pos] != '>' && in[pos] != ' ') ++pos;
            std::string_view dom = in.substr(dom_start, pos - dom_start);
            if (dom.size() > limits.max_domain) return fail(errc::domain_too_long);
            if (!is_valid_domain(dom)) return fail(errc::invalid_domain);
            if (has_non_ascii(dom)) out.flags |= utf8;
        }
        out.domain = in.substr(dom_start, pos - dom_start);
        if (out.domain.size() > limits.max_domain) return fail(errc::domain_too_long);
    } else if (bracket && !out.has(quoted_local) && !out.has(source_route) &&
               iequals(out.local_part, "postmaster")) {
        out.flags |= postmaster;
    } else {
        return fail(errc::invalid_path);
    }

    if (bracket) {
        if (pos >= n || in[pos] != '>') return fail(errc::invalid_path);
        ++pos;
    } else {
        if (pos < n && in[pos] != ' ') return fail(errc::invalid_path);
        out.flags |= no_brackets;
    }
    if ((out.flags & utf8) && !is_valid_utf8(in.substr(0, pos))) return fail(errc::invalid_utf8);
    std::size_t path_len = pos + (bracket ? 0 : 2);
    if (path_len > limits.max_path) return fail(errc::path_too_long);
    out.text = in.substr(0, pos);
    return pos;
}

}  // namespace mailharness::smtp

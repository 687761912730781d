#include "mailharness/smtp/ehlo.hpp"

#include <algorithm>
#include <charconv>

namespace mailharness::smtp {

namespace {

char upper(char c) noexcept { return c >= 'a' && c <= 'z' ? static_cast<char>(c - 'a' + 'A') : c; }

bool iequals(std::string_view a, std::string_view upper_b) noexcept {
    return a.size() == upper_b.size() &&
           std::equal(a.begin(), a.end(), upper_b.begin(), [](char x, char y) { return upper(x) == y; });
}

void assign_upper(std::string& out, std::string_view s) {
    out.assign(s);
    for (char& c : out) c = upper(c);
}

}  // namespace

ehlo_line split_ehlo_line(std::string_view line) noexcept {
    const auto sep = line.find_first_of(" =");
    if (sep == std::string_view::npos) return {line, {}};
    return {line.substr(0, sep), line.substr(sep + 1)};
}

bool capabilities::has(std::string_view keyword) const noexcept {
    return std::find(keywords.begin(), keywords.end(), keyword) != keywords.end();
}

void capabilities::clear() noexcept {
    esmtp = pipelining = starttls = eightbitmime = smtputf8 = chunking = size = false;
    size_limit = 0;
    auth.clear();
    keywords.clear();
}

capabilities parse_ehlo(const reply& r) {
    capabilities c;
    parse_ehlo(r, c);
    return c;
}

void parse_ehlo(const reply& r, capabilities& c) {
    c.clear();
    c.esmtp = r.code == 250;
    for (std::size_t i = 1; i < r.lines.size(); ++i) {
        const auto [key, arg] = split_ehlo_line(r.lines[i]);
        if (key.empty()) continue;
        assign_upper(c.keywords.emplace_back(), key);
        if (iequals(key, "PIPELINING")) {
            c.pipelining = true;
        } else if (iequals(key, "STARTTLS")) {
            c.starttls = true;
        } else if (iequals(key, "8BITMIME")) {
            c.eightbitmime = true;
        } else if (iequals(key, "SMTPUTF8")) {
            c.smtputf8 = true;
        } else if (iequals(key, "CHUNKING")) {
            c.chunking = true;
        } else if (iequals(key, "SIZE")) {
            c.size = true;
            std::uint64_t v = 0;
            auto [p, ec] = std::from_chars(arg.data(), arg.data() + arg.size(), v);
            if (ec == std::errc{} && p == arg.data() + arg.size()) c.size_limit = v;
        } else if (iequals(key, "AUTH")) {
            std::string_view rest = arg;
            while (!rest.empty()) {
                const auto start = rest.find_first_not_of(' ');
                if (start == std::string_view::npos) break;
                rest.remove_prefix(start);
                const auto end = std::min(rest.find(' '), rest.size());
                std::string mech;
                assign_upper(mech, rest.substr(0, end));
                if (std::find(c.auth.begin(), c.auth.end(), mech) == c.auth.end()) c.auth.push_back(std::move(mech));
                rest.remove_prefix(end);
            }
        }
    }
}

}  // namespace mailharness::smtp

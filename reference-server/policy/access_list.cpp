#include "mailharness/refmaild/access_list.hpp"

#include <arpa/inet.h>
#include <fnmatch.h>

#include <cstring>
#include <fstream>
#include <sstream>

namespace mailharness::refmaild::policy {

namespace {

std::string lower(std::string_view s) {
    std::string r(s);
    for (char& c : r) {
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c | 0x20);
    }
    return r;
}

std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\r')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
    return s;
}

bool valid_domain_chars(std::string_view d) {
    if (d.empty()) return false;
    for (char c : d) {
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
              static_cast<unsigned char>(c) >= 0x80)) {
            return false;
        }
    }
    return d.find("..") == std::string_view::npos && d.back() != '.';
}

}  // namespace

std::optional<std::array<std::uint8_t, 16>> parse_ip(std::string_view text) {
    if (text.size() >= 64) return std::nullopt;
    std::string s(text);
    std::array<std::uint8_t, 16> out{};
    in_addr v4;
    if (inet_pton(AF_INET, s.c_str(), &v4) == 1) {
        out[10] = out[11] = 0xff;
        std::memcpy(out.data() + 12, &v4, 4);
        return out;
    }
    if (inet_pton(AF_INET6, s.c_str(), out.data()) == 1) return out;
    return std::nullopt;
}

std::optional<ip_network> ip_network::parse(std::string_view text) {
    auto slash = text.find('/');
    auto addr = parse_ip(text.substr(0, slash));
    if (!addr) return std::nullopt;
    bool v4 = text.substr(0, slash).find(':') == std::string_view::npos;
    unsigned max = v4 ? 32 : 128;
    unsigned prefix = max;
    if (slash != std::string_view::npos) {
        std::string_view p = text.substr(slash + 1);
        if (p.empty() || p.size() > 3) return std::nullopt;
        prefix = 0;
        for (char c : p) {
            if (c < '0' || c > '9') return std::nullopt;
            prefix = prefix * 10 + static_cast<unsigned>(c - '0');
        }
        if (prefix > max) return std::nullopt;
    }
    ip_network n{*addr, v4 ? prefix + 96 : prefix};
    // Host bits beyond the prefix must be zero: "192.0.2.1/24" is almost always a typo.
    for (unsigned bit = n.prefix; bit < 128; ++bit) {
        if (n.address[bit / 8] & (0x80 >> (bit % 8))) return std::nullopt;
    }
    return n;
}

bool ip_network::contains(std::string_view ip) const {
    auto a = parse_ip(ip);
    if (!a) return false;
    unsigned full = prefix / 8;
    if (std::memcmp(a->data(), address.data(), full) != 0) return false;
    unsigned rest = prefix % 8;
    if (rest == 0) return true;
    std::uint8_t mask = static_cast<std::uint8_t>(0xff << (8 - rest));
    return ((*a)[full] & mask) == (address[full] & mask);
}

access_list access_list::parse(std::string_view text, std::vector<list_problem>* problems) {
    access_list l;
    std::size_t line_no = 0;
    while (!text.empty()) {
        ++line_no;
        auto nl = text.find('\n');
        std::string_view line = text.substr(0, nl);
        text.remove_prefix(nl == std::string_view::npos ? text.size() : nl + 1);
        if (auto hash = line.find('#'); hash != std::string_view::npos) line = line.substr(0, hash);
        line = trim(line);
        if (line.empty()) continue;
        auto bad = [&](std::string why) {
            if (problems) problems->push_back({line_no, "\"" + std::string(line) + "\": " + why});
        };
        if (line.find_first_of(" \t") != std::string_view::npos) {
            bad("one entry per line");
            continue;
        }
        if (line.find_first_of("*?[") != std::string_view::npos) {
            l.patterns_.push_back(lower(line));
            continue;
        }
        if (line.find(':') != std::string_view::npos ||
            (line.find_first_not_of("0123456789./") == std::string_view::npos)) {
            if (auto n = ip_network::parse(line)) {
                l.networks_.push_back(*n);
            } else {
                bad("not a valid IP address or CIDR network (host bits set?)");
            }
            continue;
        }
        if (auto at = line.rfind('@'); at != std::string_view::npos) {
            std::string dom = lower(line.substr(at + 1));
            if (at == 0 || !valid_domain_chars(dom)) {
                bad("not a valid user@domain");
                continue;
            }
            l.mailboxes_.push_back(std::string(line.substr(0, at)) + "@" + dom);
            continue;
        }
        std::string dom = lower(line);
        std::string_view check = dom;
        if (!check.empty() && check.front() == '.') check.remove_prefix(1);
        if (!valid_domain_chars(check)) {
            bad("not a valid domain");
            continue;
        }
        l.domains_.push_back(dom);
    }
    return l;
}

access_list access_list::load(const std::filesystem::path& file, std::vector<list_problem>* problems) {
    std::ifstream in(file, std::ios::binary);
    if (!in) {
        if (problems) problems->push_back({0, "cannot read " + file.string()});
        return {};
    }
    std::ostringstream s;
    s << in.rdbuf();
    return parse(s.str(), problems);
}

bool access_list::matches_ip(std::string_view ip) const {
    for (const auto& n : networks_) {
        if (n.contains(ip)) return true;
    }
    std::string l = lower(ip);
    for (const auto& p : patterns_) {
        if (fnmatch(p.c_str(), l.c_str(), 0) == 0) return true;
    }
    return false;
}

bool access_list::domain_listed(std::string domain) const {
    for (const auto& d : domains_) {
        if (d.front() == '.') {
            if (domain.size() > d.size() && domain.compare(domain.size() - d.size(), d.size(), d) == 0) return true;
        } else if (domain == d) {
            return true;
        }
    }
    return false;
}

bool access_list::matches_address(std::string_view mailbox) const {
    auto at = mailbox.rfind('@');
    std::string domain = at == std::string_view::npos ? std::string() : lower(mailbox.substr(at + 1));
    std::string normalized =
        at == std::string_view::npos ? std::string(mailbox) : std::string(mailbox.substr(0, at)) + "@" + domain;
    for (const auto& m : mailboxes_) {
        if (m == normalized) return true;
    }
    if (!domain.empty() && domain_listed(domain)) return true;
    std::string l = lower(mailbox);
    for (const auto& p : patterns_) {
        if (fnmatch(p.c_str(), l.c_str(), 0) == 0) return true;
    }
    return false;
}

bool access_list::matches_host(std::string_view host) const {
    std::string h = lower(host);
    if (domain_listed(h)) return true;
    for (const auto& p : patterns_) {
        if (fnmatch(p.c_str(), h.c_str(), 0) == 0) return true;
    }
    return false;
}

}  // namespace mailharness::refmaild::policy

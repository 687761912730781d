#include "mailharness/refmaild/queue/transport_map.hpp"

#include "mailharness/smtp/path.hpp"

#include <arpa/inet.h>

#include <charconv>
#include <fstream>
#include <sstream>

namespace mailharness::refmaild::queue {

namespace {

std::string lower(std::string_view s) {
    std::string out(s);
    for (char& c : out) {
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    }
    return out;
}

bool is_ip(const std::string& s, int family) {
    unsigned char buf[16];
    return ::inet_pton(family, s.c_str(), buf) == 1;
}

// Whitespace-separated fields of a line, comment removed.
std::vector<std::string_view> fields(std::string_view line) {
    if (auto hash = line.find('#'); hash != std::string_view::npos) line = line.substr(0, hash);
    std::vector<std::string_view> out;
    std::size_t i = 0;
    while (i < line.size()) {
        while (i < line.size() && (line[i] == ' ' || line[i] == '\t' || line[i] == '\r')) ++i;
        std::size_t start = i;
        while (i < line.size() && line[i] != ' ' && line[i] != '\t' && line[i] != '\r') ++i;
        if (i > start) out.push_back(line.substr(start, i - start));
    }
    return out;
}

// host[:port] or [v6]:port -> entry; an error message or empty.
std::string parse_hop(std::string_view hop, transport_entry& e) {
    std::string_view host = hop, port;
    if (!hop.empty() && hop.front() == '[') {
        auto close = hop.find(']');
        if (close == std::string_view::npos) return "missing ']' in " + std::string(hop);
        host = hop.substr(1, close - 1);
        std::string_view rest = hop.substr(close + 1);
        if (!rest.empty()) {
            if (rest.front() != ':') return "expected ':port' after ']' in " + std::string(hop);
            port = rest.substr(1);
        }
        if (!is_ip(std::string(host), AF_INET6) && !is_ip(std::string(host), AF_INET)) {
            return "[" + std::string(host) + "] is not an IP address";
        }
    } else {
        auto colon = hop.rfind(':');
        if (colon != std::string_view::npos) {
            if (hop.find(':') != colon) return "an IPv6 next hop needs brackets: [" + std::string(hop) + "]:25";
            host = hop.substr(0, colon);
            port = hop.substr(colon + 1);
        }
        std::string h(host);
        if (!is_ip(h, AF_INET) && !smtp::is_valid_domain(h, false)) return "\"" + h + "\" is not a host name or IP address";
    }
    e.host = lower(host);
    if (!port.data() || port.empty()) {
        if (port.data() && port.empty()) return "empty port in " + std::string(hop);
        e.port = 25;
        return {};
    }
    unsigned v = 0;
    auto [p, ec] = std::from_chars(port.data(), port.data() + port.size(), v);
    if (ec != std::errc{} || p != port.data() + port.size() || v < 1 || v > 65535) {
        return "port must be 1 to 65535, got \"" + std::string(port) + "\"";
    }
    e.port = static_cast<std::uint16_t>(v);
    return {};
}

}  // namespace

std::string_view to_string(tls_policy p) noexcept {
    switch (p) {
        case tls_policy::none: return "none";
        case tls_policy::opportunistic: return "opportunistic";
        case tls_policy::required: return "required";
    }
    return "?";
}

transport_map transport_map::parse(std::string_view text, std::vector<transport_problem>* problems) {
    transport_map map;
    std::size_t line_no = 0;
    auto problem = [&](std::string message) {
        if (problems) problems->push_back({line_no, std::move(message)});
    };
    while (!text.empty()) {
        ++line_no;
        auto nl = text.find('\n');
        std::string_view line = text.substr(0, nl);
        text.remove_prefix(nl == std::string_view::npos ? text.size() : nl + 1);
        auto f = fields(line);
        if (f.empty()) continue;
        if (f.size() < 2) {
            problem("expected \"domain next-hop [tls=...]\"");
            continue;
        }
        transport_entry e;
        if (auto err = parse_hop(f[1], e); !err.empty()) {
            problem(err);
            continue;
        }
        bool bad = false;
        for (std::size_t i = 2; i < f.size(); ++i) {
            if (f[i] == "tls=required") {
                e.tls = tls_policy::required;
            } else if (f[i] == "tls=opportunistic") {
                e.tls = tls_policy::opportunistic;
            } else if (f[i] == "tls=none") {
                e.tls = tls_policy::none;
            } else {
                problem("unknown option \"" + std::string(f[i]) + "\" (expected tls=required, tls=opportunistic or tls=none)");
                bad = true;
            }
        }
        if (bad) continue;
        std::string pattern = lower(f[0]);
        bool inserted = true;
        if (pattern == "*") {
            if (map.any_) {
                inserted = false;
            } else {
                map.any_ = e;
            }
        } else if (pattern.starts_with('.')) {
            if (!smtp::is_valid_domain(pattern.substr(1), false)) {
                problem("\"" + pattern + "\" is not .domain");
                continue;
            }
            inserted = map.parents_.emplace(pattern.substr(1), e).second;
        } else {
            if (!smtp::is_valid_domain(pattern, false)) {
                problem("\"" + pattern + "\" is not a domain, .domain or *");
                continue;
            }
            inserted = map.exact_.emplace(pattern, e).second;
        }
        if (!inserted) problem("\"" + pattern + "\" is listed twice; the first entry counts");
    }
    return map;
}

transport_map transport_map::load(const std::filesystem::path& file, std::error_code& ec,
                                  std::vector<transport_problem>* problems) {
    std::ifstream in(file, std::ios::binary);
    if (!in) {
        ec = std::error_code(errno ? errno : ENOENT, std::system_category());
        return {};
    }
    std::ostringstream text;
    text << in.rdbuf();
    ec.clear();
    return parse(text.str(), problems);
}

const transport_entry* transport_map::find(std::string_view domain_in) const {
    std::string domain = lower(domain_in);
    if (auto it = exact_.find(domain); it != exact_.end()) return &it->second;
    for (auto dot = domain.find('.'); dot != std::string::npos; dot = domain.find('.', dot + 1)) {
        if (auto it = parents_.find(std::string_view(domain).substr(dot + 1)); it != parents_.end()) return &it->second;
    }
    return any_ ? &*any_ : nullptr;
}

}  // namespace mailharness::refmaild::queue

#include "mailharness/refmaild/queue/dns.hpp"

#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <netdb.h>
#include <resolv.h>

#include <algorithm>
#include <charconv>
#include <cstdlib>
#include <memory>

namespace mailharness::refmaild::queue {

namespace {

std::string lower(std::string s) {
    for (char& c : s) {
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    }
    return s;
}

bool parse_nameserver(std::string_view s, sockaddr_in& out) {
    std::string_view host = s, port;
    if (auto colon = s.find(':'); colon != std::string_view::npos) {
        host = s.substr(0, colon);
        port = s.substr(colon + 1);
    }
    out = {};
    out.sin_family = AF_INET;
    out.sin_port = htons(53);
    if (::inet_pton(AF_INET, std::string(host).c_str(), &out.sin_addr) != 1) return false;
    if (port.data()) {
        unsigned v = 0;
        auto [p, ec] = std::from_chars(port.data(), port.data() + port.size(), v);
        if (ec != std::errc{} || p != port.data() + port.size() || v < 1 || v > 65535) return false;
        out.sin_port = htons(static_cast<std::uint16_t>(v));
    }
    return true;
}

}  // namespace

bool valid_nameserver(std::string_view s) noexcept {
    sockaddr_in sa{};
    try {
        return parse_nameserver(s, sa);
    } catch (...) {
        return false;
    }
}

mx_answer parse_mx_response(std::span<const unsigned char> packet) {
    mx_answer out;
    ns_msg msg;
    if (packet.size() > 65535 || ns_initparse(packet.data(), static_cast<int>(packet.size()), &msg) != 0) {
        out.status = dns_status::malformed;
        out.error = "malformed DNS response";
        return out;
    }
    int rcode = ns_msg_getflag(msg, ns_f_rcode);
    if (rcode == ns_r_nxdomain) {
        out.status = dns_status::nxdomain;
        out.error = "domain does not exist (NXDOMAIN)";
        return out;
    }
    if (rcode != ns_r_noerror) {
        out.status = dns_status::temporary;
        out.error = "DNS server answered with response code " + std::to_string(rcode);
        return out;
    }
    int count = ns_msg_count(msg, ns_s_an);
    for (int i = 0; i < count; ++i) {
        ns_rr rr;
        if (ns_parserr(&msg, ns_s_an, i, &rr) != 0) {
            out.status = dns_status::malformed;
            out.error = "malformed DNS answer record";
            out.records.clear();
            return out;
        }
        if (ns_rr_type(rr) != ns_t_mx || ns_rr_class(rr) != ns_c_in) continue;
        const unsigned char* rdata = ns_rr_rdata(rr);
        int rdlen = ns_rr_rdlen(rr);
        char name[NS_MAXDNAME];
        int used = rdlen >= 3 ? ns_name_uncompress(ns_msg_base(msg), ns_msg_end(msg), rdata + 2, name, sizeof name) : -1;
        if (used < 0 || used > rdlen - 2) {
            out.status = dns_status::malformed;
            out.error = "malformed MX record";
            out.records.clear();
            return out;
        }
        std::string host = lower(name);
        if (host == ".") host.clear();
        while (!host.empty() && host.back() == '.') host.pop_back();
        out.records.push_back({static_cast<std::uint16_t>(ns_get16(rdata)), std::move(host)});
    }
    out.status = out.records.empty() ? dns_status::no_data : dns_status::ok;
    return out;
}

mx_answer query_mx(const std::string& domain, const std::string& nameserver) {
    mx_answer out;
    sockaddr_in server{};
    if (!nameserver.empty() && !parse_nameserver(nameserver, server)) {
        out.status = dns_status::temporary;
        out.error = "invalid DNS server " + nameserver;
        return out;
    }
    auto state = std::make_unique<std::remove_pointer_t<res_state>>();  // zeroed: res_ninit needs that
    if (res_ninit(state.get()) != 0) {
        out.status = dns_status::temporary;
        out.error = "cannot initialise the resolver";
        return out;
    }
    if (!nameserver.empty()) {
        // Only this server. glibc prefers the IPv6 entries in _u._ext.nsaddrs when set: drop them
        // (res_nclose frees what is left there).
        for (auto& p : state->_u._ext.nsaddrs) {
            std::free(p);
            p = nullptr;
        }
        state->nsaddr_list[0] = server;
        state->nscount = 1;
    }
    std::vector<unsigned char> buf(65536);
    int n = res_nquery(state.get(), domain.c_str(), ns_c_in, ns_t_mx, buf.data(), static_cast<int>(buf.size()));
    int herr = state->res_h_errno;
    res_nclose(state.get());
    if (n >= 0) return parse_mx_response({buf.data(), static_cast<std::size_t>(n)});
    switch (herr) {
        case HOST_NOT_FOUND:
            out.status = dns_status::nxdomain;
            out.error = "domain does not exist (NXDOMAIN)";
            break;
        case NO_DATA:
            out.status = dns_status::no_data;
            break;
        default:
            out.status = dns_status::temporary;
            out.error = herr == TRY_AGAIN ? "DNS lookup timed out or the server failed (try again)"
                                          : "DNS lookup failed (no recovery)";
    }
    return out;
}

mx_route route_from_mx(const mx_answer& answer, std::string_view domain, std::mt19937& rng) {
    mx_route r;
    switch (answer.status) {
        case dns_status::nxdomain:
            r.result = mx_route::kind::permanent;
            r.error = "MX lookup for " + std::string(domain) + ": " + answer.error;
            return r;
        case dns_status::temporary:
        case dns_status::malformed:
            r.result = mx_route::kind::temporary;
            r.error = "MX lookup for " + std::string(domain) + ": " + answer.error;
            return r;
        case dns_status::no_data:
            r.result = mx_route::kind::hosts;
            r.hosts.push_back(lower(std::string(domain)));  // implicit MX (RFC 5321 5.1)
            return r;
        case dns_status::ok: break;
    }
    std::vector<mx_record> recs;
    for (const auto& m : answer.records) {
        if (!m.host.empty()) recs.push_back(m);
    }
    if (recs.empty()) {
        r.result = mx_route::kind::permanent;
        r.error = std::string(domain) + " accepts no mail (null MX, RFC 7505)";
        return r;
    }
    std::shuffle(recs.begin(), recs.end(), rng);
    std::stable_sort(recs.begin(), recs.end(), [](const mx_record& a, const mx_record& b) { return a.preference < b.preference; });
    r.result = mx_route::kind::hosts;
    for (auto& m : recs) {
        if (std::find(r.hosts.begin(), r.hosts.end(), m.host) == r.hosts.end()) r.hosts.push_back(m.host);
    }
    return r;
}

}  // namespace mailharness::refmaild::queue

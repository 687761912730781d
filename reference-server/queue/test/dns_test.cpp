#include "mailharness/refmaild/queue/dns.hpp"

#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <functional>
#include <set>
#include <thread>

using namespace mailharness::refmaild::queue;

namespace {

// Builds DNS response packets (RFC 1035 4.1) byte by byte.
struct packet {
    std::vector<unsigned char> b;

    packet& u8(unsigned v) {
        b.push_back(static_cast<unsigned char>(v));
        return *this;
    }
    packet& u16(unsigned v) { return u8(v >> 8).u8(v & 0xff); }
    packet& u32(unsigned long v) { return u16(static_cast<unsigned>(v >> 16)).u16(static_cast<unsigned>(v & 0xffff)); }
    packet& labels(std::string_view name) {  // without the terminating root label
        while (!name.empty()) {
            auto dot = name.find('.');
            auto label = name.substr(0, dot);
            u8(static_cast<unsigned>(label.size()));
            for (char c : label) u8(static_cast<unsigned char>(c));
            name.remove_prefix(dot == std::string_view::npos ? name.size() : dot + 1);
        }
        return *this;
    }
    packet& name(std::string_view n) { return labels(n).u8(0); }
    packet& pointer(unsigned offset) { return u16(0xC000 | offset); }

    // Header and the question "<domain> IN MX"; the question name starts at offset 12.
    static packet response(std::string_view domain, unsigned rcode, unsigned answers) {
        packet p;
        p.u16(0x1234).u16(0x8180 | rcode).u16(1).u16(answers).u16(0).u16(0);
        p.name(domain).u16(15).u16(1);
        return p;
    }
    // An answer RR owned by the question name; rdata appended by the caller, length patched.
    std::size_t begin_rr(unsigned type) {
        pointer(12).u16(type).u16(1).u32(3600);
        std::size_t len_at = b.size();
        u16(0);
        return len_at;
    }
    void end_rr(std::size_t len_at) {
        std::size_t len = b.size() - len_at - 2;
        b[len_at] = static_cast<unsigned char>(len >> 8);
        b[len_at + 1] = static_cast<unsigned char>(len & 0xff);
    }
    packet& mx(unsigned pref, std::string_view host_labels, int pointer_to = -1) {
        auto at = begin_rr(15);
        u16(pref);
        labels(host_labels);
        if (pointer_to >= 0) {
            pointer(static_cast<unsigned>(pointer_to));
        } else {
            u8(0);
        }
        end_rr(at);
        return *this;
    }
    std::span<const unsigned char> span() const { return {b.data(), b.size()}; }
};

}  // namespace

TEST(queue_dns, parses_mx_records_with_name_compression) {
    auto p = packet::response("Example.COM", 0, 3);
    p.mx(20, "MX2", 12);                 // mx2.example.com via a pointer to the question name
    p.mx(10, "mx1.other.net");           // uncompressed
    auto at = p.begin_rr(15);            // pointer straight to the question name: example.com
    p.u16(30).pointer(12);
    p.end_rr(at);
    auto a = parse_mx_response(p.span());
    ASSERT_EQ(a.status, dns_status::ok) << a.error;
    EXPECT_EQ(a.records, (std::vector<mx_record>{{20, "mx2.example.com"}, {10, "mx1.other.net"}, {30, "example.com"}}));
}

TEST(queue_dns, response_codes_and_empty_answers) {
    EXPECT_EQ(parse_mx_response(packet::response("nx.test", 3, 0).span()).status, dns_status::nxdomain);
    EXPECT_EQ(parse_mx_response(packet::response("sf.test", 2, 0).span()).status, dns_status::temporary);
    EXPECT_EQ(parse_mx_response(packet::response("rf.test", 5, 0).span()).status, dns_status::temporary);
    EXPECT_EQ(parse_mx_response(packet::response("nodata.test", 0, 0).span()).status, dns_status::no_data);
}

TEST(queue_dns, other_record_types_are_skipped) {
    auto p = packet::response("alias.test", 0, 2);
    auto at = p.begin_rr(5);  // CNAME
    p.name("real.test");
    p.end_rr(at);
    p.mx(5, "mail.real.test");
    auto a = parse_mx_response(p.span());
    ASSERT_EQ(a.status, dns_status::ok);
    EXPECT_EQ(a.records, (std::vector<mx_record>{{5, "mail.real.test"}}));

    auto only_cname = packet::response("alias.test", 0, 1);
    at = only_cname.begin_rr(5);
    only_cname.name("real.test");
    only_cname.end_rr(at);
    EXPECT_EQ(parse_mx_response(only_cname.span()).status, dns_status::no_data);
}

TEST(queue_dns, null_mx_gives_an_empty_host) {
    auto p = packet::response("nomail.test", 0, 1);
    p.mx(0, "");  // exchange "." (RFC 7505)
    auto a = parse_mx_response(p.span());
    ASSERT_EQ(a.status, dns_status::ok);
    EXPECT_EQ(a.records, (std::vector<mx_record>{{0, ""}}));
}

TEST(queue_dns, every_truncation_and_bad_pointer_is_malformed_not_a_crash) {
    auto p = packet::response("example.com", 0, 2);
    p.mx(10, "mx1", 12);
    p.mx(20, "mx2", 12);
    ASSERT_EQ(parse_mx_response(p.span()).status, dns_status::ok);
    for (std::size_t n = 0; n < p.b.size(); ++n) {
        auto a = parse_mx_response({p.b.data(), n});
        EXPECT_EQ(a.status, dns_status::malformed) << "prefix of " << n << " bytes";
        EXPECT_TRUE(a.records.empty());
    }

    auto out_of_range = packet::response("example.com", 0, 1);
    out_of_range.mx(10, "mx", 0x3ff);
    EXPECT_EQ(parse_mx_response(out_of_range.span()).status, dns_status::malformed);

    auto loop = packet::response("example.com", 0, 1);
    auto at = loop.begin_rr(15);
    loop.u16(10);
    loop.pointer(static_cast<unsigned>(loop.b.size()));  // points at itself
    loop.end_rr(at);
    EXPECT_EQ(parse_mx_response(loop.span()).status, dns_status::malformed);

    auto short_rdata = packet::response("example.com", 0, 1);
    at = short_rdata.begin_rr(15);
    short_rdata.u16(10);  // preference but no exchange
    short_rdata.end_rr(at);
    EXPECT_EQ(parse_mx_response(short_rdata.span()).status, dns_status::malformed);

    // The exchange name runs past the record's rdata into the next record.
    auto overlong = packet::response("example.com", 0, 1);
    at = overlong.begin_rr(15);
    overlong.u16(10).labels("mx");
    overlong.end_rr(at);   // rdlength covers "mx" but not the root label
    overlong.u8(0);
    EXPECT_EQ(parse_mx_response(overlong.span()).status, dns_status::malformed);
}

TEST(queue_dns, route_orders_by_preference_and_shuffles_equal_ones) {
    mx_answer a;
    a.status = dns_status::ok;
    a.records = {{20, "c.test"}, {10, "a.test"}, {10, "b.test"}, {30, "a.test"}, {20, "d.test"}};
    std::set<std::vector<std::string>> orders;
    for (unsigned seed = 0; seed < 64; ++seed) {
        std::mt19937 rng(seed);
        auto r = route_from_mx(a, "example.com", rng);
        ASSERT_EQ(r.result, mx_route::kind::hosts);
        ASSERT_EQ(r.hosts.size(), 4u) << "a.test once";
        EXPECT_EQ(std::set<std::string>(r.hosts.begin(), r.hosts.begin() + 2), (std::set<std::string>{"a.test", "b.test"}));
        EXPECT_EQ(std::set<std::string>(r.hosts.begin() + 2, r.hosts.end()), (std::set<std::string>{"c.test", "d.test"}));
        orders.insert(r.hosts);
    }
    EXPECT_GT(orders.size(), 1u) << "equal preferences are not always tried in the same order";
}

TEST(queue_dns, route_for_no_data_nxdomain_null_mx_and_trouble) {
    std::mt19937 rng(1);
    mx_answer a;
    a.status = dns_status::no_data;
    auto r = route_from_mx(a, "Implicit.Test", rng);
    EXPECT_EQ(r.result, mx_route::kind::hosts);
    EXPECT_EQ(r.hosts, (std::vector<std::string>{"implicit.test"})) << "RFC 5321 5.1 implicit MX";

    a.status = dns_status::nxdomain;
    EXPECT_EQ(route_from_mx(a, "nx.test", rng).result, mx_route::kind::permanent);

    a.status = dns_status::ok;
    a.records = {{0, ""}};
    r = route_from_mx(a, "nomail.test", rng);
    EXPECT_EQ(r.result, mx_route::kind::permanent);
    EXPECT_NE(r.error.find("RFC 7505"), std::string::npos);

    a.records = {{0, ""}, {10, "mx.test"}};
    EXPECT_EQ(route_from_mx(a, "mixed.test", rng).hosts, (std::vector<std::string>{"mx.test"}));

    a.status = dns_status::temporary;
    EXPECT_EQ(route_from_mx(a, "x.test", rng).result, mx_route::kind::temporary);
    a.status = dns_status::malformed;
    EXPECT_EQ(route_from_mx(a, "x.test", rng).result, mx_route::kind::temporary);
}

namespace {

// A UDP DNS server on 127.0.0.1 for query_mx(): answers every query with respond(qname), the
// query's ID patched in.
class udp_responder {
public:
    explicit udp_responder(std::function<packet(const std::string& qname)> respond) : respond_(std::move(respond)) {
        fd_ = ::socket(AF_INET, SOCK_DGRAM, 0);
        sockaddr_in sa{};
        sa.sin_family = AF_INET;
        sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        ::bind(fd_, reinterpret_cast<sockaddr*>(&sa), sizeof sa);
        socklen_t len = sizeof sa;
        ::getsockname(fd_, reinterpret_cast<sockaddr*>(&sa), &len);
        port_ = ntohs(sa.sin_port);
        thread_ = std::thread([this] { run(); });
    }
    ~udp_responder() {
        stop_ = true;
        thread_.join();
        ::close(fd_);
    }
    std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
    int queries() const { return queries_; }

private:
    void run() {
        while (!stop_) {
            pollfd p{fd_, POLLIN, 0};
            if (::poll(&p, 1, 50) <= 0) continue;
            unsigned char buf[512];
            sockaddr_in from{};
            socklen_t len = sizeof from;
            ssize_t n = ::recvfrom(fd_, buf, sizeof buf, 0, reinterpret_cast<sockaddr*>(&from), &len);
            if (n < 13) continue;
            ++queries_;
            std::string qname;  // dotted, from the question's labels
            for (std::size_t i = 12; i < static_cast<std::size_t>(n) && buf[i] != 0; i += buf[i] + 1) {
                if (!qname.empty()) qname += '.';
                qname.append(reinterpret_cast<const char*>(buf + i + 1), buf[i]);
            }
            packet reply = respond_(qname);
            reply.b[0] = buf[0];
            reply.b[1] = buf[1];
            ::sendto(fd_, reply.b.data(), reply.b.size(), 0, reinterpret_cast<sockaddr*>(&from), len);
        }
    }
    std::function<packet(const std::string&)> respond_;
    int fd_ = -1;
    std::uint16_t port_ = 0;
    std::atomic<bool> stop_{false};
    std::atomic<int> queries_{0};
    std::thread thread_;
};

}  // namespace

TEST(queue_dns, query_mx_through_the_resolver_to_a_given_server) {
    udp_responder dns([](const std::string& qname) {
        if (qname == "mx.test") {
            auto p = packet::response(qname, 0, 2);
            p.mx(20, "b.mx.test");
            p.mx(10, "a", 12);
            return p;
        }
        if (qname == "nx.test") return packet::response(qname, 3, 0);
        if (qname == "servfail.test") return packet::response(qname, 2, 0);
        return packet::response(qname, 0, 0);  // no data
    });
    auto a = query_mx("mx.test", dns.address());
    ASSERT_EQ(a.status, dns_status::ok) << a.error;
    EXPECT_EQ(a.records, (std::vector<mx_record>{{20, "b.mx.test"}, {10, "a.mx.test"}}));
    EXPECT_EQ(query_mx("nx.test", dns.address()).status, dns_status::nxdomain);
    EXPECT_EQ(query_mx("nodata.test", dns.address()).status, dns_status::no_data);
    EXPECT_EQ(query_mx("servfail.test", dns.address()).status, dns_status::temporary);
    EXPECT_GE(dns.queries(), 4);

    auto bad = query_mx("mx.test", "ns.example.com");
    EXPECT_EQ(bad.status, dns_status::temporary);
    EXPECT_NE(bad.error.find("invalid DNS server"), std::string::npos);
}

TEST(queue_dns, nameserver_syntax) {
    EXPECT_TRUE(valid_nameserver("127.0.0.1"));
    EXPECT_TRUE(valid_nameserver("192.0.2.53:5353"));
    for (std::string_view bad : {"", "ns.example.com", "127.0.0.1:", "127.0.0.1:0", "127.0.0.1:65536", "::1", "1.2.3"}) {
        EXPECT_FALSE(valid_nameserver(bad)) << bad;
    }
}

#include "mailharness/refmaild/queue/dsn.hpp"

#include <gtest/gtest.h>

#include <map>

using namespace mailharness::refmaild::queue;

namespace {

// Splits a multipart body on "--boundary" lines; returns the parts (headers + body) between the
// first delimiter and the close delimiter.
std::vector<std::string> mime_parts(const std::string& msg, const std::string& boundary) {
    std::vector<std::string> parts;
    std::string delim = "\r\n--" + boundary;
    auto pos = msg.find(delim);
    while (pos != std::string::npos) {
        auto line_end = msg.find("\r\n", pos + 2);
        if (msg.compare(pos + delim.size(), 2, "--") == 0) break;
        auto next = msg.find(delim, line_end);
        if (next == std::string::npos) break;
        parts.push_back(msg.substr(line_end + 2, next - line_end - 2));
        pos = next;
    }
    return parts;
}

// "Name: value" field groups separated by blank lines (RFC 3464 2.1), folded lines unfolded.
std::vector<std::map<std::string, std::string>> field_groups(std::string_view text) {
    std::vector<std::map<std::string, std::string>> groups(1);
    std::string last;
    while (!text.empty()) {
        auto nl = text.find("\r\n");
        std::string_view line = text.substr(0, nl);
        text.remove_prefix(nl == std::string_view::npos ? text.size() : nl + 2);
        if (line.empty()) {
            if (!groups.back().empty()) groups.emplace_back();
            continue;
        }
        if (line[0] == ' ' || line[0] == '\t') {
            groups.back()[last] += std::string(line);
            continue;
        }
        auto colon = line.find(':');
        last = std::string(line.substr(0, colon));
        groups.back()[last] = std::string(line.substr(colon + 2));
    }
    if (groups.back().empty()) groups.pop_back();
    return groups;
}

dsn_params sample() {
    dsn_params p;
    p.reporting_mta = "mx.example.test";
    p.queue_id = "0190F3A2B1C4D5E6F7A8B9C0";
    p.sender = "alice@example.test";
    p.arrival_from = "client.example ([192.0.2.1])";
    p.arrival = 1717495200000;  // Tue, 04 Jun 2024 10:00:00 +0000
    p.now = 1717581600000;      // Wed, 05 Jun 2024 10:00:00 +0000
    p.failed.push_back({"carol@remote.test", {550, "5.1.1", "mx.remote.test", "carol: no such user here"}, false});
    p.failed.push_back({"dave@slow.test", {451, "4.3.0", "mx.slow.test", "try later"}, true});
    p.original = "Received: from client\r\nFrom: Alice <alice@example.test>\r\nSubject: lunch\r\nMessage-ID: <m1@example.test>\r\n\r\nsecret body\r\n";
    return p;
}

}  // namespace

TEST(queue_dsn, multipart_report_with_delivery_status_and_headers) {
    std::string m = make_dsn(sample());
    auto top = field_groups(m.substr(0, m.find("\r\n\r\n") + 2));
    ASSERT_EQ(top.size(), 1u);
    EXPECT_EQ(top[0]["From"], "Mail Delivery System <MAILER-DAEMON@mx.example.test>");
    EXPECT_EQ(top[0]["To"], "<alice@example.test>");
    EXPECT_EQ(top[0]["Auto-Submitted"], "auto-replied");
    EXPECT_EQ(top[0]["Date"], "Wed, 05 Jun 2024 10:00:00 +0000");
    EXPECT_EQ(top[0]["MIME-Version"], "1.0");
    EXPECT_EQ(top[0]["Content-Type"],
              "multipart/report; report-type=delivery-status;\tboundary=\"refmaild-dsn-0190F3A2B1C4D5E6F7A8B9C0\"");

    auto parts = mime_parts(m, "refmaild-dsn-0190F3A2B1C4D5E6F7A8B9C0");
    ASSERT_EQ(parts.size(), 3u);
    EXPECT_TRUE(parts[0].starts_with("Content-Type: text/plain; charset=us-ascii\r\n"));
    EXPECT_NE(parts[0].find("<carol@remote.test> (host mx.remote.test): 550 5.1.1 carol: no such user here"), std::string::npos);
    EXPECT_NE(parts[0].find("<dave@slow.test> (host mx.slow.test): gave up after retrying for too long"), std::string::npos);

    ASSERT_TRUE(parts[1].starts_with("Content-Type: message/delivery-status\r\n"));
    auto groups = field_groups(parts[1].substr(parts[1].find("\r\n\r\n") + 4));
    ASSERT_EQ(groups.size(), 3u) << "per-message fields, then one group per recipient";
    EXPECT_EQ(groups[0]["Reporting-MTA"], "dns; mx.example.test");
    EXPECT_EQ(groups[0]["Arrival-Date"], "Tue, 04 Jun 2024 10:00:00 +0000");
    EXPECT_EQ(groups[1]["Final-Recipient"], "rfc822; carol@remote.test");
    EXPECT_EQ(groups[1]["Action"], "failed");
    EXPECT_EQ(groups[1]["Status"], "5.1.1");
    EXPECT_EQ(groups[1]["Remote-MTA"], "dns; mx.remote.test");
    EXPECT_EQ(groups[1]["Diagnostic-Code"], "smtp; 550 5.1.1 carol: no such user here");
    EXPECT_EQ(groups[2]["Final-Recipient"], "rfc822; dave@slow.test");
    EXPECT_EQ(groups[2]["Status"], "4.3.0") << "expired: the last temporary status";
    EXPECT_EQ(groups[2]["Action"], "failed");

    ASSERT_TRUE(parts[2].starts_with("Content-Type: text/rfc822-headers\r\n"));
    std::string attached = parts[2].substr(parts[2].find("\r\n\r\n") + 4);
    EXPECT_TRUE(attached.starts_with("Received: from client\r\nFrom: Alice <alice@example.test>\r\n"));
    EXPECT_NE(attached.find("Message-ID: <m1@example.test>"), std::string::npos);
    EXPECT_EQ(m.find("secret body"), std::string::npos) << "headers only";
    EXPECT_TRUE(m.ends_with("--refmaild-dsn-0190F3A2B1C4D5E6F7A8B9C0--\r\n"));
}

TEST(queue_dsn, header_fields_are_7bit_and_folded) {
    auto p = sample();
    p.failed[0].last.diagnostic = std::string(300, 'x') + " caf\xc3\xa9\r\ninjected: header " + std::string(50, 'y');
    std::string m = make_dsn(p);
    std::size_t start = 0;
    while (start < m.size()) {
        auto end = m.find("\r\n", start);
        ASSERT_NE(end, std::string::npos);
        EXPECT_LE(end - start, 998u) << "RFC 5322 2.1.1 line limit";
        start = end + 2;
    }
    for (unsigned char c : m.substr(0, m.find("Content-Type: text/rfc822-headers"))) {
        EXPECT_TRUE(c == '\r' || c == '\n' || c == '\t' || (c >= 0x20 && c < 0x7f)) << int(c);
    }
    EXPECT_EQ(m.find("\r\ninjected:"), std::string::npos) << "a CRLF in a reply cannot start a new field";
}

TEST(queue_dsn, status_choice) {
    EXPECT_EQ(dsn_status({"a@b", {550, "5.1.1", "h", ""}, false}), "5.1.1");
    EXPECT_EQ(dsn_status({"a@b", {550, "", "h", ""}, false}), "5.0.0");
    EXPECT_EQ(dsn_status({"a@b", {0, "5.1.2", "", "domain not found"}, false}), "5.1.2");
    EXPECT_EQ(dsn_status({"a@b", {451, "4.2.0", "h", ""}, true}), "4.2.0");
    EXPECT_EQ(dsn_status({"a@b", {0, "", "", "connection refused"}, true}), "4.4.7");
}

TEST(queue_dsn, local_errors_use_a_non_smtp_diagnostic_type) {
    auto p = sample();
    p.failed = {{"x@nx.test", {0, "5.1.2", "", "MX lookup for nx.test: domain does not exist (NXDOMAIN)"}, false}};
    std::string m = make_dsn(p);
    for (auto pos = m.find("\r\n "); pos != std::string::npos; pos = m.find("\r\n ")) m.erase(pos, 2);  // unfold
    EXPECT_NE(m.find("Diagnostic-Code: X-refmaild; MX lookup for nx.test: domain does not exist (NXDOMAIN)"), std::string::npos);
    EXPECT_EQ(m.find("Remote-MTA"), std::string::npos);
}

TEST(queue_dsn, attached_headers_are_bounded_and_the_boundary_is_unique) {
    auto p = sample();
    std::string big = "X-Big: " + std::string(100, 'a') + "\r\n";
    std::string original;
    for (int i = 0; i < 2000; ++i) original += big;
    original += "X-Trap: --refmaild-dsn-0190F3A2B1C4D5E6F7A8B9C0\r\n\r\nbody\r\n";
    p.original = original;
    p.max_attached_headers = 1000;
    std::string m = make_dsn(p);
    EXPECT_LT(m.size(), 4000u);
    std::size_t lines = 0;
    for (auto pos = m.find(big); pos != std::string::npos; pos = m.find(big, pos + 1)) ++lines;
    EXPECT_EQ(lines, 1000u / big.size()) << "cut at a line boundary";

    p.max_attached_headers = 1 << 20;
    m = make_dsn(p);
    EXPECT_NE(m.find("boundary=\"refmaild-dsn-0190F3A2B1C4D5E6F7A8B9C0-x\""), std::string::npos);
}

TEST(queue_dsn, header_section_and_date) {
    EXPECT_EQ(header_section("A: 1\r\nB: 2\r\n\r\nbody"), "A: 1\r\nB: 2\r\n");
    EXPECT_EQ(header_section("A: 1\r\n"), "A: 1\r\n");
    EXPECT_EQ(header_section("\r\nbody"), "");
    EXPECT_EQ(rfc5322_date(0), "Thu, 01 Jan 1970 00:00:00 +0000");
    EXPECT_EQ(rfc5322_date(951782400000), "Tue, 29 Feb 2000 00:00:00 +0000");
}

#include "mailharness/refmaild/queue/transport_map.hpp"

#include <gtest/gtest.h>

#include <unistd.h>

#include <fstream>

using namespace mailharness::refmaild::queue;

TEST(queue_transport_map, parses_entries_and_options) {
    std::vector<transport_problem> problems;
    auto map = transport_map::parse(
        "# next hops\n"
        "example.com      mail.example.net:2525    tls=required\n"
        "\n"
        ".example.com     10.0.0.7:25              tls=opportunistic   # subdomains\r\n"
        "partner.test     [2001:db8::25]:587\n"
        "bare.test        relay.test\n"
        "v4.test          [192.0.2.1]\n"
        "*                smarthost.example.net    tls=none\n",
        &problems);
    EXPECT_TRUE(problems.empty()) << problems[0].line << ": " << problems[0].message;
    EXPECT_EQ(map.size(), 6u);
    ASSERT_TRUE(map.find("example.com"));
    EXPECT_EQ(*map.find("example.com"), (transport_entry{"mail.example.net", 2525, tls_policy::required}));
    EXPECT_EQ(*map.find("EXAMPLE.Com"), *map.find("example.com")) << "case-insensitive";
    EXPECT_EQ(*map.find("a.example.com"), (transport_entry{"10.0.0.7", 25, tls_policy::opportunistic}));
    EXPECT_EQ(*map.find("b.a.example.com"), *map.find("a.example.com"));
    EXPECT_EQ(*map.find("partner.test"), (transport_entry{"2001:db8::25", 587, std::nullopt}));
    EXPECT_EQ(*map.find("bare.test"), (transport_entry{"relay.test", 25, std::nullopt}));
    EXPECT_EQ(*map.find("v4.test"), (transport_entry{"192.0.2.1", 25, std::nullopt}));
    EXPECT_EQ(*map.find("elsewhere.org"), (transport_entry{"smarthost.example.net", 25, tls_policy::none}));
    EXPECT_EQ(*map.find("notexample.com"), *map.find("elsewhere.org")) << "a suffix is not a parent domain";
}

TEST(queue_transport_map, lookup_order_exact_then_longest_parent_then_star) {
    auto map = transport_map::parse(
        ".example.com h1\n"
        ".b.example.com h2\n"
        "c.b.example.com h3\n");
    EXPECT_EQ(map.find("c.b.example.com")->host, "h3");
    EXPECT_EQ(map.find("d.c.b.example.com")->host, "h2");
    EXPECT_EQ(map.find("x.b.example.com")->host, "h2");
    EXPECT_EQ(map.find("b.example.com")->host, "h1");
    EXPECT_EQ(map.find("example.com"), nullptr) << ".domain is for subdomains only";
    EXPECT_EQ(map.find("other.test"), nullptr) << "no *: MX lookup";
}

TEST(queue_transport_map, bad_lines_are_reported_with_numbers_and_skipped) {
    std::vector<transport_problem> problems;
    auto map = transport_map::parse(
        "good.test h:25\n"
        "lonely.test\n"                      // 2: no next hop
        "x.test h:0\n"                       // 3: port
        "x.test h:99999\n"                   // 4: port
        "x.test 2001:db8::1:25\n"            // 5: IPv6 without brackets
        "x.test [not-an-ip]:25\n"            // 6
        "x.test h tls=maybe\n"               // 7: option
        "not_a_domain h\n"                   // 8
        "good.test other\n"                  // 9: duplicate
        "x.test bad_host!\n"                 // 10
        "x.test h:\n"                        // 11: empty port
        "x.test [192.0.2.1:25\n",            // 12: no ]
        &problems);
    std::vector<std::size_t> lines;
    for (const auto& p : problems) lines.push_back(p.line);
    EXPECT_EQ(lines, (std::vector<std::size_t>{2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}));
    EXPECT_EQ(map.size(), 1u);
    EXPECT_EQ(map.find("good.test")->host, "h") << "the first entry counts";
}

TEST(queue_transport_map, load_reads_a_file_and_reports_a_missing_one) {
    auto file = std::filesystem::temp_directory_path() / ("mh-transport-" + std::to_string(::getpid()));
    {
        std::ofstream(file) << "remote.test 127.0.0.1:2525 tls=none\n";
    }
    std::error_code ec;
    auto map = transport_map::load(file, ec);
    EXPECT_FALSE(ec);
    EXPECT_EQ(map.find("remote.test")->port, 2525);
    std::filesystem::remove(file);
    map = transport_map::load(file, ec);
    EXPECT_TRUE(ec);
    EXPECT_TRUE(map.empty());
}

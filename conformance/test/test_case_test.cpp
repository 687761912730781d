#include "mailharness/conform/test_case.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <optional>
#include <string>

#include <unistd.h>

using namespace mailharness::conform;

namespace {

const char* good = R"yaml(id: smtp-example
title: An example
protocol: smtp
rfc: RFC 5321 4.1.1.1
level: SHOULD
category: security
tags: [session, ehlo]
requires: [pipelining]
destructive: true
steps:
  - connect: a
  - expect: "^220 "
    code: 220
  - send: "EHLO ${local_domain}"
  - expect: "SIZE (\\d+)"
    code: [250, 251]
    capture: {size: 1, name: "^250-(\\S+)"}
    skip_unless_match: true
  - send_raw: "QUIT\r\n"
  - expect_not: "^5"
  - starttls: true
  - expect_closed: true
)yaml";

// The message of the case_error thrown for `text`, or "" when it parses.
std::string error_of(const std::string& text) {
    try {
        parse_case(text, "t.yaml");
    } catch (const case_error& e) {
        return e.what();
    }
    return "";
}

const std::string header = "id: x\ntitle: t\nprotocol: smtp\nrfc: RFC 5321\nlevel: MUST\ncategory: protocol\n";

}  // namespace

TEST(conform_case, parses_every_field) {
    const auto c = parse_case(good, "good.yaml");
    EXPECT_EQ(c.id, "smtp-example");
    EXPECT_EQ(c.file, "good.yaml");
    EXPECT_EQ(c.protocol, protocol::smtp);
    EXPECT_EQ(c.level, level::should);
    EXPECT_EQ(c.category, category::security);
    EXPECT_EQ(c.tags, (std::vector<std::string>{"session", "ehlo"}));
    EXPECT_EQ(c.requires_caps, (std::vector<std::string>{"PIPELINING"}));
    EXPECT_TRUE(c.destructive);
    ASSERT_EQ(c.steps.size(), 8u);
    EXPECT_EQ(c.steps[0].kind, step_kind::connect);
    EXPECT_EQ(c.steps[0].text, "a");
    EXPECT_EQ(c.steps[0].line, 11);
    EXPECT_EQ(c.steps[1].codes, std::vector<int>{220});
    EXPECT_EQ(c.steps[2].text, "EHLO ${local_domain}");
    EXPECT_EQ(c.steps[3].codes, (std::vector<int>{250, 251}));
    ASSERT_EQ(c.steps[3].captures.size(), 2u);
    EXPECT_EQ(c.steps[3].captures[0].name, "size");
    EXPECT_EQ(c.steps[3].captures[0].group, 1);
    EXPECT_FALSE(c.steps[3].captures[0].regex);
    EXPECT_EQ(c.steps[3].captures[1].regex.value_or(""), "^250-(\\S+)");
    EXPECT_TRUE(c.steps[3].skip_unless_match);
    EXPECT_EQ(c.steps[4].kind, step_kind::send_raw);
    EXPECT_EQ(c.steps[4].text, "QUIT\r\n");  // YAML double quotes give real CR LF
    EXPECT_EQ(c.steps[5].kind, step_kind::expect_not);
    EXPECT_EQ(c.steps[6].kind, step_kind::starttls);
    EXPECT_EQ(c.steps[7].kind, step_kind::expect_closed);
    EXPECT_TRUE(c.has_step(step_kind::starttls));
    EXPECT_FALSE(c.has_step(step_kind::use));
}

TEST(conform_case, starttls_options) {
    const auto c = parse_case(header + "steps:\n  - connect:\n  - starttls: true\n    tls_version: \"1.1\"\n"
                                       "    must_fail: true\n    verify: true\n", "t.yaml");
    EXPECT_EQ(c.steps[1].tls_version, "1.1");
    EXPECT_TRUE(c.steps[1].must_fail);
    EXPECT_EQ(c.steps[1].verify, std::optional<bool>(true));
    const auto off = parse_case(header + "steps:\n  - connect:\n  - starttls: true\n    verify: false\n", "t.yaml");
    EXPECT_EQ(off.steps[1].verify, std::optional<bool>(false));
    const auto unset = parse_case(header + "steps:\n  - connect:\n  - starttls: true\n", "t.yaml");
    EXPECT_FALSE(unset.steps[1].verify);
}

TEST(conform_case, expect_absent_and_timeout) {
    const auto c = parse_case(header + "steps:\n  - connect:\n  - expect: \"^250\"\n    absent: [\"^250[- ]AUTH\", \"X\"]\n"
                                       "    timeout_ms: 30000\n  - expect_closed: true\n    timeout_ms: 50\n",
                              "t.yaml");
    EXPECT_EQ(c.steps[1].absent, (std::vector<std::string>{"^250[- ]AUTH", "X"}));
    EXPECT_EQ(c.steps[1].timeout_ms, 30000);
    EXPECT_EQ(c.steps[2].timeout_ms, 50);
}

TEST(conform_case, tls_check_steps) {
    const auto c = parse_case(header + "steps:\n  - connect:\n  - tls_check: chain\n  - tls_check: expiry\n    days: 30\n"
                                       "  - tls_check: version\n    min: \"1.3\"\n  - tls_check: hostname\n  - tls_check: validity\n",
                              "t.yaml");
    ASSERT_EQ(c.steps.size(), 6u);
    EXPECT_EQ(c.steps[1].kind, step_kind::tls_check);
    EXPECT_EQ(c.steps[1].check, tls_check_kind::chain);
    EXPECT_EQ(c.steps[2].check, tls_check_kind::expiry);
    EXPECT_EQ(c.steps[2].days, 30);
    EXPECT_EQ(c.steps[3].check, tls_check_kind::version);
    EXPECT_EQ(c.steps[3].min_version, "1.3");
    EXPECT_EQ(c.steps[4].check, tls_check_kind::hostname);
    EXPECT_EQ(c.steps[5].check, tls_check_kind::validity);
}

// A fixture is read when the case is parsed, from the case file's directory.
TEST(conform_case, send_file_reads_a_fixture_beside_the_case) {
    namespace fs = std::filesystem;
    const auto dir = fs::temp_directory_path() / ("conform-fixture-" + std::to_string(::getpid()));
    fs::create_directories(dir / "fixtures");
    std::ofstream(dir / "fixtures" / "m.eml", std::ios::binary) << "Subject: x\n\nbody ${rcpt}\n.\n";
    const std::string text = header + "steps:\n  - connect:\n  - send_file: fixtures/m.eml\n    crlf: true\n    expand: false\n";
    const auto c = parse_case(text, (dir / "case.yaml").string());
    ASSERT_EQ(c.steps.size(), 2u);
    EXPECT_EQ(c.steps[1].kind, step_kind::send_file);
    EXPECT_EQ(c.steps[1].text, "Subject: x\n\nbody ${rcpt}\n.\n");
    EXPECT_EQ(c.steps[1].fixture, (dir / "fixtures" / "m.eml").string());
    EXPECT_TRUE(c.steps[1].crlf);
    EXPECT_FALSE(c.steps[1].expand);
    const auto e = error_of(header + "steps:\n  - connect:\n  - send_file: fixtures/none.eml\n");
    EXPECT_NE(e.find("t.yaml:9: fixture fixtures/none.eml: No such file"), std::string::npos) << e;
    // Fixtures are not cases: a suite directory holding one loads.
    std::ofstream(dir / "case.yaml") << "id: with-fixture\n" << text.substr(text.find('\n') + 1);
    const auto suite = load_suite(dir.string());
    ASSERT_EQ(suite.size(), 1u);
    EXPECT_EQ(suite[0].steps[1].text, c.steps[1].text);
    fs::remove_all(dir);
}

TEST(conform_case, connect_without_name_is_main) {
    const auto c = parse_case(header + "steps:\n  - connect:\n  - expect: \"^220\"\n", "t.yaml");
    EXPECT_EQ(c.steps[0].text, "main");
}

TEST(conform_case, errors_name_file_and_line) {
    struct row {
        std::string text;
        std::string error;
    };
    const row rows[] = {
        {header + "steps:\n  - connect:\n  - expect: \"(unclosed\"\n", "t.yaml:9: invalid regex"},
        {header + "steps:\n  - connect:\n  - sned: NOOP\n", "t.yaml:9: step has no action"},
        {header + "steps:\n  - connect:\n  - send: NOOP\n    code: 250\n", "t.yaml:10: unknown key 'code' in a send step"},
        {header + "steps:\n  - connect:\n  - expect: x\n    code: 999\n", "t.yaml:10: reply code 999"},
        {header + "steps:\n  - send: NOOP\n", "t.yaml:8: 'send' step before any connect"},
        {header + "steps:\n  - connect:\n  - use: other\n", "t.yaml:9: use of connection 'other'"},
        {header + "steps:\n  - connect:\n  - close: true\n  - send: NOOP\n", "t.yaml:10: 'send' step before any connect"},
        {header + "steps:\n  - connect:\n    send: NOOP\n", "t.yaml:9: a step has one action"},
        {header + "steps: []\n", "t.yaml:7: steps must be a non-empty list"},
        {header + "colour: red\nsteps:\n  - connect:\n", "t.yaml:7: unknown key 'colour'"},
        {"id: x\ntitle: t\nprotocol: smtp\nrfc: R\nlevel: MUST\nsteps:\n  - connect:\n", "missing required key 'category'"},
        {"id: x\ntitle: t\nprotocol: nntp\n", "t.yaml:3: protocol must be smtp, pop3 or imap"},
        {"id: x\nlevel: OUGHT\n", "t.yaml:2: level must be MUST, SHOULD or MAY"},
        {"id: Bad Id\n", "t.yaml:1: id must be lower-case"},
        {"id: [unclosed\n", "t.yaml:2: YAML:"},
        {"- just\n- a list\n", "t.yaml: a case must be a YAML map"},
        {header + "steps:\n  - connect:\n  - starttls: false\n", "t.yaml:9: 'starttls' only takes true"},
        {header + "steps:\n  - connect:\n  - expect: x\n    exact: true\n    capture: {a: 1}\n", "capture needs a regex"},
        {header + "steps:\n  - connect:\n  - starttls: true\n    tls_version: \"1.4\"\n", "t.yaml:10: tls_version must be"},
        {header + "steps:\n  - connect:\n  - expect: x\n    min_ms: -1\n", "t.yaml:10: min_ms must be >= 0"},
        {header + "steps:\n  - connect:\n  - starttls: true\n    code: 220\n", "t.yaml:10: unknown key 'code' in a starttls step"},
        {header + "steps:\n  - connect:\n  - starttls: true\n    must_fail: true\n  - send: NOOP\n", "t.yaml:11: 'send' step before any connect"},
        {header + "steps:\n  - connect:\n  - tls_check: colour\n", "t.yaml:9: tls_check must be validity, hostname"},
        {header + "steps:\n  - connect:\n  - tls_check: version\n", "tls_check: version needs min"},
        {header + "steps:\n  - connect:\n  - tls_check: version\n    min: \"1.1\"\n", "t.yaml:10: min must be"},
        {header + "steps:\n  - connect:\n  - tls_check: chain\n    days: 3\n", "t.yaml:10: unknown key 'days' in a tls_check: chain"},
        {header + "steps:\n  - connect:\n  - tls_check: expiry\n    days: 0\n", "t.yaml:10: days must be 1..3650"},
        {header + "steps:\n  - connect:\n  - expect: x\n    absent: [\"(bad\"]\n", "t.yaml:10: invalid regex"},
        {header + "steps:\n  - connect:\n  - expect: x\n    timeout_ms: 0\n", "t.yaml:10: timeout_ms must be >= 1"},
        {header + "steps:\n  - connect:\n  - send_file: \"\"\n", "send_file needs a file name"},
        {header + "steps:\n  - connect:\n  - send: x\n    crlf: true\n", "t.yaml:10: unknown key 'crlf' in a send step"},
    };
    for (const auto& r : rows) {
        const auto e = error_of(r.text);
        EXPECT_NE(e.find(r.error), std::string::npos) << "input:\n" << r.text << "\nerror: " << e;
    }
}

TEST(conform_case, shipped_suite_loads_with_unique_ids) {
    const auto cases = load_suite(MH_CONFORM_SUITE_DIR);
    EXPECT_GE(cases.size(), 15u);
    for (const auto& c : cases) {
        EXPECT_FALSE(c.rfc.empty()) << c.id;
        EXPECT_NE(c.rfc.find("RFC "), std::string::npos) << c.id << " must cite an RFC section";
    }
}

TEST(conform_case, load_suite_refuses_missing_directory) {
    EXPECT_THROW(load_suite("/nonexistent/suite/dir"), case_error);
}

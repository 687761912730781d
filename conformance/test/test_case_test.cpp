#include "mailharness/conform/test_case.hpp"

#include <gtest/gtest.h>

#include <string>

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
    EXPECT_TRUE(c.steps[1].verify);
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

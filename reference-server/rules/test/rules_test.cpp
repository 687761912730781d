#include "mailharness/refmaild/rules.hpp"

#include <gtest/gtest.h>

using namespace mailharness;
using namespace mailharness::refmaild::rules;

namespace {

condition cond_ip(std::string cidr) {
    condition c{.type = condition::kind::client_ip};
    c.networks.push_back(*mailharness::refmaild::policy::ip_network::parse(cidr));
    return c;
}
condition cond_header(std::string name, std::string re = {}) {
    condition c{.type = condition::kind::header, .header_name = std::move(name)};
    if (!re.empty()) {
        std::string err;
        c.regex = compile_regex(re, err);
        EXPECT_TRUE(c.regex) << err;
    }
    return c;
}
action reject(std::string text) {
    action a;
    EXPECT_TRUE(parse_reject(text, a)) << text;
    return a;
}
action file_into(std::string f) { return {.type = action::kind::file_into, .name = std::move(f)}; }
action add_header(std::string n, std::string v) { return {.type = action::kind::add_header, .text = std::move(v), .name = std::move(n)}; }
action discard() { return {.type = action::kind::discard}; }
action stop() { return {.type = action::kind::stop}; }

struct msg {
    std::string ip = "192.0.2.1";
    std::string user;
    std::string sender = "a@outside.test";
    std::vector<std::string> rcpts{"bob@example.com"};
    std::vector<mail::header_field> headers{{"From", " a@outside.test"}, {"Subject", " hello"}};
    std::uint64_t size = 1000;
    bool tls = false;
    message_facts facts() const {
        return {.client_ip = ip, .auth_user = user, .sender = sender, .recipients = &rcpts, .headers = &headers, .size = size, .tls = tls};
    }
};

TEST(rules, empty_rule_set_delivers_to_the_inbox) {
    auto d = evaluate({}, msg{}.facts());
    EXPECT_EQ(d.outcome, decision::verdict::deliver);
    EXPECT_TRUE(d.folder.empty());
    EXPECT_TRUE(d.matched.empty());
}

TEST(rules, conditions) {
    msg m;
    m.headers.push_back({"X-Spam-Flag", " YES"});
    auto f = m.facts();
    auto check = [&](condition c) { return evaluate({{{.name = "r", .when = std::move(c), .actions = {stop()}}}}, f).matched.size() == 1; };
    EXPECT_TRUE(check(cond_ip("192.0.2.0/24")));
    EXPECT_FALSE(check(cond_ip("10.0.0.0/8")));
    EXPECT_TRUE(check({.type = condition::kind::sender, .pattern = "*@outside.test"}));
    EXPECT_FALSE(check({.type = condition::kind::sender, .pattern = "*@inside.test"}));
    EXPECT_TRUE(check({.type = condition::kind::recipient, .pattern = "bob@*"}));
    EXPECT_TRUE(check({.type = condition::kind::authenticated, .flag = false}));
    EXPECT_FALSE(check({.type = condition::kind::auth_user, .pattern = "*"}));
    EXPECT_TRUE(check(cond_header("x-spam-flag", "^(?i)yes$")));
    EXPECT_FALSE(check(cond_header("X-Spam-Flag", "^no$")));
    EXPECT_TRUE(check(cond_header("Subject")));
    EXPECT_FALSE(check(cond_header("Reply-To")));
    EXPECT_TRUE(check({.type = condition::kind::size_over, .size = 999}));
    EXPECT_FALSE(check({.type = condition::kind::size_over, .size = 1000}));
    EXPECT_TRUE(check({.type = condition::kind::size_under, .size = 1001}));
    EXPECT_FALSE(check({.type = condition::kind::tls, .flag = true}));
    condition all{.type = condition::kind::all, .children = {cond_ip("192.0.2.0/24"), cond_header("Reply-To")}};
    EXPECT_FALSE(check(all));
    condition any{.type = condition::kind::any, .children = {cond_ip("10.0.0.0/8"), cond_header("Subject")}};
    EXPECT_TRUE(check(any));
    condition neg{.type = condition::kind::negate, .children = {cond_ip("10.0.0.0/8")}};
    EXPECT_TRUE(check(neg));
}

TEST(rules, actions_run_in_order_and_nested_rules_only_when_the_parent_matched) {
    rule_set rs{{
        {.name = "tag", .when = {}, .actions = {add_header("X-Tag", "one")}},
        {.name = "outside",
         .when = cond_ip("192.0.2.0/24"),
         .actions = {file_into("Outside")},
         .rules = {{.name = "spam", .when = cond_header("Subject", "(?i)viagra"), .actions = {file_into("Junk"), stop()}},
                   {.name = "hello", .when = cond_header("Subject", "hello"), .actions = {add_header("X-Tag", "two")}}}},
        {.name = "inside", .when = cond_ip("10.0.0.0/8"), .actions = {discard()}},
        {.name = "last", .when = {}, .actions = {add_header("X-Tag", "three")}},
    }};
    msg m;
    auto d = evaluate(rs, m.facts());
    EXPECT_EQ(d.outcome, decision::verdict::deliver);
    EXPECT_EQ(d.folder, "Outside");
    EXPECT_EQ(d.added_headers, (std::vector<std::string>{"X-Tag: one", "X-Tag: two", "X-Tag: three"}));
    EXPECT_EQ(d.matched, (std::vector<std::string>{"tag", "outside", "hello", "last"}));

    m.headers[1].value = " Cheap VIAGRA";
    d = evaluate(rs, m.facts());
    EXPECT_EQ(d.folder, "Junk");
    EXPECT_EQ(d.added_headers, (std::vector<std::string>{"X-Tag: one"}));  // stop: nothing after

    m.ip = "10.1.2.3";
    d = evaluate(rs, m.facts());
    EXPECT_EQ(d.outcome, decision::verdict::discard);
    EXPECT_EQ(d.matched, (std::vector<std::string>{"tag", "inside"}));
}

TEST(rules, reject_ends_evaluation_with_its_reply) {
    rule_set rs{{{.name = "big", .when = {.type = condition::kind::size_over, .size = 10}, .actions = {reject("552 5.3.4 Too big here")}},
                 {.name = "never", .when = {}, .actions = {file_into("X")}}}};
    auto d = evaluate(rs, msg{}.facts());
    EXPECT_EQ(d.outcome, decision::verdict::reject);
    EXPECT_EQ(d.code, 552);
    EXPECT_EQ(d.status.to_string(), "5.3.4");
    EXPECT_EQ(d.text, "Too big here");
    EXPECT_TRUE(d.folder.empty());
}

TEST(rules, unnamed_rules_are_numbered_in_evaluation_order) {
    rule_set rs{{{.when = {}, .rules = {{.when = {}}}}, {.when = {}}}};
    EXPECT_EQ(evaluate(rs, msg{}.facts()).matched, (std::vector<std::string>{"rule 1", "rule 2", "rule 3"}));
}

TEST(rules, reject_text_parsing) {
    action a;
    EXPECT_TRUE(parse_reject("450 Try later", a));
    EXPECT_EQ(a.code, 450);
    EXPECT_EQ(a.status.to_string(), "4.7.1");
    EXPECT_EQ(a.text, "Try later");
    EXPECT_TRUE(parse_reject("550", a));
    EXPECT_EQ(a.text, "Refused by policy");
    for (auto bad : {"250 ok", "600 x", "55", "5500 x", "550\tx", "550 x\r\ny", "abc"}) EXPECT_FALSE(parse_reject(bad, a)) << bad;
    // An enhanced status of another class is text, not a status.
    EXPECT_TRUE(parse_reject("550 4.7.1 x", a));
    EXPECT_EQ(a.text, "4.7.1 x");
}

TEST(rules, helpers) {
    EXPECT_TRUE(wildcard_match("*@example.com", "Bob@EXAMPLE.com"));
    EXPECT_TRUE(wildcard_match("b?b@*", "bob@x"));
    EXPECT_FALSE(wildcard_match("b?b@*", "bb@x"));
    EXPECT_TRUE(wildcard_match("*", ""));
    EXPECT_TRUE(wildcard_match("a*b*c", "axxbyyc"));
    EXPECT_FALSE(wildcard_match("a*b*c", "axxbyy"));
    EXPECT_TRUE(wildcard_match("", ""));
    EXPECT_FALSE(wildcard_match("", "x"));
    // Many stars on a long text stay fast (no exponential backtracking).
    EXPECT_FALSE(wildcard_match("*a*a*a*a*a*a*a*a*b", std::string(5000, 'a')));
    EXPECT_TRUE(valid_folder("Junk"));
    EXPECT_TRUE(valid_folder("Lists.dev"));
    for (auto bad : {"", ".x", "x.", "a..b", "a/b", "a\\b"}) EXPECT_FALSE(valid_folder(bad)) << bad;
    std::string err;
    EXPECT_EQ(compile_regex("(", err), nullptr);
    EXPECT_FALSE(err.empty());
}

}  // namespace

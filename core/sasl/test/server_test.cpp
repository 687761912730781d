// Server mechanisms driven with hand-written client messages: RFC examples, wrong secrets,
// malformed and oversize input, sequence errors, initial-response handling.
#include <gtest/gtest.h>

#include <string>

#include "fake_lookup.hpp"
#include "mailharness/sasl/base64.hpp"
#include "mailharness/sasl/crypto.hpp"
#include "mailharness/sasl/server.hpp"

namespace sasl = mailharness::sasl;
using sasl::errc;
using sasl::step_status;

namespace {

std::string b64d(std::string_view s) {
    std::string out;
    EXPECT_FALSE(sasl::base64_decode(s, out));
    return out;
}

struct sasl_server : ::testing::Test {
    sasl_server() {
        users.add_plaintext("tim", "tanstaaftanstaaf");
        users.add_plaintext("alice", "secret");
        users.add_plaintext("J\xc3\xbcrgen", "p\xc3\xa4ss");
        users.add_scram("user", sasl::make_scram_credentials("pencil", b64d("W22ZaJ0SNY7soEsUEjb6gQ=="), 4096));
        users.allow_proxy("alice", "bob");
    }

    std::unique_ptr<sasl::server_mechanism> make(std::string_view name, sasl::server_options o = {}) {
        auto m = sasl::make_server(name, users, std::move(o));
        EXPECT_NE(m, nullptr) << name;
        return m;
    }

    sasl::test::fake_lookup users;
};

// ---- factory ----

TEST_F(sasl_server, factory_names) {
    auto names = sasl::supported_server_mechanisms();
    EXPECT_EQ(names, (std::vector<std::string>{"SCRAM-SHA-256", "CRAM-MD5", "PLAIN", "LOGIN"}));
    sasl::server_options with_cb;
    with_cb.binding = sasl::channel_binding{"tls-exporter", "x"};
    EXPECT_EQ(sasl::supported_server_mechanisms(with_cb).front(), "SCRAM-SHA-256-PLUS");
    for (const auto& n : names) {
        auto m = sasl::make_server(n, users);
        ASSERT_NE(m, nullptr);
        EXPECT_EQ(m->name(), n);
    }
    EXPECT_EQ(make("plain")->name(), "PLAIN");
    EXPECT_EQ(make("scram-sha-256")->name(), "SCRAM-SHA-256");
    EXPECT_EQ(sasl::make_server("SCRAM-SHA-256-PLUS", users), nullptr);  // no binding
    EXPECT_NE(sasl::make_server("SCRAM-SHA-256-PLUS", users, with_cb), nullptr);
    EXPECT_EQ(sasl::make_server("DIGEST-MD5", users), nullptr);
    EXPECT_EQ(sasl::make_server("", users), nullptr);
    EXPECT_EQ(sasl::make_server("PLAINX", users), nullptr);
    EXPECT_TRUE(sasl::is_plaintext_mechanism("login"));
    EXPECT_TRUE(sasl::is_plaintext_mechanism("PLAIN"));
    EXPECT_FALSE(sasl::is_plaintext_mechanism("CRAM-MD5"));
}

// ---- wire helpers ----

TEST(sasl_wire, initial_and_continuation_responses) {
    std::string out = "junk";
    EXPECT_FALSE(sasl::decode_initial_response("=", out));
    EXPECT_EQ(out, "");
    EXPECT_FALSE(sasl::decode_initial_response("AHRpbQB0YW5zdGFhZg==", out));
    EXPECT_EQ(out, std::string("\0tim\0tanstaaf", 13));
    EXPECT_EQ(sasl::decode_initial_response("==", out), errc::bad_base64_padding);
    EXPECT_EQ(sasl::decode_initial_response("*", out), errc::bad_base64);
    EXPECT_EQ(sasl::decode_response("*", out), errc::cancelled);
    EXPECT_FALSE(sasl::decode_response("", out));
    EXPECT_EQ(out, "");
    EXPECT_EQ(sasl::decode_response("=", out), errc::bad_base64);
    EXPECT_EQ(sasl::decode_response("dGlt IGI=", out), errc::bad_base64);
    sasl::server_limits small{.max_response_size = 3};
    EXPECT_FALSE(sasl::decode_response("Zm9v", out, small));
    EXPECT_EQ(sasl::decode_response("Zm9vYg==", out, small), errc::base64_too_large);
    EXPECT_EQ(sasl::decode_initial_response("Zm9vYg==", out, small), errc::base64_too_large);
    EXPECT_EQ(sasl::encode_challenge(""), "");
    EXPECT_EQ(sasl::encode_challenge("Username:"), "VXNlcm5hbWU6");
}

// ---- PLAIN (RFC 4616) ----

struct plain_case {
    std::string message;
    std::error_code expected;
    std::string identity;
};

class sasl_plain_server : public sasl_server, public ::testing::WithParamInterface<plain_case> {};

TEST_P(sasl_plain_server, as_initial_response_and_after_empty_challenge) {
    const auto& c = GetParam();
    for (bool initial : {true, false}) {
        auto m = make("PLAIN");
        sasl::step_result r;
        if (initial) {
            r = m->start(c.message);
        } else {
            r = m->start();
            ASSERT_EQ(r.status, step_status::challenge);
            EXPECT_EQ(r.data, "");
            r = m->step(c.message);
        }
        EXPECT_EQ(r.ec, c.expected) << initial;
        EXPECT_EQ(r.status, c.expected ? step_status::failure : step_status::success);
        EXPECT_TRUE(r.data.empty());
        EXPECT_TRUE(m->done());
        EXPECT_EQ(m->authenticated(), !c.expected);
        if (!c.expected) {
            EXPECT_EQ(m->identity(), c.identity);
        }
    }
}

std::string nul(std::string_view s) {
    std::string out(s);
    for (auto& ch : out) {
        if (ch == '|') ch = '\0';
    }
    return out;
}

const std::error_code ok{};

INSTANTIATE_TEST_SUITE_P(
    table, sasl_plain_server,
    ::testing::Values(
        plain_case{nul("|tim|tanstaaftanstaaf"), ok, "tim"},               // RFC 4616 section 4 shape
        plain_case{nul("tim|tim|tanstaaftanstaaf"), ok, "tim"},            // authzid == authcid
        plain_case{nul("bob|alice|secret"), ok, "bob"},                    // allowed proxy
        plain_case{nul("J\xc3\xbcrgen|J\xc3\xbcrgen|p\xc3\xa4ss"), ok, "J\xc3\xbcrgen"},
        plain_case{nul("carol|alice|secret"), errc::authorization_failed},
        plain_case{nul("|tim|tanstaaf"), errc::authentication_failed},
        plain_case{nul("|tim|tanstaaftanstaaf "), errc::authentication_failed},
        plain_case{nul("|TIM|tanstaaftanstaaf"), errc::unknown_user},
        plain_case{nul("|user|pencil"), errc::secret_unavailable},          // SCRAM-only user
        plain_case{nul("|tim|"), errc::malformed_message}, plain_case{nul("||secret"), errc::malformed_message},
        plain_case{nul("|tim"), errc::malformed_message}, plain_case{"tim", errc::malformed_message},
        plain_case{"", errc::malformed_message}, plain_case{nul("||"), errc::malformed_message},
        plain_case{nul("|tim|tanstaaf|tanstaaf"), errc::malformed_message},
        plain_case{nul("|t\xffm|x"), errc::invalid_utf8}, plain_case{nul("|tim|\xc0\x80"), errc::invalid_utf8},
        plain_case{nul("\xe0\x80\x80|tim|x"), errc::invalid_utf8},
        plain_case{nul("|" + std::string(1025, 'a') + "|x"), errc::field_too_long}));

// Every truncation of a valid PLAIN message must fail (none is a shorter valid credential here).
TEST_F(sasl_server, plain_every_prefix_fails) {
    std::string full = nul("tim|tim|tanstaaftanstaaf");
    for (std::size_t len = 0; len < full.size(); ++len) {
        auto m = make("PLAIN");
        auto r = m->start(std::string_view(full).substr(0, len));
        EXPECT_EQ(r.status, step_status::failure) << len;
    }
}

TEST_F(sasl_server, plain_field_limit_is_inclusive) {
    users.add_plaintext(std::string(255, 'u'), std::string(255, 'p'));
    auto m = make("PLAIN");
    auto r = m->start(std::string(1, '\0') + std::string(255, 'u') + '\0' + std::string(255, 'p'));
    EXPECT_EQ(r.status, step_status::success);
    sasl::server_options o;
    o.limits.max_field_size = 254;
    m = make("PLAIN", o);
    r = m->start(std::string(1, '\0') + std::string(255, 'u') + '\0' + std::string(255, 'p'));
    EXPECT_EQ(r.ec, errc::field_too_long);
}

TEST_F(sasl_server, plain_oversize_response) {
    sasl::server_options o;
    o.limits.max_response_size = 16;
    auto m = make("PLAIN", o);
    EXPECT_EQ(m->start(std::string(17, 'a')).ec, errc::message_too_large);
    m = make("PLAIN", o);
    ASSERT_EQ(m->start().status, step_status::challenge);
    EXPECT_EQ(m->step(std::string(17, 'a')).ec, errc::message_too_large);
    EXPECT_TRUE(m->done());
    m = make("PLAIN", o);
    EXPECT_EQ(m->start(nul("|alice|secret")).status, step_status::success);  // 13 octets: fits
}

// ---- sequence rules (shared base class) ----

TEST_F(sasl_server, sequence_errors) {
    auto m = make("PLAIN");
    EXPECT_EQ(m->step("x").ec, errc::out_of_sequence);  // step before start
    EXPECT_TRUE(m->done());

    m = make("PLAIN");
    ASSERT_EQ(m->start(nul("|alice|secret")).status, step_status::success);
    EXPECT_EQ(m->step("").ec, errc::out_of_sequence);
    EXPECT_EQ(m->start().ec, errc::out_of_sequence);
    EXPECT_TRUE(m->authenticated());  // a misuse afterwards does not undo the outcome

    m = make("LOGIN");
    ASSERT_EQ(m->start().status, step_status::challenge);
    EXPECT_EQ(m->start().ec, errc::out_of_sequence);
    EXPECT_FALSE(m->authenticated());
    EXPECT_EQ(m->step("alice").ec, errc::out_of_sequence);
}

// ---- LOGIN ----

TEST_F(sasl_server, login_exchange) {
    auto m = make("LOGIN");
    auto r = m->start();
    ASSERT_EQ(r.status, step_status::challenge);
    EXPECT_EQ(r.data, "Username:");
    r = m->step("alice");
    ASSERT_EQ(r.status, step_status::challenge);
    EXPECT_EQ(r.data, "Password:");
    r = m->step("secret");
    EXPECT_EQ(r.status, step_status::success);
    EXPECT_EQ(m->identity(), "alice");
}

TEST_F(sasl_server, login_user_as_initial_response) {
    auto m = make("LOGIN");
    auto r = m->start("alice");
    ASSERT_EQ(r.status, step_status::challenge);
    EXPECT_EQ(r.data, "Password:");
    EXPECT_EQ(m->step("secret").status, step_status::success);
}

TEST_F(sasl_server, login_failures) {
    struct c {
        std::optional<std::string> initial;
        std::vector<std::string> steps;
        std::error_code expected;
    };
    const std::vector<c> cases{
        {std::nullopt, {"alice", "wrong"}, errc::authentication_failed},
        {std::nullopt, {"nobody", "secret"}, errc::unknown_user},
        {std::nullopt, {"user", "pencil"}, errc::secret_unavailable},
        {std::nullopt, {""}, errc::malformed_message},
        {std::nullopt, {"alice", ""}, errc::malformed_message},
        {std::nullopt, {std::string("ali\0ce", 6)}, errc::malformed_message},
        {std::nullopt, {std::string(1025, 'a')}, errc::field_too_long},
        {"", {}, errc::malformed_message},  // "AUTH LOGIN =": empty user name
    };
    for (const auto& k : cases) {
        auto m = make("LOGIN");
        auto r = m->start(k.initial);
        for (const auto& s : k.steps) {
            if (r.status != step_status::challenge) break;
            r = m->step(s);
        }
        EXPECT_EQ(r.status, step_status::failure);
        EXPECT_EQ(r.ec, k.expected);
    }
}

// ---- CRAM-MD5 (RFC 2195) ----

sasl::server_options rfc2195_options() {
    sasl::server_options o;
    o.hostname = "postoffice.reston.mci.net";
    o.nonce = [] { return std::string("1896"); };
    o.clock = [] { return std::int64_t{697170952}; };
    return o;
}

TEST_F(sasl_server, cram_md5_rfc2195_example) {
    auto m = make("CRAM-MD5", rfc2195_options());
    auto r = m->start();
    ASSERT_EQ(r.status, step_status::challenge);
    EXPECT_EQ(r.data, "<1896.697170952@postoffice.reston.mci.net>");
    EXPECT_EQ(sasl::encode_challenge(r.data), "PDE4OTYuNjk3MTcwOTUyQHBvc3RvZmZpY2UucmVzdG9uLm1jaS5uZXQ+");
    std::string response;
    ASSERT_FALSE(sasl::decode_response("dGltIGI5MTNhNjAyYzdlZGE3YTQ5NWI0ZTZlNzMzNGQzODkw", response));
    EXPECT_EQ(response, "tim b913a602c7eda7a495b4e6e7334d3890");
    r = m->step(response);
    EXPECT_EQ(r.status, step_status::success);
    EXPECT_EQ(m->identity(), "tim");
}

TEST_F(sasl_server, cram_md5_failures) {
    const std::vector<std::pair<std::string, std::error_code>> cases{
        {"tim b913a602c7eda7a495b4e6e7334d3891", errc::authentication_failed},
        {"tim B913A602C7EDA7A495B4E6E7334D3890", ok},  // hex case is not significant
        {"bob b913a602c7eda7a495b4e6e7334d3890", errc::unknown_user},
        {"user b913a602c7eda7a495b4e6e7334d3890", errc::secret_unavailable},
        {"tim  b913a602c7eda7a495b4e6e7334d3890", errc::unknown_user},  // user "tim " (space kept)
        {"timb913a602c7eda7a495b4e6e7334d3890", errc::malformed_message},
        {"tim b913a602c7eda7a495b4e6e7334d389", errc::malformed_message},
        {"tim b913a602c7eda7a495b4e6e7334d38900", errc::malformed_message},
        {"tim g913a602c7eda7a495b4e6e7334d3890", errc::malformed_message},
        {" b913a602c7eda7a495b4e6e7334d3890", errc::malformed_message},
        {"tim ", errc::malformed_message},
        {"", errc::malformed_message},
        {std::string("t\0m b913a602c7eda7a495b4e6e7334d3890", 36), errc::malformed_message},
        {std::string(1025, 'a') + " b913a602c7eda7a495b4e6e7334d3890", errc::field_too_long},
    };
    for (const auto& [response, expected] : cases) {
        auto m = make("CRAM-MD5", rfc2195_options());
        ASSERT_EQ(m->start().status, step_status::challenge);
        auto r = m->step(response);
        EXPECT_EQ(r.ec, expected) << response;
        EXPECT_EQ(r.status, expected ? step_status::failure : step_status::success);
    }
    // Every truncation of the right answer fails.
    const std::string full = "tim b913a602c7eda7a495b4e6e7334d3890";
    for (std::size_t len = 0; len < full.size(); ++len) {
        auto m = make("CRAM-MD5", rfc2195_options());
        m->start();
        EXPECT_EQ(m->step(full.substr(0, len)).status, step_status::failure) << len;
    }
}

TEST_F(sasl_server, cram_md5_refuses_initial_response) {
    auto m = make("CRAM-MD5");
    EXPECT_EQ(m->start("tim").ec, errc::unexpected_initial_response);
    m = make("CRAM-MD5");
    EXPECT_EQ(m->start("").ec, errc::unexpected_initial_response);
}

TEST_F(sasl_server, cram_md5_default_challenge_is_fresh_msg_id) {
    sasl::server_options o;
    o.hostname = "mx.example";
    auto a = make("CRAM-MD5", o)->start().data;
    auto b = make("CRAM-MD5", o)->start().data;
    EXPECT_NE(a, b);
    EXPECT_TRUE(a.starts_with("<"));
    EXPECT_TRUE(a.ends_with("@mx.example>"));
    EXPECT_NE(a.find('.'), std::string::npos);
}

TEST_F(sasl_server, cram_md5_bad_nonce_seam) {
    for (const char* bad : {"", "a b", ".x", "x.", "a..b", "a>b", "a@b"}) {
        sasl::server_options o;
        o.nonce = [bad] { return std::string(bad); };
        EXPECT_EQ(make("CRAM-MD5", o)->start().ec, errc::internal_error) << bad;
    }
}

}  // namespace

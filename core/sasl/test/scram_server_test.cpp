// SCRAM-SHA-256[-PLUS] server: the RFC 7677 exchange, then every way a client can get it wrong.
#include <gtest/gtest.h>

#include <string>

#include "fake_lookup.hpp"
#include "mailharness/sasl/base64.hpp"
#include "mailharness/sasl/crypto.hpp"
#include "mailharness/sasl/scram.hpp"
#include "mailharness/sasl/server.hpp"

namespace sasl = mailharness::sasl;
namespace scram = mailharness::sasl::scram;
using sasl::errc;
using sasl::step_status;

namespace {

const std::string client_first = "n,,n=user,r=rOprNGfwEbeRWgbNEkqO";
const std::string server_first =
    "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";
const std::string client_final =
    "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=";
const std::string server_final = "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=";

std::string b64d(std::string_view s) {
    std::string out;
    EXPECT_FALSE(sasl::base64_decode(s, out));
    return out;
}

struct sasl_scram_server : ::testing::Test {
    sasl_scram_server() {
        users.add_scram("user", sasl::make_scram_credentials("pencil", b64d("W22ZaJ0SNY7soEsUEjb6gQ=="), 4096));
        users.add_plaintext("plain", "pencil");
        users.add_plaintext("alice", "secret");
        users.allow_proxy("alice", "bob");
        options.nonce = [] { return std::string("%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0"); };
        options.salt_key = "fixed test key";
    }

    std::unique_ptr<sasl::server_mechanism> make(const sasl::server_options& o, bool plus = false) {
        auto m = sasl::make_server(plus ? "SCRAM-SHA-256-PLUS" : "SCRAM-SHA-256", users, o);
        EXPECT_NE(m, nullptr);
        return m;
    }
    std::unique_ptr<sasl::server_mechanism> make() { return make(options); }

    // A correct client-final for `first` (client-first) and the server's reply `sfirst`.
    static std::string final_for(std::string_view password, std::string_view first, std::string_view sfirst,
                                 std::string_view cbind_data = {}) {
        scram::client_first_message cf;
        EXPECT_FALSE(scram::parse_client_first(first, cf));
        scram::server_first_message sf;
        EXPECT_FALSE(scram::parse_server_first(sfirst, sf));
        std::string without = "c=" + sasl::base64_encode(cf.gs2_header + std::string(cbind_data)) + ",r=" + sf.nonce;
        std::string salted = scram::salted_password(password, sf.salt, sf.iterations);
        std::string proof = scram::client_proof(salted, scram::auth_message(cf.bare, sfirst, without));
        return without + ",p=" + sasl::base64_encode(proof);
    }

    sasl::test::fake_lookup users;
    sasl::server_options options;
};

TEST_F(sasl_scram_server, scram_rfc7677_exchange) {
    for (bool initial : {true, false}) {
        auto m = make();
        sasl::step_result r;
        if (initial) {
            r = m->start(client_first);
        } else {
            r = m->start();
            ASSERT_EQ(r.status, step_status::challenge);
            EXPECT_EQ(r.data, "");
            r = m->step(client_first);
        }
        ASSERT_EQ(r.status, step_status::challenge) << r.ec.message();
        EXPECT_EQ(r.data, server_first);
        r = m->step(client_final);
        ASSERT_EQ(r.status, step_status::success) << r.ec.message();
        EXPECT_EQ(r.data, server_final);
        EXPECT_EQ(m->identity(), "user");
        EXPECT_TRUE(m->authenticated());
        EXPECT_EQ(m->step("").ec, errc::out_of_sequence);
    }
}

TEST_F(sasl_scram_server, scram_wrong_proof) {
    auto m = make();
    ASSERT_EQ(m->start(client_first).status, step_status::challenge);
    std::string bad = client_final;
    bad[bad.size() - 5] = bad[bad.size() - 5] == 'A' ? 'B' : 'A';
    auto r = m->step(bad);
    EXPECT_EQ(r.status, step_status::failure);
    EXPECT_EQ(r.ec, errc::authentication_failed);
    EXPECT_EQ(r.data, "e=invalid-proof");
    EXPECT_FALSE(m->authenticated());
}

TEST_F(sasl_scram_server, scram_wrong_password) {
    auto m = make();
    auto r = m->start(client_first);
    ASSERT_EQ(r.status, step_status::challenge);
    r = m->step(final_for("pencil2", client_first, r.data));
    EXPECT_EQ(r.ec, errc::authentication_failed);
    EXPECT_EQ(r.data, "e=invalid-proof");
}

TEST_F(sasl_scram_server, scram_plaintext_user) {
    options.scram_iterations = 4096;
    const std::string first = "n,,n=plain,r=abcdef";
    auto m = make();
    auto r = m->start(first);
    ASSERT_EQ(r.status, step_status::challenge);
    scram::server_first_message sf;
    ASSERT_FALSE(scram::parse_server_first(r.data, sf));
    EXPECT_EQ(sf.iterations, 4096u);
    EXPECT_EQ(sf.salt.size(), 16u);
    r = m->step(final_for("pencil", first, r.data));
    EXPECT_EQ(r.status, step_status::success) << r.ec.message();
    EXPECT_TRUE(r.data.starts_with("v="));
    // The salt is stable per user, so clients may cache SaltedPassword.
    auto again = make()->start(first).data;
    scram::server_first_message sf2;
    ASSERT_FALSE(scram::parse_server_first(again, sf2));
    EXPECT_EQ(sf.salt, sf2.salt);
}

TEST_F(sasl_scram_server, scram_unknown_user_looks_like_a_known_one) {
    options.scram_iterations = 4096;
    auto m = make();
    auto r = m->start("n,,n=nobody,r=abcdef");
    ASSERT_EQ(r.status, step_status::challenge);  // no early "unknown user"
    scram::server_first_message sf;
    ASSERT_FALSE(scram::parse_server_first(r.data, sf));
    EXPECT_EQ(sf.salt.size(), 16u);
    EXPECT_EQ(sf.iterations, 4096u);
    auto again = make()->start("n,,n=nobody,r=abcdef").data;
    EXPECT_EQ(again, r.data);  // stable fake salt
    r = m->step(final_for("anything", "n,,n=nobody,r=abcdef", r.data));
    EXPECT_EQ(r.ec, errc::unknown_user);
    EXPECT_EQ(r.data, "e=invalid-proof");
}

TEST_F(sasl_scram_server, scram_authzid) {
    options.scram_iterations = 4096;
    for (auto [authz, expected] : std::vector<std::pair<std::string, std::error_code>>{
             {"bob", {}}, {"alice", {}}, {"carol", errc::authorization_failed}}) {
        const std::string first = "n,a=" + authz + ",n=alice,r=abcdef";
        auto m = make();
        auto r = m->start(first);
        ASSERT_EQ(r.status, step_status::challenge);
        r = m->step(final_for("secret", first, r.data));
        EXPECT_EQ(r.ec, expected) << authz;
        if (!expected) {
            EXPECT_EQ(m->identity(), authz);
        }
    }
}

TEST_F(sasl_scram_server, scram_saslname_escapes_reach_lookup) {
    options.scram_iterations = 4096;
    users.add_plaintext("a,b=c", "pw");
    const std::string first = "n,,n=a=2Cb=3Dc,r=abcdef";
    auto m = make();
    auto r = m->start(first);
    ASSERT_EQ(r.status, step_status::challenge);
    r = m->step(final_for("pw", first, r.data));
    EXPECT_EQ(r.status, step_status::success) << r.ec.message();
    EXPECT_EQ(m->authcid(), "a,b=c");
}

struct first_case {
    std::string message;
    std::error_code expected;
    std::string data;
};

TEST_F(sasl_scram_server, scram_bad_client_first) {
    const std::vector<first_case> cases{
        {"n,,n=user,r=abc,m=x", errc::extensions_not_supported, "e=extensions-not-supported"},
        {"n,,m=x,n=user,r=abc", errc::extensions_not_supported, "e=extensions-not-supported"},
        {"p=tls-exporter,,n=user,r=abc", errc::channel_binding_not_supported, "e=channel-binding-not-supported"},
        {"n,,n=us=2er,r=abc", errc::malformed_message, "e=invalid-encoding"},
        {"n,,n=us=er,r=abc", errc::malformed_message, "e=invalid-encoding"},
        {"n,,n=\xff,r=abc", errc::invalid_utf8, "e=invalid-username-encoding"},
        {"n,,n=user", errc::malformed_message, "e=invalid-encoding"},
        {"", errc::malformed_message, "e=invalid-encoding"},
        {"n,,n=" + std::string(1025, 'u') + ",r=abc", errc::field_too_long, "e=other-error"},
    };
    for (const auto& c : cases) {
        auto m = make();
        auto r = m->start(c.message);
        EXPECT_EQ(r.status, step_status::failure) << c.message;
        EXPECT_EQ(r.ec, c.expected) << c.message;
        EXPECT_EQ(r.data, c.data) << c.message;
    }
}

TEST_F(sasl_scram_server, scram_bad_client_final) {
    const std::string nonce = "rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0";
    const std::string proof = "p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=";
    const std::vector<first_case> cases{
        {"c=biws,r=rOprNGfwEbeRWgbNEkqO," + proof, errc::nonce_mismatch, "e=invalid-encoding"},
        {"c=biws,r=" + nonce + "x," + proof, errc::nonce_mismatch, "e=invalid-encoding"},
        {"c=eSws,r=" + nonce + "," + proof, errc::channel_binding_mismatch, "e=channel-bindings-dont-match"},
        {"c=biwsYQ==,r=" + nonce + "," + proof, errc::channel_binding_mismatch, "e=channel-bindings-dont-match"},
        {"c=biws,r=" + nonce + ",m=x," + proof, errc::extensions_not_supported, "e=extensions-not-supported"},
        {"c=biws,r=" + nonce, errc::malformed_message, "e=invalid-encoding"},
        {"c=biws,r=" + nonce + ",p=AAAA", errc::authentication_failed, "e=invalid-proof"},
        // An extension before the proof is allowed but is part of AuthMessage: the proof no longer matches.
        {"c=biws,r=" + nonce + ",x=y," + proof, errc::authentication_failed, "e=invalid-proof"},
    };
    for (const auto& c : cases) {
        auto m = make();
        ASSERT_EQ(m->start(client_first).status, step_status::challenge);
        auto r = m->step(c.message);
        EXPECT_EQ(r.status, step_status::failure) << c.message;
        EXPECT_EQ(r.ec, c.expected) << c.message;
        EXPECT_EQ(r.data, c.data) << c.message;
    }
}

// Every truncation of either client message makes the exchange fail.
TEST_F(sasl_scram_server, scram_every_truncation_fails) {
    for (std::size_t len = 0; len < client_first.size(); ++len) {
        auto m = make();
        auto r = m->start(std::string_view(client_first).substr(0, len));
        if (r.status == step_status::challenge) r = m->step(client_final);
        EXPECT_EQ(r.status, step_status::failure) << "client-first " << len;
    }
    for (std::size_t len = 0; len < client_final.size(); ++len) {
        auto m = make();
        ASSERT_EQ(m->start(client_first).status, step_status::challenge);
        auto r = m->step(std::string_view(client_final).substr(0, len));
        EXPECT_EQ(r.status, step_status::failure) << "client-final " << len;
        EXPECT_FALSE(m->authenticated());
    }
}

TEST_F(sasl_scram_server, scram_oversize) {
    options.limits.max_response_size = 64;
    auto m = make();
    EXPECT_EQ(m->start("n,,n=user,r=" + std::string(60, 'x')).ec, errc::message_too_large);
    m = make();
    ASSERT_EQ(m->start(client_first).status, step_status::challenge);
    EXPECT_EQ(m->step(client_final).ec, errc::message_too_large);  // 104 octets
}

TEST_F(sasl_scram_server, scram_bad_seams) {
    options.nonce = [] { return std::string("has,comma"); };
    EXPECT_EQ(make()->start(client_first).ec, errc::internal_error);
    options.nonce = [] { return std::string(); };
    EXPECT_EQ(make()->start(client_first).ec, errc::internal_error);
    options.nonce = nullptr;  // default: random, 24 base64 characters
    auto a = make()->start(client_first).data;
    auto b = make()->start(client_first).data;
    EXPECT_NE(a, b);
    scram::server_first_message sf;
    ASSERT_FALSE(scram::parse_server_first(a, sf));
    EXPECT_EQ(sf.nonce.size(), 20u + 24u);
    options.scram_iterations = 0;
    EXPECT_EQ(make()->start("n,,n=plain,r=abc").ec, errc::internal_error);
}

// ---- channel binding (RFC 5802 section 6) ----

TEST_F(sasl_scram_server, scram_plus) {
    options.binding = sasl::channel_binding{"tls-exporter", std::string("\x01\x02\x03\x00\xff", 5)};
    const std::string first = "p=tls-exporter,,n=user,r=abcdef";
    auto m = make(options, true);
    EXPECT_EQ(m->name(), "SCRAM-SHA-256-PLUS");
    auto r = m->start(first);
    ASSERT_EQ(r.status, step_status::challenge);
    r = m->step(final_for("pencil", first, r.data, options.binding->data));
    EXPECT_EQ(r.status, step_status::success) << r.ec.message();

    // Binding data of another connection.
    m = make(options, true);
    r = m->start(first);
    r = m->step(final_for("pencil", first, r.data, "other"));
    EXPECT_EQ(r.ec, errc::channel_binding_mismatch);
    EXPECT_EQ(r.data, "e=channel-bindings-dont-match");

    // Wrong type, or no binding at all with -PLUS.
    m = make(options, true);
    r = m->start("p=tls-server-end-point,,n=user,r=abc");
    EXPECT_EQ(r.ec, errc::channel_binding_not_supported);
    EXPECT_EQ(r.data, "e=unsupported-channel-binding-type");
    m = make(options, true);
    EXPECT_EQ(m->start("n,,n=user,r=abc").ec, errc::malformed_message);
}

TEST_F(sasl_scram_server, scram_y_flag) {
    // 'y' is fine when the server has no binding to offer...
    auto m = make();
    auto r = m->start("y,,n=user,r=abcdef");
    ASSERT_EQ(r.status, step_status::challenge);
    r = m->step(final_for("pencil", "y,,n=user,r=abcdef", r.data));
    EXPECT_EQ(r.status, step_status::success) << r.ec.message();
    // ...and a downgrade when it advertises -PLUS.
    options.binding = sasl::channel_binding{"tls-exporter", "x"};
    m = make();
    r = m->start("y,,n=user,r=abcdef");
    EXPECT_EQ(r.ec, errc::channel_binding_downgrade);
    EXPECT_EQ(r.data, "e=server-does-support-channel-binding");
    // 'p' with plain SCRAM-SHA-256 is refused even when binding exists.
    m = make();
    EXPECT_EQ(m->start("p=tls-exporter,,n=user,r=abc").ec, errc::channel_binding_not_supported);
}

// A lookup that hands out broken stored credentials is treated as having no secret.
TEST_F(sasl_scram_server, scram_broken_stored_credentials) {
    sasl::scram_credentials broken{"salt", 4096, "short", "short"};
    users.add_scram("broken", broken);
    const std::string first = "n,,n=broken,r=abcdef";
    auto m = make();
    auto r = m->start(first);
    ASSERT_EQ(r.status, step_status::challenge);
    r = m->step(final_for("pw", first, r.data));
    EXPECT_EQ(r.ec, errc::secret_unavailable);
}

}  // namespace

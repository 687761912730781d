// Client mechanisms: RFC examples, and client <-> server round trips over the base64 wire
// helpers for every mechanism, with right and wrong passwords.
#include <gtest/gtest.h>

#include <string>

#include "fake_lookup.hpp"
#include "mailharness/sasl/base64.hpp"
#include "mailharness/sasl/client.hpp"
#include "mailharness/sasl/credentials.hpp"
#include "mailharness/sasl/crypto.hpp"
#include "mailharness/sasl/server.hpp"

namespace sasl = mailharness::sasl;
using sasl::client_status;
using sasl::errc;
using sasl::step_status;

namespace {

std::string b64d(std::string_view s) {
    std::string out;
    EXPECT_FALSE(sasl::base64_decode(s, out));
    return out;
}

// ---- RFC examples from the client's side ----

TEST(sasl_client, cram_md5_rfc2195_example) {
    auto c = sasl::make_client("CRAM-MD5", {.authcid = "tim", .password = "tanstaaftanstaaf"});
    ASSERT_NE(c, nullptr);
    EXPECT_FALSE(c->has_initial_response());
    auto r = c->step(b64d("PDE4OTYuNjk3MTcwOTUyQHBvc3RvZmZpY2UucmVzdG9uLm1jaS5uZXQ+"));
    ASSERT_EQ(r.status, client_status::response);
    EXPECT_EQ(r.response, "tim b913a602c7eda7a495b4e6e7334d3890");
    EXPECT_EQ(sasl::base64_encode(r.response), "dGltIGI5MTNhNjAyYzdlZGE3YTQ5NWI0ZTZlNzMzNGQzODkw");
    EXPECT_FALSE(c->finish());
    EXPECT_TRUE(c->complete());
}

sasl::client_options rfc7677_client() {
    sasl::client_options o;
    o.nonce = [] { return std::string("rOprNGfwEbeRWgbNEkqO"); };
    return o;
}

const std::string server_first =
    "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";
const std::string server_final = "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=";

TEST(sasl_client, scram_rfc7677_example) {
    auto c = sasl::make_client("SCRAM-SHA-256", {.authcid = "user", .password = "pencil"}, rfc7677_client());
    ASSERT_NE(c, nullptr);
    EXPECT_TRUE(c->has_initial_response());
    EXPECT_EQ(c->initial_response(), "n,,n=user,r=rOprNGfwEbeRWgbNEkqO");
    auto r = c->step(server_first);
    ASSERT_EQ(r.status, client_status::response) << r.ec.message();
    EXPECT_EQ(r.response,
              "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
              "p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=");
    // Server-final as a challenge (SMTP/POP3 style): the client answers empty, then success.
    r = c->step(server_final);
    ASSERT_EQ(r.status, client_status::response) << r.ec.message();
    EXPECT_EQ(r.response, "");
    EXPECT_FALSE(c->finish());
    EXPECT_TRUE(c->complete());
}

TEST(sasl_client, scram_server_final_as_success_data) {
    auto c = sasl::make_client("SCRAM-SHA-256", {.authcid = "user", .password = "pencil"}, rfc7677_client());
    c->initial_response();
    ASSERT_EQ(c->step(server_first).status, client_status::response);
    EXPECT_FALSE(c->finish(server_final));
}

TEST(sasl_client, scram_initial_response_on_request) {
    // A client that does not use SASL-IR answers the empty first challenge.
    auto c = sasl::make_client("SCRAM-SHA-256", {.authcid = "user", .password = "pencil"}, rfc7677_client());
    auto r = c->step("");
    ASSERT_EQ(r.status, client_status::response);
    EXPECT_EQ(r.response, "n,,n=user,r=rOprNGfwEbeRWgbNEkqO");
    EXPECT_EQ(c->step(server_first).status, client_status::response);
    // A non-empty first challenge to a client-first mechanism is an error.
    c = sasl::make_client("SCRAM-SHA-256", {.authcid = "user", .password = "pencil"}, rfc7677_client());
    EXPECT_EQ(c->step("r=x").ec, errc::malformed_message);
}

TEST(sasl_client, scram_refuses_a_server_that_cannot_prove_itself) {
    struct c {
        std::string server_final;
        std::error_code expected;
    };
    for (const auto& k : std::vector<c>{{"v=7rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=", errc::server_signature_mismatch},
                                        {"v=AAAA", errc::server_signature_mismatch},
                                        {"e=invalid-proof", errc::server_error},
                                        {"x=y", errc::malformed_message},
                                        {"m=y", errc::extensions_not_supported}}) {
        auto cl = sasl::make_client("SCRAM-SHA-256", {.authcid = "user", .password = "pencil"}, rfc7677_client());
        cl->initial_response();
        ASSERT_EQ(cl->step(server_first).status, client_status::response);
        auto r = cl->step(k.server_final);
        EXPECT_EQ(r.status, client_status::failure);
        EXPECT_EQ(r.ec, k.expected) << k.server_final;
        EXPECT_EQ(cl->finish(), errc::out_of_sequence);
        EXPECT_FALSE(cl->complete());
    }
    // Success without any server-final.
    auto cl = sasl::make_client("SCRAM-SHA-256", {.authcid = "user", .password = "pencil"}, rfc7677_client());
    cl->initial_response();
    cl->step(server_first);
    EXPECT_EQ(cl->finish(), errc::server_signature_missing);
    // Every truncation of the server-final is refused.
    for (std::size_t len = 0; len < server_final.size(); ++len) {
        cl = sasl::make_client("SCRAM-SHA-256", {.authcid = "user", .password = "pencil"}, rfc7677_client());
        cl->initial_response();
        cl->step(server_first);
        EXPECT_EQ(cl->step(server_final.substr(0, len)).status, client_status::failure) << len;
    }
}

TEST(sasl_client, scram_bad_server_first) {
    struct c {
        std::string server_first;
        std::error_code expected;
        std::uint32_t min_iterations = 4096;
    };
    const std::vector<c> cases{
        {"r=rOprNGfwEbeRWgbNEkqO,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096", errc::nonce_mismatch},  // no server part
        {"r=XOprNGfwEbeRWgbNEkqOabc,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096", errc::nonce_mismatch},
        {"r=rOprNGfwEbeRWgbNEkqOabc,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4095", errc::bad_iteration_count},
        {"r=rOprNGfwEbeRWgbNEkqOabc,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=1000001", errc::bad_iteration_count},
        {"r=rOprNGfwEbeRWgbNEkqOabc,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=1", errc::bad_iteration_count},
        {"r=rOprNGfwEbeRWgbNEkqOabc,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=1", {}, 1},
        {"e=other-error", errc::malformed_message},
        {"m=x,r=rOprNGfwEbeRWgbNEkqOabc,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096", errc::extensions_not_supported},
    };
    for (const auto& k : cases) {
        auto o = rfc7677_client();
        o.limits.min_iterations = k.min_iterations;
        auto cl = sasl::make_client("SCRAM-SHA-256", {.authcid = "user", .password = "pencil"}, o);
        cl->initial_response();
        auto r = cl->step(k.server_first);
        EXPECT_EQ(r.ec, k.expected) << k.server_first;
        EXPECT_EQ(r.status, k.expected ? client_status::failure : client_status::response);
    }
}

TEST(sasl_client, scram_gs2_header_and_escaping) {
    auto cl = sasl::make_client("SCRAM-SHA-256", {.authcid = "a,b=c", .password = "p", .authzid = "x=y"},
                                rfc7677_client());
    EXPECT_EQ(cl->initial_response(), "n,a=x=3Dy,n=a=2Cb=3Dc,r=rOprNGfwEbeRWgbNEkqO");
    auto o = rfc7677_client();
    o.binding = sasl::channel_binding{"tls-exporter", "data"};
    cl = sasl::make_client("SCRAM-SHA-256", {.authcid = "u", .password = "p"}, o);
    EXPECT_EQ(cl->initial_response(), "y,,n=u,r=rOprNGfwEbeRWgbNEkqO");
    cl = sasl::make_client("SCRAM-SHA-256-PLUS", {.authcid = "u", .password = "p"}, o);
    ASSERT_NE(cl, nullptr);
    EXPECT_EQ(cl->initial_response(), "p=tls-exporter,,n=u,r=rOprNGfwEbeRWgbNEkqO");
    EXPECT_EQ(sasl::make_client("SCRAM-SHA-256-PLUS", {.authcid = "u", .password = "p"}), nullptr);
    // Unusable credentials or seam output fail the exchange at once.
    cl = sasl::make_client("SCRAM-SHA-256", {.authcid = "", .password = "p"});
    EXPECT_EQ(cl->initial_response(), "");
    EXPECT_EQ(cl->step("r=x").ec, errc::out_of_sequence);
    cl = sasl::make_client("SCRAM-SHA-256", {.authcid = "\xff", .password = "p"});
    EXPECT_EQ(cl->step("").ec, errc::invalid_utf8);
    o.nonce = [] { return std::string("a,b"); };
    cl = sasl::make_client("SCRAM-SHA-256", {.authcid = "u", .password = "p"}, o);
    EXPECT_EQ(cl->step("").ec, errc::internal_error);
}

TEST(sasl_client, factory_and_sequence) {
    EXPECT_EQ(sasl::make_client("DIGEST-MD5", {}), nullptr);
    EXPECT_EQ(sasl::make_client("login", {})->name(), "LOGIN");
    EXPECT_EQ(sasl::encode_initial_response(""), "=");
    EXPECT_EQ(sasl::encode_initial_response(std::string("\0tim\0tanstaaf", 13)), "AHRpbQB0YW5zdGFhZg==");

    auto plain = sasl::make_client("PLAIN", {.authcid = "tim", .password = "tanstaaf"});
    EXPECT_EQ(plain->finish(), errc::out_of_sequence);  // nothing sent yet
    plain = sasl::make_client("PLAIN", {.authcid = "tim", .password = "tanstaaf"});
    EXPECT_EQ(plain->initial_response(), std::string("\0tim\0tanstaaf", 13));
    EXPECT_EQ(plain->initial_response(), "");  // only once
    EXPECT_EQ(plain->finish(), errc::out_of_sequence);

    plain = sasl::make_client("PLAIN", {.authcid = "tim", .password = "tanstaaf", .authzid = "admin"});
    EXPECT_EQ(plain->initial_response(), std::string("admin\0tim\0tanstaaf", 18));
    EXPECT_EQ(plain->step("more?").ec, errc::out_of_sequence);

    plain = sasl::make_client("PLAIN", {.authcid = "tim", .password = "tanstaaf"});
    plain->initial_response();
    EXPECT_EQ(plain->finish("unexpected"), errc::malformed_message);

    auto login = sasl::make_client("LOGIN", {.authcid = "tim", .password = "tanstaaf"});
    EXPECT_EQ(login->initial_response(), "");  // LOGIN has none
    EXPECT_EQ(login->step("Username:").ec, errc::out_of_sequence);

    login = sasl::make_client("LOGIN", {.authcid = "tim", .password = "tanstaaf"});
    EXPECT_EQ(login->step("Username:").response, "tim");
    EXPECT_EQ(login->finish(), errc::out_of_sequence);  // password never sent

    sasl::client_options small;
    small.limits.max_challenge_size = 8;
    auto cram = sasl::make_client("CRAM-MD5", {.authcid = "tim", .password = "x"}, small);
    EXPECT_EQ(cram->step("<123456789@x>").ec, errc::message_too_large);
    cram = sasl::make_client("CRAM-MD5", {.authcid = "tim", .password = "x"});
    EXPECT_EQ(cram->step("").ec, errc::malformed_message);
}

// ---- round trips: the client's output goes through base64 to the server and back ----

struct round_trip_result {
    bool server_ok = false;
    std::error_code server_ec;
    std::error_code client_ec;  // from finish() or a failed step
    int round_trips = 0;
};

// Runs one exchange the way an SMTP session would: AUTH with an initial response when the
// mechanism has one (or not, when `use_ir` is false), 334 challenges, 235/535 outcome.
round_trip_result run(std::string_view mech, sasl::credential_lookup& users, sasl::client_credentials creds,
                      sasl::server_options so = {}, sasl::client_options co = {}, bool use_ir = true) {
    round_trip_result out;
    auto server = sasl::make_server(mech, users, so);
    auto client = sasl::make_client(mech, std::move(creds), co);
    if (!server || !client) {
        ADD_FAILURE() << "no mechanism " << mech;
        return out;
    }
    std::optional<std::string> ir_line;
    if (use_ir && client->has_initial_response()) ir_line = sasl::encode_initial_response(client->initial_response());

    std::string decoded;
    sasl::step_result sr;
    if (ir_line) {
        EXPECT_FALSE(sasl::decode_initial_response(*ir_line, decoded));
        sr = server->start(decoded);
    } else {
        sr = server->start();
    }
    while (sr.status == step_status::challenge && out.round_trips < 10) {
        ++out.round_trips;
        std::string wire = sasl::encode_challenge(sr.data);  // "334 " + wire
        std::string challenge;
        EXPECT_FALSE(sasl::base64_decode(wire, challenge));
        auto cr = client->step(challenge);
        if (cr.status == client_status::failure) {
            out.client_ec = cr.ec;
            EXPECT_FALSE(sasl::decode_response("*", decoded) == std::error_code{});
            return out;
        }
        EXPECT_FALSE(sasl::decode_response(sasl::base64_encode(cr.response), decoded));
        sr = server->step(decoded);
    }
    if (sr.status == step_status::success) {
        // Additional data with success goes out as one more challenge (RFC 4954 section 4).
        if (!sr.data.empty()) {
            auto cr = client->step(sr.data);
            if (cr.status == client_status::failure) {
                out.client_ec = cr.ec;
                return out;
            }
            EXPECT_EQ(cr.response, "");
        }
        out.server_ok = true;
        out.client_ec = client->finish();
    } else {
        out.server_ec = sr.ec;
    }
    return out;
}

struct sasl_round_trip : ::testing::Test {
    sasl_round_trip() {
        users.add_plaintext("alice", "correct horse");
        users.add_plaintext("J\xc3\xbcrgen", "p\xc3\xa4ss w=rd,");
        users.add_plaintext("a,b=c", "pw");
        users.add_scram("scram-only", sasl::make_scram_credentials("stored pw", 4096));
        users.allow_proxy("alice", "bob");
    }
    sasl::test::fake_lookup users;
};

TEST_F(sasl_round_trip, every_mechanism_right_and_wrong_password) {
    for (const auto& mech : sasl::supported_server_mechanisms()) {
        for (bool use_ir : {true, false}) {
            auto r = run(mech, users, {.authcid = "alice", .password = "correct horse"}, {}, {}, use_ir);
            EXPECT_TRUE(r.server_ok) << mech << " " << r.server_ec.message();
            EXPECT_FALSE(r.client_ec) << mech << " " << r.client_ec.message();

            r = run(mech, users, {.authcid = "alice", .password = "wrong horse"}, {}, {}, use_ir);
            EXPECT_FALSE(r.server_ok) << mech;
            EXPECT_EQ(r.server_ec, errc::authentication_failed) << mech;

            r = run(mech, users, {.authcid = "mallory", .password = "x"}, {}, {}, use_ir);
            EXPECT_FALSE(r.server_ok) << mech;
            EXPECT_EQ(r.server_ec, errc::unknown_user) << mech;
        }
    }
}

TEST_F(sasl_round_trip, non_ascii_and_special_names) {
    for (const auto& mech : sasl::supported_server_mechanisms()) {
        auto r = run(mech, users, {.authcid = "J\xc3\xbcrgen", .password = "p\xc3\xa4ss w=rd,"});
        EXPECT_TRUE(r.server_ok) << mech << " " << r.server_ec.message();
        EXPECT_FALSE(r.client_ec) << mech;
        r = run(mech, users, {.authcid = "a,b=c", .password = "pw"});
        EXPECT_TRUE(r.server_ok) << mech << " " << r.server_ec.message();
    }
}

TEST_F(sasl_round_trip, stored_scram_credentials) {
    auto r = run("SCRAM-SHA-256", users, {.authcid = "scram-only", .password = "stored pw"});
    EXPECT_TRUE(r.server_ok) << r.server_ec.message();
    EXPECT_FALSE(r.client_ec);
    r = run("SCRAM-SHA-256", users, {.authcid = "scram-only", .password = "stored pX"});
    EXPECT_EQ(r.server_ec, errc::authentication_failed);
    // Stored SCRAM keys cannot serve mechanisms that need the password.
    for (const char* mech : {"PLAIN", "LOGIN", "CRAM-MD5"}) {
        r = run(mech, users, {.authcid = "scram-only", .password = "stored pw"});
        EXPECT_EQ(r.server_ec, errc::secret_unavailable) << mech;
    }
}

TEST_F(sasl_round_trip, authorization_identity) {
    for (const char* mech : {"PLAIN", "SCRAM-SHA-256"}) {
        auto r = run(mech, users, {.authcid = "alice", .password = "correct horse", .authzid = "bob"});
        EXPECT_TRUE(r.server_ok) << mech;
        r = run(mech, users, {.authcid = "alice", .password = "correct horse", .authzid = "carol"});
        EXPECT_EQ(r.server_ec, errc::authorization_failed) << mech;
    }
}

TEST_F(sasl_round_trip, scram_plus_and_downgrade) {
    sasl::server_options so;
    so.binding = sasl::channel_binding{"tls-exporter", sasl::random_bytes(32)};
    sasl::client_options co;
    co.binding = so.binding;
    auto r = run("SCRAM-SHA-256-PLUS", users, {.authcid = "alice", .password = "correct horse"}, so, co);
    EXPECT_TRUE(r.server_ok) << r.server_ec.message();
    EXPECT_FALSE(r.client_ec);

    // A man in the middle terminates TLS: the client sees other binding data.
    co.binding->data = sasl::random_bytes(32);
    r = run("SCRAM-SHA-256-PLUS", users, {.authcid = "alice", .password = "correct horse"}, so, co);
    EXPECT_EQ(r.server_ec, errc::channel_binding_mismatch);

    // ...or strips -PLUS from the server's list: the client says 'y' and the server notices.
    r = run("SCRAM-SHA-256", users, {.authcid = "alice", .password = "correct horse"}, so, co);
    EXPECT_EQ(r.server_ec, errc::channel_binding_downgrade);
}

TEST_F(sasl_round_trip, client_iteration_bounds) {
    sasl::server_options so;
    so.scram_iterations = 100;
    auto r = run("SCRAM-SHA-256", users, {.authcid = "alice", .password = "correct horse"}, so);
    EXPECT_EQ(r.client_ec, errc::bad_iteration_count);
    sasl::client_options co;
    co.limits.min_iterations = 100;
    r = run("SCRAM-SHA-256", users, {.authcid = "alice", .password = "correct horse"}, so, co);
    EXPECT_TRUE(r.server_ok);
    EXPECT_FALSE(r.client_ec);
}

TEST_F(sasl_round_trip, server_with_wrong_keys_is_caught_by_client) {
    // A server that knows only a wrong ServerKey cannot produce a valid ServerSignature.
    struct lying_lookup final : sasl::credential_lookup {
        result scram_sha256_credentials(std::string_view, sasl::scram_credentials& out) override {
            out = sasl::make_scram_credentials("pw", "saltsalt", 4096);
            out.server_key = sasl::hmac_sha256("not", "the key");
            return result::ok;
        }
    } liar;
    auto r = run("SCRAM-SHA-256", liar, {.authcid = "u", .password = "pw"});
    EXPECT_EQ(r.client_ec, errc::server_signature_mismatch);
}

}  // namespace

// SCRAM message parsers (RFC 5802 section 7) and SCRAM-SHA-256 computations (RFC 7677 section 3).
#include <gtest/gtest.h>

#include <string>

#include "mailharness/sasl/base64.hpp"
#include "mailharness/sasl/credentials.hpp"
#include "mailharness/sasl/scram.hpp"

namespace sasl = mailharness::sasl;
namespace scram = mailharness::sasl::scram;
using sasl::errc;

namespace {

// The RFC 7677 section 3 example exchange (user "user", password "pencil").
const std::string rfc_client_first = "n,,n=user,r=rOprNGfwEbeRWgbNEkqO";
const std::string rfc_server_first =
    "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";
const std::string rfc_client_final =
    "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=";
const std::string rfc_server_final = "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=";

std::string b64d(std::string_view s) {
    std::string out;
    EXPECT_FALSE(sasl::base64_decode(s, out));
    return out;
}

TEST(sasl_scram, rfc7677_computations) {
    std::string salt = b64d("W22ZaJ0SNY7soEsUEjb6gQ==");
    std::string salted = scram::salted_password("pencil", salt, 4096);
    std::string auth = scram::auth_message("n=user,r=rOprNGfwEbeRWgbNEkqO", rfc_server_first,
                                           "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0");
    EXPECT_EQ(sasl::base64_encode(scram::client_proof(salted, auth)), "dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=");
    auto creds = sasl::make_scram_credentials("pencil", salt, 4096);
    EXPECT_EQ(creds.salt, salt);
    EXPECT_EQ(creds.iterations, 4096u);
    EXPECT_EQ(sasl::base64_encode(scram::server_signature(creds.server_key, auth)),
              "6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=");
    EXPECT_TRUE(scram::verify_client_proof(creds, auth, scram::client_proof(salted, auth)));
    std::string bad = scram::client_proof(salted, auth);
    bad[5] ^= 1;
    EXPECT_FALSE(scram::verify_client_proof(creds, auth, bad));
    EXPECT_FALSE(scram::verify_client_proof(creds, auth, bad.substr(0, 31)));
    EXPECT_FALSE(scram::verify_client_proof(creds, auth + "x", scram::client_proof(salted, auth)));
}

TEST(sasl_scram, random_salt_credentials) {
    auto a = sasl::make_scram_credentials("pw", 4096);
    auto b = sasl::make_scram_credentials("pw", 4096);
    EXPECT_EQ(a.salt.size(), 16u);
    EXPECT_NE(a.salt, b.salt);
    EXPECT_NE(a.stored_key, b.stored_key);
    EXPECT_EQ(a.stored_key.size(), 32u);
    EXPECT_EQ(a.server_key.size(), 32u);
}

// ---- saslname ----

TEST(sasl_scram, saslname_escaping) {
    std::string out;
    EXPECT_FALSE(scram::decode_saslname("a=2Cb=3Dc", out));
    EXPECT_EQ(out, "a,b=c");
    EXPECT_EQ(scram::encode_saslname("a,b=c"), "a=2Cb=3Dc");
    EXPECT_EQ(scram::encode_saslname("=,=="), "=3D=2C=3D=3D");
    EXPECT_FALSE(scram::decode_saslname("=3D=2C=3D=3D", out));
    EXPECT_EQ(out, "=,==");
    EXPECT_FALSE(scram::decode_saslname("J\xc3\xbcrgen", out));
    for (const char* bad : {"", "=", "=2", "=3", "=2c", "=3d", "a=", "a=4F", "=2D", "a,b", "\xc3", "\xff"}) {
        EXPECT_TRUE(scram::decode_saslname(bad, out)) << bad;
    }
    EXPECT_EQ(scram::decode_saslname(std::string("a\0b", 3), out), errc::malformed_message);
    EXPECT_EQ(scram::decode_saslname("\xc0\xaf", out), errc::invalid_utf8);  // overlong '/'
}

TEST(sasl_scram, nonce_charset) {
    EXPECT_TRUE(scram::valid_nonce("rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0"));
    EXPECT_TRUE(scram::valid_nonce("!~"));
    EXPECT_FALSE(scram::valid_nonce(""));
    EXPECT_FALSE(scram::valid_nonce("a,b"));
    EXPECT_FALSE(scram::valid_nonce("a b"));
    EXPECT_FALSE(scram::valid_nonce("a\x7f"));
    EXPECT_FALSE(scram::valid_nonce("\xc3\xbc"));
}

// ---- client-first-message ----

struct client_first_case {
    std::string message;
    std::error_code expected;
    scram::cbind_flag flag = scram::cbind_flag::none;
    std::string cbind_type, authzid, username, nonce, gs2_header;
};

class sasl_scram_client_first : public ::testing::TestWithParam<client_first_case> {};

TEST_P(sasl_scram_client_first, parse) {
    const auto& c = GetParam();
    scram::client_first_message m;
    auto ec = scram::parse_client_first(c.message, m);
    ASSERT_EQ(ec, c.expected) << c.message;
    if (ec) return;
    EXPECT_EQ(m.flag, c.flag);
    EXPECT_EQ(m.cbind_type, c.cbind_type);
    EXPECT_EQ(m.authzid, c.authzid);
    EXPECT_EQ(m.username, c.username);
    EXPECT_EQ(m.nonce, c.nonce);
    EXPECT_EQ(m.gs2_header, c.gs2_header);
    EXPECT_EQ(m.gs2_header + m.bare, c.message);
}

const std::error_code ok{};
using F = scram::cbind_flag;

INSTANTIATE_TEST_SUITE_P(
    table, sasl_scram_client_first,
    ::testing::Values(
        client_first_case{rfc_client_first, ok, F::none, "", "", "user", "rOprNGfwEbeRWgbNEkqO", "n,,"},
        client_first_case{"y,,n=u,r=abc", ok, F::client_supports, "", "", "u", "abc", "y,,"},
        client_first_case{"p=tls-exporter,,n=u,r=abc", ok, F::used, "tls-exporter", "", "u", "abc",
                          "p=tls-exporter,,"},
        client_first_case{"n,a=ad=2Cmin,n=u=3Dx,r=abc", ok, F::none, "", "ad,min", "u=x", "abc", "n,a=ad=2Cmin,"},
        client_first_case{"n,,n=u,r=abc,x=ext,y=more=stuff", ok, F::none, "", "", "u", "abc", "n,,"},
        client_first_case{"n,,n=J\xc3\xbcrgen,r=abc", ok, F::none, "", "", "J\xc3\xbcrgen", "abc", "n,,"},
        client_first_case{"n,,m=ext,n=u,r=abc", errc::extensions_not_supported},
        client_first_case{"n,,n=u,r=abc,m=ext", errc::extensions_not_supported},
        client_first_case{"", errc::malformed_message}, client_first_case{"n", errc::malformed_message},
        client_first_case{"n,", errc::malformed_message}, client_first_case{"n,,", errc::malformed_message},
        client_first_case{"x,,n=u,r=abc", errc::malformed_message},
        client_first_case{"N,,n=u,r=abc", errc::malformed_message},
        client_first_case{"p=,,n=u,r=abc", errc::malformed_message},
        client_first_case{"p=tls_unique,,n=u,r=abc", errc::malformed_message},
        client_first_case{"n,b=x,n=u,r=abc", errc::malformed_message},
        client_first_case{"n,a=,n=u,r=abc", errc::malformed_message},
        client_first_case{"n,a=x=y,n=u,r=abc", errc::malformed_message},
        client_first_case{"n,,n=,r=abc", errc::malformed_message},
        client_first_case{"n,,n=u=2,r=abc", errc::malformed_message},
        client_first_case{"n,,n=u=41,r=abc", errc::malformed_message},
        client_first_case{"n,,n=u,r=", errc::malformed_message},
        client_first_case{"n,,n=u,r=a b", errc::malformed_message},
        client_first_case{"n,,n=u", errc::malformed_message},
        client_first_case{"n,,r=abc,n=u", errc::malformed_message},
        client_first_case{"n,,n=u,r=abc,", errc::malformed_message},
        client_first_case{"n,,n=u,r=abc,x", errc::malformed_message},
        client_first_case{"n,,n=u,r=abc,1=x", errc::malformed_message},
        client_first_case{"n,,n=u,r=abc,xy=z", errc::malformed_message},
        client_first_case{"n,,n=u,,r=abc", errc::malformed_message},
        client_first_case{std::string("n,,n=u\0,r=abc", 13), errc::malformed_message},
        client_first_case{"n,,n=\xff,r=abc", errc::invalid_utf8},
        client_first_case{"n,,n=u,r=abc,x=\xed\xa0\x80", errc::invalid_utf8}));

// Every proper prefix of a minimal valid message is shorter than its last required attribute and
// must be refused; prefixes that cut into the nonce are still well-formed (a shorter nonce).
TEST(sasl_scram, client_first_every_prefix) {
    const std::string full = "n,a=ad=2Cmin,n=u=3Dx,r=abc";
    const std::size_t nonce_start = full.find("r=") + 2;
    for (std::size_t len = 0; len < full.size(); ++len) {
        scram::client_first_message m;
        auto ec = scram::parse_client_first(full.substr(0, len), m);
        if (len > nonce_start) {
            EXPECT_FALSE(ec) << len;
            EXPECT_EQ(m.nonce, full.substr(nonce_start, len - nonce_start));
        } else {
            EXPECT_TRUE(ec) << len;
        }
    }
}

// ---- server-first-message ----

struct server_first_case {
    std::string message;
    std::error_code expected;
    std::string nonce, salt;
    std::uint32_t iterations = 0;
};

class sasl_scram_server_first : public ::testing::TestWithParam<server_first_case> {};

TEST_P(sasl_scram_server_first, parse) {
    const auto& c = GetParam();
    scram::server_first_message m;
    auto ec = scram::parse_server_first(c.message, m);
    ASSERT_EQ(ec, c.expected) << c.message;
    if (ec) return;
    EXPECT_EQ(m.nonce, c.nonce);
    EXPECT_EQ(m.salt, c.salt);
    EXPECT_EQ(m.iterations, c.iterations);
}

INSTANTIATE_TEST_SUITE_P(
    table, sasl_scram_server_first,
    ::testing::Values(
        server_first_case{rfc_server_first, ok, "rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0",
                          b64d("W22ZaJ0SNY7soEsUEjb6gQ=="), 4096},
        server_first_case{"r=ab,s=c2FsdA==,i=1", ok, "ab", "salt", 1},
        server_first_case{"r=ab,s=c2FsdA==,i=4294967295", ok, "ab", "salt", 4294967295u},
        server_first_case{"r=ab,s=c2FsdA==,i=4096,x=ignored", ok, "ab", "salt", 4096},
        server_first_case{"r=ab,s=c2FsdA==,i=4294967296", errc::malformed_message},
        server_first_case{"r=ab,s=c2FsdA==,i=99999999999", errc::malformed_message},
        server_first_case{"r=ab,s=c2FsdA==,i=0", errc::malformed_message},
        server_first_case{"r=ab,s=c2FsdA==,i=04096", errc::malformed_message},
        server_first_case{"r=ab,s=c2FsdA==,i=-1", errc::malformed_message},
        server_first_case{"r=ab,s=c2FsdA==,i=40a", errc::malformed_message},
        server_first_case{"r=ab,s=c2FsdA==,i=", errc::malformed_message},
        server_first_case{"r=ab,s=c2FsdA==", errc::malformed_message},
        server_first_case{"r=ab,s=,i=1", errc::malformed_message},
        server_first_case{"r=ab,s=c2FsdA,i=1", errc::malformed_message},
        server_first_case{"r=ab,s=c2F sdA==,i=1", errc::malformed_message},
        server_first_case{"r=ab,i=1,s=c2FsdA==", errc::malformed_message},
        server_first_case{"m=x,r=ab,s=c2FsdA==,i=1", errc::extensions_not_supported},
        server_first_case{"r=ab,s=c2FsdA==,i=1,m=x", errc::extensions_not_supported},
        server_first_case{"e=other-error", errc::malformed_message}, server_first_case{"", errc::malformed_message}));

TEST(sasl_scram, server_first_every_prefix) {
    const std::size_t iter_start = rfc_server_first.find("i=") + 2;
    for (std::size_t len = 0; len < rfc_server_first.size(); ++len) {
        scram::server_first_message m;
        auto ec = scram::parse_server_first(rfc_server_first.substr(0, len), m);
        if (len > iter_start) {
            EXPECT_FALSE(ec) << len;  // "i=4", "i=40", "i=409": shorter counts, still well-formed
        } else {
            EXPECT_TRUE(ec) << len;
        }
    }
}

// ---- client-final-message ----

struct client_final_case {
    std::string message;
    std::error_code expected;
    std::string channel_binding, nonce, without_proof;
};

class sasl_scram_client_final : public ::testing::TestWithParam<client_final_case> {};

TEST_P(sasl_scram_client_final, parse) {
    const auto& c = GetParam();
    scram::client_final_message m;
    auto ec = scram::parse_client_final(c.message, m);
    ASSERT_EQ(ec, c.expected) << c.message;
    if (ec) return;
    EXPECT_EQ(m.channel_binding, c.channel_binding);
    EXPECT_EQ(m.nonce, c.nonce);
    EXPECT_EQ(m.without_proof, c.without_proof);
}

INSTANTIATE_TEST_SUITE_P(
    table, sasl_scram_client_final,
    ::testing::Values(
        client_final_case{rfc_client_final, ok, "n,,", "rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0",
                          "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0"},
        client_final_case{"c=biws,r=ab,x=ext,p=cHJvb2Y=", ok, "n,,", "ab", "c=biws,r=ab,x=ext"},
        client_final_case{"c=biws,r=ab,p=cHJvb2Y=,x=ext", errc::malformed_message},
        client_final_case{"c=biws,r=ab,p=cHJvb2Y=,p=cHJvb2Y=", errc::malformed_message},
        client_final_case{"c=biws,r=ab", errc::malformed_message},
        client_final_case{"c=biws,r=ab,x=ext", errc::malformed_message},
        client_final_case{"c=biws,r=ab,p=", errc::malformed_message},
        client_final_case{"c=biws,r=ab,p=cHJvb2Y", errc::malformed_message},
        client_final_case{"c=biw,r=ab,p=cHJvb2Y=", errc::malformed_message},
        client_final_case{"r=ab,c=biws,p=cHJvb2Y=", errc::malformed_message},
        client_final_case{"c=biws,p=cHJvb2Y=", errc::malformed_message},
        client_final_case{"c=biws,r=ab,m=x,p=cHJvb2Y=", errc::extensions_not_supported},
        client_final_case{"c=biws,r=a,b,p=cHJvb2Y=", errc::malformed_message},
        client_final_case{",c=biws,r=ab,p=cHJvb2Y=", errc::malformed_message},
        client_final_case{"", errc::malformed_message}));

TEST(sasl_scram, client_final_every_prefix) {
    // The proof is the last attribute: a prefix parses only when it cuts the proof at a base64
    // quantum boundary, and then the proof is too short to verify.
    const std::size_t proof_start = rfc_client_final.find("p=") + 2;
    for (std::size_t len = 0; len < rfc_client_final.size(); ++len) {
        scram::client_final_message m;
        auto ec = scram::parse_client_final(rfc_client_final.substr(0, len), m);
        bool quantum = len > proof_start && (len - proof_start) % 4 == 0;
        EXPECT_EQ(!ec, quantum) << len;
        if (!ec) {
            EXPECT_LT(m.proof.size(), 32u);
        }
    }
}

// ---- server-final-message ----

TEST(sasl_scram, server_final) {
    scram::server_final_message m;
    ASSERT_FALSE(scram::parse_server_final(rfc_server_final, m));
    EXPECT_EQ(sasl::base64_encode(m.verifier), "6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=");
    EXPECT_TRUE(m.error.empty());
    ASSERT_FALSE(scram::parse_server_final("e=invalid-proof", m));
    EXPECT_EQ(m.error, "invalid-proof");
    EXPECT_TRUE(m.verifier.empty());
    ASSERT_FALSE(scram::parse_server_final("v=dg==,x=ext", m));
    EXPECT_EQ(m.verifier, "v");
    for (const char* bad : {"", "v=", "e=", "v=dg=", "e=a=b", "x=y", "v=dg==,", "v=dg==,m=x", "r=abc"}) {
        EXPECT_TRUE(scram::parse_server_final(bad, m)) << bad;
    }
    EXPECT_EQ(scram::parse_server_final("m=x", m), errc::extensions_not_supported);
}

TEST(sasl_scram, server_final_every_prefix) {
    for (std::size_t len = 0; len < rfc_server_final.size(); ++len) {
        scram::server_final_message m;
        auto ec = scram::parse_server_final(rfc_server_final.substr(0, len), m);
        if (!ec) {
            EXPECT_LT(m.verifier.size(), 32u) << len;
        }
    }
}

TEST(sasl_scram, server_error_values) {
    EXPECT_EQ(scram::server_error_value(errc::unknown_user), "invalid-proof");
    EXPECT_EQ(scram::server_error_value(errc::authentication_failed), "invalid-proof");
    EXPECT_EQ(scram::server_error_value(errc::extensions_not_supported), "extensions-not-supported");
    EXPECT_EQ(scram::server_error_value(errc::channel_binding_downgrade), "server-does-support-channel-binding");
    EXPECT_EQ(scram::server_error_value(errc::malformed_message), "invalid-encoding");
    EXPECT_EQ(scram::server_error_value(std::make_error_code(std::errc::io_error)), "other-error");
}

}  // namespace

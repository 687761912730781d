// base64, the OpenSSL wrappers and APOP: RFC test vectors and tables of bad input.
#include <gtest/gtest.h>

#include <random>
#include <string>

#include "mailharness/sasl/apop.hpp"
#include "mailharness/sasl/base64.hpp"
#include "mailharness/sasl/crypto.hpp"
#include "mailharness/sasl/error.hpp"

namespace sasl = mailharness::sasl;
using sasl::errc;

namespace {

// ---- base64 ----

struct b64_case {
    std::string decoded;
    std::string encoded;
};

class sasl_base64_vectors : public ::testing::TestWithParam<b64_case> {};

TEST_P(sasl_base64_vectors, encode_and_decode) {
    const auto& c = GetParam();
    EXPECT_EQ(sasl::base64_encode(c.decoded), c.encoded);
    std::string out = "junk";
    EXPECT_FALSE(sasl::base64_decode(c.encoded, out));
    EXPECT_EQ(out, c.decoded);
}

// RFC 4648 section 10, plus the SASL strings used by the mechanisms.
INSTANTIATE_TEST_SUITE_P(rfc4648, sasl_base64_vectors,
                         ::testing::Values(b64_case{"", ""}, b64_case{"f", "Zg=="}, b64_case{"fo", "Zm8="},
                                           b64_case{"foo", "Zm9v"}, b64_case{"foob", "Zm9vYg=="},
                                           b64_case{"fooba", "Zm9vYmE="}, b64_case{"foobar", "Zm9vYmFy"},
                                           b64_case{"Username:", "VXNlcm5hbWU6"},
                                           b64_case{"Password:", "UGFzc3dvcmQ6"},
                                           b64_case{std::string("\0tim\0tanstaaf", 13), "AHRpbQB0YW5zdGFhZg=="},
                                           b64_case{"\xff\xfe\xfd", "//79"}, b64_case{"n,,", "biws"}));

struct b64_error_case {
    std::string encoded;
    errc expected;
    std::size_t max = sasl::default_max_decoded_size;
};

class sasl_base64_errors : public ::testing::TestWithParam<b64_error_case> {};

TEST_P(sasl_base64_errors, rejected) {
    const auto& c = GetParam();
    std::string out = "junk";
    EXPECT_EQ(sasl::base64_decode(c.encoded, out, c.max), c.expected) << c.encoded;
    EXPECT_TRUE(out.empty());
}

INSTANTIATE_TEST_SUITE_P(
    table, sasl_base64_errors,
    ::testing::Values(
        b64_error_case{"Z", errc::bad_base64}, b64_error_case{"Zm9vY", errc::bad_base64},
        b64_error_case{"Zg", errc::bad_base64_padding}, b64_error_case{"Zg=", errc::bad_base64_padding},
        b64_error_case{"Zm8", errc::bad_base64_padding}, b64_error_case{"Zg===", errc::bad_base64},
        b64_error_case{"Z===", errc::bad_base64_padding}, b64_error_case{"====", errc::bad_base64_padding},
        b64_error_case{"=", errc::bad_base64}, b64_error_case{"==", errc::bad_base64_padding},
        b64_error_case{"Zm9v====", errc::bad_base64_padding}, b64_error_case{"Zg==Zg==", errc::bad_base64_padding},
        b64_error_case{"Z=g=", errc::bad_base64_padding}, b64_error_case{"=Zg=", errc::bad_base64_padding},
        b64_error_case{"Zh==", errc::base64_noncanonical}, b64_error_case{"Zm9=", errc::base64_noncanonical},
        b64_error_case{" Zg==", errc::bad_base64}, b64_error_case{"Zg==\n", errc::bad_base64},
        b64_error_case{"Zg==\r\n", errc::bad_base64}, b64_error_case{"Zm 9v", errc::bad_base64},
        b64_error_case{"Zm-v", errc::bad_base64}, b64_error_case{"Zm_v", errc::bad_base64},
        b64_error_case{std::string("Zm\0v", 4), errc::bad_base64}, b64_error_case{"Zm\x80v", errc::bad_base64},
        b64_error_case{"Zm9vYmFy", errc::base64_too_large, 5}, b64_error_case{"Zm9vYg==", errc::base64_too_large, 3},
        b64_error_case{"Zg==", errc::base64_too_large, 0},
        // Over the limit is reported before the text is looked at.
        b64_error_case{std::string(100, '!'), errc::base64_too_large, 10}));

TEST(sasl_base64, limit_is_exact) {
    std::string out;
    EXPECT_FALSE(sasl::base64_decode("Zm9vYmFy", out, 6));
    EXPECT_EQ(out, "foobar");
    EXPECT_FALSE(sasl::base64_decode("Zm9vYg==", out, 4));
    EXPECT_EQ(out, "foob");
    EXPECT_FALSE(sasl::base64_decode("", out, 0));
    EXPECT_EQ(out, "");
    EXPECT_FALSE(sasl::base64_decode("Zg==", out, static_cast<std::size_t>(-1)));
    EXPECT_EQ(out, "f");
}

TEST(sasl_base64, round_trip_every_octet_and_length) {
    std::mt19937 rng(42);
    for (std::size_t len = 0; len < 300; ++len) {
        std::string data(len, '\0');
        for (auto& c : data) c = static_cast<char>(rng());
        std::string enc = sasl::base64_encode(data);
        EXPECT_EQ(enc.size(), 4 * ((len + 2) / 3));
        std::string dec;
        ASSERT_FALSE(sasl::base64_decode(enc, dec)) << len;
        EXPECT_EQ(dec, data);
    }
    std::string all;
    for (int i = 0; i < 256; ++i) all.push_back(static_cast<char>(i));
    std::string dec;
    ASSERT_FALSE(sasl::base64_decode(sasl::base64_encode(all), dec));
    EXPECT_EQ(dec, all);
}

TEST(sasl_base64, every_single_character_change_is_caught_or_canonical) {
    // Any accepted text must re-encode to itself (the strictness the fuzz target also checks).
    const std::string text = "Zm9vYmE=";
    for (std::size_t i = 0; i < text.size(); ++i) {
        for (int c = 0; c < 256; ++c) {
            std::string t = text;
            t[i] = static_cast<char>(c);
            std::string out;
            if (!sasl::base64_decode(t, out)) {
                EXPECT_EQ(sasl::base64_encode(out), t);
            }
        }
    }
}

TEST(sasl_base64, large_input_spans_openssl_chunks) {
    std::string data(5 * 1024 * 1024 + 7, '\0');
    for (std::size_t i = 0; i < data.size(); ++i) data[i] = static_cast<char>(i * 131 + (i >> 9));
    std::string enc = sasl::base64_encode(data);
    std::string dec;
    ASSERT_FALSE(sasl::base64_decode(enc, dec, data.size()));
    EXPECT_EQ(dec, data);
    EXPECT_EQ(sasl::base64_decode(enc, dec, data.size() - 1), errc::base64_too_large);
}

// ---- OpenSSL wrappers ----

TEST(sasl_crypto, digest_vectors) {
    EXPECT_EQ(sasl::to_hex(sasl::md5("abc")), "900150983cd24fb0d6963f7d28e17f72");
    EXPECT_EQ(sasl::to_hex(sasl::md5("")), "d41d8cd98f00b204e9800998ecf8427e");
    EXPECT_EQ(sasl::to_hex(sasl::sha256("abc")), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    // RFC 2202 test case 2 (HMAC-MD5), RFC 4231 test case 2 (HMAC-SHA-256).
    EXPECT_EQ(sasl::to_hex(sasl::hmac_md5("Jefe", "what do ya want for nothing?")), "750c783e6ab0b503eaa86e310a5db738");
    EXPECT_EQ(sasl::to_hex(sasl::hmac_sha256("Jefe", "what do ya want for nothing?")),
              "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    // Empty key is valid HMAC (RFC 2104); the wrapper must not trip over a null pointer.
    EXPECT_EQ(sasl::hmac_sha256("", "").size(), 32u);
    EXPECT_EQ(sasl::to_hex(sasl::hmac_md5("", "")), "74e6f7298a9c2d168935f58c001bad88");
}

TEST(sasl_crypto, pbkdf2_vectors) {
    EXPECT_EQ(sasl::to_hex(sasl::pbkdf2_hmac_sha256("password", "salt", 1)),
              "120fb6cffcf8b32c43e7225256c4f837a86548c92ccc35480805987cb70be17b");
    EXPECT_EQ(sasl::to_hex(sasl::pbkdf2_hmac_sha256("password", "salt", 2)),
              "ae4d0c95af6b46d32d0adff928f06dd02a303f8ef3c251dfd6e2d85a95474c43");
    EXPECT_EQ(sasl::to_hex(sasl::pbkdf2_hmac_sha256("password", "salt", 4096)),
              "c5e478d59288c841aa530db6845c4c8d962893a001ce4e11a4963873aa98134a");
    EXPECT_THROW(sasl::pbkdf2_hmac_sha256("password", "salt", 0), std::system_error);
}

TEST(sasl_crypto, random_and_compare) {
    std::string a = sasl::random_bytes(32), b = sasl::random_bytes(32);
    EXPECT_EQ(a.size(), 32u);
    EXPECT_NE(a, b);
    EXPECT_TRUE(sasl::constant_time_equal("abc", "abc"));
    EXPECT_TRUE(sasl::constant_time_equal("", ""));
    EXPECT_FALSE(sasl::constant_time_equal("abc", "abd"));
    EXPECT_FALSE(sasl::constant_time_equal("abc", "ab"));
    EXPECT_EQ(sasl::to_hex(std::string("\x00\x0f\xf0\xff", 4)), "000ff0ff");
}

// ---- APOP (RFC 1939 section 7) ----

TEST(sasl_apop, rfc1939_example) {
    EXPECT_EQ(sasl::apop_digest("<1896.697170952@dbc.mtview.ca.us>", "tanstaaf"), "c4c9334bac560ecc979e58001b3e22fb");
    EXPECT_TRUE(sasl::apop_verify("<1896.697170952@dbc.mtview.ca.us>", "tanstaaf", "c4c9334bac560ecc979e58001b3e22fb"));
    EXPECT_TRUE(sasl::apop_verify("<1896.697170952@dbc.mtview.ca.us>", "tanstaaf", "C4C9334BAC560ECC979E58001B3E22FB"));
    EXPECT_FALSE(sasl::apop_verify("<1896.697170952@dbc.mtview.ca.us>", "tanstaaF", "c4c9334bac560ecc979e58001b3e22fb"));
    EXPECT_FALSE(sasl::apop_verify("<1896.697170952@dbc.mtview.ca.us>", "tanstaaf", "c4c9334bac560ecc979e58001b3e22f"));
    EXPECT_FALSE(sasl::apop_verify("<1896.697170952@dbc.mtview.ca.us>", "tanstaaf", ""));
}

struct greeting_case {
    std::string greeting;
    std::optional<std::string> timestamp;
};

class sasl_apop_greeting : public ::testing::TestWithParam<greeting_case> {};

TEST_P(sasl_apop_greeting, extract) {
    const auto& c = GetParam();
    auto ts = sasl::extract_apop_timestamp(c.greeting);
    ASSERT_EQ(ts.has_value(), c.timestamp.has_value()) << c.greeting;
    if (ts) {
        EXPECT_EQ(*ts, *c.timestamp);
    }
}

INSTANTIATE_TEST_SUITE_P(
    table, sasl_apop_greeting,
    ::testing::Values(
        greeting_case{"+OK POP3 server ready <1896.697170952@dbc.mtview.ca.us>", "<1896.697170952@dbc.mtview.ca.us>"},
        greeting_case{"+OK <a@b> trailing", "<a@b>"}, greeting_case{"+OK POP3 server ready", std::nullopt},
        greeting_case{"+OK <no-at-sign>", std::nullopt}, greeting_case{"+OK <two@at@signs>", std::nullopt},
        greeting_case{"+OK <@b>", std::nullopt}, greeting_case{"+OK <a@>", std::nullopt},
        greeting_case{"+OK <>", std::nullopt}, greeting_case{"+OK <has space@x>", std::nullopt},
        greeting_case{"+OK <a<b@c>", std::nullopt}, greeting_case{"+OK <unterminated@x", std::nullopt},
        greeting_case{"+OK <" + std::string(300, 'a') + "@x>", std::nullopt},
        greeting_case{"+OK <ctl\x01@x>", std::nullopt}));

TEST(sasl_apop, timestamps) {
    EXPECT_EQ(sasl::format_msg_id_challenge("1896", 697170952, "dbc.mtview.ca.us"), "<1896.697170952@dbc.mtview.ca.us>");
    std::string a = sasl::make_apop_timestamp("mail.example");
    std::string b = sasl::make_apop_timestamp("mail.example");
    EXPECT_NE(a, b);
    const std::string greeting = "+OK ready " + a;
    auto ts = sasl::extract_apop_timestamp(greeting);
    ASSERT_TRUE(ts.has_value());
    EXPECT_EQ(*ts, a);
    EXPECT_TRUE(a.ends_with("@mail.example>"));
}

TEST(sasl_errors, category_names_every_value) {
    EXPECT_STREQ(std::error_code(errc::bad_base64).category().name(), "mailharness.sasl");
    for (int v = static_cast<int>(errc::bad_base64); v <= static_cast<int>(errc::internal_error); ++v) {
        std::string m = std::error_code(static_cast<errc>(v)).message();
        EXPECT_NE(m, "unknown sasl error") << v;
    }
    EXPECT_EQ(std::error_code(errc::authentication_failed).message(), "authentication failed");
}

}  // namespace

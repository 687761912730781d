#include "mailharness/conform/target.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <random>

#include "mailharness/sasl/base64.hpp"

using namespace mailharness::conform;
namespace fs = std::filesystem;

namespace {

struct temp_file {
    fs::path path;
    explicit temp_file(const std::string& text) {
        path = fs::temp_directory_path() / ("conform-target-" + std::to_string(std::random_device{}()) + ".yaml");
        std::ofstream(path) << text;
    }
    ~temp_file() { fs::remove(path); }
};

std::string error_of(const std::string& text) {
    temp_file f(text);
    target t;
    try {
        load_target(f.path.string(), t);
    } catch (const std::exception& e) {
        return e.what();
    }
    return "";
}

}  // namespace

TEST(conform_target, loads_fields_and_keeps_absent_ones) {
    temp_file f("host: mx.example.com\nport: 587\ntls: implicit\nlocal_domain: example.com\nrcpt: bob@example.com\n"
                "user: alice@example.com\npassword: s3cret\ninsecure: true\ntimeout_ms: 2500\n");
    target t;
    t.remote_domain = "kept.example";
    load_target(f.path.string(), t);
    EXPECT_EQ(t.host, "mx.example.com");
    EXPECT_EQ(t.port, 587);
    EXPECT_EQ(t.tls, tls_mode::implicit);
    EXPECT_TRUE(t.insecure);
    EXPECT_EQ(t.timeout, std::chrono::milliseconds(2500));
    EXPECT_EQ(t.remote_domain, "kept.example");
    const auto v = t.vars();
    EXPECT_EQ(v.at("rcpt_local"), "bob");
    EXPECT_EQ(v.at("local_domain"), "example.com");
    std::string plain;
    ASSERT_FALSE(mailharness::sasl::base64_decode(v.at("auth_plain"), plain));
    EXPECT_EQ(plain, std::string("\0alice@example.com\0s3cret", 25));
}

TEST(conform_target, errors_name_file_line_and_key) {
    EXPECT_NE(error_of("host: a\ncolour: red\n").find(".yaml:2: colour: unknown key"), std::string::npos);
    EXPECT_NE(error_of("port: 99999\n").find(".yaml:1: port:"), std::string::npos);
    EXPECT_NE(error_of("tls: maybe\n").find("tls must be none, starttls or implicit"), std::string::npos);
    EXPECT_NE(error_of("- a list\n").find("a target must be a YAML map"), std::string::npos);
    target t;
    EXPECT_THROW(load_target("/nonexistent/target.yaml", t), std::runtime_error);
}

TEST(conform_target, parses_text_with_a_given_name) {
    target t;
    parse_target("host: mx.example.com\nport: 2525\n", "inline", t);
    EXPECT_EQ(t.host, "mx.example.com");
    EXPECT_EQ(t.port, 2525);
    try {
        parse_target("host: a\nport: x\n", "inline", t);
        ADD_FAILURE() << "port: x parsed";
    } catch (const std::runtime_error& e) {
        EXPECT_EQ(std::string(e.what()).rfind("inline:2: port:", 0), 0u) << e.what();
    }
}

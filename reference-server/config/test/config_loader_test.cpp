#include "mailharness/refmaild/config_loader.hpp"

#include "mailharness/refmaild/cert_tool.hpp"
#include "mailharness/refmaild/passwd_file.hpp"

#include <gtest/gtest.h>

#include <unistd.h>

#include <fstream>
#include <sstream>

namespace fs = std::filesystem;
using namespace mailharness::refmaild;
using namespace mailharness::refmaild::config;
using namespace std::chrono_literals;

namespace {

const fs::path source_dir = MH_REFMAILD_SOURCE_DIR;
const fs::path fixtures = source_dir / "config" / "test" / "fixtures";

struct temp_dir {
    fs::path path;
    temp_dir() {
        std::string tmpl = (fs::temp_directory_path() / "mh-config-XXXXXX").string();
        path = ::mkdtemp(tmpl.data());
    }
    ~temp_dir() {
        std::error_code ec;
        fs::remove_all(path, ec);
    }
};

void write(const fs::path& p, std::string_view text) { std::ofstream(p, std::ios::binary) << text; }

std::string dump(const std::vector<config_problem>& problems) {
    std::string out;
    for (const auto& p : problems) out += p.to_string() + "\n";
    return out;
}

std::vector<config_problem> errors_of(const std::vector<config_problem>& problems) {
    std::vector<config_problem> out;
    for (const auto& p : problems) {
        if (p.is_error()) out.push_back(p);
    }
    return out;
}

const config_problem* find_problem(const std::vector<config_problem>& problems, std::string_view key,
                                   std::string_view text = {}) {
    for (const auto& p : problems) {
        if (p.key == key && p.message.find(text) != std::string::npos) return &p;
    }
    return nullptr;
}

}  // namespace

TEST(config, defaults_in_code_are_valid) {
    refmaild_settings s;
    EXPECT_FALSE(s.server.hostname.empty());
    EXPECT_GE(s.server.io_threads, 1u);
    EXPECT_EQ(s.server.smtp_banner, "ESMTP ready");
    EXPECT_EQ(s.listeners.smtp.port, 25);
    EXPECT_EQ(s.listeners.submission.port, 587);
    EXPECT_EQ(s.listeners.smtps.port, 465);
    EXPECT_FALSE(s.listeners.smtps.enabled);
    EXPECT_EQ(s.tls.min_version, tls_version::v1_2);
    EXPECT_EQ(s.tls.client_cert, client_cert_mode::none);
    EXPECT_FALSE(s.auth.allow_plaintext_auth);
    EXPECT_EQ(s.smtp.max_line_length, 512u);
    EXPECT_EQ(s.smtp.bare_lf, bare_lf_policy::reject);
    EXPECT_FALSE(s.metrics.enabled);
    EXPECT_EQ(s.log.level, log_level::info);
    auto problems = validate(s);
    EXPECT_TRUE(errors_of(problems).empty()) << dump(problems);
    // Submission is on by default but no passwd-file is set: a warning, not an error.
    EXPECT_NE(find_problem(problems, "auth.passwd_file"), nullptr) << dump(problems);
}

TEST(config, designated_initializers_and_cross_field_rules) {
    refmaild_settings s{
        .listeners = {.smtps = {.enabled = true, .address = "127.0.0.1", .port = 0}},
        .tls = {.client_cert = client_cert_mode::required},
        .auth = {.passwd_file = "/etc/refmaild/passwd",
                 .failure_delay_base = 5s,
                 .failure_delay_max = 1s},
    };
    auto problems = validate(s, "test");
    EXPECT_NE(find_problem(problems, "listeners.smtps.enabled", "tls.cert_file"), nullptr) << dump(problems);
    EXPECT_NE(find_problem(problems, "tls.client_cert", "tls.ca_file"), nullptr) << dump(problems);
    EXPECT_NE(find_problem(problems, "auth.failure_delay_base", "failure_delay_max"), nullptr) << dump(problems);
    for (const auto& p : problems) EXPECT_EQ(p.line, 0) << p.to_string();  // no file, no lines

    s.tls.cert_file = "/c.pem";
    EXPECT_NE(find_problem(validate(s), "tls.key_file", "set together"), nullptr);
    s.tls.key_file = "/k.pem";
    s.tls.ca_file = "/ca.pem";
    s.auth.failure_delay_base = 1s;
    auto fixed = validate(s);
    EXPECT_TRUE(errors_of(fixed).empty()) << dump(fixed);
}

TEST(config, listeners_must_not_collide) {
    refmaild_settings s{.listeners = {.smtp = {.address = "0.0.0.0", .port = 2525},
                                      .submission = {.address = "127.0.0.1", .port = 2525}},
                        .auth = {.passwd_file = "/p"},
                        .metrics = {.enabled = true, .address = "127.0.0.1", .port = 2525}};
    auto problems = validate(s);
    EXPECT_NE(find_problem(problems, "listeners.submission.port", "listeners.smtp"), nullptr) << dump(problems);
    EXPECT_NE(find_problem(problems, "metrics.port", "listeners.smtp"), nullptr) << dump(problems);
    // Port 0 never collides; different concrete addresses do not either.
    s.listeners.smtp = {.address = "127.0.0.1", .port = 0};
    s.listeners.submission = {.address = "127.0.0.1", .port = 0};
    s.metrics = {.enabled = true, .address = "127.0.0.2", .port = 2525};
    s.listeners.smtps = {.enabled = false, .address = "127.0.0.2", .port = 2525};
    EXPECT_TRUE(errors_of(validate(s)).empty()) << dump(validate(s));
}

TEST(config, empty_document_keeps_defaults) {
    for (std::string_view yaml : {"", "# only a comment\n", "---\n"}) {
        auto r = parse_config(yaml);
        EXPECT_TRUE(r.ok()) << dump(r.problems);
        EXPECT_EQ(r.settings.listeners.smtp.port, 25);
    }
    auto r = parse_config("server:\ntls:\n");  // empty sections keep defaults too
    EXPECT_TRUE(r.ok()) << dump(r.problems);
}

TEST(config, full_fixture_sets_every_key) {
    auto r = load_config(fixtures / "full.yaml");
    ASSERT_TRUE(r.problems.empty()) << dump(r.problems);
    const refmaild_settings& s = r.settings;
    EXPECT_EQ(s.server.hostname, "MX1.Example.NET");
    EXPECT_EQ(s.server.io_threads, 3u);
    EXPECT_EQ(s.server.smtp_banner, "hello there");
    EXPECT_EQ(s.server.pop3_banner, "pop ready");
    EXPECT_EQ(s.server.imap_banner, "imap ready");
    EXPECT_FALSE(s.listeners.smtp.enabled);
    EXPECT_EQ(s.listeners.smtp.address, "0.0.0.0");
    EXPECT_EQ(s.listeners.smtp.port, 2525);
    EXPECT_TRUE(s.listeners.submission.enabled);
    EXPECT_EQ(s.listeners.submission.address, "::1");
    EXPECT_EQ(s.listeners.submission.port, 0);
    EXPECT_TRUE(s.listeners.smtps.enabled);
    EXPECT_EQ(s.listeners.smtps.address, "127.0.0.2");
    EXPECT_EQ(s.listeners.smtps.port, 4650);

    const fs::path dir = fs::absolute(fixtures).lexically_normal();
    EXPECT_EQ(s.tls.cert_file, dir / "tls" / "cert.pem");  // relative to the file's directory
    EXPECT_EQ(s.tls.key_file, "/abs/key.pem");
    EXPECT_EQ(s.tls.ca_file, (dir / ".." / "ca.pem").lexically_normal());
    EXPECT_EQ(s.tls.min_version, tls_version::v1_3);
    EXPECT_EQ(s.tls.ciphers, "ECDHE-ECDSA-AES256-GCM-SHA384");
    EXPECT_EQ(s.tls.ciphersuites, "TLS_AES_256_GCM_SHA384");
    EXPECT_EQ(s.tls.groups, "P-384:X25519");
    EXPECT_EQ(s.tls.client_cert, client_cert_mode::required);
    EXPECT_EQ(s.tls.expiry_warning_days, 7u);

    EXPECT_EQ(s.auth.passwd_file, dir / "users" / "passwd");
    EXPECT_TRUE(s.auth.allow_plaintext_auth);
    EXPECT_EQ(s.auth.failure_delay_base, 250ms);
    EXPECT_EQ(s.auth.failure_delay_max, 2s);

    EXPECT_EQ(s.store.maildir_root, dir / "mail");
    EXPECT_EQ(s.store.data_dir, "/var/tmp/refmaild");
    EXPECT_EQ(s.store.sync, store::sync_mode::syncfs);
    EXPECT_EQ(s.store.batch_delay, 2ms);
    EXPECT_EQ(s.store.max_batch, 64u);

    EXPECT_EQ(s.smtp.max_message_size, 10u << 20);
    EXPECT_EQ(s.smtp.max_recipients, 500u);
    EXPECT_EQ(s.smtp.max_line_length, 2048u);
    EXPECT_EQ(s.smtp.bare_lf, bare_lf_policy::normalize);
    EXPECT_EQ(s.smtp.command_timeout, 10min);
    EXPECT_EQ(s.smtp.data_timeout, 1h);

    EXPECT_EQ(s.local_domains, (std::vector<std::string>{"example.com", "example.org"}));
    EXPECT_TRUE(s.metrics.enabled);
    EXPECT_EQ(s.metrics.address, "::1");
    EXPECT_EQ(s.metrics.port, 9100);
    EXPECT_EQ(s.log.level, log_level::debug);

    EXPECT_EQ(r.key_lines.at("tls.min_version"), 22);
    EXPECT_EQ(r.key_lines.at("listeners.smtps.port"), 17);
}

TEST(config, unknown_keys_are_errors_with_lines_and_suggestions) {
    auto r = load_config(fixtures / "unknown_keys.yaml");
    EXPECT_FALSE(r.ok());
    ASSERT_EQ(r.problems.size(), 3u) << dump(r.problems);
    const std::string file = (fixtures / "unknown_keys.yaml").string();
    EXPECT_EQ(r.problems[0].to_string(),
              file + ":3: error: server: unknown key \"hostnme\" (did you mean \"hostname\"?); keys of server are: "
                     "hostname, io_threads, smtp_banner, pop3_banner, imap_banner");
    EXPECT_EQ(r.problems[1].line, 7);
    EXPECT_EQ(r.problems[1].key, "listeners.smtp");
    EXPECT_NE(r.problems[1].message.find("unknown key \"bind\""), std::string::npos);
    EXPECT_EQ(r.problems[2].line, 8);
    EXPECT_EQ(r.problems[2].key, "");
    EXPECT_NE(r.problems[2].message.find("unknown key \"logging\""), std::string::npos);
    EXPECT_NE(r.problems[2].message.find("top-level keys are: server, listeners, tls"), std::string::npos);
}

TEST(config, bad_values_are_reported_each_with_its_line) {
    auto r = load_config(fixtures / "bad_values.yaml");
    EXPECT_FALSE(r.ok());
    struct expected {
        std::string key;
        int line;
        std::string text;
    };
    const std::vector<expected> table = {
        {"server.io_threads", 2, "expected a whole number from 0 to 4294967295, got \"many\""},
        {"listeners.smtp.port", 5, "expected a whole number from 0 to 65535, got \"70000\""},
        {"listeners.smtp.enabled", 6, "expected true or false, got \"yes\""},
        {"tls.min_version", 8, "expected one of \"1.2\", \"1.3\", got \"1.1\""},
        {"tls.client_cert", 9, "expected one of \"none\", \"optional\", \"required\", got \"sometimes\""},
        {"auth.failure_delay_base", 11, "expected a duration with a unit"},
        {"smtp.max_message_size", 13, "expected a size in octets"},
        {"smtp.command_timeout", 14, "expected a duration with a unit"},
        {"local_domains", 15, "expected a list"},
        {"log.level", 17, "expected a single value, got a list"},
    };
    ASSERT_EQ(r.problems.size(), table.size()) << dump(r.problems);
    for (std::size_t i = 0; i < table.size(); ++i) {
        EXPECT_EQ(r.problems[i].key, table[i].key) << dump(r.problems);
        EXPECT_EQ(r.problems[i].line, table[i].line) << r.problems[i].to_string();
        EXPECT_NE(r.problems[i].message.find(table[i].text), std::string::npos) << r.problems[i].to_string();
        EXPECT_TRUE(r.problems[i].is_error());
    }
}

TEST(config, yaml_syntax_errors_have_a_line) {
    auto r = load_config(fixtures / "syntax_error.yaml");
    ASSERT_EQ(r.problems.size(), 1u) << dump(r.problems);
    EXPECT_GT(r.problems[0].line, 3);
    EXPECT_NE(r.problems[0].message.find("YAML syntax"), std::string::npos) << r.problems[0].to_string();
    auto list = parse_config("- just\n- a list\n");
    ASSERT_EQ(list.problems.size(), 1u);
    EXPECT_NE(list.problems[0].message.find("expected a map of sections"), std::string::npos);
    auto scalar_section = parse_config("tls: yes\n");
    ASSERT_EQ(scalar_section.problems.size(), 1u);
    EXPECT_EQ(scalar_section.problems[0].key, "tls");
    EXPECT_EQ(scalar_section.problems[0].line, 1);
}

TEST(config, unquoted_tls_version_reads_as_text) {
    auto r = parse_config("tls: {min_version: 1.3}\n");
    EXPECT_EQ(r.settings.tls.min_version, tls_version::v1_3) << dump(r.problems);
    EXPECT_FALSE(find_problem(r.problems, "tls.min_version"));
}

TEST(config, duplicate_keys_are_errors) {
    auto r = parse_config("smtp:\n  max_recipients: 10\n  max_recipients: 20\n", "dup.yaml");
    ASSERT_FALSE(r.ok());
    auto p = find_problem(r.problems, "smtp.max_recipients", "duplicate key (first defined on line 2)");
    ASSERT_NE(p, nullptr) << dump(r.problems);
    EXPECT_EQ(p->line, 3);
}

TEST(config, durations_and_sizes) {
    struct duration_case {
        std::string text;
        std::chrono::milliseconds expected;
    };
    for (const auto& [text, expected] : std::vector<duration_case>{
             {"0ms", 0ms}, {"250ms", 250ms}, {"2s", 2s}, {"3m", 3min}, {"1h", 1h}, {"1000us", 1ms}}) {
        auto r = parse_config("auth: {failure_delay_base: " + text + ", failure_delay_max: 1h}\n");
        // failure_delay_max 1h exceeds its limit; only the parsing of the base matters here.
        EXPECT_EQ(r.settings.auth.failure_delay_base, expected) << text;
    }
    for (std::string bad : {"10", "1.5s", "s", "10 s", "10sec", "-1s", "1d", "1us"}) {
        auto r = parse_config("auth: {failure_delay_base: \"" + bad + "\"}\n");
        ASSERT_EQ(r.problems.size(), 1u) << bad << "\n" << dump(r.problems);
        EXPECT_EQ(r.problems[0].key, "auth.failure_delay_base") << bad;
    }
    auto us = parse_config("store: {batch_delay: 500us}\n");
    EXPECT_EQ(us.settings.store.batch_delay, 500us);

    struct size_case {
        std::string text;
        std::uint64_t expected;
    };
    for (const auto& [text, expected] : std::vector<size_case>{{"1024", 1024},
                                                               {"512K", 512u << 10},
                                                               {"512KiB", 512u << 10},
                                                               {"25M", 25u << 20},
                                                               {"1G", 1u << 30},
                                                               {"1GiB", 1u << 30}}) {
        auto r = parse_config("smtp: {max_message_size: " + text + "}\n");
        EXPECT_TRUE(r.ok()) << text << dump(r.problems);
        EXPECT_EQ(r.settings.smtp.max_message_size, expected) << text;
    }
    for (std::string bad : {"25MB", "1T", "M", "-1", "1.5M"}) {
        auto r = parse_config("smtp: {max_message_size: \"" + bad + "\"}\n");
        EXPECT_NE(find_problem(r.problems, "smtp.max_message_size", "expected a size"), nullptr) << bad;
    }
}

TEST(config, semantic_problems_carry_the_yaml_line) {
    auto r = parse_config(
        "server:\n"
        "  hostname: bad_host!\n"
        "  smtp_banner: ESMTP Postfix 3.7.1\n"
        "listeners:\n"
        "  smtp: {address: localhost}\n"
        "smtp:\n"
        "  max_line_length: 100\n"
        "  max_recipients: 50\n"
        "  command_timeout: 30s\n"
        "local_domains: [example.com, \"not a domain\", EXAMPLE.com]\n"
        "tls:\n"
        "  ciphers: NOPE-CIPHER\n"
        "  ciphersuites: TLS_NOPE\n"
        "  groups: P-999\n",
        "sem.yaml");
    EXPECT_FALSE(r.ok());
    auto expect = [&](std::string_view key, std::string_view text, int line, bool error) {
        auto p = find_problem(r.problems, key, text);
        ASSERT_NE(p, nullptr) << key << ": " << text << "\n" << dump(r.problems);
        EXPECT_EQ(p->line, line) << p->to_string();
        EXPECT_EQ(p->is_error(), error) << p->to_string();
        EXPECT_EQ(p->file, "sem.yaml");
    };
    expect("server.hostname", "not a valid host name", 2, true);
    expect("server.smtp_banner", "name the software or its version", 3, false);
    expect("listeners.smtp.address", "not an IPv4 or IPv6 address", 5, true);
    expect("smtp.max_line_length", "512", 7, true);
    expect("smtp.max_recipients", "at least 100", 8, false);
    expect("smtp.command_timeout", "RFC 5321", 9, false);
    expect("local_domains", "\"not a domain\" is not a valid domain name", 10, true);
    expect("local_domains", "listed twice", 10, false);
    expect("tls.ciphers", "NOPE-CIPHER", 12, true);
    expect("tls.ciphersuites", "TLS_NOPE", 13, true);
    expect("tls.groups", "P-999", 14, true);
}

TEST(config, banners_with_line_breaks_are_errors) {
    refmaild_settings s{.server = {.smtp_banner = "ready\r\n250 injected"}, .auth = {.passwd_file = "/p"}};
    auto problems = validate(s);
    EXPECT_NE(find_problem(problems, "server.smtp_banner", "printable ASCII"), nullptr) << dump(problems);
}

TEST(config, problem_text_format) {
    config_problem p{config_problem::severity::warning, "a.yaml", 7, "tls.cert_file", "expires soon"};
    EXPECT_EQ(p.to_string(), "a.yaml:7: warning: tls.cert_file: expires soon");
    p = {config_problem::severity::error, "a.yaml", 0, "", "no such file"};
    EXPECT_EQ(p.to_string(), "a.yaml: error: no such file");
}

TEST(config, load_or_throw) {
    temp_dir tmp;
    write(tmp.path / "bad.yaml", "smtp:\n  max_recipients: lots\nlisteners:\n  smtp: {port: 99999}\n");
    try {
        load_config_or_throw(tmp.path / "bad.yaml");
        FAIL() << "no exception";
    } catch (const config_error& e) {
        std::string what = e.what();
        EXPECT_NE(what.find("bad.yaml:2: error: smtp.max_recipients"), std::string::npos) << what;
        EXPECT_NE(what.find("bad.yaml:4: error: listeners.smtp.port"), std::string::npos) << what;
        EXPECT_EQ(e.problems().size(), 2u);
    }
    write(tmp.path / "good.yaml", "auth: {passwd_file: passwd}\n");
    auto s = load_config_or_throw(tmp.path / "good.yaml");
    EXPECT_EQ(s.auth.passwd_file, tmp.path / "passwd");
    EXPECT_THROW(load_config_or_throw(tmp.path / "missing.yaml"), config_error);
    auto missing = load_config(tmp.path / "missing.yaml");
    ASSERT_EQ(missing.problems.size(), 1u);
    EXPECT_NE(missing.problems[0].message.find("No such file"), std::string::npos) << missing.problems[0].message;
}

TEST(config, example_configuration_loads_cleanly) {
    auto r = load_config(source_dir / "examples" / "refmaild.yaml");
    EXPECT_TRUE(r.problems.empty()) << dump(r.problems);
    EXPECT_EQ(r.settings.server.hostname, "mail.example.com");
    EXPECT_TRUE(r.settings.listeners.smtps.enabled);
    EXPECT_EQ(r.settings.tls.client_cert, client_cert_mode::optional);
}

TEST(config, readme_documents_every_setting) {
    std::ifstream in(source_dir / "README.md");
    ASSERT_TRUE(in) << "reference-server/README.md missing";
    std::ostringstream text;
    text << in.rdbuf();
    std::string readme = text.str();
    EXPECT_GT(known_keys().size(), 40u);
    for (const auto& key : known_keys()) {
        EXPECT_NE(readme.find("| `" + key + "` |"), std::string::npos) << key << " is not in the README table";
    }
}

// --check-config against real files made with the cert and users libraries.
class check_config_test : public ::testing::Test {
protected:
    void SetUp() override {
        ASSERT_TRUE(cert::make_self_signed({.common_name = "mx.example.com", .sans = {"mx.example.com"}},
                                           tmp.path / "tls"));
        auto pw = users::hash_password(users::password_scheme::plain, "pw");
        ASSERT_TRUE(pw);
        write(tmp.path / "passwd", "alice@example.com:" + *pw + "\n");
        fs::create_directories(tmp.path / "mail");
        fs::create_directories(tmp.path / "data");
    }

    std::vector<config_problem> check(const std::string& tls_extra = {}, const std::string& extra = {}) {
        write(tmp.path / "refmaild.yaml",
              "server: {hostname: mx.example.com}\n"
              "listeners: {smtps: {enabled: true, port: 0}, smtp: {port: 0}, submission: {port: 0}}\n"
              "tls:\n"
              "  cert_file: tls/cert.pem\n"
              "  key_file: tls/key.pem\n" +
                  tls_extra +
                  "auth: {passwd_file: passwd}\n"
                  "store: {maildir_root: mail, data_dir: data}\n" +
                  extra);
        return check_config(tmp.path / "refmaild.yaml");
    }

    temp_dir tmp;
};

TEST_F(check_config_test, clean_configuration_has_no_problems) {
    auto problems = check();
    EXPECT_TRUE(problems.empty()) << dump(problems);
}

TEST_F(check_config_test, expired_and_expiring_certificates) {
    ASSERT_TRUE(cert::make_self_signed(
        {.common_name = "mx.example.com", .days = 10, .not_before_offset = -24h * 20}, tmp.path / "tls"));
    auto expired = check();
    auto p = find_problem(expired, "tls.cert_file", "expired 10 days ago");
    ASSERT_NE(p, nullptr) << dump(expired);
    EXPECT_TRUE(p->is_error());
    EXPECT_EQ(p->line, 4);

    ASSERT_TRUE(cert::make_self_signed({.common_name = "mx.example.com", .days = 10}, tmp.path / "tls"));
    auto soon = check();
    p = find_problem(soon, "tls.cert_file", "expires in 9 days (warning threshold: 30)");
    ASSERT_NE(p, nullptr) << dump(soon);
    EXPECT_FALSE(p->is_error());
    EXPECT_TRUE(check("  expiry_warning_days: 0\n").empty());

    ASSERT_TRUE(cert::make_self_signed({.common_name = "mx.example.com", .not_before_offset = 48h}, tmp.path / "tls"));
    EXPECT_NE(find_problem(check(), "tls.cert_file", "not valid yet"), nullptr);
}

TEST_F(check_config_test, certificate_must_match_key_and_host) {
    ASSERT_TRUE(cert::make_self_signed({.common_name = "other"}, tmp.path / "other"));
    fs::copy_file(tmp.path / "other" / "key.pem", tmp.path / "tls" / "key.pem", fs::copy_options::overwrite_existing);
    auto problems = check();
    auto p = find_problem(problems, "tls.key_file", "does not match");
    ASSERT_NE(p, nullptr) << dump(problems);
    EXPECT_EQ(p->line, 5);

    ASSERT_TRUE(cert::make_self_signed({.common_name = "other.example.net"}, tmp.path / "tls"));
    EXPECT_NE(find_problem(check(), "tls.cert_file", "does not name server.hostname"), nullptr);
    ASSERT_TRUE(cert::make_self_signed({.common_name = "w", .sans = {"*.example.com"}}, tmp.path / "tls"));
    EXPECT_TRUE(check().empty()) << dump(check());
}

TEST_F(check_config_test, missing_and_unreadable_files) {
    fs::remove(tmp.path / "tls" / "cert.pem");
    fs::remove(tmp.path / "passwd");
    write(tmp.path / "ca.pem", "not a certificate\n");
    auto problems = check("  ca_file: ca.pem\n  client_cert: optional\n");
    EXPECT_NE(find_problem(problems, "tls.cert_file", "No such file"), nullptr) << dump(problems);
    EXPECT_NE(find_problem(problems, "tls.ca_file", "no certificate found"), nullptr) << dump(problems);
    EXPECT_NE(find_problem(problems, "auth.passwd_file", "No such file"), nullptr) << dump(problems);
    EXPECT_NE(find_problem(problems, "local_domains", "no local domains"), nullptr) << dump(problems);
}

TEST_F(check_config_test, passwd_file_problems_keep_their_own_lines) {
    write(tmp.path / "passwd", "# users\nalice@example.com:{PLAIN}pw\nbob@example.com:{SSHA}xyz\nbroken\n");
    auto problems = check();
    auto errors = errors_of(problems);
    ASSERT_EQ(errors.size(), 2u) << dump(problems);
    EXPECT_EQ(errors[0].file, (tmp.path / "passwd").string());
    EXPECT_EQ(errors[0].line, 3);
    EXPECT_NE(errors[0].message.find("{SSHA}"), std::string::npos);
    EXPECT_EQ(errors[1].line, 4);
}

TEST_F(check_config_test, store_directories) {
    fs::remove_all(tmp.path / "mail");
    auto problems = check();
    auto p = find_problem(problems, "store.maildir_root", "will be created");
    ASSERT_NE(p, nullptr) << dump(problems);
    EXPECT_FALSE(p->is_error());
    EXPECT_TRUE(errors_of(problems).empty()) << dump(problems);

    fs::remove_all(tmp.path / "data");
    write(tmp.path / "data", "a file, not a directory");
    problems = check();
    p = find_problem(problems, "store.data_dir", "is not a directory");
    ASSERT_NE(p, nullptr) << dump(problems);
    EXPECT_TRUE(p->is_error());
    EXPECT_EQ(p->line, 7);
}

TEST_F(check_config_test, yaml_errors_stop_before_file_checks) {
    write(tmp.path / "broken.yaml", "tls: {cert_file: [\n");
    auto problems = check_config(tmp.path / "broken.yaml");
    ASSERT_EQ(problems.size(), 1u) << dump(problems);
    EXPECT_NE(problems[0].message.find("YAML syntax"), std::string::npos);
}

TEST(config, relay_policy_and_limits) {
    auto r = parse_config(
        "policy:\n"
        "  trusted_networks: [10.0.0.0/8, \"2001:db8::/32\"]\n"
        "  null_sender: refuse\n"
        "  relay_requires_from: false\n"
        "smtp:\n"
        "  max_commands_per_session: 50\n"
        "  session_timeout: 10m\n"
        "  max_header_size: 64K\n"
        "  vrfy_reply: \"502\"\n");
    ASSERT_TRUE(r.ok()) << dump(r.problems);
    EXPECT_EQ(r.settings.policy.trusted_networks, (std::vector<std::string>{"10.0.0.0/8", "2001:db8::/32"}));
    EXPECT_EQ(r.settings.policy.null_sender, null_sender_policy::refuse);
    EXPECT_FALSE(r.settings.policy.relay_requires_from);
    EXPECT_EQ(r.settings.smtp.max_commands_per_session, 50u);
    EXPECT_EQ(r.settings.smtp.session_timeout, 10min);
    EXPECT_EQ(r.settings.smtp.max_header_size, 64u << 10);
    EXPECT_EQ(r.settings.smtp.vrfy_reply, 502);

    auto bad = parse_config(
        "policy:\n"
        "  trusted_networks: [10.0.0.1/8]\n"
        "smtp:\n"
        "  session_timeout: 1s\n"
        "  vrfy_reply: \"250\"\n");
    EXPECT_NE(find_problem(bad.problems, "smtp.vrfy_reply"), nullptr) << dump(bad.problems);
    auto sem = parse_config("policy:\n  trusted_networks: [10.0.0.1/8, 0.0.0.0/0]\nsmtp:\n  session_timeout: 1s\n");
    auto* p = find_problem(sem.problems, "policy.trusted_networks", "10.0.0.1/8");
    ASSERT_NE(p, nullptr) << dump(sem.problems);
    EXPECT_EQ(p->line, 2);
    EXPECT_NE(find_problem(sem.problems, "policy.trusted_networks", "open relay"), nullptr) << dump(sem.problems);
    EXPECT_NE(find_problem(sem.problems, "smtp.session_timeout"), nullptr) << dump(sem.problems);
}

TEST(config, processing_rules_parse_into_the_rule_tree) {
    auto r = parse_config(
        "rules:\n"
        "  - name: big\n"
        "    if: {all: [{not: {client_ip: [10.0.0.0/8]}}, {size_over: 10M}]}\n"
        "    then: [{reject: \"552 5.3.4 Too big\"}]\n"
        "  - name: junk\n"
        "    if: {header: {name: X-Spam-Flag, matches: \"(?i)^yes$\"}}\n"
        "    then: [{file_into: Junk}, {add_header: \"X-Filed: junk\"}, stop]\n"
        "  - if: {client_ip: 192.0.2.0/24}\n"
        "    rules:\n"
        "      - if: {recipient: \"*@Lists.example.com\"}\n"
        "        then: [discard]\n");
    ASSERT_TRUE(r.ok()) << dump(r.problems);
    const auto& rs = r.settings.rules.rules;
    ASSERT_EQ(rs.size(), 3u);
    EXPECT_EQ(rs[0].name, "big");
    EXPECT_EQ(rs[0].when.type, rules::condition::kind::all);
    ASSERT_EQ(rs[0].when.children.size(), 2u);
    EXPECT_EQ(rs[0].when.children[0].type, rules::condition::kind::negate);
    EXPECT_EQ(rs[0].when.children[1].size, 10u << 20);
    EXPECT_EQ(rs[0].actions[0].code, 552);
    EXPECT_NE(rs[1].when.regex, nullptr);
    ASSERT_EQ(rs[1].actions.size(), 3u);
    EXPECT_EQ(rs[1].actions[0].name, "Junk");
    EXPECT_EQ(rs[1].actions[1].name, "X-Filed");
    EXPECT_EQ(rs[1].actions[1].text, "junk");
    EXPECT_EQ(rs[1].actions[2].type, rules::action::kind::stop);
    ASSERT_EQ(rs[2].rules.size(), 1u);
    EXPECT_EQ(rs[2].rules[0].when.pattern, "*@lists.example.com");
    EXPECT_EQ(rs[2].rules[0].actions[0].type, rules::action::kind::discard);

    // Evaluated as configured: the nested rule discards list mail from 192.0.2.0/24.
    std::vector<std::string> rcpts{"x@lists.example.com"};
    std::vector<mailharness::mail::header_field> headers;
    auto d = rules::evaluate(r.settings.rules, {.client_ip = "192.0.2.9", .recipients = &rcpts, .headers = &headers, .size = 10});
    EXPECT_EQ(d.outcome, rules::decision::verdict::discard);
}

TEST(config, bad_rules_are_reported_with_their_lines) {
    struct bad_case {
        std::string yaml;
        std::string key;
        int line;
    };
    const std::vector<bad_case> cases = {
        {"rules:\n  - if: {colour: red}\n    then: [stop]\n", "rules[0].if.colour", 2},
        {"rules:\n  - if: {header: {name: X, matches: \"(\"}}\n    then: [stop]\n", "rules[0].if.header.matches", 2},
        {"rules:\n  - then: [{reject: \"250 ok\"}]\n", "rules[0].then[0].reject", 2},
        {"rules:\n  - then: [{file_into: ../etc}]\n", "rules[0].then[0].file_into", 2},
        {"rules:\n  - then: [{add_header: \"no colon\"}]\n", "rules[0].then[0].add_header", 2},
        {"rules:\n  - name: x\n", "rules[0]", 2},
        {"rules:\n  - then: [explode]\n", "rules[0].then[0]", 2},
        {"rules:\n  - if: {client_ip: [999.1.1.1]}\n    then: [stop]\n", "rules[0].if.client_ip", 2},
        {"rules:\n  - colour: red\n    then: [stop]\n", "rules[0].colour", 2},
    };
    for (const auto& c : cases) {
        auto r = parse_config(c.yaml);
        ASSERT_FALSE(r.ok()) << c.yaml;
        auto* p = find_problem(r.problems, c.key);
        ASSERT_NE(p, nullptr) << c.yaml << dump(r.problems);
        EXPECT_EQ(p->line, c.line) << c.yaml << dump(r.problems);
    }
    // Nesting is bounded.
    std::string deep = "rules:\n";
    std::string indent = "  ";
    for (int i = 0; i < 20; ++i) {
        deep += indent + "- rules:\n";
        indent += "    ";
    }
    deep += indent + "- then: [stop]\n";
    auto r = parse_config(deep);
    EXPECT_FALSE(r.ok());
}

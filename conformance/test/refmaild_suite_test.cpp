// The shipped SMTP suite against refmaild: the server object on loopback port 0 with a
// self-signed certificate (so STARTTLS cases run and the certificate is verified), and the
// runner library as mailconform uses it.
#include "mailharness/refmaild/server.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <sstream>

#include "mailharness/conform/report.hpp"
#include "mailharness/conform/runner.hpp"
#include "mailharness/refmaild/cert_tool.hpp"

namespace fs = std::filesystem;
using namespace mailharness;
using namespace mailharness::conform;

namespace {

class conform_refmaild : public ::testing::Test {
protected:
    void SetUp() override {
        std::random_device rd;
        dir_ = fs::temp_directory_path() / ("mailconform-test-" + std::to_string(rd()));
        fs::create_directories(dir_);
        std::ofstream(dir_ / "passwd") << "alice@example.test:{PLAIN}wonderland\nbob@example.test:{PLAIN}builder\n";
        auto pem = refmaild::cert::make_self_signed({.common_name = "mx.example.test", .sans = {"127.0.0.1"}}, dir_ / "tls");
        ASSERT_TRUE(pem) << pem.error().message();
        refmaild::config::refmaild_settings s;
        s.server.hostname = "mx.example.test";
        s.server.io_threads = 1;
        s.listeners.smtp = {.enabled = true, .address = "127.0.0.1", .port = 0};
        s.listeners.submission.enabled = false;
        s.listeners.smtps.enabled = false;
        s.tls.cert_file = pem->cert_file;
        s.tls.key_file = pem->key_file;
        s.auth.passwd_file = dir_ / "passwd";
        s.store.maildir_root = dir_ / "maildir";
        s.store.data_dir = dir_ / "data";
        s.smtp.max_message_size = 1 << 20;
        // The suite sends an overlong line; a ban would refuse every later case from 127.0.0.1.
        s.policy.long_line_ban = std::chrono::milliseconds(0);
        settings_ = s;
        start();
        target_.host = "127.0.0.1";
        target_.tls = tls_mode::starttls;
        target_.cafile = pem->cert_file.string();
        target_.local_domain = "example.test";
        target_.remote_domain = "example.net";
        target_.rcpt = "bob@example.test";
        target_.user = "alice@example.test";
        target_.password = "wonderland";
        target_.timeout = std::chrono::milliseconds(5000);
        target_.quiet_time = std::chrono::milliseconds(500);
    }
    // (Re)starts the server with settings_ and points the target at it.
    void start() {
        if (srv_) {
            srv_->stop();
            srv_->wait();
        }
        srv_ = std::make_unique<refmaild::server>(settings_);
        srv_->start();
        target_.port = srv_->ports().at("smtp");
    }
    void TearDown() override {
        if (srv_) {
            srv_->stop();
            srv_->wait();
        }
        fs::remove_all(dir_);
    }

    fs::path dir_;
    refmaild::config::refmaild_settings settings_;
    std::unique_ptr<refmaild::server> srv_;
    target target_;
};

std::string failures(const std::vector<case_result>& results) {
    std::ostringstream s;
    mailharness::reports::write_conformance_summary(s, to_report(results));
    for (const auto& r : results) {
        if (r.outcome == outcome::failed) s << "--- " << r.tc->id << " transcript:\n" << r.transcript;
    }
    return s.str();
}

}  // namespace

TEST_F(conform_refmaild, every_smtp_case_passes) {
    const auto cases = load_suite(MH_CONFORM_SUITE_DIR);
    const auto results = run_cases(cases, target_, {.allow_destructive = true, .only = {"smtp"}}, nullptr);
    ASSERT_GE(results.size(), 15u);
    const auto t = count(results);
    EXPECT_EQ(t.failed, 0) << failures(results);
    // refmaild advertises every extension the suite requires here, and destructive cases are
    // allowed: nothing may be skipped.
    EXPECT_EQ(t.skipped, 0) << failures(results);
    // The destructive cases delivered their messages, dot-unstuffed (DATA) and whole (BDAT).
    std::string all;
    const auto box = dir_ / "maildir" / "example.test" / "bob" / "Maildir" / "new";
    if (fs::exists(box)) {
        for (const auto& e : fs::directory_iterator(box)) {
            std::ifstream f(e.path(), std::ios::binary);
            all.append(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
        }
    }
    EXPECT_NE(all.find("Subject: mailconform delivery\r\n\r\nbody\r\n.a stuffed line\r\n"), std::string::npos);
    EXPECT_NE(all.find("Subject: chunked\r\n\r\nfirst\r\n.\r\nsecond\r\n"), std::string::npos);
    // The fixture message: its LF lines sent as CRLF, ${var}s expanded, the stuffed dot removed.
    EXPECT_NE(all.find("To: <bob@example.test>\r\nSubject: mailconform fixture: a MIME message\r\n"), std::string::npos);
    EXPECT_NE(all.find("A plain text part.\r\n.this line starts with a dot"), std::string::npos);
}

// The runner must be able to fail: a case expecting what refmaild does not do fails, names its
// line, and a case requiring an absent capability is skipped.
TEST_F(conform_refmaild, wrong_expectations_fail_and_missing_capability_skips) {
    const std::string head = "title: t\nprotocol: smtp\nrfc: RFC 5321 4.2\nlevel: MUST\ncategory: protocol\n";
    std::vector<test_case> cases;
    cases.push_back(parse_case("id: wrong-greeting\n" + head +
                                   "steps:\n  - connect:\n  - expect: \"^554\"\n",
                               "wrong.yaml"));
    cases.push_back(parse_case("id: wrong-code\n" + head +
                                   "steps:\n  - connect:\n  - expect: \"\"\n  - send: NOOP\n  - expect: \"\"\n    code: 500\n",
                               "code.yaml"));
    cases.push_back(parse_case("id: extra-reply\n" + head +
                                   "steps:\n  - connect:\n  - expect: \"\"\n  - send: NOOP\n  - expect_not: \".\"\n",
                               "extra.yaml"));
    cases.push_back(parse_case("id: needs-cap\n" + head + "requires: [X-NOT-THERE]\n" +
                                   "steps:\n  - connect:\n  - expect: \"^220\"\n",
                               "cap.yaml"));
    cases.push_back(parse_case("id: quit-ok\n" + head +
                                   "steps:\n  - connect:\n  - expect: \"^220 mx\\\\.example\\\\.test\"\n"
                                   "  - send: QUIT\n  - expect: \"^221\"\n  - expect_closed: true\n",
                               "quit.yaml"));
    cases.push_back(parse_case("id: slow\n" + head +
                                   "steps:\n  - connect:\n  - expect: \"^220\"\n  - expect: \"\"\n    timeout_ms: 200\n",
                               "slow.yaml"));
    const auto results = run_cases(cases, target_, {}, nullptr);
    ASSERT_EQ(results.size(), 6u);
    // A step's own timeout replaces the target's (5 s here).
    EXPECT_EQ(results[5].outcome, outcome::failed);
    EXPECT_EQ(results[5].message, "no reply within 200 ms");
    EXPECT_LT(results[5].duration, std::chrono::milliseconds(2000));
    EXPECT_EQ(results[0].outcome, outcome::failed);
    EXPECT_EQ(results[0].line, 9);  // the expect step: header 6 lines, steps:, connect
    EXPECT_NE(results[0].message.find("does not match"), std::string::npos) << results[0].message;
    EXPECT_EQ(results[1].outcome, outcome::failed);
    EXPECT_NE(results[1].message.find("expected code 500, got \"250"), std::string::npos) << results[1].message;
    EXPECT_EQ(results[2].outcome, outcome::failed);
    EXPECT_NE(results[2].message.find("unexpected reply"), std::string::npos) << results[2].message;
    EXPECT_EQ(results[3].outcome, outcome::skipped);
    EXPECT_EQ(results[4].outcome, outcome::passed) << results[4].message << '\n' << results[4].transcript;
}

TEST_F(conform_refmaild, certificate_verification_is_enforced) {
    // Without the CA file the self-signed certificate must not verify (system store only).
    target_.cafile.clear();
    const std::string head = "title: t\nprotocol: smtp\nrfc: RFC 3207 4\nlevel: MUST\ncategory: tls\n";
    std::vector<test_case> cases;
    cases.push_back(parse_case("id: tls\n" + head +
                                   "steps:\n  - connect:\n  - expect: \"^220\"\n  - send: EHLO x.test\n  - expect: \"\"\n"
                                   "  - send: STARTTLS\n  - expect: \"^220\"\n  - starttls: true\n",
                               "tls.yaml"));
    auto results = run_cases(cases, target_, {}, nullptr);
    ASSERT_EQ(results.size(), 1u);
    EXPECT_EQ(results[0].outcome, outcome::failed);
    EXPECT_NE(results[0].message.find("certificate"), std::string::npos) << results[0].message;
    target_.insecure = true;
    results = run_cases(cases, target_, {}, nullptr);
    EXPECT_EQ(results[0].outcome, outcome::passed) << results[0].message;
}


// With plaintext AUTH allowed, refmaild offers PLAIN before STARTTLS: the tls case must say so.
TEST_F(conform_refmaild, plaintext_auth_before_starttls_is_caught) {
    settings_.auth.allow_plaintext_auth = true;
    start();
    const auto cases = load_suite(MH_CONFORM_SUITE_DIR);
    const auto results = run_cases(cases, target_, {.only = {"smtp-auth-plaintext-not-before-starttls"}}, nullptr);
    ASSERT_EQ(results.size(), 1u);
    EXPECT_EQ(results[0].outcome, outcome::failed) << results[0].transcript;
}

// A server that takes only TLS 1.3 must fail the TLS 1.2 case, and still refuse TLS 1.0/1.1 (the
// refusal comes from the server: these cases are not skipped); the TLS 1.3 cases pass.
TEST_F(conform_refmaild, tls_version_cases_follow_the_server_minimum) {
    settings_.tls.min_version = refmaild::config::tls_version::v1_3;
    start();
    const auto cases = load_suite(MH_CONFORM_SUITE_DIR);
    const auto results = run_cases(cases, target_, {.only = {"tls-version"}}, nullptr);
    ASSERT_EQ(results.size(), 5u);
    for (const auto& r : results) {
        if (r.tc->id == "smtp-tls-accepts-tls12") {
            EXPECT_EQ(r.outcome, outcome::failed) << r.transcript;
        } else {
            EXPECT_EQ(r.outcome, outcome::passed) << r.tc->id << ": " << r.message << '\n' << r.transcript;
            if (r.tc->id.find("refuses") != std::string::npos) {
                EXPECT_NE(r.transcript.find("-- refused: TLS handshake failed"), std::string::npos) << r.transcript;
            }
        }
    }
}

// The TLS 1.3 cases pass against refmaild; the version check judges what was negotiated, so a
// handshake held to TLS 1.2 (by this client here; by a TLS 1.2-only server elsewhere) fails it.
TEST_F(conform_refmaild, version_check_judges_the_negotiated_version) {
    const auto cases = load_suite(MH_CONFORM_SUITE_DIR);
    auto results = run_cases(cases, target_, {.only = {"smtp-tls-prefers-tls13", "smtp-tls-accepts-tls13"}}, nullptr);
    ASSERT_EQ(results.size(), 2u);
    for (const auto& r : results) EXPECT_EQ(r.outcome, outcome::passed) << r.tc->id << ": " << r.message;

    auto held_to = [](const std::string& min) {
        return parse_case("id: v" + min + "\ntitle: t\nprotocol: smtp\nrfc: RFC 9325 3.1.1\nlevel: SHOULD\ncategory: tls\n"
                          "steps:\n  - connect:\n  - expect: \"^220\"\n  - send: EHLO x.test\n  - expect: \"^250\"\n"
                          "  - send: STARTTLS\n  - expect: \"^220\"\n  - starttls: true\n    tls_version: \"1.2\"\n"
                          "  - tls_check: version\n    min: \"" + min + "\"\n",
                          "v.yaml");
    };
    results = run_cases({held_to("1.3"), held_to("1.2")}, target_, {}, nullptr);
    ASSERT_EQ(results.size(), 2u);
    EXPECT_EQ(results[0].outcome, outcome::failed) << results[0].transcript;
    EXPECT_EQ(results[0].message, "tls_check version: negotiated TLSv1.2; at least TLSv1.3 expected");
    EXPECT_EQ(results[1].outcome, outcome::passed) << results[1].message;
}

// Several named connections in one case: each keeps its own session state.
TEST_F(conform_refmaild, named_connections_are_independent) {
    const auto c = parse_case(R"yaml(id: two-connections
title: t
protocol: smtp
rfc: RFC 5321 4.1.4
level: MUST
category: protocol
steps:
  - connect: a
  - expect: "^220"
  - connect: b
  - expect: "^220"
  - send: "EHLO ${local_domain}"
  - expect: "^250"
  - use: a
  - send: "MAIL FROM:<x@${local_domain}>"
  - expect: "^503"
  - use: b
  - send: "MAIL FROM:<x@${local_domain}>"
  - expect: "^250"
  - use: a
  - send: QUIT
  - expect: "^221"
  - expect_closed: true
  - use: b
  - send: NOOP
  - expect: "^250"
)yaml",
                              "two.yaml");
    const auto results = run_cases({c}, target_, {}, nullptr);
    ASSERT_EQ(results.size(), 1u);
    EXPECT_EQ(results[0].outcome, outcome::passed) << results[0].message << '\n' << results[0].transcript;
}

// With AUTH failure delays of a few milliseconds, the throttling case must fail.
TEST_F(conform_refmaild, fast_auth_failures_fail_the_throttling_case) {
    settings_.auth.failure_delay_base = std::chrono::milliseconds(5);
    settings_.auth.failure_delay_max = std::chrono::milliseconds(20);
    start();
    const auto cases = load_suite(MH_CONFORM_SUITE_DIR);
    const auto results = run_cases(cases, target_, {.only = {"smtp-auth-failure-throttling"}}, nullptr);
    ASSERT_EQ(results.size(), 1u);
    EXPECT_EQ(results[0].outcome, outcome::failed) << results[0].transcript;
    EXPECT_NE(results[0].message.find("at least 500 ms expected"), std::string::npos) << results[0].message;
}

// Implicit TLS (RFC 8314): the connection and the capability probe are TLS from the first byte;
// STARTTLS cases are skipped there.
TEST_F(conform_refmaild, implicit_tls_target) {
    settings_.listeners.smtps = {.enabled = true, .address = "127.0.0.1", .port = 0};
    start();
    target_.port = srv_->ports().at("smtps");
    target_.tls = tls_mode::implicit;
    const auto cases = load_suite(MH_CONFORM_SUITE_DIR);
    const auto results = run_cases(
        cases, target_,
        {.only = {"smtp-greeting", "smtp-ehlo-capabilities", "smtp-quit", "smtp-starttls-command-injection"}}, nullptr);
    ASSERT_EQ(results.size(), 4u);
    for (const auto& r : results) {
        if (r.tc->id == "smtp-starttls-command-injection") {
            EXPECT_EQ(r.outcome, outcome::skipped) << r.message;
            EXPECT_EQ(r.message, "STARTTLS case, target is implicit TLS");
        } else {
            EXPECT_EQ(r.outcome, outcome::passed) << r.tc->id << ": " << r.message << '\n' << r.transcript;
        }
    }
}

// The certificate cases against refmaild serving deliberately bad certificates made with the
// repo's certificate tool: each case fails exactly when its property is broken, and says so.
TEST_F(conform_refmaild, certificate_cases_name_what_is_wrong) {
    namespace cert = refmaild::cert;
    using namespace std::chrono_literals;
    const auto dir = dir_ / "certs";
    fs::create_directories(dir);
    const std::vector<std::string> sans{"127.0.0.1", "mx.example.test"};
    auto root = cert::make_ca({.common_name = "conform test root"}, dir / "root");
    ASSERT_TRUE(root) << root.error().message();
    auto inter = cert::issue({.common_name = "conform test intermediate", .is_ca = true}, *root, dir, "inter");
    ASSERT_TRUE(inter) << inter.error().message();
    auto rogue = cert::make_ca({.common_name = "rogue root"}, dir / "rogue");
    ASSERT_TRUE(rogue) << rogue.error().message();
    auto make = [&](const std::string& name, cert::cert_options o, const cert::pem_paths& by) {
        auto p = cert::issue(o, by, dir, name);
        if (!p) throw std::runtime_error(name + ": " + p.error().message());
        return *p;
    };
    // A certificate file with the issuer's certificate after the leaf.
    auto with_issuer = [&](const cert::pem_paths& leaf, const cert::pem_paths& issuer) {
        std::ifstream a(leaf.cert_file), b(issuer.cert_file);
        std::ofstream(leaf.cert_file.string() + ".chain") << a.rdbuf() << b.rdbuf();
        return cert::pem_paths{leaf.cert_file.string() + ".chain", leaf.key_file};
    };
    const auto good = make("good", {.common_name = "mx.example.test", .sans = sans}, *inter);
    const auto self = cert::make_self_signed({.common_name = "mx.example.test", .sans = sans}, dir / "self");
    ASSERT_TRUE(self);
    const auto untrusted = make("untrusted", {.common_name = "mx.example.test", .sans = sans}, *rogue);
    const auto expired = make("expired", {.common_name = "mx.example.test", .sans = sans, .days = 1, .not_before_offset = -72h}, *root);
    const auto future = make("future", {.common_name = "mx.example.test", .sans = sans, .days = 30, .not_before_offset = 48h}, *root);
    const auto other = make("other", {.common_name = "other.example.test", .sans = {"other.example.test"}}, *root);
    const auto soon = make("soon", {.common_name = "mx.example.test", .sans = sans, .days = 5}, *root);

    struct scenario {
        const char* name;
        cert::pem_paths served;
        // The cases expected to fail, each with a piece of its message; every other case passes.
        std::map<std::string, std::string> failing;
    };
    const std::string validity = "smtp-tls-certificate-in-validity-period", hostname = "smtp-tls-certificate-hostname",
                      chain = "smtp-tls-certificate-chain", expiry = "smtp-tls-certificate-expiry-horizon",
                      verifies = "smtp-tls-certificate-verifies";
    const std::vector<scenario> scenarios{
        {"full chain from a trusted root", with_issuer(good, *inter), {}},
        {"incomplete chain (intermediate not sent)", good,
         {{chain, "incomplete chain or unknown issuer: \"CN=conform test intermediate\""}, {verifies, "certificate"}}},
        {"self-signed", *self, {{chain, "untrusted issuer: the certificate \"CN=mx.example.test\" is self-signed"}, {verifies, "certificate"}}},
        {"issued by an untrusted root (sent along)", with_issuer(untrusted, *rogue),
         {{chain, "untrusted issuer: the chain ends in the root \"CN=rogue root\""}, {verifies, "certificate"}}},
        {"expired", expired,
         {{validity, "expired: \"CN=mx.example.test\" was valid until"}, {expiry, "expires within 14 days"}, {verifies, "expired"}}},
        {"not yet valid", future, {{validity, "not yet valid: \"CN=mx.example.test\" is valid from"}, {verifies, "not yet valid"}}},
        {"for another host", other,
         {{hostname, "hostname mismatch: \"CN=other.example.test\" does not name 127.0.0.1 (DNS:other.example.test)"},
          {verifies, "certificate"}}},
        {"expiring in 5 days", soon, {{expiry, "expires within 14 days: \"CN=mx.example.test\" is valid until"}}},
    };
    target_.cafile = (dir / "root" / "ca.pem").string();
    const auto cases = load_suite(MH_CONFORM_SUITE_DIR);
    for (const auto& sc : scenarios) {
        SCOPED_TRACE(sc.name);
        settings_.tls.cert_file = sc.served.cert_file;
        settings_.tls.key_file = sc.served.key_file;
        start();
        const auto results = run_cases(cases, target_, {.only = {"certificate"}}, nullptr);
        ASSERT_EQ(results.size(), 5u);
        for (const auto& r : results) {
            auto it = sc.failing.find(r.tc->id);
            if (it == sc.failing.end()) {
                EXPECT_EQ(r.outcome, outcome::passed) << r.tc->id << ": " << r.message << '\n' << r.transcript;
            } else {
                EXPECT_EQ(r.outcome, outcome::failed) << r.tc->id << '\n' << r.transcript;
                EXPECT_NE(r.message.find(it->second), std::string::npos) << r.tc->id << ": " << r.message;
            }
        }
    }
    // The name checked is the target's tls_name when set (and sent as SNI): a DNS name here.
    settings_.tls.cert_file = other.cert_file;
    settings_.tls.key_file = other.key_file;
    start();
    target_.tls_name = "other.example.test";
    auto results = run_cases(cases, target_, {.only = {hostname}}, nullptr);
    ASSERT_EQ(results.size(), 1u);
    EXPECT_EQ(results[0].outcome, outcome::passed) << results[0].message;
    // A longer warning horizon catches the 365-day certificate too.
    target_.tls_name.clear();
    target_.cert_warn_days = 400;
    results = run_cases(cases, target_, {.only = {expiry}}, nullptr);
    ASSERT_EQ(results.size(), 1u);
    EXPECT_EQ(results[0].outcome, outcome::failed);
    EXPECT_NE(results[0].message.find("expires within 400 days"), std::string::npos) << results[0].message;
}

#include "mailharness/refmaild/cert_tool.hpp"

#include <gtest/gtest.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>

namespace fs = std::filesystem;
using namespace mailharness::refmaild::cert;
using namespace std::chrono_literals;

namespace {

struct temp_dir {
    fs::path path;
    temp_dir() {
        std::string tmpl = (fs::temp_directory_path() / "mh-cert-XXXXXX").string();
        path = ::mkdtemp(tmpl.data());
    }
    ~temp_dir() {
        std::error_code ec;
        fs::remove_all(path, ec);
    }
};

struct command_result {
    int status = -1;  // exit status
    std::string out;  // stdout + stderr
};

// The judge: the openssl command-line tool.
command_result openssl(const std::string& args) {
    command_result r;
    FILE* p = ::popen(("openssl " + args + " 2>&1").c_str(), "r");
    if (p == nullptr) return r;
    char buf[1024];
    while (std::fgets(buf, sizeof buf, p)) r.out += buf;
    int st = ::pclose(p);
    r.status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    return r;
}

std::string q(const fs::path& p) { return "'" + p.string() + "'"; }

unsigned mode_of(const fs::path& p) {
    struct stat st {};
    EXPECT_EQ(::stat(p.c_str(), &st), 0) << p;
    return st.st_mode & 0777;
}

bool contains(const std::string& haystack, std::string_view needle) {
    return haystack.find(needle) != std::string::npos;
}

}  // namespace

TEST(cert_tool, self_signed_ecdsa_with_dns_and_ip_names) {
    temp_dir tmp;
    auto paths = make_self_signed({.common_name = "mail.example",
                                   .organization = "mailharness test",
                                   .sans = {"mail.example", "*.mail.example", "127.0.0.1", "::1"}},
                                  tmp.path / "tls");
    ASSERT_TRUE(paths) << paths.error().message();
    EXPECT_EQ(paths->cert_file, tmp.path / "tls" / "cert.pem");
    EXPECT_EQ(paths->key_file, tmp.path / "tls" / "key.pem");
    EXPECT_EQ(mode_of(paths->key_file), 0600u);
    EXPECT_EQ(mode_of(paths->cert_file), 0644u);

    auto text = openssl("x509 -in " + q(paths->cert_file) + " -noout -text");
    ASSERT_EQ(text.status, 0) << text.out;
    EXPECT_TRUE(contains(text.out, "Version: 3")) << text.out;
    EXPECT_TRUE(contains(text.out, "Subject: O = mailharness test, CN = mail.example")) << text.out;
    EXPECT_TRUE(contains(text.out, "DNS:mail.example, DNS:*.mail.example, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1"))
        << text.out;
    EXPECT_TRUE(contains(text.out, "ASN1 OID: prime256v1")) << text.out;
    EXPECT_TRUE(contains(text.out, "ecdsa-with-SHA256")) << text.out;
    EXPECT_TRUE(contains(text.out, "CA:FALSE")) << text.out;
    EXPECT_TRUE(contains(text.out, "TLS Web Server Authentication")) << text.out;

    auto verify = openssl("verify -CAfile " + q(paths->cert_file) + " " + q(paths->cert_file));
    EXPECT_EQ(verify.status, 0) << verify.out;
    auto key_check = openssl("pkey -in " + q(paths->key_file) + " -noout -check");
    EXPECT_EQ(key_check.status, 0) << key_check.out;
    // The key belongs to the certificate: same public key.
    auto pub_cert = openssl("x509 -in " + q(paths->cert_file) + " -noout -pubkey");
    auto pub_key = openssl("pkey -in " + q(paths->key_file) + " -pubout");
    EXPECT_EQ(pub_cert.out, pub_key.out);
    EXPECT_FALSE(check_key_pair(paths->cert_file, paths->key_file));

    auto info = check(paths->cert_file);
    ASSERT_TRUE(info) << info.error().message();
    EXPECT_EQ(info->subject, "CN=mail.example,O=mailharness test");
    EXPECT_EQ(info->common_name, "mail.example");
    EXPECT_EQ(info->issuer, info->subject);
    EXPECT_EQ(info->dns_names, (std::vector<std::string>{"mail.example", "*.mail.example"}));
    EXPECT_EQ(info->ip_addresses, (std::vector<std::string>{"127.0.0.1", "::1"}));
    EXPECT_EQ(info->key_type, "EC P-256");
    EXPECT_EQ(info->key_bits, 256);
    EXPECT_TRUE(info->self_signed);
    EXPECT_FALSE(info->is_ca);
    EXPECT_FALSE(info->expired);
    EXPECT_FALSE(info->not_yet_valid);
    EXPECT_TRUE(info->days_left == 364 || info->days_left == 365) << info->days_left;
    EXPECT_EQ(info->signature_algorithm, "ecdsa-with-SHA256");
    EXPECT_EQ(info->not_after - info->not_before, std::chrono::hours(24 * 365));

    // Serial and fingerprint agree with openssl's.
    auto serial = openssl("x509 -in " + q(paths->cert_file) + " -noout -serial");
    EXPECT_EQ(serial.out, "serial=" + info->serial_hex + "\n");
    auto fp = openssl("x509 -in " + q(paths->cert_file) + " -noout -fingerprint -sha256");
    EXPECT_TRUE(contains(fp.out, info->sha256_fingerprint)) << fp.out;
}

TEST(cert_tool, leaf_without_sans_gets_its_common_name_as_san) {
    auto pair = generate_self_signed({.common_name = "localhost"});
    ASSERT_TRUE(pair);
    auto info = inspect_pem(pair->cert_pem);
    ASSERT_TRUE(info);
    EXPECT_EQ(info->dns_names, (std::vector<std::string>{"localhost"}));
    auto ip = inspect_pem(generate_self_signed({.common_name = "192.0.2.7"})->cert_pem);
    EXPECT_EQ(ip->ip_addresses, (std::vector<std::string>{"192.0.2.7"}));
    EXPECT_TRUE(ip->dns_names.empty());
}

TEST(cert_tool, rsa_keys) {
    temp_dir tmp;
    for (auto [type, bits] : {std::pair{key_type::rsa_2048, 2048}, std::pair{key_type::rsa_3072, 3072}}) {
        auto dir = tmp.path / std::to_string(bits);
        auto paths = make_self_signed({.common_name = "rsa.example", .key = type}, dir);
        ASSERT_TRUE(paths) << paths.error().message();
        auto text = openssl("x509 -in " + q(paths->cert_file) + " -noout -text");
        EXPECT_TRUE(contains(text.out, "Public-Key: (" + std::to_string(bits) + " bit)")) << text.out;
        EXPECT_TRUE(contains(text.out, "sha256WithRSAEncryption")) << text.out;
        EXPECT_TRUE(contains(text.out, "Key Encipherment")) << text.out;
        auto key_check = openssl("pkey -in " + q(paths->key_file) + " -noout -check");
        EXPECT_EQ(key_check.status, 0) << key_check.out;
        auto info = check(paths->cert_file);
        ASSERT_TRUE(info);
        EXPECT_EQ(info->key_type, "RSA");
        EXPECT_EQ(info->key_bits, bits);
        EXPECT_FALSE(check_key_pair(paths->cert_file, paths->key_file));
    }
}

TEST(cert_tool, already_expired_certificate) {
    temp_dir tmp;
    auto paths = make_self_signed({.common_name = "old.example", .days = 10, .not_before_offset = -24h * 20}, tmp.path);
    ASSERT_TRUE(paths);
    auto verify = openssl("verify -CAfile " + q(paths->cert_file) + " " + q(paths->cert_file));
    EXPECT_NE(verify.status, 0);
    EXPECT_TRUE(contains(verify.out, "certificate has expired")) << verify.out;
    auto checkend = openssl("x509 -in " + q(paths->cert_file) + " -noout -checkend 0");
    EXPECT_EQ(checkend.status, 1) << checkend.out;

    auto info = check(paths->cert_file);
    ASSERT_TRUE(info);
    EXPECT_TRUE(info->expired);
    EXPECT_FALSE(info->not_yet_valid);
    EXPECT_EQ(info->days_left, -10);
    EXPECT_TRUE(contains(report(*info), "status:      EXPIRED 10 days ago\n")) << report(*info);
}

TEST(cert_tool, not_yet_valid_certificate) {
    temp_dir tmp;
    auto paths = make_self_signed({.common_name = "future.example", .not_before_offset = 24h * 2}, tmp.path);
    ASSERT_TRUE(paths);
    auto verify = openssl("verify -CAfile " + q(paths->cert_file) + " " + q(paths->cert_file));
    EXPECT_NE(verify.status, 0);
    EXPECT_TRUE(contains(verify.out, "certificate is not yet valid")) << verify.out;
    auto info = check(paths->cert_file);
    ASSERT_TRUE(info);
    EXPECT_TRUE(info->not_yet_valid);
    EXPECT_FALSE(info->expired);
    EXPECT_TRUE(contains(report(*info), "status:      NOT YET VALID")) << report(*info);
}

TEST(cert_tool, days_left_is_relative_to_now) {
    auto pair = generate_self_signed({.days = 30});
    ASSERT_TRUE(pair);
    auto now = std::chrono::system_clock::now();
    EXPECT_EQ(inspect_pem(pair->cert_pem, now + 24h * 10 + 1h)->days_left, 19);
    EXPECT_EQ(inspect_pem(pair->cert_pem, now + 24h * 30 - 1h)->days_left, 0);
    auto late = inspect_pem(pair->cert_pem, now + 24h * 30 + 1h);
    EXPECT_EQ(late->days_left, 0);
    EXPECT_TRUE(late->expired);
    EXPECT_TRUE(contains(report(*late), "EXPIRED less than a day ago")) << report(*late);
    auto later = inspect_pem(pair->cert_pem, now + 24h * 31 + 1h);
    EXPECT_EQ(later->days_left, -1);
    EXPECT_TRUE(contains(report(*later), "EXPIRED 1 day ago\n")) << report(*later);
}

TEST(cert_tool, ca_issues_server_and_client_certificates) {
    temp_dir tmp;
    auto ca = make_ca({.common_name = "mailharness test CA", .days = 3650, .key = key_type::rsa_2048}, tmp.path);
    ASSERT_TRUE(ca) << ca.error().message();
    EXPECT_EQ(ca->cert_file, tmp.path / "ca.pem");
    EXPECT_EQ(ca->key_file, tmp.path / "ca-key.pem");
    EXPECT_EQ(mode_of(ca->key_file), 0600u);

    auto server = issue({.common_name = "mx.example", .sans = {"mx.example", "127.0.0.1"}}, *ca, tmp.path, "server");
    ASSERT_TRUE(server) << server.error().message();
    EXPECT_EQ(server->cert_file, tmp.path / "server.pem");
    EXPECT_EQ(server->key_file, tmp.path / "server-key.pem");
    EXPECT_EQ(mode_of(server->key_file), 0600u);
    auto client = issue({.common_name = "alice@example.com", .sans = {"client.example"}, .usage = cert_usage::client},
                        *ca, tmp.path, "client");
    ASSERT_TRUE(client) << client.error().message();

    auto ca_text = openssl("x509 -in " + q(ca->cert_file) + " -noout -text");
    EXPECT_TRUE(contains(ca_text.out, "CA:TRUE")) << ca_text.out;
    EXPECT_TRUE(contains(ca_text.out, "Certificate Sign, CRL Sign")) << ca_text.out;

    auto v = openssl("verify -CAfile " + q(ca->cert_file) + " -purpose sslserver -verify_hostname mx.example " +
                     q(server->cert_file));
    EXPECT_EQ(v.status, 0) << v.out;
    EXPECT_TRUE(contains(v.out, "server.pem: OK")) << v.out;
    auto vip = openssl("verify -CAfile " + q(ca->cert_file) + " -verify_ip 127.0.0.1 " + q(server->cert_file));
    EXPECT_EQ(vip.status, 0) << vip.out;
    auto wrong_host = openssl("verify -CAfile " + q(ca->cert_file) + " -verify_hostname other.example " +
                              q(server->cert_file));
    EXPECT_NE(wrong_host.status, 0) << wrong_host.out;
    auto vc = openssl("verify -CAfile " + q(ca->cert_file) + " -purpose sslclient " + q(client->cert_file));
    EXPECT_EQ(vc.status, 0) << vc.out;
    auto client_as_server = openssl("verify -CAfile " + q(ca->cert_file) + " -purpose sslserver " + q(client->cert_file));
    EXPECT_NE(client_as_server.status, 0) << client_as_server.out;
    // Not trusted without the CA.
    auto untrusted = openssl("verify -CAfile " + q(server->cert_file) + " " + q(server->cert_file));
    EXPECT_NE(untrusted.status, 0) << untrusted.out;

    auto ca_info = check(ca->cert_file);
    auto server_info = check(server->cert_file);
    ASSERT_TRUE(ca_info && server_info);
    EXPECT_TRUE(ca_info->is_ca);
    EXPECT_TRUE(ca_info->self_signed);
    EXPECT_TRUE(ca_info->dns_names.empty());
    EXPECT_FALSE(server_info->is_ca);
    EXPECT_FALSE(server_info->self_signed);
    EXPECT_EQ(server_info->issuer, "CN=mailharness test CA");
    EXPECT_EQ(server_info->key_type, "EC P-256");
    EXPECT_EQ(server_info->signature_algorithm, "sha256WithRSAEncryption");  // signed by the RSA CA
    EXPECT_NE(server_info->serial_hex, ca_info->serial_hex);
    EXPECT_FALSE(check_key_pair(server->cert_file, server->key_file));
    EXPECT_EQ(check_key_pair(server->cert_file, client->key_file), cert_errc::key_mismatch);
}

TEST(cert_tool, issuer_must_be_a_ca_with_its_key) {
    auto leaf = generate_self_signed({.common_name = "leaf.example"});
    auto ca = generate_self_signed({.common_name = "ca", .is_ca = true});
    ASSERT_TRUE(leaf && ca);
    EXPECT_EQ(generate_signed({}, *leaf).error(), cert_errc::issuer_not_ca);
    EXPECT_EQ(generate_signed({}, {ca->cert_pem, leaf->key_pem}).error(), cert_errc::key_mismatch);
    EXPECT_EQ(generate_signed({}, {"garbage", ca->key_pem}).error(), cert_errc::no_certificate);
    EXPECT_EQ(generate_signed({}, {ca->cert_pem, "garbage"}).error(), cert_errc::no_private_key);
    EXPECT_TRUE(generate_signed({}, *ca));
}

TEST(cert_tool, invalid_options_are_refused) {
    const std::vector<cert_options> bad = {
        {.days = 0},
        {.days = 36501},
        {.common_name = ""},
        {.common_name = std::string(65, 'a')},
        {.sans = {"bad name"}},
        {.sans = {"a.example,DNS:evil.example"}},
        {.sans = {"-"}},
        {.sans = {"a..example"}},
        {.sans = {""}},
        {.sans = {"300.1.1.1"}},
        {.sans = {"a-.example"}},
        {.sans = {"a.*.example"}},
    };
    for (const auto& o : bad) {
        auto r = generate_self_signed(o);
        ASSERT_FALSE(r);
        EXPECT_EQ(r.error(), cert_errc::invalid_options);
    }
    temp_dir tmp;
    EXPECT_EQ(make_self_signed({.days = 0}, tmp.path).error(), cert_errc::invalid_options);
    EXPECT_FALSE(fs::exists(tmp.path / "cert.pem"));
}

TEST(cert_tool, check_reports_file_and_format_errors) {
    temp_dir tmp;
    EXPECT_EQ(check(tmp.path / "missing.pem").error(), std::errc::no_such_file_or_directory);
    std::ofstream(tmp.path / "junk.pem") << "-----BEGIN CERTIFICATE-----\nnot base64!\n-----END CERTIFICATE-----\n";
    EXPECT_EQ(check(tmp.path / "junk.pem").error(), cert_errc::no_certificate);
    std::ofstream(tmp.path / "empty.pem");
    EXPECT_EQ(check(tmp.path / "empty.pem").error(), cert_errc::no_certificate);
    auto pair = generate_self_signed({});
    ASSERT_TRUE(pair);
    std::ofstream(tmp.path / "key-only.pem") << pair->key_pem;
    EXPECT_EQ(check(tmp.path / "key-only.pem").error(), cert_errc::no_certificate);
    EXPECT_EQ(check_key_pair(tmp.path / "key-only.pem", tmp.path / "key-only.pem"), cert_errc::no_certificate);
    std::ofstream(tmp.path / "cert-only.pem") << pair->cert_pem;
    EXPECT_EQ(check_key_pair(tmp.path / "cert-only.pem", tmp.path / "cert-only.pem"), cert_errc::no_private_key);
    EXPECT_EQ(ERR_peek_error(), 0u);  // nothing left on the OpenSSL error queue
}

TEST(cert_tool, der_input_and_chain_files) {
    temp_dir tmp;
    auto ca = generate_self_signed({.common_name = "chain CA", .is_ca = true});
    ASSERT_TRUE(ca);
    auto leaf = generate_signed({.common_name = "leaf.example"}, *ca);
    ASSERT_TRUE(leaf);
    ASSERT_FALSE(write_pem(*leaf, pem_paths::in(tmp.path)));
    std::ofstream(tmp.path / "chain.pem") << leaf->cert_pem << ca->cert_pem;
    EXPECT_EQ(check(tmp.path / "chain.pem")->common_name, "leaf.example");  // the leaf, first in the file

    auto der = openssl("x509 -in " + q(tmp.path / "cert.pem") + " -outform DER -out " + q(tmp.path / "cert.der"));
    ASSERT_EQ(der.status, 0) << der.out;
    auto info = check(tmp.path / "cert.der");
    ASSERT_TRUE(info) << info.error().message();
    EXPECT_EQ(info->common_name, "leaf.example");
    EXPECT_EQ(info->issuer, "CN=chain CA");

    auto back = read_pem(pem_paths::in(tmp.path));
    ASSERT_TRUE(back);
    EXPECT_EQ(back->cert_pem, leaf->cert_pem);
    EXPECT_EQ(back->key_pem, leaf->key_pem);
}

TEST(cert_tool, report_is_human_readable) {
    auto pair = generate_self_signed({.common_name = "mx.example", .sans = {"mx.example", "192.0.2.1"}, .days = 90});
    ASSERT_TRUE(pair);
    auto info = inspect_pem(pair->cert_pem);
    ASSERT_TRUE(info);
    std::string r = report(*info);
    EXPECT_TRUE(contains(r, "subject:     CN=mx.example\n")) << r;
    EXPECT_TRUE(contains(r, "issuer:      CN=mx.example (self-signed)\n")) << r;
    EXPECT_TRUE(contains(r, "names:       DNS:mx.example, IP:192.0.2.1\n")) << r;
    EXPECT_TRUE(contains(r, "key:         EC P-256 (256 bits)\n")) << r;
    EXPECT_TRUE(contains(r, "ca:          no\n")) << r;
    EXPECT_TRUE(contains(r, "UTC\n")) << r;
    EXPECT_TRUE(contains(r, "days left\n")) << r;
}

// The certificates work in a real TLS 1.3 handshake (libssl over memory BIOs), with the client
// verifying the chain and the host name, and the server requiring a client certificate.
TEST(cert_tool, certificates_work_in_a_mutual_tls_handshake) {
    auto ca = generate_self_signed({.common_name = "handshake CA", .is_ca = true});
    ASSERT_TRUE(ca);
    auto server = generate_signed({.common_name = "mx.example"}, *ca);
    auto client = generate_signed({.common_name = "client", .usage = cert_usage::client}, *ca);
    ASSERT_TRUE(server && client);

    auto load = [](SSL_CTX* ctx, const pem_pair& pair, const pem_pair& trust) {
        BIO* cb = BIO_new_mem_buf(pair.cert_pem.data(), static_cast<int>(pair.cert_pem.size()));
        BIO* kb = BIO_new_mem_buf(pair.key_pem.data(), static_cast<int>(pair.key_pem.size()));
        BIO* tb = BIO_new_mem_buf(trust.cert_pem.data(), static_cast<int>(trust.cert_pem.size()));
        X509* cert = PEM_read_bio_X509(cb, nullptr, nullptr, nullptr);
        EVP_PKEY* key = PEM_read_bio_PrivateKey(kb, nullptr, nullptr, nullptr);
        X509* anchor = PEM_read_bio_X509(tb, nullptr, nullptr, nullptr);
        bool ok = cert && key && anchor && SSL_CTX_use_certificate(ctx, cert) == 1 &&
                  SSL_CTX_use_PrivateKey(ctx, key) == 1 &&
                  X509_STORE_add_cert(SSL_CTX_get_cert_store(ctx), anchor) == 1;
        X509_free(cert);
        EVP_PKEY_free(key);
        X509_free(anchor);
        BIO_free(cb);
        BIO_free(kb);
        BIO_free(tb);
        return ok;
    };
    SSL_CTX* sctx = SSL_CTX_new(TLS_server_method());
    SSL_CTX* cctx = SSL_CTX_new(TLS_client_method());
    ASSERT_TRUE(load(sctx, *server, *ca));
    ASSERT_TRUE(load(cctx, *client, *ca));
    SSL_CTX_set_min_proto_version(sctx, TLS1_3_VERSION);
    SSL_CTX_set_verify(sctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);
    SSL_CTX_set_verify(cctx, SSL_VERIFY_PEER, nullptr);

    SSL* s = SSL_new(sctx);
    SSL* c = SSL_new(cctx);
    SSL_set1_host(c, "mx.example");
    BIO *s_bio = nullptr, *c_bio = nullptr;
    BIO_new_bio_pair(&s_bio, 0, &c_bio, 0);
    SSL_set_bio(s, s_bio, s_bio);
    SSL_set_bio(c, c_bio, c_bio);
    SSL_set_accept_state(s);
    SSL_set_connect_state(c);
    bool s_done = false, c_done = false;
    for (int i = 0; i < 20 && !(s_done && c_done); ++i) {
        if (!c_done) c_done = SSL_do_handshake(c) == 1;
        if (!s_done) s_done = SSL_do_handshake(s) == 1;
    }
    EXPECT_TRUE(c_done);
    EXPECT_TRUE(s_done);
    EXPECT_EQ(SSL_get_verify_result(c), X509_V_OK);
    EXPECT_EQ(SSL_get_verify_result(s), X509_V_OK);
    X509* peer = SSL_get1_peer_certificate(s);
    EXPECT_NE(peer, nullptr);
    X509_free(peer);
    SSL_free(s);
    SSL_free(c);
    SSL_CTX_free(sctx);
    SSL_CTX_free(cctx);
    ERR_clear_error();
}

#include "mailharness/net/tls.hpp"

#include <arpa/inet.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <stdexcept>

#include "mailharness/ip_literal.hpp"

namespace mailharness::net {

namespace ssl = boost::asio::ssl;

std::shared_ptr<ssl::context> build_server_context(const server_tls_settings& t) {
    auto ctx = std::make_shared<ssl::context>(ssl::context::tls_server);
    SSL_CTX* c = ctx->native_handle();
    SSL_CTX_set_min_proto_version(c, t.min_version == tls_min_version::v1_3 ? TLS1_3_VERSION : TLS1_2_VERSION);
    SSL_CTX_set_options(c, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_NO_COMPRESSION);
    if (!t.ciphers.empty() && SSL_CTX_set_cipher_list(c, t.ciphers.c_str()) != 1) {
        throw std::runtime_error("tls.ciphers: no usable cipher");
    }
    if (!t.ciphersuites.empty() && SSL_CTX_set_ciphersuites(c, t.ciphersuites.c_str()) != 1) {
        throw std::runtime_error("tls.ciphersuites: no usable suite");
    }
    if (!t.groups.empty() && SSL_CTX_set1_groups_list(c, t.groups.c_str()) != 1) {
        throw std::runtime_error("tls.groups: invalid list");
    }
    boost::system::error_code ec;
    ctx->use_certificate_chain_file(t.cert_file.string(), ec);
    if (ec) throw std::runtime_error("tls.cert_file " + t.cert_file.string() + ": " + ec.message());
    ctx->use_private_key_file(t.key_file.string(), ssl::context::pem, ec);
    if (ec) throw std::runtime_error("tls.key_file " + t.key_file.string() + ": " + ec.message());
    if (SSL_CTX_check_private_key(c) != 1) throw std::runtime_error("tls.key_file does not match tls.cert_file");
    if (t.client_cert != client_cert_policy::none) {
        ctx->load_verify_file(t.ca_file.string(), ec);
        if (ec) throw std::runtime_error("tls.ca_file " + t.ca_file.string() + ": " + ec.message());
        SSL_CTX_set_client_CA_list(c, SSL_load_client_CA_file(t.ca_file.c_str()));
        int mode = SSL_VERIFY_PEER;
        if (t.client_cert == client_cert_policy::required) mode |= SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
        SSL_CTX_set_verify(c, mode, nullptr);
        static const unsigned char sid[] = "refmaild";
        SSL_CTX_set_session_id_context(c, sid, sizeof sid - 1);
    }
    return ctx;
}

std::shared_ptr<ssl::context> server_tls::get() const {
    std::lock_guard lock(mutex_);
    return ctx_;
}

void server_tls::set(std::shared_ptr<ssl::context> ctx) {
    std::lock_guard lock(mutex_);
    ctx_ = std::move(ctx);
}

std::shared_ptr<ssl::context> build_client_context(const client_tls_settings& s) {
    auto ctx = std::make_shared<ssl::context>(ssl::context::tls_client);
    SSL_CTX* c = ctx->native_handle();
    if (s.min_version) SSL_CTX_set_min_proto_version(c, s.min_version);
    else SSL_CTX_set_min_proto_version(c, TLS1_2_VERSION);
    if (s.max_version) SSL_CTX_set_max_proto_version(c, s.max_version);
    if (!s.session_cache) SSL_CTX_set_session_cache_mode(c, SSL_SESS_CACHE_OFF);
    boost::system::error_code ec;
    if (s.ca_file.empty()) ctx->set_default_verify_paths(ec);
    else ctx->load_verify_file(s.ca_file.string(), ec);
    if (ec) throw std::runtime_error("CA certificates " + s.ca_file.string() + ": " + ec.message());
    if (!s.cert_file.empty()) {
        ctx->use_certificate_chain_file(s.cert_file.string(), ec);
        if (ec) throw std::runtime_error("client certificate " + s.cert_file.string() + ": " + ec.message());
        ctx->use_private_key_file((s.key_file.empty() ? s.cert_file : s.key_file).string(), ssl::context::pem, ec);
        if (ec) throw std::runtime_error("client key " + s.key_file.string() + ": " + ec.message());
    }
    return ctx;
}

bool prepare_client_ssl(SSL* s, const std::string& host, bool verify) {
    const bool ip = is_ip_literal(host);
    if (!host.empty() && !ip && SSL_set_tlsext_host_name(s, host.c_str()) != 1) return false;
    if (!verify) {
        SSL_set_verify(s, SSL_VERIFY_NONE, nullptr);
        return true;
    }
    if (!host.empty()) {
        X509_VERIFY_PARAM* param = SSL_get0_param(s);
        X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
        int ok = ip ? X509_VERIFY_PARAM_set1_ip_asc(param, host.c_str()) : X509_VERIFY_PARAM_set1_host(param, host.c_str(), 0);
        if (ok != 1) return false;
    }
    SSL_set_verify(s, SSL_VERIFY_PEER, nullptr);
    return true;
}


}  // namespace mailharness::net

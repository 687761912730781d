#include "tls_inspect.hpp"

#include <arpa/inet.h>

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include <ctime>
#include <memory>
#include <stdexcept>

namespace mailharness::conform::detail {

namespace {

template <class T, void (*F)(T*)>
struct deleter {
    void operator()(T* p) const noexcept { F(p); }
};
using store_ptr = std::unique_ptr<X509_STORE, deleter<X509_STORE, X509_STORE_free>>;
using store_ctx_ptr = std::unique_ptr<X509_STORE_CTX, deleter<X509_STORE_CTX, X509_STORE_CTX_free>>;
using bio_ptr = std::unique_ptr<BIO, deleter<BIO, BIO_free_all>>;
using names_ptr = std::unique_ptr<GENERAL_NAMES, deleter<GENERAL_NAMES, GENERAL_NAMES_free>>;

std::string name_of(const X509_NAME* n) {
    if (!n) return "?";
    bio_ptr b(BIO_new(BIO_s_mem()));
    X509_NAME_print_ex(b.get(), n, 0, XN_FLAG_RFC2253);
    char* data = nullptr;
    const long len = BIO_get_mem_data(b.get(), &data);
    return std::string(data, static_cast<std::size_t>(len));
}

std::string time_of(const ASN1_TIME* t) {
    bio_ptr b(BIO_new(BIO_s_mem()));
    ASN1_TIME_print_ex(b.get(), t, ASN1_DTFLGS_ISO8601);
    char* data = nullptr;
    const long len = BIO_get_mem_data(b.get(), &data);
    return std::string(data, static_cast<std::size_t>(len));
}

std::string subject(X509* c) { return "\"" + name_of(X509_get_subject_name(c)) + "\""; }

/// subjectAltName entries, "DNS:a, IP:1.2.3.4", or "no subjectAltName".
std::string alt_names(X509* c) {
    names_ptr names(static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(c, NID_subject_alt_name, nullptr, nullptr)));
    if (!names) return "no subjectAltName";
    std::string out;
    for (int i = 0; i < sk_GENERAL_NAME_num(names.get()); ++i) {
        const GENERAL_NAME* g = sk_GENERAL_NAME_value(names.get(), i);
        std::string one;
        if (g->type == GEN_DNS) {
            const auto* s = g->d.dNSName;
            one = "DNS:" + std::string(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)), ASN1_STRING_length(s));
        } else if (g->type == GEN_IPADD) {
            const auto* s = g->d.iPAddress;
            char buf[INET6_ADDRSTRLEN] = "?";
            if (ASN1_STRING_length(s) == 4) ::inet_ntop(AF_INET, ASN1_STRING_get0_data(s), buf, sizeof buf);
            if (ASN1_STRING_length(s) == 16) ::inet_ntop(AF_INET6, ASN1_STRING_get0_data(s), buf, sizeof buf);
            one = std::string("IP:") + buf;
        } else {
            continue;
        }
        out += (out.empty() ? "" : ", ") + one;
    }
    return out.empty() ? "no DNS or IP subjectAltName" : out;
}

bool is_ip(const std::string& s) {
    in6_addr a6;
    in_addr a4;
    return ::inet_pton(AF_INET, s.c_str(), &a4) == 1 || ::inet_pton(AF_INET6, s.c_str(), &a6) == 1;
}

std::string check_chain(SSL* ssl, X509* leaf, const tls_check_params& p) {
    store_ptr store(X509_STORE_new());
    if (!store) throw std::runtime_error("X509_STORE_new failed");
    const int loaded = p.cafile.empty() ? X509_STORE_set_default_paths(store.get())
                                        : X509_STORE_load_file(store.get(), p.cafile.c_str());
    if (loaded != 1) {
        ERR_clear_error();
        throw std::runtime_error("cannot load CA certificates " + (p.cafile.empty() ? std::string("(default paths)") : p.cafile));
    }
    STACK_OF(X509)* sent = SSL_get_peer_cert_chain(ssl);  // on a client: the leaf and what followed it
    store_ctx_ptr ctx(X509_STORE_CTX_new());
    if (!ctx || X509_STORE_CTX_init(ctx.get(), store.get(), leaf, sent) != 1) throw std::runtime_error("X509_STORE_CTX_init failed");
    X509_VERIFY_PARAM* param = X509_STORE_CTX_get0_param(ctx.get());
    // Dates are the validity check's business: an expired but well-chained certificate passes here.
    X509_VERIFY_PARAM_set_flags(param, X509_V_FLAG_NO_CHECK_TIME);
    X509_VERIFY_PARAM_set_purpose(param, X509_PURPOSE_SSL_SERVER);
    if (X509_verify_cert(ctx.get()) == 1) return {};
    ERR_clear_error();
    const int err = X509_STORE_CTX_get_error(ctx.get());
    X509* at = X509_STORE_CTX_get_current_cert(ctx.get());
    if (!at) at = leaf;
    const int n_sent = sent ? sk_X509_num(sent) : 0;
    switch (err) {
        case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
            return "untrusted issuer: the certificate " + subject(leaf) + " is self-signed and not a trusted CA";
        case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
            return "untrusted issuer: the chain ends in the root " + subject(at) + ", which is not trusted";
        case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
        case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
            return "incomplete chain or unknown issuer: \"" + name_of(X509_get_issuer_name(at)) + "\", the issuer of " +
                   subject(at) + ", is neither among the " + std::to_string(n_sent) +
                   " certificate(s) the server sent nor a trusted CA";
        default:
            return std::string("chain does not verify at depth ") + std::to_string(X509_STORE_CTX_get_error_depth(ctx.get())) +
                   " (" + subject(at) + "): " + X509_verify_cert_error_string(err);
    }
}

}  // namespace

std::string check_tls(SSL* ssl, tls_check_kind kind, const tls_check_params& p) {
    if (!ssl) throw std::runtime_error("the connection is not TLS");
    if (kind == tls_check_kind::version) {
        const int v = SSL_version(ssl);
        const int want = p.min_version == "1.3" ? TLS1_3_VERSION : TLS1_2_VERSION;
        if (v >= want) return {};
        return std::string("negotiated ") + SSL_get_version(ssl) + "; at least TLSv" + p.min_version + " expected";
    }
    X509* leaf = SSL_get0_peer_certificate(ssl);
    if (!leaf) throw std::runtime_error("the server sent no certificate");
    const std::time_t now = std::chrono::system_clock::to_time_t(p.now);
    switch (kind) {
        case tls_check_kind::validity: {
            std::time_t t = now;
            if (X509_cmp_time(X509_get0_notBefore(leaf), &t) > 0) {
                return "not yet valid: " + subject(leaf) + " is valid from " + time_of(X509_get0_notBefore(leaf));
            }
            if (X509_cmp_time(X509_get0_notAfter(leaf), &t) < 0) {
                return "expired: " + subject(leaf) + " was valid until " + time_of(X509_get0_notAfter(leaf));
            }
            return {};
        }
        case tls_check_kind::expiry: {
            std::time_t horizon = now + static_cast<std::time_t>(p.days) * 86400;
            if (X509_cmp_time(X509_get0_notAfter(leaf), &horizon) >= 0) return {};
            return "expires within " + std::to_string(p.days) + " days: " + subject(leaf) + " is valid until " +
                   time_of(X509_get0_notAfter(leaf));
        }
        case tls_check_kind::hostname: {
            const int r = is_ip(p.name) ? X509_check_ip_asc(leaf, p.name.c_str(), 0)
                                        : X509_check_host(leaf, p.name.c_str(), p.name.size(), 0, nullptr);
            if (r == 1) return {};
            ERR_clear_error();
            return "hostname mismatch: " + subject(leaf) + " does not name " + p.name + " (" + alt_names(leaf) + ")";
        }
        case tls_check_kind::chain: return check_chain(ssl, leaf, p);
        case tls_check_kind::version: break;
    }
    return {};
}

}  // namespace mailharness::conform::detail

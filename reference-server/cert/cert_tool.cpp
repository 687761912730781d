#include "mailharness/refmaild/detail/durable_file.hpp"
#include "mailharness/ip_literal.hpp"
#include "mailharness/refmaild/cert_tool.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <ctime>
#include <memory>

namespace mailharness::refmaild::cert {

namespace {

struct cert_category_impl final : std::error_category {
    const char* name() const noexcept override { return "mailharness.refmaild.cert"; }
    std::string message(int ev) const override {
        switch (static_cast<cert_errc>(ev)) {
            case cert_errc::invalid_options: return "invalid certificate options";
            case cert_errc::openssl_failure: return "OpenSSL failed to build the certificate";
            case cert_errc::no_certificate: return "no certificate found";
            case cert_errc::no_private_key: return "no private key found";
            case cert_errc::key_mismatch: return "private key does not match the certificate";
            case cert_errc::issuer_not_ca: return "issuer certificate is not a CA";
        }
        return "unknown certificate error";
    }
};

template <class T, void (*F)(T*)>
struct deleter {
    void operator()(T* p) const noexcept { F(p); }
};
using x509_ptr = std::unique_ptr<X509, deleter<X509, X509_free>>;
using pkey_ptr = std::unique_ptr<EVP_PKEY, deleter<EVP_PKEY, EVP_PKEY_free>>;
using bio_ptr = std::unique_ptr<BIO, deleter<BIO, BIO_free_all>>;
using bn_ptr = std::unique_ptr<BIGNUM, deleter<BIGNUM, BN_free>>;
using ext_ptr = std::unique_ptr<X509_EXTENSION, deleter<X509_EXTENSION, X509_EXTENSION_free>>;
using names_ptr = std::unique_ptr<GENERAL_NAMES, deleter<GENERAL_NAMES, GENERAL_NAMES_free>>;

// The OpenSSL error queue is per thread; leave it empty so later callers see only their errors.
std::error_code openssl_error(cert_errc e = cert_errc::openssl_failure) {
    ERR_clear_error();
    return e;
}

using mailharness::is_ip_literal;

// A host name (RFC 1123 labels: letters, digits, inner hyphens) with an optional leading "*.";
// the last label must not be all digits, so a mistyped IP address is not taken for a name.
bool is_dns_name(std::string_view s) {
    if (s.starts_with("*.")) s.remove_prefix(2);
    if (s.empty() || s.size() > 253) return false;
    std::size_t start = 0;
    bool all_digits = true;
    for (std::size_t i = 0; i <= s.size(); ++i) {
        if (i == s.size() || s[i] == '.') {
            std::string_view label = s.substr(start, i - start);
            if (label.empty() || label.size() > 63 || label.front() == '-' || label.back() == '-') return false;
            start = i + 1;
            if (i < s.size()) all_digits = true;
            continue;
        }
        char c = s[i];
        bool digit = c >= '0' && c <= '9';
        if (!digit && !(c >= 'a' && c <= 'z') && !(c >= 'A' && c <= 'Z') && c != '-') return false;
        all_digits = all_digits && digit;
    }
    return !all_digits;
}

bool valid_options(const cert_options& o) {
    if (o.days < 1 || o.days > 36500) return false;
    if (o.common_name.empty() || o.common_name.size() > 64 || o.organization.size() > 64) return false;
    for (const auto& s : o.sans) {
        if (!is_ip_literal(s) && !is_dns_name(s)) return false;
    }
    return true;
}

pkey_ptr generate_key(key_type type) {
    switch (type) {
        case key_type::ecdsa_p256: return pkey_ptr(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"));
        case key_type::rsa_2048: return pkey_ptr(EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", std::size_t{2048}));
        case key_type::rsa_3072: return pkey_ptr(EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", std::size_t{3072}));
    }
    return nullptr;
}

// subjectAltName built from GENERAL_NAMEs directly (no config-string parsing of caller input).
bool add_sans(X509* x, const std::vector<std::string>& sans) {
    names_ptr names(GENERAL_NAMES_new());
    if (!names) return false;
    for (const auto& s : sans) {
        GENERAL_NAME* gn = nullptr;
        if (is_ip_literal(s)) {
            ASN1_OCTET_STRING* ip = a2i_IPADDRESS(s.c_str());
            if (ip == nullptr) return false;
            gn = GENERAL_NAME_new();
            if (gn == nullptr) {
                ASN1_OCTET_STRING_free(ip);
                return false;
            }
            GENERAL_NAME_set0_value(gn, GEN_IPADD, ip);
        } else {
            ASN1_IA5STRING* dns = ASN1_IA5STRING_new();
            if (dns == nullptr || ASN1_STRING_set(dns, s.data(), static_cast<int>(s.size())) != 1) {
                ASN1_IA5STRING_free(dns);
                return false;
            }
            gn = GENERAL_NAME_new();
            if (gn == nullptr) {
                ASN1_IA5STRING_free(dns);
                return false;
            }
            GENERAL_NAME_set0_value(gn, GEN_DNS, dns);
        }
        if (sk_GENERAL_NAME_push(names.get(), gn) == 0) {
            GENERAL_NAME_free(gn);
            return false;
        }
    }
    return X509_add1_ext_i2d(x, NID_subject_alt_name, names.get(), 0, X509V3_ADD_DEFAULT) == 1;
}

bool add_ext(X509* x, X509V3_CTX* ctx, int nid, const char* value) {
    ext_ptr ext(X509V3_EXT_conf_nid(nullptr, ctx, nid, value));
    return ext && X509_add_ext(x, ext.get(), -1) == 1;
}

// Builds and signs a certificate for `key`. `issuer` / `issuer_key` are null for self-signed.
result<pem_pair> build(const cert_options& o, EVP_PKEY* key, X509* issuer, EVP_PKEY* issuer_key) {
    x509_ptr x(X509_new());
    if (!x || X509_set_version(x.get(), X509_VERSION_3) != 1) return openssl_error();

    bn_ptr serial(BN_new());
    do {
        if (!serial || BN_rand(serial.get(), 159, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY) != 1) return openssl_error();
    } while (BN_is_zero(serial.get()));
    if (BN_to_ASN1_INTEGER(serial.get(), X509_get_serialNumber(x.get())) == nullptr) return openssl_error();

    const long start = static_cast<long>(o.not_before_offset.count());
    if (X509_gmtime_adj(X509_getm_notBefore(x.get()), start) == nullptr ||
        X509_gmtime_adj(X509_getm_notAfter(x.get()), start + 86400L * o.days) == nullptr) {
        return openssl_error();
    }

    X509_NAME* name = X509_get_subject_name(x.get());
    auto add_entry = [&](const char* field, const std::string& value) {
        return X509_NAME_add_entry_by_txt(name, field, MBSTRING_UTF8, reinterpret_cast<const unsigned char*>(value.data()),
                                          static_cast<int>(value.size()), -1, 0) == 1;
    };
    if (!o.organization.empty() && !add_entry("O", o.organization)) return openssl_error();
    if (!add_entry("CN", o.common_name)) return openssl_error();
    if (X509_set_issuer_name(x.get(), issuer ? X509_get_subject_name(issuer) : name) != 1) return openssl_error();
    if (X509_set_pubkey(x.get(), key) != 1) return openssl_error();

    X509V3_CTX ctx;
    X509V3_set_ctx(&ctx, issuer ? issuer : x.get(), x.get(), nullptr, nullptr, 0);
    bool rsa = EVP_PKEY_is_a(key, "RSA") == 1;
    bool ok = add_ext(x.get(), &ctx, NID_subject_key_identifier, "hash") &&
              add_ext(x.get(), &ctx, NID_authority_key_identifier, "keyid:always");
    if (o.is_ca) {
        ok = ok && add_ext(x.get(), &ctx, NID_basic_constraints, "critical,CA:TRUE") &&
             add_ext(x.get(), &ctx, NID_key_usage, "critical,digitalSignature,keyCertSign,cRLSign");
    } else {
        const char* eku = o.usage == cert_usage::server   ? "serverAuth"
                          : o.usage == cert_usage::client ? "clientAuth"
                                                          : "serverAuth,clientAuth";
        ok = ok && add_ext(x.get(), &ctx, NID_basic_constraints, "critical,CA:FALSE") &&
             add_ext(x.get(), &ctx, NID_key_usage,
                     rsa ? "critical,digitalSignature,keyEncipherment" : "critical,digitalSignature") &&
             add_ext(x.get(), &ctx, NID_ext_key_usage, eku);
    }
    std::vector<std::string> sans = o.sans;
    if (sans.empty() && !o.is_ca && (is_ip_literal(o.common_name) || is_dns_name(o.common_name))) {
        sans.push_back(o.common_name);
    }
    if (!ok || (!sans.empty() && !add_sans(x.get(), sans))) return openssl_error();

    if (X509_sign(x.get(), issuer_key ? issuer_key : key, EVP_sha256()) == 0) return openssl_error();

    bio_ptr cert_bio(BIO_new(BIO_s_mem())), key_bio(BIO_new(BIO_s_mem()));
    if (!cert_bio || !key_bio || PEM_write_bio_X509(cert_bio.get(), x.get()) != 1 ||
        PEM_write_bio_PrivateKey(key_bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr) != 1) {
        return openssl_error();
    }
    auto text = [](BIO* b) {
        char* data = nullptr;
        long n = BIO_get_mem_data(b, &data);
        return std::string(data, static_cast<std::size_t>(n));
    };
    return pem_pair{text(cert_bio.get()), text(key_bio.get())};
}

x509_ptr read_cert(std::string_view text) {
    bio_ptr bio(BIO_new_mem_buf(text.data(), static_cast<int>(text.size())));
    if (!bio) return nullptr;
    x509_ptr x(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
    if (!x && text.find("-----BEGIN") == std::string_view::npos) {
        auto p = reinterpret_cast<const unsigned char*>(text.data());
        x.reset(d2i_X509(nullptr, &p, static_cast<long>(text.size())));
    }
    ERR_clear_error();
    return x;
}

pkey_ptr read_key(std::string_view text) {
    bio_ptr bio(BIO_new_mem_buf(text.data(), static_cast<int>(text.size())));
    if (!bio) return nullptr;
    // An empty passphrase callback: encrypted keys fail instead of prompting on the terminal.
    pkey_ptr k(PEM_read_bio_PrivateKey(bio.get(), nullptr, [](char*, int, int, void*) { return 0; }, nullptr));
    ERR_clear_error();
    return k;
}

result<std::string> read_file(const std::filesystem::path& file) {
    int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return std::error_code(errno, std::system_category());
    std::string out;
    char buf[8192];
    for (;;) {
        ssize_t n = ::read(fd, buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            std::error_code ec(errno, std::system_category());
            ::close(fd);
            return ec;
        }
        if (n == 0) break;
        out.append(buf, static_cast<std::size_t>(n));
        if (out.size() > (16u << 20)) {  // no certificate file is this big
            ::close(fd);
            return std::make_error_code(std::errc::file_too_large);
        }
    }
    ::close(fd);
    return out;
}

std::error_code write_file_atomic(const std::filesystem::path& file, std::string_view data, mode_t mode) {
    return detail::write_file_durable(file, data, mode);
}

std::string name_string(const X509_NAME* name) {
    bio_ptr bio(BIO_new(BIO_s_mem()));
    if (!bio || X509_NAME_print_ex(bio.get(), name, 0, XN_FLAG_RFC2253) < 0) return {};
    char* data = nullptr;
    long n = BIO_get_mem_data(bio.get(), &data);
    return std::string(data, static_cast<std::size_t>(n));
}

std::chrono::system_clock::time_point to_time_point(const ASN1_TIME* t) {
    std::tm tm{};
    if (ASN1_TIME_to_tm(t, &tm) != 1) return {};
    return std::chrono::system_clock::from_time_t(::timegm(&tm));
}

std::string hex(const unsigned char* p, std::size_t n, bool colons) {
    static constexpr char digits[] = "0123456789ABCDEF";
    std::string out;
    for (std::size_t i = 0; i < n; ++i) {
        if (colons && i > 0) out += ':';
        out += digits[p[i] >> 4];
        out += digits[p[i] & 0xf];
    }
    return out;
}

std::string format_time(std::chrono::system_clock::time_point tp) {
    std::time_t t = std::chrono::system_clock::to_time_t(tp);
    std::tm tm{};
    ::gmtime_r(&t, &tm);
    char buf[64];
    std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S UTC", &tm);
    return buf;
}

}  // namespace

const std::error_category& cert_category() noexcept {
    static const cert_category_impl cat;
    return cat;
}

std::error_code make_error_code(cert_errc e) noexcept { return {static_cast<int>(e), cert_category()}; }

pem_paths pem_paths::in(const std::filesystem::path& dir, std::string_view name) {
    if (name.empty()) return {dir / "cert.pem", dir / "key.pem"};
    std::string n(name);
    return {dir / (n + ".pem"), dir / (n + "-key.pem")};
}

result<pem_pair> generate_self_signed(const cert_options& options) {
    if (!valid_options(options)) return make_error_code(cert_errc::invalid_options);
    pkey_ptr key = generate_key(options.key);
    if (!key) return openssl_error();
    return build(options, key.get(), nullptr, nullptr);
}

result<pem_pair> generate_signed(const cert_options& options, const pem_pair& issuer) {
    if (!valid_options(options)) return make_error_code(cert_errc::invalid_options);
    x509_ptr ca = read_cert(issuer.cert_pem);
    if (!ca) return make_error_code(cert_errc::no_certificate);
    pkey_ptr ca_key = read_key(issuer.key_pem);
    if (!ca_key) return make_error_code(cert_errc::no_private_key);
    if (X509_check_private_key(ca.get(), ca_key.get()) != 1) return openssl_error(cert_errc::key_mismatch);
    if ((X509_get_extension_flags(ca.get()) & EXFLAG_CA) == 0) return make_error_code(cert_errc::issuer_not_ca);
    pkey_ptr key = generate_key(options.key);
    if (!key) return openssl_error();
    return build(options, key.get(), ca.get(), ca_key.get());
}

std::error_code write_pem(const pem_pair& pair, const pem_paths& paths) {
    if (auto ec = write_file_atomic(paths.key_file, pair.key_pem, 0600)) return ec;
    return write_file_atomic(paths.cert_file, pair.cert_pem, 0644);
}

result<pem_pair> read_pem(const pem_paths& paths) {
    auto cert = read_file(paths.cert_file);
    if (!cert) return cert.error();
    auto key = read_file(paths.key_file);
    if (!key) return key.error();
    return pem_pair{std::move(*cert), std::move(*key)};
}

namespace {

result<pem_paths> write_to(const result<pem_pair>& pair, const pem_paths& paths) {
    if (!pair) return pair.error();
    std::error_code ec;
    std::filesystem::create_directories(paths.cert_file.parent_path(), ec);
    if (ec) return ec;
    if (auto werr = write_pem(*pair, paths)) return werr;
    return paths;
}

}  // namespace

result<pem_paths> make_self_signed(const cert_options& options, const std::filesystem::path& dir) {
    return write_to(generate_self_signed(options), pem_paths::in(dir));
}

result<pem_paths> make_ca(cert_options options, const std::filesystem::path& dir) {
    options.is_ca = true;
    return write_to(generate_self_signed(options), pem_paths::in(dir, "ca"));
}

result<pem_paths> issue(const cert_options& options, const pem_paths& ca, const std::filesystem::path& dir,
                        std::string_view name) {
    auto issuer = read_pem(ca);
    if (!issuer) return issuer.error();
    return write_to(generate_signed(options, *issuer), pem_paths::in(dir, name));
}

result<cert_info> inspect_pem(std::string_view pem, std::chrono::system_clock::time_point now) {
    x509_ptr x = read_cert(pem);
    if (!x) return make_error_code(cert_errc::no_certificate);
    cert_info info;
    const X509_NAME* subject = X509_get_subject_name(x.get());
    info.subject = name_string(subject);
    info.issuer = name_string(X509_get_issuer_name(x.get()));
    int cn = X509_NAME_get_index_by_NID(subject, NID_commonName, -1);
    if (cn >= 0) {
        unsigned char* utf8 = nullptr;
        int n = ASN1_STRING_to_UTF8(&utf8, X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subject, cn)));
        if (n >= 0) info.common_name.assign(reinterpret_cast<char*>(utf8), static_cast<std::size_t>(n));
        OPENSSL_free(utf8);
    }

    names_ptr names(static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(x.get(), NID_subject_alt_name, nullptr, nullptr)));
    for (int i = 0; names && i < sk_GENERAL_NAME_num(names.get()); ++i) {
        const GENERAL_NAME* gn = sk_GENERAL_NAME_value(names.get(), i);
        if (gn->type == GEN_DNS) {
            const ASN1_IA5STRING* s = gn->d.dNSName;
            info.dns_names.emplace_back(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),
                                        static_cast<std::size_t>(ASN1_STRING_length(s)));
        } else if (gn->type == GEN_IPADD) {
            const ASN1_OCTET_STRING* s = gn->d.iPAddress;
            char buf[INET6_ADDRSTRLEN] = {};
            int len = ASN1_STRING_length(s);
            int family = len == 4 ? AF_INET : len == 16 ? AF_INET6 : 0;
            if (family != 0 && ::inet_ntop(family, ASN1_STRING_get0_data(s), buf, sizeof buf) != nullptr) {
                info.ip_addresses.emplace_back(buf);
            }
        }
    }

    info.not_before = to_time_point(X509_get0_notBefore(x.get()));
    info.not_after = to_time_point(X509_get0_notAfter(x.get()));
    auto left = std::chrono::duration_cast<std::chrono::seconds>(info.not_after - now).count();
    info.days_left = left / 86400;  // truncated toward zero both ways
    info.expired = now > info.not_after;
    info.not_yet_valid = now < info.not_before;

    if (EVP_PKEY* key = X509_get0_pubkey(x.get())) {
        info.key_bits = EVP_PKEY_get_bits(key);
        if (EVP_PKEY_is_a(key, "EC")) {
            char group[64] = {};
            std::size_t len = 0;
            info.key_type = "EC";
            if (EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof group, &len) == 1) {
                const char* nist = EC_curve_nid2nist(OBJ_txt2nid(group));
                info.key_type += ' ';
                info.key_type += nist ? nist : group;
            }
        } else if (const char* type = EVP_PKEY_get0_type_name(key)) {
            info.key_type = type;
        }
    }
    info.self_signed = X509_self_signed(x.get(), 1) == 1;
    info.is_ca = (X509_get_extension_flags(x.get()) & EXFLAG_CA) != 0;

    const ASN1_INTEGER* serial = X509_get0_serialNumber(x.get());
    info.serial_hex = hex(ASN1_STRING_get0_data(serial), static_cast<std::size_t>(ASN1_STRING_length(serial)), false);
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int md_len = 0;
    if (X509_digest(x.get(), EVP_sha256(), md, &md_len) == 1) info.sha256_fingerprint = hex(md, md_len, true);
    info.signature_algorithm = OBJ_nid2ln(X509_get_signature_nid(x.get()));
    ERR_clear_error();
    return info;
}

result<cert_info> check(const std::filesystem::path& file, std::chrono::system_clock::time_point now) {
    auto text = read_file(file);
    if (!text) return text.error();
    return inspect_pem(*text, now);
}

std::string report(const cert_info& info) {
    std::string names;
    for (const auto& d : info.dns_names) names += (names.empty() ? "DNS:" : ", DNS:") + d;
    for (const auto& ip : info.ip_addresses) names += (names.empty() ? "IP:" : ", IP:") + ip;
    std::string status;
    if (info.not_yet_valid) {
        status = "NOT YET VALID (starts " + format_time(info.not_before) + ")";
    } else if (info.expired && info.days_left == 0) {
        status = "EXPIRED less than a day ago";
    } else if (info.expired) {
        status = "EXPIRED " + std::to_string(-info.days_left) + " day" + (info.days_left == -1 ? "" : "s") + " ago";
    } else {
        status = "valid, " + std::to_string(info.days_left) + " day" + (info.days_left == 1 ? "" : "s") + " left";
    }
    std::string out;
    auto line = [&](std::string_view label, const std::string& value) {
        out += label;
        out.append(13 - label.size(), ' ');
        out += value;
        out += '\n';
    };
    line("subject:", info.subject);
    line("issuer:", info.issuer + (info.self_signed ? " (self-signed)" : ""));
    line("names:", names.empty() ? "(none)" : names);
    line("not before:", format_time(info.not_before));
    line("not after:", format_time(info.not_after));
    line("status:", status);
    line("key:", info.key_type + " (" + std::to_string(info.key_bits) + " bits)");
    line("ca:", info.is_ca ? "yes" : "no");
    line("serial:", info.serial_hex);
    line("sha256:", info.sha256_fingerprint);
    line("signature:", info.signature_algorithm);
    return out;
}

std::error_code check_key_pair(const std::filesystem::path& cert_file, const std::filesystem::path& key_file) {
    auto cert_text = read_file(cert_file);
    if (!cert_text) return cert_text.error();
    auto key_text = read_file(key_file);
    if (!key_text) return key_text.error();
    x509_ptr x = read_cert(*cert_text);
    if (!x) return cert_errc::no_certificate;
    pkey_ptr key = read_key(*key_text);
    if (!key) return cert_errc::no_private_key;
    if (X509_check_private_key(x.get(), key.get()) != 1) return openssl_error(cert_errc::key_mismatch);
    return {};
}

}  // namespace mailharness::refmaild::cert

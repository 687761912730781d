// refmaild cert self-signed|ca|issue|check: make or inspect certificates.
#include <iostream>
#include <memory>

#include "mailharness/refmaild/cert_tool.hpp"
#include "cli.hpp"

namespace mailharness::refmaild::cli {
namespace cert = mailharness::refmaild::cert;

namespace {

cert::key_type key_for_rsa_bits(int bits) {
    switch (bits) {
        case 0: return cert::key_type::ecdsa_p256;
        case 2048: return cert::key_type::rsa_2048;
        case 3072: return cert::key_type::rsa_3072;
        default: fail("--rsa: expected 2048 or 3072, got " + std::to_string(bits));
    }
}

struct cert_args {
    std::string cn;
    std::string organization;
    std::vector<std::string> sans;
    int days = 365;
    int not_before_days = 0;
    int rsa_bits = 0;  // 0: ECDSA P-256
    bool client = false;
    std::string out_dir;
    std::string ca_dir;
    std::string name;
    std::string check_file;

    cert::cert_options options() const {
        return cert::cert_options{
            .common_name = cn,
            .organization = organization,
            .sans = sans,
            .days = days,
            .not_before_offset = std::chrono::hours(24) * not_before_days,
            .key = key_for_rsa_bits(rsa_bits),
            .usage = client ? cert::cert_usage::client : cert::cert_usage::server,
        };
    }
};

void add_cert_options(CLI::App* app, cert_args& a, bool with_sans) {
    app->add_option("--cn", a.cn, "subject common name")->required();
    app->add_option("--org", a.organization, "subject organization (O)");
    if (with_sans)
        app->add_option("--san", a.sans, "subjectAltName (DNS name or IP literal); repeatable; default: the CN");
    app->add_option("--days", a.days, "validity in days")->capture_default_str();
    app->add_option("--not-before-days", a.not_before_days,
                    "shift notBefore by this many days from now (negative: back-dated, e.g. expired)")
        ->capture_default_str();
    app->add_option("--rsa", a.rsa_bits, "RSA key of 2048 or 3072 bits instead of ECDSA P-256");
    app->add_option("--out", a.out_dir, "output directory (created if missing)")->required();
}

void print_written(const cert::pem_paths& paths) {
    std::cout << "certificate: " << paths.cert_file.string() << '\n' << "private key: " << paths.key_file.string() << '\n';
    if (auto info = cert::check(paths.cert_file)) std::cout << "sha256: " << info->sha256_fingerprint << '\n';
}

int cert_made(const cert::result<cert::pem_paths>& r, const char* what) {
    if (!r) {
        std::cerr << "refmaild: cert " << what << ": " << r.error().message() << '\n';
        return exit_failure;
    }
    print_written(*r);
    return exit_ok;
}

int cert_check(const fs::path& file) {
    auto info = cert::check(file);
    if (!info) {
        std::cerr << "refmaild: cert check: " << file.string() << ": " << info.error().message() << '\n';
        return exit_usage;
    }
    std::cout << cert::report(*info);
    return (info->expired || info->not_yet_valid) ? exit_failure : exit_ok;
}


}  // namespace

void add_cert_command(CLI::App& app, action& chosen) {
    auto* cert_cmd = app.add_subcommand("cert", "make or inspect certificates");
    cert_cmd->require_subcommand(1);
    auto a = std::make_shared<cert_args>();
    auto* cert_self = cert_cmd->add_subcommand("self-signed", "self-signed certificate: OUT/cert.pem, OUT/key.pem");
    add_cert_options(cert_self, *a, true);
    cert_self->add_flag("--client", a->client, "client authentication usage instead of server");
    auto* cert_ca = cert_cmd->add_subcommand("ca", "CA certificate: OUT/ca.pem, OUT/ca-key.pem");
    add_cert_options(cert_ca, *a, false);
    auto* cert_issue = cert_cmd->add_subcommand("issue", "certificate signed by a CA: OUT/NAME.pem, OUT/NAME-key.pem");
    add_cert_options(cert_issue, *a, true);
    cert_issue->add_option("--ca-dir", a->ca_dir, "directory holding ca.pem and ca-key.pem")->required();
    cert_issue->add_option("--name", a->name, "file name stem of the new certificate")->required();
    cert_issue->add_flag("--client", a->client, "client authentication usage instead of server");
    auto* cert_chk = cert_cmd->add_subcommand("check", "print a certificate summary; exit 1 if expired or not yet valid");
    cert_chk->add_option("file", a->check_file, "PEM or DER certificate file")->required();

    cert_self->callback([a, &chosen] {
        chosen = [a] {
            fs::create_directories(a->out_dir);
            return cert_made(cert::make_self_signed(a->options(), a->out_dir), "self-signed");
        };
    });
    cert_ca->callback([a, &chosen] {
        chosen = [a] {
            fs::create_directories(a->out_dir);
            return cert_made(cert::make_ca(a->options(), a->out_dir), "ca");
        };
    });
    cert_issue->callback([a, &chosen] {
        chosen = [a] {
            fs::create_directories(a->out_dir);
            auto ca = cert::pem_paths{fs::path(a->ca_dir) / "ca.pem", fs::path(a->ca_dir) / "ca-key.pem"};
            return cert_made(cert::issue(a->options(), ca, a->out_dir, a->name), "issue");
        };
    });
    cert_chk->callback([a, &chosen] { chosen = [a] { return cert_check(a->check_file); }; });
}

}  // namespace mailharness::refmaild::cli

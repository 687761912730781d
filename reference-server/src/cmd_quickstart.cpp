// refmaild quickstart DIR [--no-run]: a ready-to-run loopback setup.
#include <iostream>
#include <memory>

#include "mailharness/refmaild/cert_tool.hpp"
#include "mailharness/refmaild/passwd_file.hpp"
#include "cli.hpp"

namespace mailharness::refmaild::cli {
namespace cert = mailharness::refmaild::cert;
namespace users = mailharness::refmaild::users;

namespace {

constexpr const char* quickstart_users[] = {"alice@example.test", "bob@example.test"};

// Relative paths are resolved against the configuration file's directory, so DIR can be moved.
constexpr const char* quickstart_yaml = R"(# Made by "refmaild quickstart": loopback only, kernel-chosen ports (see the ports file).
server:
  hostname: localhost
  io_threads: 2

listeners:
  smtp:
    enabled: true
    address: 127.0.0.1
    port: 0
  submission:
    enabled: true
    address: 127.0.0.1
    port: 0
  smtps:
    enabled: true
    address: 127.0.0.1
    port: 0
  pop3:
    enabled: true
    address: 127.0.0.1
    port: 0
  pop3s:
    enabled: true
    address: 127.0.0.1
    port: 0
  imap:
    enabled: true
    address: 127.0.0.1
    port: 0
  imaps:
    enabled: true
    address: 127.0.0.1
    port: 0

tls:
  cert_file: tls/cert.pem
  key_file: tls/key.pem
  expiry_warning_days: 7   # the certificate lives 30 days; warn in its last week

auth:
  passwd_file: passwd

store:
  maildir_root: maildir
  data_dir: data

local_domains:
  - example.test

policy:
  long_line_ban: 0s   # off on this loopback test setup: conformance suites send over-long lines on purpose

metrics:
  enabled: true
  address: 127.0.0.1
  port: 0
)";

void quickstart_create(const fs::path& dir) {
    fs::create_directories(dir);
    fs::create_directories(dir / "maildir");
    fs::create_directories(dir / "data");
    fs::permissions(dir / "maildir", fs::perms::owner_all);
    fs::permissions(dir / "data", fs::perms::owner_all);

    auto made = cert::make_self_signed(
        cert::cert_options{
            .common_name = "localhost",
            .sans = {"localhost", "127.0.0.1", "::1"},
            .days = 30,
        },
        dir / "tls");
    if (!made) fail("cannot make the certificate in " + (dir / "tls").string() + ": " + made.error().message());

    // {PLAIN}: the server needs the plaintext for CRAM-MD5 and SCRAM. Test users only.
    users::user_db db;
    std::string credentials;
    for (const char* address : quickstart_users) {
        std::string pw = random_password();
        std::string a = address;
        auto at = a.find('@');
        if (auto ec = db.set(users::user_entry{.user = a.substr(0, at),
                                               .domain = a.substr(at + 1),
                                               .scheme = users::password_scheme::plain,
                                               .secret = pw}))
            fail(a + ": " + ec.message());
        credentials += a + ' ' + pw + '\n';
    }
    if (auto ec = db.save(dir / "passwd")) fail("cannot save " + (dir / "passwd").string() + ": " + ec.message());
    write_file_atomic(dir / "credentials", credentials, 0600);
    write_file_atomic(dir / "refmaild.yaml", quickstart_yaml, 0644);

    std::cout << "quickstart: created in " << dir.string() << ":\n"
              << "  refmaild.yaml   configuration (loopback listeners smtp, submission, smtps, pop3, pop3s, imap, imaps, metrics on port 0)\n"
              << "  tls/cert.pem    self-signed ECDSA certificate for localhost, 127.0.0.1, ::1 (30 days)\n"
              << "  tls/key.pem     its private key (mode 0600)\n"
              << "  passwd          users alice@example.test and bob@example.test ({PLAIN})\n"
              << "  credentials     their passwords, one \"address password\" per line (mode 0600)\n"
              << "  maildir/        the mail store: maildir/example.test/<user>/Maildir/new\n"
              << "  data/           server state\n";
}

void quickstart_hints(const fs::path& dir, const std::map<std::string, std::uint16_t>& ports) {
    auto port = [&](const char* name) {
        auto it = ports.find(name);
        return it == ports.end() ? std::string("PORT") : std::to_string(it->second);
    };
    std::string sub = port("submission"), smtps = port("smtps");
    auto cert_pem = (dir / "tls" / "cert.pem").string();
    std::cout << "quickstart: refmaild is running; ports in " << (dir / "ports").string() << ": " << ports_line(ports)
              << "\n"
                 "  password of alice: awk '$1==\"alice@example.test\"{print $2}' "
              << (dir / "credentials").string()
              << "\n"
                 "  submission with STARTTLS:\n"
                 "    curl --url smtp://localhost:"
              << sub << " --resolve localhost:" << sub << ":127.0.0.1 --ssl-reqd --cacert " << cert_pem
              << " \\\n      --mail-from alice@example.test --mail-rcpt bob@example.test --upload-file MESSAGE"
                 " --user alice@example.test:PASSWORD\n"
                 "  implicit TLS:\n"
                 "    openssl s_client -connect 127.0.0.1:"
              << smtps << " -servername localhost -CAfile " << cert_pem
              << "\n"
                 "  read bob's mail over POP3 with implicit TLS:\n"
                 "    curl --url pop3s://localhost:"
              << port("pop3s") << "/1 --resolve localhost:" << port("pop3s") << ":127.0.0.1 --cacert " << cert_pem
              << " --user bob@example.test:PASSWORD\n"
                 "  list bob's INBOX over IMAP with implicit TLS:\n"
                 "    curl --url 'imaps://localhost:"
              << port("imaps") << "/INBOX?ALL' --resolve localhost:" << port("imaps") << ":127.0.0.1 --cacert " << cert_pem
              << " --user bob@example.test:PASSWORD\n"
                 "  stop with Ctrl-C (SIGINT) or SIGTERM; SIGHUP reloads the certificate and the users\n";
    std::cout.flush();
}

int quickstart(const fs::path& dir_arg, bool no_run) {
    fs::path dir = fs::absolute(dir_arg).lexically_normal();
    fs::path config = dir / "refmaild.yaml";
    if (fs::exists(config)) {
        std::cout << "quickstart: " << config.string() << " exists; keeping the setup in " << dir.string() << '\n';
    } else {
        quickstart_create(dir);
    }
    if (no_run) {
        std::cout << "quickstart: run it with: refmaild --config " << config.string() << " --ports-file "
                  << (dir / "ports").string() << '\n';
        return exit_ok;
    }
    return run_server(config, dir / "ports",
                      [&](const std::map<std::string, std::uint16_t>& ports) { quickstart_hints(dir, ports); });
}


}  // namespace

void add_quickstart_command(CLI::App& app, action& chosen) {
    auto* qs_cmd = app.add_subcommand("quickstart", "create a loopback test setup in DIR and run it");
    auto dir = std::make_shared<std::string>();
    auto no_run = std::make_shared<bool>(false);
    qs_cmd->add_option("dir", *dir, "directory to create (kept if it already holds refmaild.yaml)")->required();
    qs_cmd->add_flag("--no-run", *no_run, "only create the files");
    qs_cmd->callback([dir, no_run, &chosen] { chosen = [dir, no_run] { return quickstart(*dir, *no_run); }; });
}

}  // namespace mailharness::refmaild::cli

// refmaild: the command line of the reference mail server.
//
//   refmaild --config FILE [--ports-file FILE]    run the server until SIGTERM / SIGINT
//   refmaild --check-config FILE                   print every configuration problem
//   refmaild cert self-signed|ca|issue|check ...   make or inspect certificates
//   refmaild user add|del|passwd|list ...          edit a passwd-file
//   refmaild quickstart DIR [--no-run]             a ready-to-run loopback setup in DIR
//   refmaild queue list|flush|delete ID --config FILE   the outbound queue of a configuration
#include "mailharness/refmaild/server.hpp"

#include "mailharness/refmaild/cert_tool.hpp"
#include "mailharness/refmaild/config_loader.hpp"
#include "mailharness/refmaild/passwd_file.hpp"
#include "mailharness/refmaild/queue/spool.hpp"

#include <CLI/CLI.hpp>

#include <fcntl.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <system_error>
#include <vector>

namespace fs = std::filesystem;
namespace cfg = mailharness::refmaild::config;
namespace cert = mailharness::refmaild::cert;
namespace users = mailharness::refmaild::users;
namespace mq = mailharness::refmaild::queue;

namespace {

constexpr int exit_ok = 0;
constexpr int exit_failure = 1;
constexpr int exit_usage = 2;

[[noreturn]] void fail(const std::string& what) { throw std::runtime_error(what); }

// ---- running the server ----

/// "smtp=25 submission=587 ...": the SMTP listeners first, in the order people think of them.
std::string ports_line(const std::map<std::string, std::uint16_t>& ports) {
    std::string line;
    std::vector<std::string> order{"smtp", "submission", "smtps", "pop3", "pop3s"};
    for (const auto& [name, port] : ports)
        if (std::find(order.begin(), order.end(), name) == order.end()) order.push_back(name);
    for (const auto& name : order) {
        auto it = ports.find(name);
        if (it == ports.end()) continue;
        if (!line.empty()) line += ' ';
        line += name + '=' + std::to_string(it->second);
    }
    return line;
}

/// Runs the server until SIGTERM or SIGINT; SIGHUP reloads certificates and users.
/// `on_started` is called once the ports are bound (quickstart prints how to connect).
int run_server(const fs::path& config_file, const std::optional<fs::path>& ports_file,
               const std::function<void(const std::map<std::string, std::uint16_t>&)>& on_started = {}) {
    // Blocked before any thread exists (the store's committer starts in the server constructor),
    // so every thread inherits the mask and only sigwait() below ever sees these signals.
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGHUP);
    sigaddset(&signals, SIGTERM);
    sigaddset(&signals, SIGINT);
    if (int rc = pthread_sigmask(SIG_BLOCK, &signals, nullptr); rc != 0)
        fail(std::string("pthread_sigmask: ") + std::strerror(rc));
    // A client that disconnects mid-write must not kill the server.
    std::signal(SIGPIPE, SIG_IGN);

    mailharness::refmaild::server srv(cfg::load_config_or_throw(config_file));
    srv.start();
    auto ports = srv.ports();
    if (ports_file) srv.write_ports_file(*ports_file);
    std::cerr << "refmaild: listening " << ports_line(ports) << std::endl;
    if (on_started) on_started(ports);

    for (;;) {
        int sig = 0;
        if (int rc = sigwait(&signals, &sig); rc != 0) fail(std::string("sigwait: ") + std::strerror(rc));
        if (sig == SIGHUP) {
            bool ok = srv.reload();
            std::cerr << (ok ? "refmaild: reloaded on SIGHUP" : "refmaild: reload failed, keeping the old material")
                      << std::endl;
            continue;
        }
        std::cerr << "refmaild: stopping on " << (sig == SIGTERM ? "SIGTERM" : "SIGINT") << std::endl;
        srv.stop();
        srv.wait();
        return exit_ok;
    }
}

int check_config(const fs::path& file) {
    auto problems = cfg::check_config(file);
    bool any_error = false;
    for (const auto& p : problems) {
        std::cout << p.to_string() << '\n';
        any_error = any_error || p.is_error();
    }
    if (!any_error) std::cout << file.string() << ": ok\n";
    std::cout.flush();
    return any_error ? exit_failure : exit_ok;
}

// ---- small file helpers ----

/// Writes `text` to `file` through a temporary file with `mode`, fsync and rename, so that a
/// reader never sees half a file and secrets are never readable by others, not even briefly.
void write_file_atomic(const fs::path& file, const std::string& text, mode_t mode) {
    fs::path tmp = file;
    tmp += ".tmp";
    int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    if (fd < 0) fail("cannot create " + tmp.string() + ": " + std::strerror(errno));
    ::fchmod(fd, mode);  // O_CREAT does not change the mode of a leftover temporary file
    std::size_t done = 0;
    while (done < text.size()) {
        ssize_t n = ::write(fd, text.data() + done, text.size() - done);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            int err = errno;
            ::close(fd);
            fail("cannot write " + tmp.string() + ": " + std::strerror(err));
        }
        done += static_cast<std::size_t>(n);
    }
    if (::fsync(fd) != 0 || ::close(fd) != 0) fail("cannot write " + tmp.string() + ": " + std::strerror(errno));
    fs::rename(tmp, file);
}

/// A random password of letters and digits (nothing a passwd-file or a shell would mind).
std::string random_password(std::size_t length = 20) {
    static constexpr char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    constexpr unsigned n = sizeof alphabet - 1;  // 62
    std::string out;
    while (out.size() < length) {
        unsigned char buf[32];
        if (RAND_bytes(buf, sizeof buf) != 1) fail("RAND_bytes failed");
        for (unsigned char b : buf) {
            if (b >= 256 - 256 % n) continue;  // rejection sampling keeps the choice uniform
            out += alphabet[b % n];
            if (out.size() == length) break;
        }
    }
    return out;
}

// ---- cert ----

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

// ---- user ----

struct user_args {
    std::string address;
    /// Empty: SHA512-CRYPT for a new user, the current scheme for a password change.
    std::string scheme;
    std::optional<std::string> password;
    bool password_stdin = false;
    std::string file;
};

/// The passwd-file, or an empty database when it does not exist yet. Refuses a file with bad
/// lines, because saving would drop them.
users::user_db load_for_edit(const fs::path& file) {
    if (!fs::exists(file)) return {};
    auto loaded = users::user_db::load(file);
    if (loaded.error) fail(file.string() + ": " + loaded.error.message());
    if (!loaded.problems.empty()) {
        std::string msg = file.string() + " has invalid lines; fix them first (saving would drop them):";
        for (const auto& p : loaded.problems) msg += "\n  line " + std::to_string(p.line) + ": " + p.message;
        fail(msg);
    }
    return std::move(loaded.db);
}

/// The new password: --password, one line of stdin, or a generated one (printed, since nobody
/// else knows it).
std::string obtain_password(const user_args& a) {
    if (a.password) return *a.password;
    if (a.password_stdin) {
        std::string line;
        if (!std::getline(std::cin, line)) fail("--password-stdin: no password on standard input");
        if (!line.empty() && line.back() == '\r') line.pop_back();
        return line;
    }
    std::string pw = random_password();
    std::cout << "generated password for " << a.address << ": " << pw << '\n';
    return pw;
}

/// Adds a user (`adding`) or changes the password of an existing one.
int user_set(const user_args& a, bool adding) {
    auto db = load_for_edit(a.file);
    const users::user_entry* existing = db.lookup(a.address);
    if (adding && existing) fail(a.address + " already exists in " + a.file + " (use: refmaild user passwd)");
    if (!adding && !existing) fail("no user " + a.address + " in " + a.file);
    std::optional<users::password_scheme> scheme =
        a.scheme.empty() ? (existing ? existing->scheme : users::password_scheme::sha512_crypt) : users::parse_scheme(a.scheme);
    if (!scheme) fail("--scheme: expected SHA512-CRYPT, ARGON2ID, PLAIN or CRAM-MD5, got " + a.scheme);

    auto at = a.address.rfind('@');
    if (at == std::string::npos || at == 0 || at + 1 == a.address.size())
        fail("expected an address user@domain, got \"" + a.address + "\"");
    users::user_entry entry;
    if (existing) entry = *existing;
    entry.user = a.address.substr(0, at);
    entry.domain = a.address.substr(at + 1);

    auto field = users::hash_password(*scheme, obtain_password(a));
    if (!field) fail("cannot store this password: " + field.error().message());
    auto parsed = users::parse_password_field(*field);
    if (!parsed) fail("internal: unreadable password field: " + parsed.error().message());
    entry.scheme = parsed->first;
    entry.secret = parsed->second;
    if (auto ec = db.set(entry)) fail(a.address + ": " + ec.message());
    if (auto ec = db.save(a.file)) fail("cannot save " + a.file + ": " + ec.message());
    std::cout << (adding ? "added " : "changed password of ") << a.address << " ({" << users::scheme_name(*scheme)
              << "}) in " << a.file << '\n';
    return exit_ok;
}

int user_del(const user_args& a) {
    auto db = load_for_edit(a.file);
    if (!db.remove(a.address)) fail("no user " + a.address + " in " + a.file);
    if (auto ec = db.save(a.file)) fail("cannot save " + a.file + ": " + ec.message());
    std::cout << "removed " << a.address << " from " << a.file << '\n';
    return exit_ok;
}

/// One "address scheme" per user; never the secret. Bad lines go to stderr with their numbers.
int user_list(const user_args& a) {
    auto loaded = users::user_db::load(a.file);
    if (loaded.error) fail(a.file + ": " + loaded.error.message());
    for (const auto& e : loaded.db.entries()) std::cout << e.address() << ' ' << users::scheme_name(e.scheme) << '\n';
    for (const auto& p : loaded.problems)
        std::cerr << a.file << ':' << p.line << ": " << p.message << '\n';
    return loaded.problems.empty() ? exit_ok : exit_failure;
}

// ---- queue ----

/// "2024-06-04T10:00:00Z"
std::string utc_time(mq::unix_millis t) {
    std::time_t secs = static_cast<std::time_t>(t / 1000);
    std::tm tm{};
    ::gmtime_r(&secs, &tm);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return buf;
}

mq::spool open_spool(const fs::path& config_file) {
    auto settings = cfg::load_config_or_throw(config_file);
    return mq::spool({.dir = cfg::queue_spool_dir(settings)});
}

/// One block per message: ID, size, times, attempts, sender; then each recipient with its state
/// and last reply. Files that are not valid spool entries go to stderr. Reads only.
int queue_list(const fs::path& config_file) {
    auto sp = open_spool(config_file);
    auto scan = sp.scan(mq::scan_mode::read_only);
    for (const auto& e : scan.entries) {
        const auto& env = e.env;
        std::cout << env.id << "  " << e.size << " octets  queued " << utc_time(env.created) << "  next attempt "
                  << utc_time(env.next_attempt) << "  attempts " << env.attempts << "  from <" << env.sender << ">\n";
        for (const auto& r : env.recipients) {
            std::cout << "    " << mq::to_string(r.state) << "  <" << r.mailbox << ">";
            const auto& l = r.last;
            if (l.code || !l.diagnostic.empty()) {
                std::cout << "  (";
                if (!l.remote.empty()) std::cout << l.remote << ": ";
                if (l.code) std::cout << l.code << ' ';
                if (!l.status.empty()) std::cout << l.status << ' ';
                std::cout << l.diagnostic << ")";
            }
            std::cout << '\n';
        }
    }
    std::cout << scan.entries.size() << (scan.entries.size() == 1 ? " message" : " messages") << " in "
              << sp.settings().dir.string() << '\n';
    for (const auto& p : scan.problems) std::cerr << sp.settings().dir.string() << '/' << p.file << ": " << p.message << '\n';
    return exit_ok;
}

/// Asks a running server to attempt every message now (see spool::request_flush()).
int queue_flush(const fs::path& config_file) {
    auto sp = open_spool(config_file);
    if (!fs::is_directory(sp.settings().dir)) fail("no queue at " + sp.settings().dir.string());
    if (auto ec = sp.request_flush()) fail("cannot request a flush in " + sp.settings().dir.string() + ": " + ec.message());
    std::cout << "flush requested: a running refmaild attempts every queued message within queue.poll_interval\n";
    return exit_ok;
}

/// Removes one message durably, after taking its lock (waiting up to 30 s for a delivery in
/// progress to finish).
int queue_delete(const fs::path& config_file, const std::string& id) {
    if (!mq::valid_queue_id(id)) {
        std::cerr << "refmaild: queue delete: \"" << id << "\" is not a queue ID\n";
        return exit_usage;
    }
    auto sp = open_spool(config_file);
    auto lock = sp.lock(id, std::chrono::seconds(30));
    if (!lock) {
        std::cerr << "refmaild: queue delete: " << id << ": " << lock.error().message() << '\n';
        return exit_failure;
    }
    if (auto ec = sp.remove(id)) {
        std::cerr << "refmaild: queue delete: " << id << ": " << ec.message() << '\n';
        return exit_failure;
    }
    std::cout << "deleted " << id << '\n';
    return exit_ok;
}

// ---- quickstart ----

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
              << "  refmaild.yaml   configuration (loopback listeners smtp, submission, smtps, pop3, pop3s, metrics on port 0)\n"
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

int main(int argc, char** argv) {
    CLI::App app{"refmaild: the mailharness reference mail server", "refmaild"};
    app.require_subcommand(0, 1);

    std::string config_file, ports_file, check_file;
    auto* config_opt = app.add_option("-c,--config", config_file, "run the server with this YAML configuration");
    auto* ports_opt = app.add_option("--ports-file", ports_file,
                                     "write the bound ports here (\"name port\" lines) once listening");
    auto* check_opt = app.add_option("--check-config", check_file,
                                     "check a configuration (FILE, or the --config file) and the files it names, "
                                     "print every problem, exit");
    check_opt->expected(0, 1);
    ports_opt->needs(config_opt);
    ports_opt->excludes(check_opt);

    // cert
    auto* cert_cmd = app.add_subcommand("cert", "make or inspect certificates");
    cert_cmd->require_subcommand(1);
    cert_args ca_args;
    auto* cert_self = cert_cmd->add_subcommand("self-signed", "self-signed certificate: OUT/cert.pem, OUT/key.pem");
    add_cert_options(cert_self, ca_args, true);
    cert_self->add_flag("--client", ca_args.client, "client authentication usage instead of server");
    auto* cert_ca = cert_cmd->add_subcommand("ca", "CA certificate: OUT/ca.pem, OUT/ca-key.pem");
    add_cert_options(cert_ca, ca_args, false);
    auto* cert_issue = cert_cmd->add_subcommand("issue", "certificate signed by a CA: OUT/NAME.pem, OUT/NAME-key.pem");
    add_cert_options(cert_issue, ca_args, true);
    cert_issue->add_option("--ca-dir", ca_args.ca_dir, "directory holding ca.pem and ca-key.pem")->required();
    cert_issue->add_option("--name", ca_args.name, "file name stem of the new certificate")->required();
    cert_issue->add_flag("--client", ca_args.client, "client authentication usage instead of server");
    auto* cert_chk = cert_cmd->add_subcommand("check", "print a certificate summary; exit 1 if expired or not yet valid");
    cert_chk->add_option("file", ca_args.check_file, "PEM or DER certificate file")->required();

    // user
    auto* user_cmd = app.add_subcommand("user", "edit a passwd-file (user@domain:{SCHEME}secret)");
    user_cmd->require_subcommand(1);
    user_args ua;
    auto add_password_options = [&](CLI::App* sub) {
        sub->add_option("address", ua.address, "user@domain")->required();
        sub->add_option("--scheme", ua.scheme,
                        "SHA512-CRYPT (default for new users), ARGON2ID, PLAIN or CRAM-MD5 (PLAIN and CRAM-MD5 store the "
                        "password itself, which CRAM-MD5 and SCRAM need)");
        auto* p = sub->add_option("--password", ua.password, "the password (visible to other local users in ps)");
        auto* ps = sub->add_flag("--password-stdin", ua.password_stdin, "read the password from one line of stdin");
        p->excludes(ps);
        sub->add_option("--file", ua.file, "the passwd-file (created with mode 0600 if missing)")->required();
    };
    auto* user_add = user_cmd->add_subcommand("add", "add a user (password generated and printed if none given)");
    add_password_options(user_add);
    auto* user_passwd = user_cmd->add_subcommand("passwd", "change a user's password");
    add_password_options(user_passwd);
    auto* user_delete = user_cmd->add_subcommand("del", "remove a user");
    user_delete->add_option("address", ua.address, "user@domain")->required();
    user_delete->add_option("--file", ua.file, "the passwd-file")->required();
    auto* user_ls = user_cmd->add_subcommand("list", "list users and their schemes (never secrets)");
    user_ls->add_option("--file", ua.file, "the passwd-file")->required();

    // quickstart
    auto* qs_cmd = app.add_subcommand("quickstart", "create a loopback test setup in DIR and run it");
    std::string qs_dir;
    bool qs_no_run = false;
    qs_cmd->add_option("dir", qs_dir, "directory to create (kept if it already holds refmaild.yaml)")->required();
    qs_cmd->add_flag("--no-run", qs_no_run, "only create the files");

    // queue
    auto* queue_cmd = app.add_subcommand("queue", "inspect and control the outbound queue of a configuration");
    queue_cmd->require_subcommand(1);
    std::string queue_config, queue_id;
    auto* queue_ls = queue_cmd->add_subcommand("list", "list queued messages, their recipients and last replies");
    auto* queue_fl = queue_cmd->add_subcommand("flush", "make a running server attempt every queued message now");
    auto* queue_del = queue_cmd->add_subcommand("delete", "remove one message from the queue (no bounce)");
    queue_del->add_option("id", queue_id, "queue ID (as listed)")->required();
    for (auto* sub : {queue_ls, queue_fl, queue_del}) {
        sub->add_option("-c,--config", queue_config, "the server's YAML configuration (names the spool)")->required();
    }

    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        return app.exit(e);
    }

    try {
        if (cert_self->parsed()) {
            fs::create_directories(ca_args.out_dir);
            return cert_made(cert::make_self_signed(ca_args.options(), ca_args.out_dir), "self-signed");
        }
        if (cert_ca->parsed()) {
            fs::create_directories(ca_args.out_dir);
            return cert_made(cert::make_ca(ca_args.options(), ca_args.out_dir), "ca");
        }
        if (cert_issue->parsed()) {
            fs::create_directories(ca_args.out_dir);
            auto ca = cert::pem_paths{fs::path(ca_args.ca_dir) / "ca.pem", fs::path(ca_args.ca_dir) / "ca-key.pem"};
            return cert_made(cert::issue(ca_args.options(), ca, ca_args.out_dir, ca_args.name), "issue");
        }
        if (cert_chk->parsed()) return cert_check(ca_args.check_file);
        if (user_add->parsed()) return user_set(ua, true);
        if (user_passwd->parsed()) return user_set(ua, false);
        if (user_delete->parsed()) return user_del(ua);
        if (user_ls->parsed()) return user_list(ua);
        if (qs_cmd->parsed()) return quickstart(qs_dir, qs_no_run);
        if (queue_ls->parsed()) return queue_list(queue_config);
        if (queue_fl->parsed()) return queue_flush(queue_config);
        if (queue_del->parsed()) return queue_delete(queue_config, queue_id);
        if (check_opt->count() > 0) {
            if (check_file.empty() && config_file.empty()) fail("--check-config: no configuration file given");
            return check_config(check_file.empty() ? config_file : check_file);
        }
        if (!config_file.empty())
            return run_server(config_file, ports_file.empty() ? std::nullopt : std::optional<fs::path>(ports_file));
        std::cerr << app.help();
        return exit_usage;
    } catch (const cfg::config_error& e) {
        std::cerr << "refmaild: configuration errors:\n" << e.what() << '\n';
        return exit_failure;
    } catch (const std::exception& e) {
        std::cerr << "refmaild: error: " << e.what() << '\n';
        return exit_failure;
    }
}

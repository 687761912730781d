// mailconform: runs the declarative conformance and security suites against a mail server.
// Exit status: 0 all required cases passed, 1 a case at --fail-on level or stricter failed,
// 2 bad usage, a bad case file or target file.
#include <CLI/CLI.hpp>

#include <chrono>
#include <ctime>
#include <fstream>
#include <functional>
#include <iostream>

#include "mailharness/conform/report.hpp"
#include "mailharness/conform/runner.hpp"

namespace conform = mailharness::conform;
namespace reports = mailharness::reports;

namespace {

constexpr const char* version = "0.1.0";

std::string utc_now() {
    const std::time_t now = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
    std::tm tm{};
    gmtime_r(&now, &tm);
    char b[32];
    std::strftime(b, sizeof b, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return b;
}

template <class F>
bool write_file(const std::string& path, F&& render) {
    if (path.empty()) return true;
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    render(out);
    out.close();
    if (!out) {
        std::cerr << "mailconform: cannot write " << path << '\n';
        return false;
    }
    return true;
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{"mailconform: conformance and security suites against a mail server"};
    conform::target flags;  // what the command line says; applied over the target file
    conform::run_options options;
    std::string target_file, suite_dir = "conformance/suites", tls, junit, tap, json, html, markdown, fail_on = "must";
    bool list = false;
    unsigned timeout_ms = 0, quiet_ms = 0;

    app.add_option("--target", target_file, "target YAML file (host, port, tls, local_domain, ...); flags override it");
    app.add_option("--host", flags.host, "server host name or address (default 127.0.0.1)");
    app.add_option("--port", flags.port, "server port (default 25)");
    app.add_option("--tls", tls, "none | starttls | implicit (default starttls)");
    app.add_option("--local-domain", flags.local_domain, "a domain the server accepts mail for");
    app.add_option("--remote-domain", flags.remote_domain, "a domain the server must not relay to (default example.net)");
    app.add_option("--rcpt", flags.rcpt, "an existing local mailbox (default postmaster@LOCAL-DOMAIN)");
    app.add_option("--user", flags.user, "user name for AUTH cases");
    app.add_option("--password", flags.password, "password for AUTH cases");
    app.add_flag("--insecure", flags.insecure, "do not verify the server certificate");
    app.add_option("--cafile", flags.cafile, "PEM CA certificates to verify the server with");
    app.add_option("--tls-name", flags.tls_name, "the name the server certificate must carry (SNI too; default: --host)");
    app.add_option("--cert-warn-days", flags.cert_warn_days, "expiry cases fail when the certificate expires within this many days (default 14)")
        ->check(CLI::Range(1, 3650));
    app.add_option("--timeout", timeout_ms, "timeout of every network operation, ms (default 10000)");
    app.add_option("--quiet-time", quiet_ms, "how long to wait for replies that must not come, ms (default 1000)");
    app.add_option("--suite", suite_dir, "directory of case files")->capture_default_str();
    app.add_flag("--list", list, "list the selected cases and exit");
    app.add_option("--only", options.only, "run only cases with this id, tag, protocol or category (repeatable)");
    app.add_option("--exclude", options.exclude, "skip cases with this id, tag, protocol or category (repeatable)");
    app.add_flag("--allow-destructive", options.allow_destructive, "run cases that deliver mail or change state");
    app.add_option("--junit", junit, "write JUnit XML here");
    app.add_option("--tap", tap, "write TAP here");
    app.add_option("--json", json, "write JSON here (the results mailreport reads)");
    app.add_option("--html", html, "write the HTML page here (cases by protocol and category)");
    app.add_option("--markdown", markdown, "write a Markdown summary here (for a CI job summary)");
    app.add_option("--fail-on", fail_on, "exit 1 when a case at this level or stricter fails: must | should | may")
        ->capture_default_str()
        ->check(CLI::IsMember({"must", "should", "may"}));
    CLI11_PARSE(app, argc, argv);

    conform::target t;
    std::vector<conform::test_case> cases;
    try {
        if (!target_file.empty()) conform::load_target(target_file, t);
        const std::pair<const char*, std::function<void()>> overrides[] = {
            {"--host", [&] { t.host = flags.host; }},
            {"--port", [&] { t.port = flags.port; }},
            {"--tls", [&] { t.tls = conform::parse_tls_mode(tls); }},
            {"--local-domain", [&] { t.local_domain = flags.local_domain; }},
            {"--remote-domain", [&] { t.remote_domain = flags.remote_domain; }},
            {"--rcpt", [&] { t.rcpt = flags.rcpt; }},
            {"--user", [&] { t.user = flags.user; }},
            {"--password", [&] { t.password = flags.password; }},
            {"--insecure", [&] { t.insecure = flags.insecure; }},
            {"--cafile", [&] { t.cafile = flags.cafile; }},
            {"--tls-name", [&] { t.tls_name = flags.tls_name; }},
            {"--cert-warn-days", [&] { t.cert_warn_days = flags.cert_warn_days; }},
            {"--timeout", [&] { t.timeout = std::chrono::milliseconds(timeout_ms); }},
            {"--quiet-time", [&] { t.quiet_time = std::chrono::milliseconds(quiet_ms); }},
        };
        for (const auto& [flag, apply] : overrides) {
            if (app.count(flag)) apply();
        }
        if (t.rcpt.empty()) t.rcpt = "postmaster@" + t.local_domain;
        cases = conform::load_suite(suite_dir);
    } catch (const std::exception& e) {
        std::cerr << "mailconform: " << e.what() << '\n';
        return 2;
    }

    if (list) {
        for (const auto& c : cases) {
            if (!conform::selected(c, options)) continue;
            std::cout << c.id << "  " << conform::to_string(c.protocol) << ' ' << conform::to_string(c.category) << ' '
                      << conform::to_string(c.level) << "  " << c.rfc << "  " << c.title << (c.destructive ? "  [destructive]" : "")
                      << '\n';
        }
        return 0;
    }

    std::cout << "mailconform: " << t.host << ':' << t.port << " (tls " << conform::to_string(t.tls) << ")\n";
    const std::string started_at = utc_now();
    const auto results = conform::run_cases(cases, t, options, &std::cout);
    const auto run = conform::to_report(
        results, {.started_at = started_at, .target = t.host + ':' + std::to_string(t.port), .tls = conform::to_string(t.tls), .version = version});
    reports::write_conformance_summary(std::cout, run);

    bool ok = write_file(junit, [&](std::ostream& o) { reports::write_conformance_junit(o, run); });
    ok = write_file(tap, [&](std::ostream& o) { reports::write_conformance_tap(o, run); }) && ok;
    ok = write_file(json, [&](std::ostream& o) { reports::write_conformance_json(o, run); }) && ok;
    ok = write_file(html, [&](std::ostream& o) { reports::write_conformance_html(o, run); }) && ok;
    ok = write_file(markdown, [&](std::ostream& o) { reports::write_conformance_markdown(o, run); }) && ok;
    if (!ok) return 2;

    const auto level = fail_on == "must" ? conform::level::must : fail_on == "should" ? conform::level::should : conform::level::may;
    return conform::any_failure_at(results, level) ? 1 : 0;
}

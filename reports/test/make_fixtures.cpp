// Writes the results files the mailreport ctests run on, into DIR:
//   load/base.json, load/same.json (a later run, same speed), load/slower.json (p99 x1.5),
//   history/run-NN.json (12 load runs, slowly getting slower, written out of order) and
//   history/conformance-NN.json (3 conformance runs),
//   conformance/refmaild.json, conformance/postfix.json (a relay probe fails there, with
//   its decisive transcript lines), conformance/old-format.json (summary + cases only).
#include <filesystem>
#include <fstream>
#include <iostream>

#include <nlohmann/json.hpp>

#include "mailharness/reports/conformance.hpp"
#include "run_fixture.hpp"

namespace fs = std::filesystem;
using namespace mailharness;
using namespace mailharness::reports;

namespace {

void write(const fs::path& p, const std::string& text) {
    fs::create_directories(p.parent_path());
    std::ofstream(p, std::ios::binary) << text;
}

conformance_run conformance(const std::string& target, bool relay_fails, const std::string& started_at) {
    conformance_run r{.started_at = started_at, .target = target, .tls = "starttls", .version = "0.1.0"};
    r.cases.push_back({.id = "smtp-greeting", .title = "The server greets with 220", .protocol = "smtp", .rfc = "RFC 5321 4.2",
                       .level = "MUST", .category = "protocol", .tags = {"session"}, .outcome = "passed",
                       .file = "suites/smtp/greeting.yaml", .duration_ms = 3,
                       .transcript = "-- connect default to " + target + "\nS: 220 mx ESMTP\n"});
    r.cases.push_back({.id = "smtp-vrfy-implemented", .title = "VRFY answers 252 when disabled", .protocol = "smtp",
                       .rfc = "RFC 5321 7.3", .level = "MUST", .category = "protocol", .outcome = relay_fails ? "failed" : "passed",
                       .message = relay_fails ? "expect: reply \"502 5.5.1 VRFY command is disabled\" does not match ^25[02]" : "",
                       .file = "suites/smtp/vrfy.yaml", .line = relay_fails ? 14 : 0, .duration_ms = 4,
                       .transcript = "S: 220 mx ESMTP\nC: EHLO conform.test\nS: 250 mx\nC: VRFY postmaster\nS: 502 5.5.1 VRFY command is disabled\n",
                       .decisive = relay_fails ? std::vector<std::string>{"C: VRFY postmaster", "S: 502 5.5.1 VRFY command is disabled"}
                                               : std::vector<std::string>{}});
    r.cases.push_back({.id = "smtp-relay-percent-hack", .title = "No relay through user%remote@local", .protocol = "smtp",
                       .rfc = "RFC 5321 3.6.1", .level = "MUST", .category = "security", .tags = {"relay"},
                       .outcome = relay_fails ? "failed" : "passed",
                       .message = relay_fails ? "expect: reply \"250 2.1.5 Ok\" does not match ^[45]" : "",
                       .file = "suites/smtp/relay-percent.yaml", .line = relay_fails ? 12 : 0, .duration_ms = 6,
                       .transcript = "S: 220 mx ESMTP\nC: EHLO conform.test\nS: 250 mx\nC: MAIL FROM:<a@example.org>\nS: 250 2.1.0 Ok\n"
                                     "C: RCPT TO:<victim%example.net@local.test>\nS: " + std::string(relay_fails ? "250 2.1.5 Ok" : "550 5.7.1 Relay denied") + "\n",
                       .decisive = relay_fails ? std::vector<std::string>{"C: RCPT TO:<victim%example.net@local.test>", "S: 250 2.1.5 Ok"}
                                               : std::vector<std::string>{}});
    r.cases.push_back({.id = "smtp-tls13-accepted", .title = "TLS 1.3 is accepted", .protocol = "smtp", .rfc = "RFC 8446",
                       .level = "SHOULD", .category = "tls", .tags = {"starttls"}, .outcome = "passed", .duration_ms = 9});
    r.cases.push_back({.id = "smtp-size-over-limit", .title = "SIZE over the limit is refused", .protocol = "smtp",
                       .rfc = "RFC 1870 6", .level = "MUST", .category = "protocol", .outcome = "skipped", .message = "no SIZE advertised"});
    return r;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc != 2) {
        std::cerr << "usage: make_fixtures DIR\n";
        return 2;
    }
    const fs::path dir = argv[1];
    write(dir / "load/base.json", load::to_json_string(test::make_run("2025-03-01T10:00:00Z", 1.0, 100, 10)));
    write(dir / "load/same.json", load::to_json_string(test::make_run("2025-03-02T10:00:00Z", 1.0, 100, 10)));
    write(dir / "load/slower.json", load::to_json_string(test::make_run("2025-03-03T10:00:00Z", 1.5, 100, 10)));
    for (int i = 11; i >= 0; --i) {
        char name[32], day[32];
        std::snprintf(name, sizeof name, "run-%02d.json", 11 - i);  // file order is not time order
        std::snprintf(day, sizeof day, "2025-02-%02dT06:00:00Z", i + 1);
        write(dir / "history" / name, load::to_json_string(test::make_run(day, 1.0 + 0.05 * i, 80 + (i % 3) * 5, 5, i % 4 == 0 ? 1 : 0)));
    }
    for (int i = 0; i < 3; ++i)
        write(dir / "history" / ("conformance-" + std::to_string(i) + ".json"),
              to_json(conformance("127.0.0.1:2525", i == 1, "2025-02-0" + std::to_string(i + 1) + "T07:00:00Z")).dump(2) + "\n");
    write(dir / "conformance/refmaild.json", to_json(conformance("127.0.0.1:2525", false, "2025-03-01T10:00:00Z")).dump(2) + "\n");
    write(dir / "conformance/postfix.json", to_json(conformance("127.0.0.1:2625", true, "2025-03-01T10:05:00Z")).dump(2) + "\n");
    auto old = to_json(conformance("127.0.0.1:2725", true, ""));
    old.erase("format");
    old.erase("run");
    for (auto& c : old["cases"]) c.erase("decisive");
    write(dir / "conformance/old-format.json", old.dump(2) + "\n");
    write(dir / "thresholds.json", R"({"format": "mailharness.mailreport.thresholds/1", "latency": {"p99": "60%"}, "throughput_drop": "5%"})" "\n");
    return 0;
}

#include "mailharness/load/scenario_loader.hpp"

#include <gtest/gtest.h>

#include <filesystem>

#include "mailharness/load/actions.hpp"

using namespace mailharness::load;
namespace fs = std::filesystem;

namespace {

std::string all(const load_result& r) {
    std::string s;
    for (const auto& p : r.problems) s += p.to_string() + "\n";
    return s;
}

// True when some problem has this line (0: any) and contains `text`.
bool has(const load_result& r, int line, const std::string& text) {
    for (const auto& p : r.problems)
        if ((line == 0 || p.line == line) && p.message.find(text) != std::string::npos) return true;
    return false;
}

const char* minimal = R"(
targets:
  t: {host: 127.0.0.1, port: 2525}
messages:
  m: {size: 1KiB}
workloads:
  - name: w
    executor: {type: closed, vus: 2, duration: 1s}
    flow: [connect, ehlo, send, quit]
)";

}  // namespace

TEST(scenario_loader, shipped_scenarios_load) {
    int n = 0;
    for (const auto& e : fs::directory_iterator(MH_LOAD_SCENARIO_DIR)) {
        if (e.path().extension() != ".yaml") continue;
        ++n;
        auto r = load_scenario(e.path());
        EXPECT_TRUE(r.ok()) << e.path() << "\n" << all(r);
        EXPECT_FALSE(r.value.description.empty()) << e.path();
    }
    EXPECT_GE(n, 1);
}

TEST(scenario_loader, smoke_model) {
    auto r = load_scenario(fs::path(MH_LOAD_SCENARIO_DIR) / "smoke.yaml");
    ASSERT_TRUE(r.ok()) << all(r);
    const auto& s = r.value;
    EXPECT_EQ(s.name, "smoke");
    ASSERT_EQ(s.workloads.size(), 2u);
    const auto& relay = s.workloads[0];
    EXPECT_EQ(relay.exec.kind, executor_kind::closed);
    ASSERT_EQ(relay.exec.stages.size(), 1u);
    EXPECT_EQ(relay.exec.stages[0].target, 4);
    EXPECT_EQ(relay.exec.stages[0].duration, std::chrono::seconds(5));
    ASSERT_EQ(relay.flow.size(), 7u);
    EXPECT_EQ(relay.flow[4].kind, action_kind::smtp_send);
    const auto& send = std::get<smtp_params>(relay.flow[4].params);
    EXPECT_EQ(send.messages.min, 3u);
    EXPECT_TRUE(send.pipelining);
    EXPECT_EQ(relay.flow[5].kind, action_kind::think);
    EXPECT_EQ(std::get<think_params>(relay.flow[5].params).think.min, std::chrono::milliseconds(20));
    const auto& submit = s.workloads[1];
    EXPECT_EQ(submit.exec.kind, executor_kind::open);
    EXPECT_EQ(submit.exec.stages[0].target, 20);
    EXPECT_EQ(submit.exec.arrivals, arrival_process::poisson);
    const auto& auth = std::get<smtp_params>(submit.flow[4].params);
    EXPECT_EQ(auth.mechanisms, (std::vector<std::string>{"PLAIN", "SCRAM-SHA-256"}));
    EXPECT_EQ(std::get<smtp_params>(submit.flow[5].params).body, smtp_body::bdat);
    EXPECT_EQ(s.planned_duration(), std::chrono::seconds(5));
    const auto th = s.all_thresholds();
    ASSERT_GE(th.size(), 4u);
    EXPECT_TRUE(th.back().abort_on_fail);
    EXPECT_EQ(th.back().abort_delay, std::chrono::seconds(2));
    const auto* senders = s.find_pool("senders");
    ASSERT_NE(senders, nullptr);
    std::string a;
    senders->address(0, a);
    EXPECT_EQ(a, "user1@example.test");
    senders->password_of(9, a);
    EXPECT_EQ(a, "secret10");
}

TEST(scenario_loader, files_relative_to_the_scenario) {
    auto r = load_scenario(fs::path(MH_LOAD_FIXTURE_DIR) / "good_files.yaml");
    ASSERT_TRUE(r.ok()) << all(r);
    const auto& s = r.value;
    const auto* p = s.find_pool("from_file");
    ASSERT_NE(p, nullptr);
    ASSERT_EQ(p->size(), 2u);
    EXPECT_EQ(p->users[1].address, "bob@example.test");
    EXPECT_EQ(p->users[1].password, "pw-bob");
    EXPECT_EQ(s.messages[0].eml_dir, fs::path(MH_LOAD_FIXTURE_DIR) / "eml");
    EXPECT_EQ(s.messages[0].recipients.min, 2u);
    const auto& w = s.workloads[0];
    EXPECT_EQ(w.target, "t");  // the only target
    EXPECT_EQ(w.message, "eml");  // the only message
    EXPECT_EQ(w.exec.arrivals, arrival_process::uniform);
    ASSERT_EQ(w.exec.stages.size(), 2u);
    EXPECT_EQ(w.exec.stages[0].target, 50);
    EXPECT_EQ(std::get<smtp_params>(w.flow[2].params).mechanisms[0], "CRAM-MD5");
    const auto& g = w.flow[3];
    EXPECT_EQ(g.kind, action_kind::group);
    EXPECT_EQ(g.repeat.min, 1u);
    EXPECT_EQ(g.repeat.max, 3u);
    ASSERT_EQ(g.steps.size(), 4u);
    EXPECT_DOUBLE_EQ(g.steps[2].probability, 0.9);
    EXPECT_EQ(s.targets[0].tls, tls_mode::implicit);
    EXPECT_EQ(s.targets[0].sni, "mail.example.test");
}

TEST(scenario_loader, reports_every_problem_with_its_line) {
    auto r = load_scenario(fs::path(MH_LOAD_FIXTURE_DIR) / "bad_many.yaml");
    ASSERT_FALSE(r.ok());
    const std::string text = all(r);
    EXPECT_TRUE(has(r, 6, "targets.main.port: must be between 1 and 65535")) << text;
    EXPECT_TRUE(has(r, 7, "must be none, starttls or implicit, not 'sometimes'")) << text;
    EXPECT_TRUE(has(r, 0, "pattern needs count")) << text;
    EXPECT_TRUE(has(r, 0, "lognormal needs median")) << text;
    EXPECT_TRUE(has(r, 13, "sigma: must be between 0 and 5")) << text;
    EXPECT_TRUE(has(r, 17, "unknown key 'vu'")) << text;
    EXPECT_TRUE(has(r, 20, "unknown smtp action 'hello'")) << text;
    EXPECT_TRUE(has(r, 21, "must be a duration with a unit")) << text;
    EXPECT_TRUE(has(r, 23, "latency needs a duration with a unit")) << text;
    for (const auto& p : r.problems) EXPECT_EQ(p.file, (fs::path(MH_LOAD_FIXTURE_DIR) / "bad_many.yaml").string());
}

TEST(scenario_loader, bad_scenarios) {
    const struct {
        const char* yaml;
        int line;
        const char* text;
    } bad[] = {
        {"targets: [1", 1, "YAML:"},
        {"- a\n- b\n", 1, "must be a YAML map"},
        {"targets:\n  t: {host: x}\nworkloads: []\n", 2, "port is required"},
        {"targets:\n  t: {port: 25}\n", 0, "workloads: must be a non-empty list"},
        {"targets:\n  t: {port: 25}\nworkloads:\n  - flow: [connect]\n", 4, "executor is required"},
        {"targets:\n  t: {port: 25}\nworkloads:\n  - executor: {type: closed, vus: 1, duration: 1s}\n"
         "    flow: [ehlo, quit]\n",
         0, "ehlo before connect"},
        {"targets:\n  t: {port: 25}\nworkloads:\n  - executor: {type: closed, vus: 1, duration: 1s}\n"
         "    flow: [connect, ehlo, starttls, quit]\n",
         0, "starttls needs a target with tls: starttls"},
        {"targets:\n  t: {port: 25, tls: starttls}\nworkloads:\n  - executor: {type: closed, vus: 1, duration: 1s}\n"
         "    flow: [connect, ehlo, quit]\n",
         0, "never sends starttls"},
        {"targets:\n  t: {port: 25}\nworkloads:\n  - executor: {type: closed, vus: 1, duration: 1s}\n"
         "    flow: [connect, ehlo, auth, quit]\n",
         0, "auth needs users"},
        {"targets:\n  t: {port: 25}\nusers:\n  u: {addresses: [a@b]}\nworkloads:\n"
         "  - executor: {type: closed, vus: 1, duration: 1s}\n    users: u\n    flow: [connect, ehlo, auth, quit]\n",
         0, "pool 'u' has no passwords"},
        {"targets:\n  t: {port: 25}\nworkloads:\n  - executor: {type: closed, vus: 1, duration: 1s}\n"
         "    flow: [connect, ehlo, send, quit]\n",
         0, "send needs a message generator"},
        {"targets:\n  t: {port: 25}\nworkloads:\n  - executor: {type: closed, vus: 1, duration: 1s}\n"
         "    flow: [connect, ehlo, rcpt, quit]\n",
         0, "rcpt without mail"},
        {"targets:\n  t: {port: 25}\nworkloads:\n  - executor: {type: closed, vus: 1, stages: [], duration: 1s}\n"
         "    flow: [connect]\n",
         4, "needs either vus with duration, or stages"},
        {"targets:\n  t: {port: 25}\nworkloads:\n  - executor: {type: open, rate: 10/s}\n    flow: [connect]\n", 4,
         "rate needs duration"},
        {"targets:\n  t: {port: 25}\nworkloads:\n  - executor: {type: open, rate: 10/s, duration: 1s, arrivals: bursty}\n"
         "    flow: [connect]\n",
         4, "must be poisson or uniform"},
        {"targets:\n  t: {port: 25}\nworkloads:\n  - executor: {type: fast}\n    flow: [connect]\n", 4,
         "must be closed or open"},
        {"targets:\n  t: {port: 25}\nworkloads:\n  - executor: {type: closed, vus: 1, duration: 1s}\n"
         "    flow: [connect, quit]\nthresholds: ['smtp.dta p99 < 1s']\n",
         6, "no workload records 'smtp.dta'"},
        {"targets:\n  t: {port: 25}\nworkloads:\n  - executor: {type: closed, vus: 1, duration: 1s}\n"
         "    flow: [connect, quit]\nthresholds: ['iteration{nope} p99 < 1s']\n",
         6, "no workload 'nope'"},
        {"targets:\n  t: {port: 25}\nworkloads:\n  - executor: {type: closed, vus: 1, duration: 1s}\n"
         "    flow:\n      - connect\n      - {ehlo: {}, think: 1s, quit: {}}\n",
         7, "a step is one action name"},
        {"targets:\n  t: {port: 25}\nworkloads:\n  - executor: {type: closed, vus: 1, duration: 1s}\n"
         "    flow:\n      - connect\n      - auth: {mechanism: GSSAPI}\n",
         7, "'GSSAPI' is not one of"},
        {"targets:\n  t: {port: 25}\nworkloads:\n  - executor: {type: closed, vus: 1, duration: 1s}\n"
         "    flow:\n      - connect\n      - ehlo: {probability: 1.5}\n",
         7, "probability: must be between 0 and 1"},
        {"targets:\n  t: {port: 25}\nworkloads:\n  - name: a\n    executor: {type: closed, vus: 1, duration: 1s}\n"
         "    flow: [connect]\n  - name: a\n    executor: {type: closed, vus: 1, duration: 1s}\n    flow: [connect]\n",
         7, "duplicate workload name"},
        {"targets:\n  t: {port: 25}\nusers:\n  u: {pattern: 'x%d', count: 3}\nworkloads:\n"
         "  - executor: {type: closed, vus: 1, duration: 1s}\n    flow: [connect]\n",
         4, "must be an address pattern"},
        {"targets:\n  t: {port: 25}\nusers:\n  u: {file: /nonexistent/users}\nworkloads:\n"
         "  - executor: {type: closed, vus: 1, duration: 1s}\n    flow: [connect]\n",
         4, "cannot read /nonexistent/users"},
        {"targets:\n  t: {port: 25}\nmessages:\n  m: {eml_dir: /nonexistent}\nworkloads:\n"
         "  - executor: {type: closed, vus: 1, duration: 1s}\n    flow: [connect]\n",
         4, "no .eml files"},
        {"targets:\n  t: {port: 25}\nmessages:\n  m: {size: 10}\nworkloads:\n"
         "  - executor: {type: closed, vus: 1, duration: 1s}\n    flow: [connect]\n",
         4, "sizes must be between 64 octets"},
        {"version: 2\ntargets:\n  t: {port: 25}\n", 1, "version 1 scenarios"},
    };
    for (const auto& b : bad) {
        auto r = parse_scenario(b.yaml, "x.yaml");
        EXPECT_FALSE(r.ok()) << b.yaml;
        EXPECT_TRUE(has(r, b.line, b.text)) << b.yaml << "\n---\n" << all(r);
    }
}

TEST(scenario_loader, minimal_and_overrides) {
    auto r = parse_scenario(minimal, "m.yaml");
    ASSERT_TRUE(r.ok()) << all(r);
    EXPECT_EQ(r.value.name, "m");
    EXPECT_EQ(r.value.targets[0].port, 2525);

    const std::vector<std::string> o = {"targets.t.port=2626", "targets.t.host=::1", "workloads.w.executor.vus=7",
                                        "seed=99", "workloads.0.executor.duration=3s", "description=set"};
    r = parse_scenario(minimal, "m.yaml", o);
    ASSERT_TRUE(r.ok()) << all(r);
    EXPECT_EQ(r.value.targets[0].port, 2626);
    EXPECT_EQ(r.value.targets[0].host, "::1");
    EXPECT_EQ(r.value.workloads[0].exec.stages[0].target, 7);
    EXPECT_EQ(r.value.workloads[0].exec.stages[0].duration, std::chrono::seconds(3));
    EXPECT_EQ(r.value.seed, 99u);
    EXPECT_EQ(r.value.description, "set");

    // A map value replaces the whole node.
    const std::vector<std::string> pool = {"users.u={addresses: [a@example.test]}", "workloads.w.users=u"};
    r = parse_scenario(minimal, "m.yaml", pool);
    ASSERT_TRUE(r.ok()) << all(r);
    ASSERT_NE(r.value.find_pool("u"), nullptr);
    EXPECT_EQ(r.value.find_pool("u")->users[0].address, "a@example.test");

    for (const char* bad : {"noequals", "=x", "workloads.nope.executor.vus=3", "targets.t.port.x=1", "a..b=1"}) {
        const std::vector<std::string> one = {bad};
        auto b = parse_scenario(minimal, "m.yaml", one);
        EXPECT_FALSE(b.ok()) << bad;
        EXPECT_TRUE(has(b, 0, "--set")) << bad << ": " << all(b);
    }
    const std::vector<std::string> badport = {"targets.t.port=http"};
    auto b = parse_scenario(minimal, "m.yaml", badport);
    EXPECT_TRUE(has(b, 0, "targets.t.port: must be a whole number")) << all(b);
}

TEST(scale, keeps_proportions) {
    auto r = load_scenario(fs::path(MH_LOAD_FIXTURE_DIR) / "good_files.yaml");
    ASSERT_TRUE(r.ok()) << all(r);
    scale_duration(r.value, std::chrono::seconds(30));
    EXPECT_EQ(r.value.planned_duration(), std::chrono::seconds(30));
    EXPECT_EQ(r.value.workloads[0].exec.stages[0].duration, std::chrono::seconds(20));
}

TEST(actions, registry) {
    for (const auto& a : all_actions()) {
        EXPECT_EQ(&info(a.kind), &a);
        EXPECT_EQ(find_action(protocol::smtp, a.name), &a);
    }
    EXPECT_EQ(find_action(protocol::pop3, "ehlo"), nullptr);
    EXPECT_NE(find_action(protocol::pop3, "think"), nullptr);
    EXPECT_EQ(info(action_kind::smtp_send).metrics[0], "smtp.message");
}

// The queue: section of refmaild's configuration (settings, validation, --check-config).
#include "mailharness/refmaild/config_loader.hpp"

#include "mailharness/refmaild/cert_tool.hpp"

#include <gtest/gtest.h>

#include <unistd.h>

#include <fstream>

namespace fs = std::filesystem;
using namespace mailharness::refmaild;
using namespace mailharness::refmaild::config;
using namespace std::chrono_literals;

namespace {

struct temp_dir {
    fs::path path;
    temp_dir() {
        std::string tmpl = (fs::temp_directory_path() / "mh-qconfig-XXXXXX").string();
        path = ::mkdtemp(tmpl.data());
    }
    ~temp_dir() {
        std::error_code ec;
        fs::remove_all(path, ec);
    }
};

void write(const fs::path& p, std::string_view text) { std::ofstream(p, std::ios::binary) << text; }

std::string dump(const std::vector<config_problem>& problems) {
    std::string out;
    for (const auto& p : problems) out += p.to_string() + "\n";
    return out;
}

const config_problem* find_problem(const std::vector<config_problem>& problems, std::string_view key,
                                   std::string_view text = {}) {
    for (const auto& p : problems) {
        if (p.key == key && p.message.find(text) != std::string::npos) return &p;
    }
    return nullptr;
}

}  // namespace

TEST(queue_config, defaults) {
    refmaild_settings s;
    EXPECT_EQ(s.queue.max_lifetime, 120h) << "5 days";
    EXPECT_EQ(s.queue.default_tls, queue::tls_policy::opportunistic);
    EXPECT_TRUE(s.queue.tls_verify);
    EXPECT_EQ(queue_spool_dir(s), fs::path("/var/lib/refmaild/queue"));
    s.queue.spool_dir = "/srv/spool";
    EXPECT_EQ(queue_spool_dir(s), fs::path("/srv/spool"));
    for (const auto& p : validate(refmaild_settings{})) EXPECT_NE(p.key.substr(0, 6), "queue.") << p.to_string();
}

TEST(queue_config, every_key_is_read) {
    auto r = parse_config(
        "queue:\n"
        "  spool_dir: spool\n"
        "  transport_map: /etc/refmaild/transport\n"
        "  retry_min: 30s\n"
        "  retry_max: 2h\n"
        "  max_lifetime: 96h\n"
        "  concurrency: 7\n"
        "  connect_timeout: 10s\n"
        "  greeting_timeout: 6m\n"
        "  command_timeout: 7m\n"
        "  data_init_timeout: 3m\n"
        "  data_block_timeout: 4m\n"
        "  data_end_timeout: 11m\n"
        "  default_tls: required\n"
        "  tls_verify: false\n"
        "  tls_ca_file: ca.pem\n"
        "  poll_interval: 250ms\n"
        "  mx_port: 2525\n"
        "  dns_server: 127.0.0.1:5353\n",
        "q.yaml", "/etc/refmaild");
    ASSERT_TRUE(r.ok()) << dump(r.problems);
    for (const auto& p : r.problems) EXPECT_NE(p.key.substr(0, 6), "queue.") << p.to_string();
    const auto& q = r.settings.queue;
    EXPECT_EQ(q.spool_dir, fs::path("/etc/refmaild/spool"));
    EXPECT_EQ(q.transport_map, fs::path("/etc/refmaild/transport"));
    EXPECT_EQ(q.retry_min, 30s);
    EXPECT_EQ(q.retry_max, 2h);
    EXPECT_EQ(q.max_lifetime, 96h);
    EXPECT_EQ(q.concurrency, 7u);
    EXPECT_EQ(q.connect_timeout, 10s);
    EXPECT_EQ(q.greeting_timeout, 6min);
    EXPECT_EQ(q.command_timeout, 7min);
    EXPECT_EQ(q.data_init_timeout, 3min);
    EXPECT_EQ(q.data_block_timeout, 4min);
    EXPECT_EQ(q.data_end_timeout, 11min);
    EXPECT_EQ(q.default_tls, queue::tls_policy::required);
    EXPECT_FALSE(q.tls_verify);
    EXPECT_EQ(q.tls_ca_file, fs::path("/etc/refmaild/ca.pem"));
    EXPECT_EQ(q.poll_interval, 250ms);
    EXPECT_EQ(q.mx_port, 2525);
    EXPECT_EQ(q.dns_server, "127.0.0.1:5353");
    std::size_t queue_keys = 0;
    for (const auto& k : known_keys()) queue_keys += k.starts_with("queue.");
    EXPECT_EQ(queue_keys, 18u);
}

TEST(queue_config, out_of_range_values_are_errors_and_short_ones_warnings) {
    auto r = parse_config(
        "queue:\n"
        "  retry_min: 10m\n"
        "  retry_max: 5m\n"
        "  max_lifetime: 1h\n"
        "  concurrency: 0\n"
        "  connect_timeout: 0s\n"
        "  greeting_timeout: 2h\n"
        "  command_timeout: 30s\n"
        "  poll_interval: 1ms\n"
        "  mx_port: 0\n"
        "  default_tls: maybe\n");
    EXPECT_FALSE(r.ok());
    // The choice error stops semantic checks; check them without it.
    ASSERT_NE(find_problem(r.problems, "queue.default_tls", "expected one of"), nullptr) << dump(r.problems);
    r = parse_config(
        "queue:\n"
        "  retry_min: 10m\n"
        "  retry_max: 5m\n"
        "  max_lifetime: 1h\n"
        "  concurrency: 0\n"
        "  connect_timeout: 0s\n"
        "  greeting_timeout: 2h\n"
        "  command_timeout: 30s\n"
        "  poll_interval: 1ms\n"
        "  mx_port: 0\n"
        "  dns_server: ns.example.com\n");
    for (auto [key, error] : {std::pair{"queue.retry_max", true}, std::pair{"queue.max_lifetime", false},
                              std::pair{"queue.concurrency", true}, std::pair{"queue.connect_timeout", true},
                              std::pair{"queue.greeting_timeout", true}, std::pair{"queue.command_timeout", false},
                              std::pair{"queue.poll_interval", true}, std::pair{"queue.mx_port", true},
                              std::pair{"queue.dns_server", true}}) {
        auto p = find_problem(r.problems, key);
        ASSERT_NE(p, nullptr) << key << "\n" << dump(r.problems);
        EXPECT_EQ(p->is_error(), error) << p->to_string();
        EXPECT_GT(p->line, 0) << p->to_string();
    }
}

TEST(queue_config, check_config_reads_the_transport_map_and_ca_file) {
    temp_dir tmp;
    fs::create_directories(tmp.path / "data");
    write(tmp.path / "transport",
          "remote.test 127.0.0.1:2525 tls=required\n"
          "bad.test 127.0.0.1:0\n"
          "* smarthost.example.net tls=sometimes\n");
    write(tmp.path / "refmaild.yaml",
          "store: {maildir_root: mail, data_dir: data}\n"
          "local_domains: [example.test]\n"
          "queue:\n"
          "  transport_map: transport\n"
          "  tls_ca_file: missing-ca.pem\n");
    auto problems = check_config(tmp.path / "refmaild.yaml");
    std::vector<int> map_lines;
    for (const auto& p : problems) {
        if (p.file == (tmp.path / "transport").string()) {
            EXPECT_TRUE(p.is_error());
            EXPECT_EQ(p.key, "queue.transport_map");
            map_lines.push_back(p.line);
        }
    }
    EXPECT_EQ(map_lines, (std::vector<int>{2, 3})) << dump(problems);
    auto ca = find_problem(problems, "queue.tls_ca_file");
    ASSERT_NE(ca, nullptr) << dump(problems);
    EXPECT_EQ(ca->line, 5);

    ASSERT_TRUE(cert::make_self_signed({.common_name = "ca.test"}, tmp.path / "tls"));
    write(tmp.path / "transport", "remote.test 127.0.0.1:2525 tls=required\n");
    write(tmp.path / "refmaild.yaml",
          "store: {maildir_root: mail, data_dir: data}\n"
          "local_domains: [example.test]\n"
          "queue: {transport_map: transport, tls_ca_file: tls/cert.pem}\n");
    problems = check_config(tmp.path / "refmaild.yaml");
    for (const auto& p : problems) EXPECT_NE(p.key.substr(0, 6), "queue.") << p.to_string();

    fs::remove(tmp.path / "transport");
    problems = check_config(tmp.path / "refmaild.yaml");
    EXPECT_NE(find_problem(problems, "queue.transport_map", "No such file"), nullptr) << dump(problems);

    write(tmp.path / "data" / "queue", "in the way");
    problems = check_config(tmp.path / "refmaild.yaml");
    EXPECT_NE(find_problem(problems, "queue.spool_dir", "is not a directory"), nullptr) << dump(problems);
}

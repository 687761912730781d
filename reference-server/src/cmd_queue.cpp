// refmaild queue list|flush|delete: the outbound queue of a configuration.
#include <ctime>
#include <iostream>
#include <memory>

#include "mailharness/refmaild/config_loader.hpp"
#include "mailharness/refmaild/queue/spool.hpp"
#include "cli.hpp"

namespace mailharness::refmaild::cli {
namespace cfg = mailharness::refmaild::config;
namespace mq = mailharness::refmaild::queue;

namespace {

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


}  // namespace

void add_queue_command(CLI::App& app, action& chosen) {
    auto* queue_cmd = app.add_subcommand("queue", "inspect and control the outbound queue of a configuration");
    queue_cmd->require_subcommand(1);
    auto config = std::make_shared<std::string>();
    auto id = std::make_shared<std::string>();
    auto* queue_ls = queue_cmd->add_subcommand("list", "list queued messages, their recipients and last replies");
    auto* queue_fl = queue_cmd->add_subcommand("flush", "make a running server attempt every queued message now");
    auto* queue_del = queue_cmd->add_subcommand("delete", "remove one message from the queue (no bounce)");
    queue_del->add_option("id", *id, "queue ID (as listed)")->required();
    for (auto* sub : {queue_ls, queue_fl, queue_del}) {
        sub->add_option("-c,--config", *config, "the server's YAML configuration (names the spool)")->required();
    }
    queue_ls->callback([config, &chosen] { chosen = [config] { return queue_list(*config); }; });
    queue_fl->callback([config, &chosen] { chosen = [config] { return queue_flush(*config); }; });
    queue_del->callback([config, id, &chosen] { chosen = [config, id] { return queue_delete(*config, *id); }; });
}

}  // namespace mailharness::refmaild::cli

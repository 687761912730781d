// refmaild --config FILE / --check-config FILE: run the server, check a configuration.
#include <pthread.h>
#include <signal.h>

#include <algorithm>
#include <csignal>
#include <cstring>
#include <iostream>
#include <vector>

#include "mailharness/refmaild/config_loader.hpp"
#include "mailharness/refmaild/server.hpp"
#include "cli.hpp"

namespace mailharness::refmaild::cli {
namespace cfg = mailharness::refmaild::config;

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
               const std::function<void(const std::map<std::string, std::uint16_t>&)>& on_started) {
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

}  // namespace mailharness::refmaild::cli

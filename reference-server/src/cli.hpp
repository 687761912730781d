// refmaild's command line: one file per subcommand (cmd_*.cpp), wired in main.cpp.
#pragma once

#include <CLI/CLI.hpp>

#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <string>

#include <sys/types.h>

namespace mailharness::refmaild::cli {

namespace fs = std::filesystem;

constexpr int exit_ok = 0;
constexpr int exit_failure = 1;
constexpr int exit_usage = 2;

[[noreturn]] inline void fail(const std::string& what) { throw std::runtime_error(what); }

/// What main() runs once the command line is parsed: set by the chosen subcommand's callback.
using action = std::function<int()>;

// ---- cmd_run.cpp ----
/// "smtp=25 submission=587 ...": the SMTP listeners first, in the order people think of them.
std::string ports_line(const std::map<std::string, std::uint16_t>& ports);
/// Runs the server until SIGTERM or SIGINT; SIGHUP reloads certificates, users and lists.
/// `on_started` is called once the ports are bound.
int run_server(const fs::path& config_file, const std::optional<fs::path>& ports_file,
               const std::function<void(const std::map<std::string, std::uint16_t>&)>& on_started = {});
/// --check-config: prints every problem; 0 when there is no error.
int check_config(const fs::path& file);

// ---- cmd_files.cpp ----
/// Writes `text` to `file` durably and atomically with `mode` (secrets never readable by others).
void write_file_atomic(const fs::path& file, const std::string& text, mode_t mode);
/// A random password of letters and digits (nothing a passwd-file or a shell would mind).
std::string random_password(std::size_t length = 20);

// ---- one registration per subcommand: adds it to `app`; its callback sets `chosen` ----
void add_cert_command(CLI::App& app, action& chosen);
void add_user_command(CLI::App& app, action& chosen);
void add_queue_command(CLI::App& app, action& chosen);
void add_quickstart_command(CLI::App& app, action& chosen);

}  // namespace mailharness::refmaild::cli

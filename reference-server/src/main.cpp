// refmaild: the command line of the reference mail server.
//
//   refmaild --config FILE [--ports-file FILE]    run the server until SIGTERM / SIGINT
//   refmaild --check-config FILE                   print every configuration problem
//   refmaild cert self-signed|ca|issue|check ...   make or inspect certificates
//   refmaild user add|del|passwd|list ...          edit a passwd-file
//   refmaild quickstart DIR [--no-run]             a ready-to-run loopback setup in DIR
//   refmaild queue list|flush|delete ID --config FILE   the outbound queue of a configuration
//
// Each subcommand lives in its own cmd_*.cpp and registers itself here.
#include <iostream>

#include "cli.hpp"
#include "mailharness/refmaild/config_loader.hpp"

namespace cli = mailharness::refmaild::cli;
namespace cfg = mailharness::refmaild::config;

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

    cli::action chosen;
    cli::add_cert_command(app, chosen);
    cli::add_user_command(app, chosen);
    cli::add_quickstart_command(app, chosen);
    cli::add_queue_command(app, chosen);

    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        return app.exit(e);
    }

    try {
        if (chosen) return chosen();
        if (check_opt->count() > 0) {
            if (check_file.empty() && config_file.empty()) cli::fail("--check-config: no configuration file given");
            return cli::check_config(check_file.empty() ? config_file : check_file);
        }
        if (!config_file.empty()) {
            return cli::run_server(config_file, ports_file.empty() ? std::nullopt : std::optional<cli::fs::path>(ports_file));
        }
        std::cerr << app.help();
        return cli::exit_usage;
    } catch (const cfg::config_error& e) {
        std::cerr << "refmaild: configuration errors:\n" << e.what() << '\n';
        return cli::exit_failure;
    } catch (const std::exception& e) {
        std::cerr << "refmaild: error: " << e.what() << '\n';
        return cli::exit_failure;
    }
}

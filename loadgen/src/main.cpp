// mailload: scenario-driven load generator for mail servers.
//
//   mailload run SCENARIO [--out DIR] [--quiet] [--shard i/N] [--duration D] [--threads N]
//                         [--set path=value ...]
//   mailload merge RESULTS.json ... --out DIR
//   mailload report RESULTS.json [--out DIR]
//   mailload check SCENARIO [--set path=value ...]
//
// Exit status: 0 every threshold held; 1 a threshold failed (or the run was aborted by one);
// 2 bad usage or an invalid scenario or results file; 3 the run could not start or its output
// could not be written.
#include <CLI/CLI.hpp>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <thread>

#include "mailharness/load/engine.hpp"
#include "mailharness/load/scenario_loader.hpp"
#include "mailharness/load/units.hpp"
#include "mailharness/reports/load.hpp"

namespace load = mailharness::load;
namespace fs = std::filesystem;
namespace reports = mailharness::reports;

namespace {

constexpr const char* version = "0.1.0";
constexpr int exit_ok = 0, exit_thresholds = 1, exit_usage = 2, exit_run = 3;

bool write_file(const fs::path& p, const std::string& text) {
    std::ofstream out(p, std::ios::binary | std::ios::trunc);
    out << text;
    out.close();
    if (!out) {
        std::cerr << "mailload: cannot write " << p.string() << '\n';
        return false;
    }
    return true;
}

template <class F>
std::string render(F&& f) {
    std::ostringstream s;
    f(s);
    return s.str();
}

// results.json, junit.xml, report.html, summary.txt and summary.md (Markdown) in `dir`.
bool write_outputs(const fs::path& dir, const load::results& r, bool json) {
    std::error_code ec;
    fs::create_directories(dir, ec);
    if (ec) {
        std::cerr << "mailload: cannot create " << dir.string() << ": " << ec.message() << '\n';
        return false;
    }
    bool ok = true;
    if (json) ok &= write_file(dir / "results.json", load::to_json_string(r));
    ok &= write_file(dir / "junit.xml", render([&](std::ostream& o) { reports::write_load_junit(o, r); }));
    ok &= write_file(dir / "report.html", render([&](std::ostream& o) { reports::write_load_html(o, r); }));
    ok &= write_file(dir / "summary.txt", render([&](std::ostream& o) { reports::write_load_summary(o, r); }));
    ok &= write_file(dir / "summary.md", render([&](std::ostream& o) { reports::write_load_markdown(o, r); }));
    return ok;
}

bool read_results(const std::string& path, load::results& r) {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        std::cerr << "mailload: cannot read " << path << '\n';
        return false;
    }
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::string error;
    if (!load::from_json_string(text, r, error)) {
        std::cerr << "mailload: " << path << ": " << error << '\n';
        return false;
    }
    return true;
}

// The live display: one line per workload, redrawn in place once a second.
class live_display {
public:
    void show(const load::progress& p) {
        std::ostringstream s;
        if (lines_) s << "\033[" << lines_ << "F";  // back to the first line of the last frame
        char head[160];
        const double remaining = std::max(0.0, p.planned_s - p.elapsed_s);
        std::snprintf(head, sizeof head, "\033[2K[%5.0fs / %.0fs, %.0fs left]  errors %llu%s", p.elapsed_s, p.planned_s, remaining,
                      static_cast<unsigned long long>(p.errors), p.aborting ? "  ABORTING" : "");
        s << head << '\n';
        for (const auto& w : p.workloads) {
            char line[256];
            std::snprintf(line, sizeof line,
                          "\033[2K  %-16s %7.0f it/s %7.0f msg/s  p50 %8s  p99 %8s  active %5llu  total %llu (%llu failed)",
                          w.name.c_str(), w.iteration_rate, w.message_rate, load::format_micros(static_cast<double>(w.p50_us)).c_str(),
                          load::format_micros(static_cast<double>(w.p99_us)).c_str(),
                          static_cast<unsigned long long>(w.active), static_cast<unsigned long long>(w.iterations),
                          static_cast<unsigned long long>(w.failed));
            s << line << '\n';
        }
        lines_ = 1 + static_cast<int>(p.workloads.size());
        std::cerr << s.str() << std::flush;
    }

private:
    int lines_ = 0;
};

int finish(const load::results& r, const fs::path& out, bool json) {
    reports::write_load_summary(std::cout, r);
    if (!write_outputs(out, r, json)) return exit_run;
    std::cout << "results: " << (out / "results.json").string() << "\nreport:  " << (out / "report.html").string()
              << "\njunit:   " << (out / "junit.xml").string() << '\n';
    return load::thresholds_passed(r) && !r.run.aborted ? exit_ok : exit_thresholds;
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{"mailload: scenario-driven load generator for SMTP (POP3 and IMAP to come)"};
    app.require_subcommand(1);

    std::string scenario_file, out_dir, shard_text, duration_text;
    std::vector<std::string> overrides;
    bool quiet = false;
    unsigned threads = 0;
    double start_at = 0;
    auto* run_cmd = app.add_subcommand("run", "run a scenario");
    run_cmd->add_option("scenario", scenario_file, "scenario YAML file")->required();
    run_cmd->add_option("--out", out_dir, "output folder (default out/mailload/NAME)");
    run_cmd->add_flag("--quiet", quiet, "no live progress (also when stderr is not a terminal)");
    run_cmd->add_option("--shard", shard_text, "run share i of N of every workload (0 <= i < N), e.g. 0/4");
    run_cmd->add_option("--duration", duration_text, "stretch or shrink every workload to last this long, e.g. 30s");
    run_cmd->add_option("--threads", threads, "worker threads (default: one per core)");
    run_cmd->add_option("--set", overrides, "override a scenario value: path=value, e.g. targets.main.port=2525");
    run_cmd->add_option("--start-at", start_at, "wait until this Unix time (seconds) to start, so that shards start together");

    std::vector<std::string> merge_files;
    std::string merge_out;
    auto* merge_cmd = app.add_subcommand("merge", "merge the results.json of shards into one result");
    merge_cmd->add_option("results", merge_files, "results.json of each shard")->required();
    merge_cmd->add_option("--out", merge_out, "output folder")->required();

    std::string report_file, report_out;
    auto* report_cmd = app.add_subcommand("report", "render the summary, JUnit and HTML report of a results.json again");
    report_cmd->add_option("results", report_file, "results.json")->required();
    report_cmd->add_option("--out", report_out, "output folder (default: the folder of results.json)");

    std::string check_file;
    std::vector<std::string> check_overrides;
    auto* check_cmd = app.add_subcommand("check", "validate a scenario and show what it would run");
    check_cmd->add_option("scenario", check_file, "scenario YAML file")->required();
    check_cmd->add_option("--set", check_overrides, "override a scenario value: path=value");

    CLI11_PARSE(app, argc, argv);

    if (check_cmd->parsed()) {
        auto r = load::load_scenario(check_file, check_overrides);
        for (const auto& p : r.problems) std::cerr << p.to_string() << '\n';
        if (!r.ok()) return exit_usage;
        const auto& s = r.value;
        std::cout << s.name << ": " << s.workloads.size() << " workload(s), " << load::format_duration(s.planned_duration())
                  << ", seed " << s.seed << '\n';
        for (const auto& w : s.workloads) {
            const auto* t = s.find_target(w.target);
            std::cout << "  " << w.name << ": " << (w.exec.kind == load::executor_kind::closed ? "closed" : "open") << ", "
                      << w.flow.size() << " steps, target " << t->host << ':' << t->port << " (tls " << load::to_string(t->tls)
                      << ")\n";
        }
        for (const auto& t : s.all_thresholds())
            std::cout << "  threshold: " << t.expression << (t.workload.empty() ? "" : " [" + t.workload + "]")
                      << (t.abort_on_fail ? " (abort on fail)" : "") << '\n';
        return exit_ok;
    }

    if (merge_cmd->parsed()) {
        std::vector<load::results> parts;
        for (const auto& f : merge_files) {
            load::results r;
            if (!read_results(f, r)) return exit_usage;
            parts.push_back(std::move(r));
        }
        load::results merged;
        std::string error;
        if (!load::merge(parts, merged, error)) {
            std::cerr << "mailload merge: " << error << '\n';
            return exit_usage;
        }
        if (merged.run.shards.size() != merged.run.shard.count)
            std::cerr << "mailload merge: warning: " << merged.run.shards.size() << " of " << merged.run.shard.count
                      << " shards\n";
        return finish(merged, merge_out, true);
    }

    if (report_cmd->parsed()) {
        load::results r;
        if (!read_results(report_file, r)) return exit_usage;
        const fs::path out = report_out.empty() ? fs::path(report_file).parent_path() : fs::path(report_out);
        return finish(r, out.empty() ? fs::path(".") : out, !report_out.empty());
    }

    // run
    load::run_options options;
    options.threads = threads;
    options.version = version;
    if (!shard_text.empty() && !load::parse_shard(shard_text, options.shard)) {
        std::cerr << "mailload: --shard must be i/N with 0 <= i < N, not '" << shard_text << "'\n";
        return exit_usage;
    }
    auto loaded = load::load_scenario(scenario_file, overrides);
    for (const auto& p : loaded.problems) std::cerr << p.to_string() << '\n';
    if (!loaded.ok()) return exit_usage;
    auto& s = loaded.value;
    if (!duration_text.empty()) {
        load::usec d{};
        if (!load::parse_duration(duration_text, d) || d.count() <= 0) {
            std::cerr << "mailload: --duration must be a duration such as 30s, not '" << duration_text << "'\n";
            return exit_usage;
        }
        load::scale_duration(s, d);
    }
    const fs::path out = out_dir.empty() ? fs::path("out/mailload") / s.name : fs::path(out_dir);

    const bool live = !quiet && ::isatty(STDERR_FILENO);
    live_display display;
    if (live) options.on_progress = [&](const load::progress& p) { display.show(p); };
    std::cerr << "mailload: " << s.name << ", " << s.workloads.size() << " workload(s), " << load::format_duration(s.planned_duration());
    if (options.shard.count > 1) std::cerr << ", shard " << options.shard.index << "/" << options.shard.count;
    std::cerr << ", open files " << load::raise_file_limit() << '\n';

    if (start_at > 0) {
        const auto when = std::chrono::system_clock::time_point(
            std::chrono::duration_cast<std::chrono::system_clock::duration>(std::chrono::duration<double>(start_at)));
        if (when > std::chrono::system_clock::now() + std::chrono::hours(24)) {
            std::cerr << "mailload: --start-at is more than a day away\n";
            return exit_usage;
        }
        std::this_thread::sleep_until(when);
    }
    load::results r;
    std::string error;
    if (!load::run(s, options, r, error)) {
        std::cerr << "mailload: " << error << '\n';
        return exit_run;
    }
    return finish(r, out, true);
}

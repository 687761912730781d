// mailreport: renders any results JSON, compares two runs, draws trends across many.
//
//   mailreport render FILE.json [--html F] [--junit F] [--tap F] [--markdown F] [--sarif F] [--quiet]
//   mailreport compare BASE.json NEW.json [--max-p99-growth 10%] [--max-throughput-drop 5%]
//                      [--thresholds FILE] [--html F] [--markdown F]
//   mailreport trend DIR [--html F]
//   mailreport matrix FILE.json... [--name NAME ...] [--html F]
//
// The kind of a file (load run or conformance run) is read from it. Exit status: 0 done (no
// regression); 1 compare found a regression; 2 bad usage or an unreadable or invalid file;
// 3 an output could not be written.
#include <CLI/CLI.hpp>

#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <sstream>
#include <variant>

#include <nlohmann/json.hpp>

#include "mailharness/reports/compare.hpp"
#include "mailharness/reports/conformance.hpp"
#include "mailharness/reports/load.hpp"
#include "mailharness/reports/sarif.hpp"
#include "mailharness/reports/trend.hpp"

namespace reports = mailharness::reports;
namespace load = mailharness::load;
namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

constexpr const char* version = "0.1.0";
constexpr int exit_ok = 0, exit_regression = 1, exit_usage = 2, exit_write = 3;

using any_run = std::variant<load::results, reports::conformance_run>;

struct bad_input : std::runtime_error {
    using std::runtime_error::runtime_error;
};

// A load run (format mailharness.mailload.results/1) or a conformance run, by its content.
any_run read_run(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw bad_input("cannot read " + path);
    const json j = json::parse(in, nullptr, false);
    if (j.is_discarded()) throw bad_input(path + ": not JSON");
    std::string error;
    if (j.is_object() && j.contains("format") && j.at("format") == load::results_format) {
        load::results r;
        if (!load::from_json(j, r, error)) throw bad_input(path + ": " + error);
        return r;
    }
    reports::conformance_run r;
    if (!reports::from_json(j, r, error))
        throw bad_input(path + ": neither a load run (" + std::string(load::results_format) + ") nor a conformance run: " + error);
    return r;
}

bool write_file(const std::string& path, const std::function<void(std::ostream&)>& render) {
    if (path.empty()) return true;
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    render(out);
    out.close();
    if (!out) {
        std::cerr << "mailreport: cannot write " << path << '\n';
        return false;
    }
    return true;
}

struct outputs {
    std::string html, junit, tap, markdown, sarif;
};

int render(const std::string& file, const outputs& out, bool quiet) {
    const auto run = read_run(file);
    bool ok = true;
    if (const auto* r = std::get_if<load::results>(&run)) {
        if (!out.tap.empty() || !out.sarif.empty()) throw bad_input("--tap and --sarif are for conformance runs");
        if (!quiet) reports::write_load_summary(std::cout, *r);
        ok &= write_file(out.html, [&](std::ostream& o) { reports::write_load_html(o, *r); });
        ok &= write_file(out.junit, [&](std::ostream& o) { reports::write_load_junit(o, *r); });
        ok &= write_file(out.markdown, [&](std::ostream& o) { reports::write_load_markdown(o, *r); });
    } else {
        const auto& c = std::get<reports::conformance_run>(run);
        if (!quiet) reports::write_conformance_summary(std::cout, c);
        ok &= write_file(out.html, [&](std::ostream& o) { reports::write_conformance_html(o, c); });
        ok &= write_file(out.junit, [&](std::ostream& o) { reports::write_conformance_junit(o, c); });
        ok &= write_file(out.tap, [&](std::ostream& o) { reports::write_conformance_tap(o, c); });
        ok &= write_file(out.markdown, [&](std::ostream& o) { reports::write_conformance_markdown(o, c); });
        ok &= write_file(out.sarif, [&](std::ostream& o) {
            reports::write_sarif(o, {"mailconform", version, "https://github.com/mailharness/mailharness"}, reports::conformance_findings(c));
        });
    }
    return ok ? exit_ok : exit_write;
}

int compare(const std::string& base_file, const std::string& new_file, reports::compare_limits limits, const outputs& out) {
    const auto base = read_run(base_file), now = read_run(new_file);
    if (base.index() != now.index()) throw bad_input("cannot compare a load run with a conformance run");
    bool ok = true, regression = false;
    if (const auto* b = std::get_if<load::results>(&base)) {
        const auto& n = std::get<load::results>(now);
        const auto c = reports::compare_load(*b, n, limits);
        regression = c.regression;
        std::cout << "mailreport compare: " << (regression ? "REGRESSION" : "no regression") << " (" << c.base_name << " -> " << c.new_name << ")\n";
        for (const auto& r : c.rows)
            if (r.verdict == "regression")
                std::cout << "  " << r.section << " " << r.subject << " " << r.stat << ": " << r.base << " -> " << r.now << '\n';
        ok &= write_file(out.html, [&](std::ostream& o) { reports::write_load_comparison_html(o, c, *b, n); });
        ok &= write_file(out.markdown, [&](std::ostream& o) { reports::write_load_comparison_markdown(o, c); });
    } else {
        const auto c = reports::compare_conformance(std::get<reports::conformance_run>(base), std::get<reports::conformance_run>(now));
        regression = c.regression;
        std::cout << "mailreport compare: " << (regression ? "REGRESSION" : "no regression") << ", " << c.changes.size()
                  << " case(s) changed verdict\n";
        for (const auto& x : c.changes)
            std::cout << "  " << x.kind << "  " << x.id << ": " << (x.before.empty() ? "-" : x.before) << " -> "
                      << (x.after.empty() ? "-" : x.after) << '\n';
        ok &= write_file(out.html, [&](std::ostream& o) { reports::write_conformance_comparison_html(o, c); });
        ok &= write_file(out.markdown, [&](std::ostream& o) { reports::write_conformance_comparison_markdown(o, c); });
    }
    if (!ok) return exit_write;
    return regression ? exit_regression : exit_ok;
}

int trend(const std::string& dir, const outputs& out) {
    std::vector<reports::named_load_run> load_runs;
    std::vector<reports::named_conformance_run> conformance_runs;
    std::error_code ec;
    std::vector<fs::path> files;
    for (auto it = fs::recursive_directory_iterator(dir, ec); !ec && it != fs::recursive_directory_iterator(); it.increment(ec))
        if (it->is_regular_file() && it->path().extension() == ".json") files.push_back(it->path());
    if (ec) throw bad_input("cannot read " + dir + ": " + ec.message());
    std::sort(files.begin(), files.end());
    for (const auto& f : files) {
        try {
            auto run = read_run(f.string());
            const auto name = fs::relative(f, dir).string();
            if (auto* r = std::get_if<load::results>(&run)) load_runs.emplace_back(name, std::move(*r));
            else conformance_runs.emplace_back(name, std::move(std::get<reports::conformance_run>(run)));
        } catch (const bad_input& e) {
            std::cerr << "mailreport: skipped " << e.what() << '\n';
        }
    }
    if (load_runs.empty() && conformance_runs.empty()) throw bad_input("no load or conformance results under " + dir);
    reports::sort_by_start(load_runs);
    reports::sort_by_start(conformance_runs);
    std::cout << "mailreport trend: " << load_runs.size() << " load runs, " << conformance_runs.size() << " conformance runs\n";
    return write_file(out.html, [&](std::ostream& o) { reports::write_trend_html(o, load_runs, conformance_runs); }) ? exit_ok : exit_write;
}

int matrix(const std::vector<std::string>& files, std::vector<std::string> names, const outputs& out) {
    if (!names.empty() && names.size() != files.size()) throw bad_input("give one --name per file, or none");
    std::vector<reports::named_conformance_run> runs;
    for (std::size_t i = 0; i < files.size(); ++i) {
        auto run = read_run(files[i]);
        auto* c = std::get_if<reports::conformance_run>(&run);
        if (!c) throw bad_input(files[i] + ": a matrix is made of conformance runs");
        std::string name = !names.empty() ? names[i] : !c->target.empty() ? c->target : fs::path(files[i]).stem().string();
        runs.emplace_back(std::move(name), std::move(*c));
    }
    return write_file(out.html, [&](std::ostream& o) { reports::write_conformance_matrix_html(o, runs); }) ? exit_ok : exit_write;
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{"mailreport: render results, compare runs, draw trends"};
    app.require_subcommand(1);
    outputs out;

    std::string render_file;
    bool quiet = false;
    auto* render_cmd = app.add_subcommand("render", "render a load or conformance results file");
    render_cmd->add_option("file", render_file, "results JSON (mailload results.json or mailconform --json)")->required();
    render_cmd->add_option("--html", out.html, "HTML page");
    render_cmd->add_option("--junit", out.junit, "JUnit XML");
    render_cmd->add_option("--tap", out.tap, "TAP 13 (conformance)");
    render_cmd->add_option("--markdown", out.markdown, "Markdown summary (a CI job summary)");
    render_cmd->add_option("--sarif", out.sarif, "SARIF 2.1.0 of the failed cases (conformance)");
    render_cmd->add_flag("--quiet", quiet, "do not print the summary");

    std::string base_file, new_file, thresholds_file, p50, p90, p99, p999, drop, error_rise;
    double floor_us = -1;
    auto* compare_cmd = app.add_subcommand("compare", "compare a run with its base; exit 1 on a regression");
    compare_cmd->add_option("base", base_file, "the base run (a stored baseline)")->required();
    compare_cmd->add_option("new", new_file, "the new run")->required();
    compare_cmd->add_option("--thresholds", thresholds_file, "limits file (JSON, mailharness.mailreport.thresholds/1)");
    compare_cmd->add_option("--max-p50-growth", p50, "largest p50 growth of any metric, e.g. 20%");
    compare_cmd->add_option("--max-p90-growth", p90, "largest p90 growth of any metric");
    compare_cmd->add_option("--max-p99-growth", p99, "largest p99 growth of any metric (default 10%)");
    compare_cmd->add_option("--max-p999-growth", p999, "largest p99.9 growth of any metric");
    compare_cmd->add_option("--max-throughput-drop", drop, "largest drop of messages/s and iterations/s (default 5%)");
    compare_cmd->add_option("--max-error-rate-rise", error_rise, "largest rise of the failed-iteration rate, in points (e.g. 1%)");
    compare_cmd->add_option("--latency-floor-us", floor_us, "latency changes below this many microseconds never count");
    compare_cmd->add_option("--html", out.html, "HTML page");
    compare_cmd->add_option("--markdown", out.markdown, "Markdown (a CI job summary)");

    std::string trend_dir;
    auto* trend_cmd = app.add_subcommand("trend", "each metric across the runs under a folder, by start time");
    trend_cmd->add_option("dir", trend_dir, "folder searched for *.json results (recursively)")->required()->check(CLI::ExistingDirectory);
    trend_cmd->add_option("--html", out.html, "HTML page")->required();

    std::vector<std::string> matrix_files, matrix_names;
    auto* matrix_cmd = app.add_subcommand("matrix", "case x server from several conformance runs");
    matrix_cmd->add_option("files", matrix_files, "conformance results JSON, one per server")->required();
    matrix_cmd->add_option("--name", matrix_names, "column names, one per file (default: each run's target)");
    matrix_cmd->add_option("--html", out.html, "HTML page")->required();

    CLI11_PARSE(app, argc, argv);
    try {
        if (render_cmd->parsed()) return render(render_file, out, quiet);
        if (trend_cmd->parsed()) return trend(trend_dir, out);
        if (matrix_cmd->parsed()) return matrix(matrix_files, matrix_names, out);
        reports::compare_limits limits;
        if (!thresholds_file.empty()) {
            std::ifstream in(thresholds_file, std::ios::binary);
            const json j = json::parse(in, nullptr, false);
            std::string error;
            if (!in || j.is_discarded()) throw bad_input("cannot read " + thresholds_file + " as JSON");
            if (!reports::limits_from_json(j, limits, error)) throw bad_input(thresholds_file + ": " + error);
        }
        auto percent = [](const std::string& text, const char* flag) {
            double f = 0;
            if (!reports::parse_percent(text, f)) throw bad_input(std::string(flag) + ": not a percentage: " + text);
            return f;
        };
        for (auto [text, name, flag] : {std::tuple{&p50, "p50", "--max-p50-growth"}, std::tuple{&p90, "p90", "--max-p90-growth"},
                                        std::tuple{&p99, "p99", "--max-p99-growth"}, std::tuple{&p999, "p99.9", "--max-p999-growth"}})
            if (!text->empty()) limits.latency_growth[name] = percent(*text, flag);
        if (!drop.empty()) limits.throughput_drop = percent(drop, "--max-throughput-drop");
        if (!error_rise.empty()) limits.error_rate_rise = percent(error_rise, "--max-error-rate-rise") * 100;
        if (floor_us >= 0) limits.latency_floor_us = floor_us;
        return compare(base_file, new_file, limits, out);
    } catch (const bad_input& e) {
        std::cerr << "mailreport: " << e.what() << '\n';
        return exit_usage;
    }
}

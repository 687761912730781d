#include "mailharness/reports/trend.hpp"

#include <algorithm>
#include <map>
#include <ostream>
#include <set>

#include "mailharness/reports/html.hpp"

namespace mailharness::reports {

void sort_by_start(std::vector<named_load_run>& runs) {
    std::stable_sort(runs.begin(), runs.end(), [](const auto& a, const auto& b) {
        return std::tie(a.second.run.started_at, a.first) < std::tie(b.second.run.started_at, b.first);
    });
}

void sort_by_start(std::vector<named_conformance_run>& runs) {
    std::stable_sort(runs.begin(), runs.end(), [](const auto& a, const auto& b) {
        return std::tie(a.second.started_at, a.first) < std::tie(b.second.started_at, b.first);
    });
}

void write_trend_html(std::ostream& o, const std::vector<named_load_run>& load, const std::vector<named_conformance_run>& conformance) {
    page_begin(o, "mailreport trend",
               std::to_string(load.size()) + " load runs, " + std::to_string(conformance.size()) +
                   " conformance runs, by start time; x is the run number");
    // scenarios in order of first appearance; each has its own numbering of runs
    std::vector<std::string> scenarios;
    for (const auto& [_, r] : load)
        if (std::find(scenarios.begin(), scenarios.end(), r.scenario) == scenarios.end()) scenarios.push_back(r.scenario);
    for (const auto& sc : scenarios) {
        o << "<h2>Load: " << xml_escape(sc) << "</h2>\n";
        std::vector<series> tput{{"messages/s", std::string(palette_color(0)), {}}, {"iterations/s", std::string(palette_color(2)), {}}};
        std::vector<series> errors{{"failed iterations %", std::string(error_color), {}}};
        std::map<std::string, std::vector<series>> latency;
        std::vector<std::string> metric_order;
        double x = 0;
        for (const auto& [_, r] : load) {
            if (r.scenario != sc) continue;
            x += 1;
            const double d = r.run.duration_s > 0 ? r.run.duration_s : 1;
            const auto t = r.total();
            tput[0].points.emplace_back(x, static_cast<double>(t.messages) / d);
            tput[1].points.emplace_back(x, static_cast<double>(t.iterations) / d);
            errors[0].points.emplace_back(x, t.iterations ? 100.0 * static_cast<double>(t.failed) / static_cast<double>(t.iterations) : 0.0);
            for (const auto& m : r.metric_names()) {
                auto [it, fresh] = latency.try_emplace(m);
                if (fresh) {
                    metric_order.push_back(m);
                    it->second = {{"p50", std::string(palette_color(0)), {}}, {"p90", std::string(palette_color(1)), {}}, {"p99", std::string(palette_color(3)), {}}};
                }
                const auto h = r.aggregate(m);
                it->second[0].points.emplace_back(x, static_cast<double>(h.value_at_percentile(50)));
                it->second[1].points.emplace_back(x, static_cast<double>(h.value_at_percentile(90)));
                it->second[2].points.emplace_back(x, static_cast<double>(h.value_at_percentile(99)));
            }
        }
        chart(o, "trend-throughput-" + sc, sc + ": messages and iterations per second, by run", std::move(tput), x_axis::index, y_axis::count);
        chart(o, "trend-errors-" + sc, sc + ": failed iterations, % of iterations, by run", std::move(errors), x_axis::index, y_axis::percent);
        for (const auto& m : metric_order)
            chart(o, "trend-" + sc + "-" + m, sc + " " + m + ": latency percentiles, by run", std::move(latency[m]), x_axis::index, y_axis::micros_log);
    }
    if (!conformance.empty()) {
        o << "<h2>Conformance</h2>\n";
        std::vector<series> counts{{"passed", std::string(palette_color(2)), {}}, {"failed", std::string(error_color), {}}, {"skipped", std::string(palette_color(8)), {}}};
        double x = 0;
        for (const auto& [_, r] : conformance) {
            x += 1;
            const auto t = r.count();
            counts[0].points.emplace_back(x, t.passed);
            counts[1].points.emplace_back(x, t.failed);
            counts[2].points.emplace_back(x, t.skipped);
        }
        chart(o, "trend-conformance", "Conformance cases passed, failed and skipped, by run", std::move(counts), x_axis::index, y_axis::count);
    }
    // the runs, newest last; long histories show the last 200
    o << "<h2>Runs</h2>\n<table><tr><th>#</th><th>started</th><th>kind</th><th>file</th><th>summary</th></tr>\n";
    constexpr std::size_t shown = 200;
    std::map<std::string, int> number;
    std::size_t i = 0;
    for (const auto& [name, r] : load) {
        const int n = ++number[r.scenario];
        if (i++ + shown < load.size()) continue;
        const double d = r.run.duration_s > 0 ? r.run.duration_s : 1;
        o << "<tr><td>" << n << "</td><td class=\"text\">" << xml_escape(r.run.started_at) << "</td><td class=\"text\">load "
          << xml_escape(r.scenario) << "</td><td class=\"text\">" << xml_escape(name) << "</td><td class=\"text\">"
          << fixed(static_cast<double>(r.total().messages) / d, 1) << " msg/s, " << r.total().failed << " failed"
          << (load::thresholds_passed(r) && !r.run.aborted ? "" : ", thresholds FAILED") << "</td></tr>\n";
    }
    i = 0;
    for (const auto& [name, r] : conformance) {
        ++i;
        if (i + shown <= conformance.size()) continue;
        const auto t = r.count();
        o << "<tr><td>" << i << "</td><td class=\"text\">" << xml_escape(r.started_at) << "</td><td class=\"text\">conformance</td><td class=\"text\">"
          << xml_escape(name) << "</td><td class=\"text\">" << t.passed << " passed, " << t.failed << " failed</td></tr>\n";
    }
    o << "</table>\n";
    page_end(o);
}

}  // namespace mailharness::reports

// The HTML report of a load run (moved from loadgen): tables and inline SVG charts in the
// shared page style (html.hpp).
#include <algorithm>
#include <map>
#include <sstream>

#include "mailharness/load/units.hpp"
#include "mailharness/reports/html.hpp"
#include "mailharness/reports/load.hpp"

namespace mailharness::reports {

void write_load_html(std::ostream& o, const load::results& r) {
    const double d = r.run.duration_s > 0 ? r.run.duration_s : 1;
    std::ostringstream meta;
    meta << "started " << xml_escape(r.run.started_at) << ", ran " << fixed(r.run.duration_s, 1) << " s (planned "
         << fixed(r.run.planned_duration_s, 1) << " s), " << r.run.threads << " threads";
    if (r.run.shard.count > 1) meta << ", " << r.run.shards.size() << " of " << r.run.shard.count << " shards";
    meta << ", seed " << r.seed << ", mailload " << xml_escape(r.run.version);
    page_begin(o, "mailload: " + r.scenario, meta.str());
    if (!r.description.empty()) o << "<p>" << xml_escape(r.description) << "</p>\n";
    if (r.run.aborted) o << "<p class=\"aborted\">Aborted: " << xml_escape(r.run.abort_reason) << "</p>\n";

    // thresholds
    if (!r.thresholds.empty()) {
        o << "<h2>Thresholds</h2>\n<table><tr><th>threshold</th><th>workload</th><th>observed</th><th>result</th></tr>\n";
        for (const auto& t : r.thresholds) {
            o << "<tr><td>" << xml_escape(t.def.expression) << "</td><td class=\"text\">"
              << xml_escape(t.def.workload.empty() ? "all" : t.def.workload) << "</td><td>"
              << xml_escape(t.no_data ? std::string("no data") : load::format_threshold_value(t.def, t.observed)) << "</td><td class=\""
              << (t.passed ? "pass\">pass" : "fail\">FAIL") << "</td></tr>\n";
        }
        o << "</table>\n";
    }

    // workloads
    o << "<h2>Workloads</h2>\n<table><tr><th>workload</th><th>executor</th><th>target</th><th>iterations</th><th>/s</th>"
         "<th>failed</th><th>interrupted</th><th>dropped</th><th>messages</th><th>msg/s</th><th>connections</th><th>sent</th></tr>\n";
    for (const auto& w : r.workloads) {
        const auto it = r.counters.find(w.name);
        const load::workload_counters c = it == r.counters.end() ? load::workload_counters{} : it->second;
        o << "<tr><td>" << xml_escape(w.name) << "</td><td class=\"text\">" << xml_escape(w.executor) << "</td><td class=\"text\">"
          << xml_escape(w.target) << "</td><td>" << c.iterations << "</td><td>" << fixed(static_cast<double>(c.iterations) / d, 1)
          << "</td><td>" << c.failed << "</td><td>" << c.interrupted << "</td><td>" << c.dropped << "</td><td>" << c.messages
          << "</td><td>" << fixed(static_cast<double>(c.messages) / d, 1) << "</td><td>" << c.connections << "</td><td>"
          << load::format_size(c.bytes_sent) << "</td></tr>\n";
    }
    o << "</table>\n";

    // throughput and errors over time (all workloads), and activity per workload
    std::vector<series> tput{{"messages/s", std::string(palette_color(0)), {}}, {"iterations/s", std::string(palette_color(2)), {}}, {"failed/s", std::string(error_color), {}}};
    std::map<std::string, series> active;
    std::size_t color = 0;
    for (const auto& w : r.workloads) active[w.name] = {w.name, std::string(palette_color(color++)), {}};
    for (const auto& s : r.series) {
        load::second_counts all;
        for (const auto& [name, c] : s.workloads) {
            all.add(c);
            auto it = active.find(name);
            if (it != active.end()) it->second.points.emplace_back(s.second + 1.0, static_cast<double>(c.active));
        }
        // A point at the end of its second: what happened during it. The last second of a run
        // is usually partial: its counts are scaled to a rate, or left out when too short to say.
        const double x = s.second + 1.0;
        const double length = std::min(1.0, r.run.duration_s - s.second);
        if (length < 0.25) continue;
        tput[0].points.emplace_back(x, static_cast<double>(all.messages) / length);
        tput[1].points.emplace_back(x, static_cast<double>(all.iterations) / length);
        tput[2].points.emplace_back(x, static_cast<double>(all.failed) / length);
    }
    o << "<h2>Throughput and errors over time</h2>\n";
    chart(o, "throughput", "Messages, iterations and failed iterations per second (all workloads)", tput, x_axis::seconds, y_axis::count);
    std::vector<series> act;
    for (auto& [_, s] : active) act.push_back(std::move(s));
    chart(o, "active", "Iterations in progress (busy virtual users, open-model iterations in flight)", act, x_axis::seconds, y_axis::count);

    // latency percentiles over time, per metric (all workloads together)
    const auto names = r.metric_names();
    o << "<h2>Latency over time</h2>\n<p class=\"meta\">Per second, all workloads together; log scale. "
         "The iteration metric of open-model workloads counts from the time each iteration was due.</p>\n";
    for (const auto& m : names) {
        std::vector<series> ss{{"p50", std::string(palette_color(0)), {}}, {"p90", std::string(palette_color(1)), {}}, {"p99", std::string(palette_color(3)), {}}, {"max", std::string(error_color), {}}};
        for (const auto& s : r.series) {
            load::compact_histogram c;
            for (const auto& [key, h] : s.latency) {
                const auto slash = key.find('/');
                if (slash != std::string::npos && key.compare(slash + 1, std::string::npos, m) == 0) c.add(h);
            }
            if (c.empty()) continue;
            const auto h = c.expand();
            const double x = s.second + 1.0;
            ss[0].points.emplace_back(x, static_cast<double>(h.value_at_percentile(50)));
            ss[1].points.emplace_back(x, static_cast<double>(h.value_at_percentile(90)));
            ss[2].points.emplace_back(x, static_cast<double>(h.value_at_percentile(99)));
            ss[3].points.emplace_back(x, static_cast<double>(h.max()));
        }
        chart(o, "latency-" + m, m + ": latency percentiles per second", ss, x_axis::seconds, y_axis::micros_log);
    }

    // percentile spectrum of every metric
    o << "<h2>Percentile spectrum</h2>\n";
    std::vector<series> spec;
    color = 0;
    for (const auto& m : names) {
        series s{m, std::string(palette_color(color++)), {}};
        for (const auto& p : r.aggregate(m).percentile_spectrum(5))
            s.points.emplace_back(percentile_x(p.percentile), static_cast<double>(p.value));
        spec.push_back(std::move(s));
    }
    chart(o, "spectrum", "Latency by percentile, whole run (all workloads)", spec, x_axis::percentile, y_axis::micros_log);

    // latency table
    o << "<h2>Latency</h2>\n<table><tr><th>workload</th><th>metric</th><th>count</th><th>min</th><th>p50</th><th>p90</th>"
         "<th>p99</th><th>p99.9</th><th>max</th><th>mean</th></tr>\n";
    for (const auto& [key, h] : r.latency) {
        if (h.empty()) continue;
        o << "<tr><td>" << xml_escape(key.first) << "</td><td class=\"text\">" << xml_escape(key.second) << "</td><td>" << h.count()
          << "</td><td>" << format_micros(static_cast<double>(h.min())) << "</td><td>"
          << format_micros(static_cast<double>(h.value_at_percentile(50))) << "</td><td>"
          << format_micros(static_cast<double>(h.value_at_percentile(90))) << "</td><td>"
          << format_micros(static_cast<double>(h.value_at_percentile(99))) << "</td><td>"
          << format_micros(static_cast<double>(h.value_at_percentile(99.9))) << "</td><td>"
          << format_micros(static_cast<double>(h.max())) << "</td><td>" << format_micros(h.mean()) << "</td></tr>\n";
    }
    o << "</table>\n";

    // errors
    o << "<h2>Errors</h2>\n";
    if (r.errors.empty()) {
        o << "<p>None.</p>\n";
    } else {
        o << "<table><tr><th>count</th><th>workload</th><th>action</th><th>class</th><th>code</th><th>example</th></tr>\n";
        auto sorted = r.errors;
        std::sort(sorted.begin(), sorted.end(), [](const load::error_entry& a, const load::error_entry& b) { return a.count > b.count; });
        for (const auto& e : sorted)
            o << "<tr><td>" << e.count << "</td><td class=\"text\">" << xml_escape(e.workload) << "</td><td class=\"text\">"
              << xml_escape(e.action) << "</td><td class=\"text\">" << to_string(e.cls) << "</td><td>"
              << (e.code ? std::to_string(e.code) : std::string()) << "</td><td class=\"text\">" << xml_escape(e.example)
              << "</td></tr>\n";
        o << "</table>\n";
    }
    page_end(o);
}

}  // namespace mailharness::reports

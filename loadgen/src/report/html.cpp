// The self-contained HTML report: tables and inline SVG charts drawn here (no JavaScript
// library, nothing fetched). A few lines of inline script measure each drawn series when a
// browser shows the page and record it on the chart (data-drawn), which the headless-browser
// test reads to find empty charts.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <set>
#include <sstream>

#include "mailharness/load/report.hpp"
#include "mailharness/load/units.hpp"

namespace mailharness::load {

namespace {

constexpr const char* palette[] = {"#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2",
                                   "#17becf", "#bcbd22", "#7f7f7f", "#aec7e8", "#ffbb78", "#98df8a"};
constexpr const char* error_color = "#d62728";

struct series {
    std::string name;
    std::string color;
    std::vector<std::pair<double, double>> points;  // (x, y), x increasing
};

enum class x_axis { seconds, percentile };
enum class y_axis { count, micros_log };

std::string num(double v) {
    char b[32];
    std::snprintf(b, sizeof b, "%.1f", v);
    return b;
}

// 1, 2, 5 x 10^k at or above v.
double nice_ceiling(double v) {
    if (v <= 0) return 1;
    const double p = std::pow(10.0, std::floor(std::log10(v)));
    for (double m : {1.0, 2.0, 5.0, 10.0})
        if (m * p >= v) return m * p;
    return 10 * p;
}

std::string count_label(double v) {
    char b[32];
    if (v >= 1e6) std::snprintf(b, sizeof b, "%gM", v / 1e6);
    else if (v >= 1e3) std::snprintf(b, sizeof b, "%gk", v / 1e3);
    else std::snprintf(b, sizeof b, "%g", v);
    return b;
}

// The percentile axis of HdrHistogram plots: x = log10(1 / (1 - p/100)), so 90, 99, 99.9 are
// evenly spaced.
double percentile_x(double p) { return std::log10(1.0 / std::max(1e-7, 1.0 - p / 100.0)); }

void chart(std::ostream& o, const std::string& id, const std::string& title, std::vector<series> all, x_axis xa, y_axis ya) {
    constexpr double W = 860, H = 300, L = 70, R = 170, T = 30, B = 40;
    const double pw = W - L - R, ph = H - T - B;
    std::erase_if(all, [](const series& s) { return s.points.empty(); });
    double xmin = 0, xmax = 1, ymin = 0, ymax = 1;
    bool first = true;
    for (const auto& s : all)
        for (auto [x, y] : s.points) {
            if (first) xmin = xmax = x, ymin = ymax = y, first = false;
            xmin = std::min(xmin, x), xmax = std::max(xmax, x);
            ymin = std::min(ymin, y), ymax = std::max(ymax, y);
        }
    if (xa == x_axis::seconds) xmin = 0;
    if (xa == x_axis::percentile) xmin = 0, xmax = std::max(xmax, 2.0);
    if (xmax <= xmin) xmax = xmin + 1;
    // y range: counts from 0 to a round number; latency on decades (log scale).
    double lo = 0, hi = nice_ceiling(ymax);
    if (ya == y_axis::micros_log) {
        lo = std::pow(10.0, std::floor(std::log10(std::max(1.0, ymin))));
        hi = std::pow(10.0, std::ceil(std::log10(std::max(lo * 10, ymax * 1.0001))));
    }
    auto sx = [&](double x) { return L + (x - xmin) / (xmax - xmin) * pw; };
    auto sy = [&](double y) {
        double f = ya == y_axis::micros_log ? (std::log10(std::max(y, lo)) - std::log10(lo)) / (std::log10(hi) - std::log10(lo))
                                            : (y - lo) / (hi - lo);
        return T + ph - std::clamp(f, 0.0, 1.0) * ph;
    };

    o << "<figure><svg class=\"chart\" data-chart=\"" << xml_escape(id) << "\" data-series=\"" << all.size()
      << "\" xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 " << W << ' ' << H << "\" width=\"" << W << "\" height=\"" << H
      << "\" role=\"img\" aria-label=\"" << xml_escape(title) << "\">\n<title>" << xml_escape(title) << "</title>\n";
    o << "<text x=\"" << L << "\" y=\"18\" class=\"title\">" << xml_escape(title) << "</text>\n";
    // grid and axes
    o << "<g class=\"axis\">";
    if (ya == y_axis::micros_log) {
        for (double v = lo; v <= hi * 1.0001; v *= 10)
            o << "<line x1=\"" << L << "\" x2=\"" << L + pw << "\" y1=\"" << num(sy(v)) << "\" y2=\"" << num(sy(v))
              << "\" class=\"grid\"/><text x=\"" << L - 6 << "\" y=\"" << num(sy(v) + 4) << "\" text-anchor=\"end\">"
              << format_micros(v) << "</text>";
    } else {
        for (int i = 0; i <= 4; ++i) {
            const double v = lo + (hi - lo) * i / 4;
            o << "<line x1=\"" << L << "\" x2=\"" << L + pw << "\" y1=\"" << num(sy(v)) << "\" y2=\"" << num(sy(v))
              << "\" class=\"grid\"/><text x=\"" << L - 6 << "\" y=\"" << num(sy(v) + 4) << "\" text-anchor=\"end\">"
              << count_label(v) << "</text>";
        }
    }
    if (xa == x_axis::percentile) {
        for (double p : {0.0, 90.0, 99.0, 99.9, 99.99, 99.999, 99.9999}) {
            const double x = percentile_x(p);
            if (x > xmax + 1e-9) break;
            char label[16];
            std::snprintf(label, sizeof label, "%g%%", p);
            o << "<line x1=\"" << num(sx(x)) << "\" x2=\"" << num(sx(x)) << "\" y1=\"" << T << "\" y2=\"" << T + ph
              << "\" class=\"grid\"/><text x=\"" << num(sx(x)) << "\" y=\"" << T + ph + 16 << "\" text-anchor=\"middle\">" << label
              << "</text>";
        }
    } else {
        const double step = nice_ceiling((xmax - xmin) / 8);
        for (double x = 0; x <= xmax + 1e-9; x += step)
            o << "<line x1=\"" << num(sx(x)) << "\" x2=\"" << num(sx(x)) << "\" y1=\"" << T << "\" y2=\"" << T + ph
              << "\" class=\"grid\"/><text x=\"" << num(sx(x)) << "\" y=\"" << T + ph + 16 << "\" text-anchor=\"middle\">"
              << count_label(x) << "s</text>";
    }
    o << "<rect x=\"" << L << "\" y=\"" << T << "\" width=\"" << pw << "\" height=\"" << ph << "\" class=\"frame\"/></g>\n";
    if (all.empty())
        o << "<text x=\"" << L + pw / 2 << "\" y=\"" << T + ph / 2 << "\" text-anchor=\"middle\" class=\"nodata\">no data</text>\n";
    // series: one path each; a single point is drawn as a short dash so that it has a length
    int legend = 0;
    for (const auto& s : all) {
        o << "<path class=\"series\" data-name=\"" << xml_escape(s.name) << "\" data-points=\"" << s.points.size()
          << "\" stroke=\"" << s.color << "\" d=\"";
        for (std::size_t i = 0; i < s.points.size(); ++i)
            o << (i ? " L" : "M") << num(sx(s.points[i].first)) << ' ' << num(sy(s.points[i].second));
        if (s.points.size() == 1) o << " h4";
        o << "\"/>\n";
        const double ly = T + 10 + 18 * legend++;
        o << "<g class=\"legend\"><line x1=\"" << L + pw + 12 << "\" x2=\"" << L + pw + 32 << "\" y1=\"" << ly << "\" y2=\"" << ly
          << "\" stroke=\"" << s.color << "\"/><text x=\"" << L + pw + 38 << "\" y=\"" << ly + 4 << "\">" << xml_escape(s.name)
          << "</text></g>\n";
    }
    o << "</svg></figure>\n";
}

std::string fixed(double v, int d) {
    char b[48];
    std::snprintf(b, sizeof b, "%.*f", d, v);
    return b;
}

constexpr const char* style = R"(
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:24px auto;max-width:1100px;color:#222;padding:0 16px}
h1{font-size:1.5em;margin-bottom:4px}h2{font-size:1.15em;margin-top:28px;border-bottom:1px solid #ddd;padding-bottom:4px}
.meta{color:#555}.aborted{background:#fde2e1;border:1px solid #d62728;padding:8px 12px;border-radius:4px}
table{border-collapse:collapse;margin:8px 0;font-size:.9em}th,td{padding:3px 10px;border-bottom:1px solid #eee;text-align:right}
th:first-child,td:first-child,td.text{text-align:left}th{background:#f6f6f6}
.pass{color:#2ca02c;font-weight:bold}.fail{color:#d62728;font-weight:bold}
figure{margin:10px 0}svg.chart{font-size:11px;background:#fff}svg .title{font-size:13px;font-weight:600}
svg .grid{stroke:#e5e5e5;stroke-width:1}svg .frame{fill:none;stroke:#999}svg .axis text{fill:#555}
svg path.series{fill:none;stroke-width:1.6;stroke-linejoin:round}svg .legend line{stroke-width:3}svg .nodata{fill:#d62728;font-size:16px}
)";

// Measures each series as the browser drew it: the sum of path lengths goes into data-drawn.
constexpr const char* self_check = R"(
for (const svg of document.querySelectorAll('svg.chart')) {
  let total = 0;
  for (const p of svg.querySelectorAll('path.series')) total += p.getTotalLength();
  svg.setAttribute('data-drawn', total.toFixed(1));
}
document.body.setAttribute('data-charts-checked', document.querySelectorAll('svg.chart').length);
)";

}  // namespace

void write_html(std::ostream& o, const results& r) {
    const double d = r.run.duration_s > 0 ? r.run.duration_s : 1;
    o << "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n<title>mailload: " << xml_escape(r.scenario)
      << "</title>\n<style>" << style << "</style></head>\n<body>\n";
    o << "<h1>mailload: " << xml_escape(r.scenario) << "</h1>\n<p class=\"meta\">started " << xml_escape(r.run.started_at) << ", ran "
      << fixed(r.run.duration_s, 1) << " s (planned " << fixed(r.run.planned_duration_s, 1) << " s), " << r.run.threads
      << " threads";
    if (r.run.shard.count > 1) o << ", " << r.run.shards.size() << " of " << r.run.shard.count << " shards";
    o << ", seed " << r.seed << ", mailload " << xml_escape(r.run.version) << "</p>\n";
    if (!r.description.empty()) o << "<p>" << xml_escape(r.description) << "</p>\n";
    if (r.run.aborted) o << "<p class=\"aborted\">Aborted: " << xml_escape(r.run.abort_reason) << "</p>\n";

    // thresholds
    if (!r.thresholds.empty()) {
        o << "<h2>Thresholds</h2>\n<table><tr><th>threshold</th><th>workload</th><th>observed</th><th>result</th></tr>\n";
        for (const auto& t : r.thresholds) {
            o << "<tr><td>" << xml_escape(t.def.expression) << "</td><td class=\"text\">"
              << xml_escape(t.def.workload.empty() ? "all" : t.def.workload) << "</td><td>"
              << xml_escape(t.no_data ? std::string("no data") : format_threshold_value(t.def, t.observed)) << "</td><td class=\""
              << (t.passed ? "pass\">pass" : "fail\">FAIL") << "</td></tr>\n";
        }
        o << "</table>\n";
    }

    // workloads
    o << "<h2>Workloads</h2>\n<table><tr><th>workload</th><th>executor</th><th>target</th><th>iterations</th><th>/s</th>"
         "<th>failed</th><th>interrupted</th><th>dropped</th><th>messages</th><th>msg/s</th><th>connections</th><th>sent</th></tr>\n";
    for (const auto& w : r.workloads) {
        const auto it = r.counters.find(w.name);
        const workload_counters c = it == r.counters.end() ? workload_counters{} : it->second;
        o << "<tr><td>" << xml_escape(w.name) << "</td><td class=\"text\">" << xml_escape(w.executor) << "</td><td class=\"text\">"
          << xml_escape(w.target) << "</td><td>" << c.iterations << "</td><td>" << fixed(static_cast<double>(c.iterations) / d, 1)
          << "</td><td>" << c.failed << "</td><td>" << c.interrupted << "</td><td>" << c.dropped << "</td><td>" << c.messages
          << "</td><td>" << fixed(static_cast<double>(c.messages) / d, 1) << "</td><td>" << c.connections << "</td><td>"
          << format_size(c.bytes_sent) << "</td></tr>\n";
    }
    o << "</table>\n";

    // throughput and errors over time (all workloads), and activity per workload
    std::vector<series> tput{{"messages/s", palette[0], {}}, {"iterations/s", palette[2], {}}, {"failed/s", error_color, {}}};
    std::map<std::string, series> active;
    std::size_t color = 0;
    for (const auto& w : r.workloads) active[w.name] = {w.name, palette[color++ % std::size(palette)], {}};
    for (const auto& s : r.series) {
        second_counts all;
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
        std::vector<series> ss{{"p50", palette[0], {}}, {"p90", palette[1], {}}, {"p99", palette[3], {}}, {"max", error_color, {}}};
        for (const auto& s : r.series) {
            compact_histogram c;
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
        series s{m, palette[color++ % std::size(palette)], {}};
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
        std::sort(sorted.begin(), sorted.end(), [](const error_entry& a, const error_entry& b) { return a.count > b.count; });
        for (const auto& e : sorted)
            o << "<tr><td>" << e.count << "</td><td class=\"text\">" << xml_escape(e.workload) << "</td><td class=\"text\">"
              << xml_escape(e.action) << "</td><td class=\"text\">" << to_string(e.cls) << "</td><td>"
              << (e.code ? std::to_string(e.code) : std::string()) << "</td><td class=\"text\">" << xml_escape(e.example)
              << "</td></tr>\n";
        o << "</table>\n";
    }
    o << "<script>" << self_check << "</script>\n</body></html>\n";
}

}  // namespace mailharness::load

#include "mailharness/reports/compare.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <map>
#include <ostream>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>

#include "mailharness/reports/html.hpp"
#include "mailharness/reports/markdown.hpp"

namespace mailharness::reports {

using json = nlohmann::json;

bool parse_percent(std::string_view text, double& fraction) {
    while (!text.empty() && text.back() == ' ') text.remove_suffix(1);
    if (text.ends_with('%')) text.remove_suffix(1);
    if (text.empty() || text.size() > 32) return false;
    double v = 0;
    const auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
    if (ec != std::errc() || p != text.data() + text.size() || !std::isfinite(v) || v < 0 || v > 1000) return false;
    fraction = v / 100;
    return true;
}

namespace {

double percent_value(const json& j, const std::string& where) {
    double f = 0;
    if (j.is_string() && parse_percent(j.get<std::string>(), f)) return f;
    if (j.is_number() && parse_percent(std::to_string(j.get<double>()), f)) return f;
    throw std::invalid_argument(where + ": not a percentage (\"10%\")");
}

bool known_percentile(const std::string& p) {
    return std::any_of(std::begin(compared_percentiles), std::end(compared_percentiles), [&](const auto& c) { return p == c.first; });
}

}  // namespace

bool limits_from_json(const json& j, compare_limits& out, std::string& error) {
    try {
        if (!j.is_object()) throw std::invalid_argument("not a JSON object");
        compare_limits l = out;
        for (const auto& [k, v] : j.items()) {
            if (k == "format") {
                if (v != "mailharness.mailreport.thresholds/1") throw std::invalid_argument("format is not mailharness.mailreport.thresholds/1");
            } else if (k == "latency") {
                if (!v.is_object()) throw std::invalid_argument("latency: not an object");
                l.latency_growth.clear();
                for (const auto& [p, x] : v.items()) {
                    if (!known_percentile(p)) throw std::invalid_argument("latency: unknown percentile " + p + " (p50, p90, p99, p99.9, max)");
                    l.latency_growth[p] = percent_value(x, "latency." + p);
                }
            } else if (k == "metrics") {
                if (!v.is_object()) throw std::invalid_argument("metrics: not an object");
                for (const auto& [m, ps] : v.items()) {
                    if (!ps.is_object()) throw std::invalid_argument("metrics." + m + ": not an object");
                    for (const auto& [p, x] : ps.items()) {
                        if (!known_percentile(p)) throw std::invalid_argument("metrics." + m + ": unknown percentile " + p);
                        l.metric_growth[m][p] = percent_value(x, "metrics." + m + "." + p);
                    }
                }
            } else if (k == "throughput_drop") {
                l.throughput_drop = percent_value(v, k);
            } else if (k == "error_rate_rise") {
                l.error_rate_rise = percent_value(v, k) * 100;
            } else if (k == "latency_floor_us") {
                if (!v.is_number() || v.get<double>() < 0) throw std::invalid_argument("latency_floor_us: not a number >= 0");
                l.latency_floor_us = v.get<double>();
            } else {
                throw std::invalid_argument("unknown key " + k + " (format, latency, metrics, throughput_drop, error_rate_rise, latency_floor_us)");
            }
        }
        out = std::move(l);
        return true;
    } catch (const std::exception& e) {
        error = e.what();
        return false;
    }
}

namespace {

double rel(double base, double now) { return base > 0 ? (now - base) / base : (now > 0 ? INFINITY : 0); }

std::string run_name(const load::results& r) { return r.scenario + " " + r.run.started_at; }

void throughput_rows(load_comparison& c, const std::string& subject, const load::workload_counters& b, double bd,
                     const load::workload_counters& n, double nd, const compare_limits& l) {
    for (auto [stat, bv, nv] : {std::tuple{"messages/s", b.messages / bd, n.messages / nd}, std::tuple{"iterations/s", b.iterations / bd, n.iterations / nd}}) {
        change_row r{.section = "throughput", .subject = subject, .stat = stat, .base = bv, .now = nv, .change = rel(bv, nv),
                     .limited = true, .limit = l.throughput_drop};
        if (bv == 0 && nv == 0) continue;
        r.verdict = -r.change > l.throughput_drop ? "regression" : r.change > l.throughput_drop ? "improvement" : "ok";
        c.rows.push_back(std::move(r));
    }
    const double be = b.iterations ? 100.0 * b.failed / b.iterations : 0, ne = n.iterations ? 100.0 * n.failed / n.iterations : 0;
    change_row r{.section = "errors", .subject = subject, .stat = "failed %", .base = be, .now = ne, .change = ne - be,
                 .limited = l.error_rate_rise >= 0, .limit = l.error_rate_rise};
    r.verdict = !r.limited ? "info" : r.change > l.error_rate_rise ? "regression" : r.change < -l.error_rate_rise ? "improvement" : "ok";
    c.rows.push_back(std::move(r));
}

}  // namespace

load_comparison compare_load(const load::results& base, const load::results& now, const compare_limits& l) {
    load_comparison c{.base_name = run_name(base), .new_name = run_name(now)};
    std::set<std::string> metrics;
    for (const auto& m : base.metric_names()) metrics.insert(m);
    for (const auto& m : now.metric_names()) metrics.insert(m);
    for (const auto& m : metrics) {
        const auto hb = base.aggregate(m), hn = now.aggregate(m);
        for (const auto& [name, p] : compared_percentiles) {
            change_row r{.section = "latency", .subject = m, .stat = name};
            if (hb.empty() || hn.empty()) {
                r.verdict = hb.empty() ? "new" : "gone";
                if (!hb.empty()) r.base = static_cast<double>(p >= 100 ? hb.max() : hb.value_at_percentile(p));
                if (!hn.empty()) r.now = static_cast<double>(p >= 100 ? hn.max() : hn.value_at_percentile(p));
                c.rows.push_back(std::move(r));
                continue;
            }
            r.base = static_cast<double>(p >= 100 ? hb.max() : hb.value_at_percentile(p));
            r.now = static_cast<double>(p >= 100 ? hn.max() : hn.value_at_percentile(p));
            r.change = rel(r.base, r.now);
            const auto mit = l.metric_growth.find(m);
            if (mit != l.metric_growth.end() && mit->second.count(name)) r.limited = true, r.limit = mit->second.at(name);
            else if (l.latency_growth.count(name)) r.limited = true, r.limit = l.latency_growth.at(name);
            const bool beyond_floor = std::abs(r.now - r.base) > l.latency_floor_us;
            r.verdict = !r.limited ? "info"
                        : r.change > r.limit && beyond_floor ? "regression"
                        : -r.change > r.limit && beyond_floor ? "improvement"
                                                              : "ok";
            c.rows.push_back(std::move(r));
        }
    }
    const double bd = base.run.duration_s > 0 ? base.run.duration_s : 1, nd = now.run.duration_s > 0 ? now.run.duration_s : 1;
    throughput_rows(c, "all", base.total(), bd, now.total(), nd, l);
    for (const auto& [w, bc] : base.counters) {
        const auto it = now.counters.find(w);
        if (it != now.counters.end() && base.counters.size() > 1) throughput_rows(c, w, bc, bd, it->second, nd, l);
    }
    c.regression = std::any_of(c.rows.begin(), c.rows.end(), [](const change_row& r) { return r.verdict == "regression"; });
    return c;
}

conformance_comparison compare_conformance(const conformance_run& base, const conformance_run& now) {
    conformance_comparison c{.before = base.count(), .after = now.count()};
    std::map<std::string, const conformance_case*> before;
    for (const auto& x : base.cases) before[x.id] = &x;
    std::set<std::string> seen;
    for (const auto& x : now.cases) {
        seen.insert(x.id);
        const auto it = before.find(x.id);
        const std::string was = it == before.end() ? "" : it->second->outcome;
        if (was == x.outcome) continue;
        std::string kind = was.empty() ? "new" : was == "passed" && x.outcome == "failed" ? "regression" : x.outcome == "passed" ? "fixed" : "changed";
        c.changes.push_back({x.id, x.title, x.level, x.rfc, was, x.outcome, kind});
        if (kind == "regression" || (kind == "new" && x.outcome == "failed")) c.regression = true;
    }
    for (const auto& x : base.cases)
        if (!seen.count(x.id)) c.changes.push_back({x.id, x.title, x.level, x.rfc, x.outcome, "", "gone"});
    return c;
}

// ---- rendering ----

namespace {

std::string signed_percent(double f) {
    if (std::isinf(f)) return "new";
    char b[32];
    std::snprintf(b, sizeof b, "%+.1f%%", f * 100);
    return b;
}

std::string value_text(const change_row& r, double v) {
    if (r.section == "latency") return format_micros(v);
    if (r.section == "errors") return fixed(v, 2) + "%";
    return fixed(v, 1);
}

std::string change_text(const change_row& r) {
    if (r.verdict == "new" || r.verdict == "gone") return r.verdict;
    if (r.section == "errors") {
        char b[32];
        std::snprintf(b, sizeof b, "%+.2f pt", r.change);
        return b;
    }
    return signed_percent(r.change);
}

std::string limit_text(const change_row& r) {
    if (!r.limited) return "";
    if (r.section == "latency") return "+" + fixed(r.limit * 100, 1) + "%";
    if (r.section == "throughput") return "-" + fixed(r.limit * 100, 1) + "%";
    return "+" + fixed(r.limit, 2) + " pt";
}

std::string verdict_kind(const std::string& v) {
    return v == "regression" ? "fail" : v == "improvement" ? "pass" : v == "ok" ? "same" : "skip";
}

}  // namespace

void write_load_comparison_markdown(std::ostream& o, const load_comparison& c) {
    o << "## mailreport compare: " << (c.regression ? "❌ regression" : "✅ no regression") << "\n\n"
      << "Base: " << md_escape(c.base_name) << "  \nNew: " << md_escape(c.new_name) << "\n\n"
      << "| section | subject | stat | base | new | change | limit | verdict |\n|---|---|---|---:|---:|---:|---:|---|\n";
    for (const auto& r : c.rows) {
        o << "| " << r.section << " | " << md_escape(r.subject) << " | " << r.stat << " | " << value_text(r, r.base) << " | "
          << value_text(r, r.now) << " | " << change_text(r) << " | " << limit_text(r) << " | "
          << (r.verdict == "regression" ? "**REGRESSION**" : r.verdict) << " |\n";
    }
}

void write_load_comparison_html(std::ostream& o, const load_comparison& c, const load::results& base, const load::results& now) {
    page_begin(o, "mailreport compare: " + now.scenario,
               "base " + xml_escape(c.base_name) + " &rarr; new " + xml_escape(c.new_name));
    o << "<p class=\"verdict " << (c.regression ? "fail" : "pass") << "\" data-regression=\"" << (c.regression ? 1 : 0) << "\">"
      << (c.regression ? "Regression" : "No regression") << "</p>\n";
    o << "<h2>Changes</h2>\n<table class=\"changes\"><tr><th>section</th><th>subject</th><th>stat</th><th>base</th><th>new</th>"
         "<th>change</th><th>limit</th><th>verdict</th></tr>\n";
    for (const auto& r : c.rows)
        o << "<tr data-verdict=\"" << r.verdict << "\"><td>" << r.section << "</td><td class=\"text\">" << xml_escape(r.subject)
          << "</td><td class=\"text\">" << r.stat << "</td><td>" << value_text(r, r.base) << "</td><td>" << value_text(r, r.now)
          << "</td><td>" << change_text(r) << "</td><td>" << limit_text(r) << "</td>" << verdict_cell(verdict_kind(r.verdict), r.verdict)
          << "</tr>\n";
    o << "</table>\n<h2>Throughput over time</h2>\n";
    auto rate = [](const load::results& r, const char* name, std::string color) {
        series s{name, std::move(color), {}};
        for (const auto& x : r.series) {
            std::uint64_t m = 0;
            for (const auto& [_, w] : x.workloads) m += w.messages;
            if (r.run.duration_s - x.second >= 0.25) s.points.emplace_back(x.second + 1.0, static_cast<double>(m) / std::min(1.0, r.run.duration_s - x.second));
        }
        return s;
    };
    chart(o, "compare-throughput", "Messages per second: base and new", {rate(base, "base", std::string(palette_color(7))), rate(now, "new", std::string(palette_color(0)))},
          x_axis::seconds, y_axis::count);
    o << "<h2>Latency by percentile</h2>\n";
    std::set<std::string> metrics;
    for (const auto& m : base.metric_names()) metrics.insert(m);
    for (const auto& m : now.metric_names()) metrics.insert(m);
    for (const auto& m : metrics) {
        std::vector<series> ss;
        for (auto [r, name, color] : {std::tuple{&base, "base", palette_color(7)}, std::tuple{&now, "new", palette_color(0)}}) {
            series s{name, std::string(color), {}};
            for (const auto& p : r->aggregate(m).percentile_spectrum(5)) s.points.emplace_back(percentile_x(p.percentile), static_cast<double>(p.value));
            ss.push_back(std::move(s));
        }
        chart(o, "compare-" + m, m + ": latency by percentile, base and new", std::move(ss), x_axis::percentile, y_axis::micros_log);
    }
    page_end(o);
}

void write_conformance_comparison_markdown(std::ostream& o, const conformance_comparison& c) {
    o << "## mailreport compare (conformance): " << (c.regression ? "❌ regression" : "✅ no regression") << "\n\n"
      << "Before: " << c.before.passed << " passed, " << c.before.failed << " failed, " << c.before.skipped << " skipped.  \nAfter: "
      << c.after.passed << " passed, " << c.after.failed << " failed, " << c.after.skipped << " skipped.\n\n";
    if (c.changes.empty()) {
        o << "No case changed verdict.\n";
        return;
    }
    o << "| case | level | RFC | before | after | change |\n|---|---|---|---|---|---|\n";
    for (const auto& x : c.changes)
        o << "| `" << md_code(x.id) << "` | " << md_escape(x.level) << " | " << md_escape(x.rfc) << " | " << (x.before.empty() ? "-" : x.before)
          << " | " << (x.after.empty() ? "-" : x.after) << " | " << (x.kind == "regression" ? "**REGRESSION**" : x.kind) << " |\n";
}

void write_conformance_comparison_html(std::ostream& o, const conformance_comparison& c) {
    page_begin(o, "mailreport compare: conformance",
               "before " + std::to_string(c.before.passed) + " passed, " + std::to_string(c.before.failed) + " failed; after " +
                   std::to_string(c.after.passed) + " passed, " + std::to_string(c.after.failed) + " failed");
    o << "<p class=\"verdict " << (c.regression ? "fail" : "pass") << "\" data-regression=\"" << (c.regression ? 1 : 0) << "\">"
      << (c.regression ? "Regression" : "No regression") << "</p>\n";
    if (c.changes.empty()) o << "<p>No case changed verdict.</p>\n";
    else {
        o << "<table class=\"changes\"><tr><th>case</th><th>RFC</th><th>level</th><th>before</th><th>after</th><th>change</th></tr>\n";
        for (const auto& x : c.changes)
            o << "<tr id=\"" << xml_escape(x.id) << "\"><td><b>" << xml_escape(x.id) << "</b><br>" << xml_escape(x.title)
              << "</td><td class=\"text\">" << xml_escape(x.rfc) << "</td><td class=\"text\">" << xml_escape(x.level) << "</td><td class=\"text\">"
              << xml_escape(x.before) << "</td><td class=\"text\">" << xml_escape(x.after) << "</td>"
              << verdict_cell(x.kind == "regression" ? "fail" : x.kind == "fixed" ? "pass" : "skip", x.kind) << "</tr>\n";
        o << "</table>\n";
    }
    page_end(o);
}

}  // namespace mailharness::reports

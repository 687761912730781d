// Text renderers of a load run: terminal summary, JUnit, Markdown (moved from loadgen).
#include <cstdio>

#include "mailharness/load/units.hpp"
#include "mailharness/reports/html.hpp"
#include "mailharness/reports/load.hpp"
#include "mailharness/reports/markdown.hpp"

namespace mailharness::reports {

using load::format_size;

namespace {

load::workload_counters counters_of(const load::results& r, const std::string& name) {
    const auto it = r.counters.find(name);
    return it == r.counters.end() ? load::workload_counters{} : it->second;
}

std::string observed_text(const load::threshold_result& t) {
    return t.no_data ? std::string("no data") : load::format_threshold_value(t.def, t.observed);
}

std::string threshold_name(const load::threshold_result& t) {
    std::string name = t.def.expression;
    if (!t.def.workload.empty() && name.find('{') == std::string::npos) name += " [" + t.def.workload + "]";
    return name;
}

}  // namespace

void write_load_summary(std::ostream& out, const load::results& r) {
    const double d = r.run.duration_s > 0 ? r.run.duration_s : 1;
    out << "mailload: " << r.scenario << " (" << fixed(r.run.duration_s, 1) << "s";
    if (r.run.shard.count > 1) {
        out << ", shard" << (r.run.shards.size() > 1 ? "s " : " ");
        for (std::size_t i = 0; i < r.run.shards.size(); ++i) out << (i ? "," : "") << r.run.shards[i];
        out << " of " << r.run.shard.count;
    }
    out << ")\n";
    if (r.run.aborted) out << "ABORTED: " << r.run.abort_reason << "\n";
    for (const auto& w : r.workloads) {
        const auto c = counters_of(r, w.name);
        out << "  " << w.name << ": " << w.executor << " -> " << w.target << "\n"
            << "    iterations " << c.iterations << " (" << fixed(static_cast<double>(c.iterations) / d, 1) << "/s), failed "
            << c.failed << ", interrupted " << c.interrupted;
        if (c.dropped) out << ", dropped " << c.dropped;
        out << "\n    messages " << c.messages << " (" << fixed(static_cast<double>(c.messages) / d, 1) << "/s), recipients "
            << c.recipients << ", connections " << c.connections << ", sent " << format_size(c.bytes_sent) << ", received "
            << format_size(c.bytes_received) << "\n";
    }
    out << "  latency (all workloads)      count      p50      p90      p99    p99.9      max\n";
    for (const auto& m : r.metric_names()) {
        const auto h = r.aggregate(m);
        char line[160];
        std::snprintf(line, sizeof line, "    %-22s %10llu %8s %8s %8s %8s %8s\n", m.c_str(),
                      static_cast<unsigned long long>(h.count()), format_micros(h.value_at_percentile(50)).c_str(),
                      format_micros(h.value_at_percentile(90)).c_str(), format_micros(h.value_at_percentile(99)).c_str(),
                      format_micros(h.value_at_percentile(99.9)).c_str(), format_micros(h.max()).c_str());
        out << line;
    }
    if (!r.errors.empty()) {
        out << "  errors: " << r.error_count() << "\n";
        for (const auto& e : r.errors) {
            out << "    " << e.count << "  " << e.workload << " " << e.action << " " << to_string(e.cls);
            if (e.code) out << " " << e.code;
            out << ": " << e.example << "\n";
        }
    } else {
        out << "  errors: 0\n";
    }
    if (!r.thresholds.empty()) {
        out << "  thresholds:\n";
        for (const auto& t : r.thresholds) {
            out << "    " << (t.passed ? "pass" : "FAIL") << "  " << t.def.expression;
            if (!t.def.workload.empty() && t.def.expression.find('{') == std::string::npos) out << "  [" << t.def.workload << "]";
            out << "  (observed " << observed_text(t) << ")\n";
        }
    }
}

void write_load_junit(std::ostream& out, const load::results& r) {
    std::size_t failures = 0;
    for (const auto& t : r.thresholds) failures += t.passed ? 0 : 1;
    const std::size_t tests = r.thresholds.size() + (r.run.aborted ? 1 : 0);
    if (r.run.aborted) ++failures;
    out << "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
    out << "<testsuites name=\"mailload\" tests=\"" << tests << "\" failures=\"" << failures << "\" time=\""
        << fixed(r.run.duration_s, 3) << "\">\n";
    out << "  <testsuite name=\"mailload " << xml_escape(r.scenario) << "\" tests=\"" << tests << "\" failures=\"" << failures
        << "\" errors=\"0\" skipped=\"0\" time=\"" << fixed(r.run.duration_s, 3) << "\" timestamp=\""
        << xml_escape(r.run.started_at) << "\">\n";
    if (r.run.aborted) {
        out << "    <testcase classname=\"mailload." << xml_escape(r.scenario) << "\" name=\"run\">\n"
            << "      <failure message=\"" << xml_escape(r.run.abort_reason) << "\" type=\"aborted\"/>\n"
            << "    </testcase>\n";
    }
    for (const auto& t : r.thresholds) {
        const std::string observed = observed_text(t);
        out << "    <testcase classname=\"mailload." << xml_escape(r.scenario) << ".thresholds\" name=\""
            << xml_escape(threshold_name(t)) << "\" time=\"0\">\n";
        if (!t.passed)
            out << "      <failure message=\"" << xml_escape("observed " + observed) << "\" type=\"threshold\">"
                << xml_escape(t.def.expression + ": observed " + observed) << "</failure>\n";
        out << "      <system-out>observed " << xml_escape(observed) << "</system-out>\n";
        out << "    </testcase>\n";
    }
    out << "  </testsuite>\n</testsuites>\n";
}

void write_load_markdown(std::ostream& out, const load::results& r) {
    const double d = r.run.duration_s > 0 ? r.run.duration_s : 1;
    const bool ok = load::thresholds_passed(r) && !r.run.aborted;
    out << "## mailload: " << md_escape(r.scenario) << " " << (ok ? "✅ passed" : "❌ failed") << "\n\n";
    out << "Started " << md_escape(r.run.started_at) << ", ran " << fixed(r.run.duration_s, 1) << " s, " << r.run.threads
        << " threads, seed " << r.seed << ".\n\n";
    if (r.run.aborted) out << "**Aborted:** " << md_escape(r.run.abort_reason) << "\n\n";
    if (!r.thresholds.empty()) {
        out << "| threshold | observed | result |\n|---|---:|---|\n";
        for (const auto& t : r.thresholds)
            out << "| `" << md_code(threshold_name(t)) << "` | " << md_escape(observed_text(t)) << " | "
                << (t.passed ? "pass" : "**FAIL**") << " |\n";
        out << "\n";
    }
    out << "| workload | iterations | /s | failed | messages | msg/s | connections |\n|---|---:|---:|---:|---:|---:|---:|\n";
    for (const auto& w : r.workloads) {
        const auto c = counters_of(r, w.name);
        out << "| " << md_escape(w.name) << " | " << c.iterations << " | " << fixed(static_cast<double>(c.iterations) / d, 1) << " | "
            << c.failed << " | " << c.messages << " | " << fixed(static_cast<double>(c.messages) / d, 1) << " | " << c.connections
            << " |\n";
    }
    out << "\n| metric (all workloads) | count | p50 | p90 | p99 | p99.9 | max |\n|---|---:|---:|---:|---:|---:|---:|\n";
    for (const auto& m : r.metric_names()) {
        const auto h = r.aggregate(m);
        out << "| " << md_escape(m) << " | " << h.count() << " | " << format_micros(h.value_at_percentile(50)) << " | "
            << format_micros(h.value_at_percentile(90)) << " | " << format_micros(h.value_at_percentile(99)) << " | "
            << format_micros(h.value_at_percentile(99.9)) << " | " << format_micros(h.max()) << " |\n";
    }
    out << "\nErrors: " << r.error_count() << "\n";
    if (!r.errors.empty()) {
        out << "\n| count | workload | action | class | example |\n|---:|---|---|---|---|\n";
        for (const auto& e : r.errors)
            out << "| " << e.count << " | " << md_escape(e.workload) << " | " << md_escape(e.action) << " | " << to_string(e.cls)
                << (e.code ? " " + std::to_string(e.code) : std::string()) << " | " << md_escape(e.example) << " |\n";
    }
}

}  // namespace mailharness::reports

// The conformance run model and its renderers (moved from conformance/src/report.cpp).
#include "mailharness/reports/conformance.hpp"

#include <map>
#include <ostream>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>

#include "mailharness/reports/html.hpp"
#include "mailharness/reports/markdown.hpp"

namespace mailharness::reports {

using json = nlohmann::json;

conformance_run::totals conformance_run::count() const {
    totals t;
    for (const auto& c : cases) {
        if (c.outcome == "passed") ++t.passed;
        else if (c.outcome == "failed") ++t.failed;
        else ++t.skipped;
    }
    return t;
}

json to_json(const conformance_run& r) {
    const auto t = r.count();
    json cases = json::array();
    for (const auto& c : r.cases) {
        cases.push_back({{"id", c.id},
                         {"title", c.title},
                         {"protocol", c.protocol},
                         {"rfc", c.rfc},
                         {"level", c.level},
                         {"category", c.category},
                         {"tags", c.tags},
                         {"outcome", c.outcome},
                         {"message", c.message},
                         {"file", c.file},
                         {"line", c.line},
                         {"duration_ms", c.duration_ms},
                         {"transcript", c.transcript},
                         {"decisive", c.decisive}});
    }
    return {{"format", conformance_format},
            {"run", {{"started_at", r.started_at}, {"target", r.target}, {"tls", r.tls}, {"version", r.version}}},
            {"summary", {{"passed", t.passed}, {"failed", t.failed}, {"skipped", t.skipped}}},
            {"cases", std::move(cases)}};
}

namespace {

struct bad_json : std::runtime_error {
    using std::runtime_error::runtime_error;
};

std::string text(const json& j, const char* key, const char* where, bool required = true) {
    if (!j.contains(key)) {
        if (required) throw bad_json(std::string(where) + "." + key + " is missing");
        return {};
    }
    if (!j.at(key).is_string()) throw bad_json(std::string(where) + "." + key + " is not a string");
    return j.at(key).get<std::string>();
}

std::int64_t integer(const json& j, const char* key, const char* where) {
    if (!j.contains(key)) return 0;
    const auto& v = j.at(key);
    if (!v.is_number_integer()) throw bad_json(std::string(where) + "." + key + " is not a whole number");
    return v.get<std::int64_t>();
}

}  // namespace

bool from_json(const json& j, conformance_run& out, std::string& error) {
    try {
        if (!j.is_object()) throw bad_json("not a JSON object");
        if (j.contains("format") && j.at("format") != conformance_format)
            throw bad_json("not mailconform results (format " + std::string(conformance_format) + ")");
        if (!j.contains("cases") || !j.at("cases").is_array() || !j.contains("summary"))
            throw bad_json("not mailconform results (no summary and cases)");
        conformance_run r;
        if (j.contains("run")) {
            const auto& run = j.at("run");
            if (!run.is_object()) throw bad_json("run is not an object");
            r.started_at = text(run, "started_at", "run", false);
            r.target = text(run, "target", "run", false);
            r.tls = text(run, "tls", "run", false);
            r.version = text(run, "version", "run", false);
        }
        std::set<std::string> ids;
        for (const auto& c : j.at("cases")) {
            if (!c.is_object()) throw bad_json("a case is not an object");
            conformance_case x;
            x.id = text(c, "id", "case");
            // Comparisons and the matrix key cases by id (a suite's ids are unique).
            if (!ids.insert(x.id).second) throw bad_json("case " + x.id + " is given twice");
            x.title = text(c, "title", "case");
            x.protocol = text(c, "protocol", "case");
            x.rfc = text(c, "rfc", "case");
            x.level = text(c, "level", "case");
            x.category = text(c, "category", "case");
            x.outcome = text(c, "outcome", "case");
            if (x.outcome != "passed" && x.outcome != "failed" && x.outcome != "skipped")
                throw bad_json("case " + x.id + ": unknown outcome '" + x.outcome + "'");
            x.message = text(c, "message", "case", false);
            x.file = text(c, "file", "case", false);
            x.transcript = text(c, "transcript", "case", false);
            x.line = static_cast<int>(integer(c, "line", "case"));
            x.duration_ms = integer(c, "duration_ms", "case");
            for (const char* list : {"tags", "decisive"}) {
                if (!c.contains(list)) continue;
                if (!c.at(list).is_array()) throw bad_json("case " + x.id + ": " + list + " is not a list");
                auto& to = std::string_view(list) == "tags" ? x.tags : x.decisive;
                for (const auto& s : c.at(list)) {
                    if (!s.is_string()) throw bad_json("case " + x.id + ": " + list + " holds a non-string");
                    to.push_back(s.get<std::string>());
                }
            }
            r.cases.push_back(std::move(x));
        }
        out = std::move(r);
        return true;
    } catch (const bad_json& e) {
        error = e.what();
    } catch (const json::exception& e) {
        error = std::string("conformance JSON: ") + e.what();
    }
    return false;
}

void write_conformance_summary(std::ostream& out, const conformance_run& r) {
    bool header = false;
    for (const auto& c : r.cases) {
        if (c.outcome != "failed") continue;
        if (!header) out << "\nFailures:\n";
        header = true;
        out << "  " << c.id << " [" << c.level << ", " << c.rfc << "] " << c.title << "\n    " << c.message;
        if (c.line) out << " (" << c.file << ':' << c.line << ')';
        out << '\n';
    }
    const auto t = r.count();
    out << t.passed << " passed, " << t.failed << " failed, " << t.skipped << " skipped\n";
}

void write_conformance_junit(std::ostream& out, const conformance_run& r) {
    const auto t = r.count();
    double total = 0;
    for (const auto& c : r.cases) total += static_cast<double>(c.duration_ms) / 1000.0;
    out << "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
        << "<testsuites>\n<testsuite name=\"mailconform\" tests=\"" << r.cases.size() << "\" failures=\"" << t.failed
        << "\" errors=\"0\" skipped=\"" << t.skipped << "\" time=\"" << total << "\">\n";
    for (const auto& c : r.cases) {
        out << "  <testcase classname=\"" << xml_escape(c.protocol) << '.' << xml_escape(c.category) << "\" name=\""
            << xml_escape(c.id) << "\" file=\"" << xml_escape(c.file) << "\" time=\""
            << static_cast<double>(c.duration_ms) / 1000.0 << "\">\n";
        if (c.outcome == "failed") {
            out << "    <failure message=\"" << xml_escape(c.message) << "\" type=\"" << xml_escape(c.level) << "\">"
                << xml_escape(c.title + " [" + c.rfc + "]") << "</failure>\n";
        } else if (c.outcome == "skipped") {
            out << "    <skipped message=\"" << xml_escape(c.message) << "\"/>\n";
        }
        if (!c.transcript.empty()) out << "    <system-out>" << xml_escape(c.transcript) << "</system-out>\n";
        out << "  </testcase>\n";
    }
    out << "</testsuite>\n</testsuites>\n";
}

void write_conformance_tap(std::ostream& out, const conformance_run& r) {
    out << "TAP version 13\n1.." << r.cases.size() << '\n';
    int n = 0;
    for (const auto& c : r.cases) {
        ++n;
        out << (c.outcome == "failed" ? "not ok " : "ok ") << n << " - " << c.id << ' ' << c.title;
        if (c.outcome == "skipped") out << " # SKIP " << c.message;
        out << '\n';
        if (c.outcome == "failed") {
            // The YAML block is JSON-quoted, which YAML reads as double-quoted scalars.
            out << "  ---\n  message: " << json(c.message).dump(-1, ' ', false, json::error_handler_t::replace)
                << "\n  rfc: " << json(c.rfc).dump(-1, ' ', false, json::error_handler_t::replace) << "\n  level: " << c.level
                << "\n  at: " << json(c.file + ':' + std::to_string(c.line)).dump(-1, ' ', false, json::error_handler_t::replace)
                << "\n  ...\n";
        }
    }
}

void write_conformance_json(std::ostream& out, const conformance_run& r) {
    // Replies are bytes from the server: replace invalid UTF-8 rather than throw.
    out << to_json(r).dump(2, ' ', false, json::error_handler_t::replace) << '\n';
}

void write_conformance_markdown(std::ostream& out, const conformance_run& r) {
    const auto t = r.count();
    out << "## mailconform" << (r.target.empty() ? "" : ": " + md_escape(r.target)) << " "
        << (t.failed ? "❌" : "✅") << " " << t.passed << " passed, " << t.failed << " failed, " << t.skipped << " skipped\n\n";
    if (t.failed == 0) return;
    out << "| case | level | RFC | category | why |\n|---|---|---|---|---|\n";
    for (const auto& c : r.cases) {
        if (c.outcome != "failed") continue;
        out << "| `" << md_code(c.id) << "` | " << md_escape(c.level) << " | " << md_escape(c.rfc) << " | "
            << md_escape(c.category) << " | " << md_escape(c.message) << " |\n";
    }
}

namespace {

std::string verdict_class(const std::string& outcome) {
    return outcome == "passed" ? "pass" : outcome == "failed" ? "fail" : "skip";
}

std::string run_meta(const conformance_run& r) {
    std::string m;
    if (!r.target.empty()) m += "target " + xml_escape(r.target) + (r.tls.empty() ? "" : " (tls " + xml_escape(r.tls) + ")");
    if (!r.started_at.empty()) m += (m.empty() ? "" : ", ") + std::string("started ") + xml_escape(r.started_at);
    if (!r.version.empty()) m += (m.empty() ? "" : ", ") + std::string("mailconform ") + xml_escape(r.version);
    return m;
}

}  // namespace

void write_conformance_html(std::ostream& o, const conformance_run& r) {
    const auto t = r.count();
    page_begin(o, "mailconform" + (r.target.empty() ? std::string() : ": " + r.target), run_meta(r));
    o << "<p class=\"verdict " << (t.failed ? "fail" : "pass") << "\" data-failed=\"" << t.failed << "\">" << t.passed
      << " passed, " << t.failed << " failed, " << t.skipped << " skipped</p>\n";
    // protocol -> category -> cases, in the order of the run
    std::vector<std::pair<std::string, std::vector<std::pair<std::string, std::vector<const conformance_case*>>>>> groups;
    for (const auto& c : r.cases) {
        auto p = std::find_if(groups.begin(), groups.end(), [&](const auto& g) { return g.first == c.protocol; });
        if (p == groups.end()) p = groups.insert(groups.end(), {c.protocol, {}});
        auto k = std::find_if(p->second.begin(), p->second.end(), [&](const auto& g) { return g.first == c.category; });
        if (k == p->second.end()) k = p->second.insert(p->second.end(), {c.category, {}});
        k->second.push_back(&c);
    }
    for (const auto& [protocol, categories] : groups) {
        o << "<h2 data-protocol=\"" << xml_escape(protocol) << "\">" << xml_escape(protocol) << "</h2>\n";
        for (const auto& [category, cases] : categories) {
            int failed = 0;
            for (const auto* c : cases) failed += c->outcome == "failed";
            o << "<h3>" << xml_escape(category) << " (" << cases.size() << " cases, " << failed << " failed)</h3>\n"
              << "<table class=\"cases\" data-category=\"" << xml_escape(category)
              << "\"><tr><th>case</th><th>RFC</th><th>level</th><th>verdict</th><th>details</th></tr>\n";
            for (const auto* c : cases) {
                o << "<tr id=\"" << xml_escape(c->id) << "\" data-outcome=\"" << xml_escape(c->outcome) << "\"><td><b>"
                  << xml_escape(c->id) << "</b><br>" << xml_escape(c->title) << "</td><td class=\"text\">" << xml_escape(c->rfc)
                  << "</td><td class=\"text\">" << xml_escape(c->level) << "</td>"
                  << verdict_cell(verdict_class(c->outcome), c->outcome) << "<td class=\"text\">";
                if (!c->message.empty()) o << xml_escape(c->message);
                if (c->outcome == "failed") {
                    if (c->line) o << " <span class=\"meta\">(" << xml_escape(c->file) << ':' << c->line << ")</span>";
                    if (!c->decisive.empty()) {
                        o << "<pre class=\"transcript decisive\">";
                        for (const auto& l : c->decisive) o << xml_escape(l) << '\n';
                        o << "</pre>";
                    }
                    if (!c->transcript.empty())
                        o << "<details><summary>whole transcript</summary><pre class=\"transcript\">" << xml_escape(c->transcript)
                          << "</pre></details>";
                }
                o << "</td></tr>\n";
            }
            o << "</table>\n";
        }
    }
    page_end(o);
}

void write_conformance_matrix_html(std::ostream& o, const std::vector<named_conformance_run>& runs) {
    page_begin(o, "mailconform matrix", std::to_string(runs.size()) + " servers");
    // rows: case ids in first-seen order, with the case's header from the first run that has it
    std::vector<const conformance_case*> rows;
    std::set<std::string> seen;
    std::vector<std::map<std::string, const conformance_case*>> by_id(runs.size());
    for (std::size_t i = 0; i < runs.size(); ++i) {
        for (const auto& c : runs[i].second.cases) {
            by_id[i][c.id] = &c;
            if (seen.insert(c.id).second) rows.push_back(&c);
        }
    }
    o << "<table class=\"matrix\"><tr><th>case</th><th>RFC</th><th>level</th>";
    for (const auto& [name, run] : runs) {
        const auto t = run.count();
        o << "<th title=\"" << t.passed << " passed, " << t.failed << " failed, " << t.skipped << " skipped\">" << xml_escape(name)
          << "<br><span class=\"meta\">" << t.failed << " failed</span></th>";
    }
    o << "<th>agree</th></tr>\n";
    for (const auto* row : rows) {
        o << "<tr id=\"" << xml_escape(row->id) << "\"><td><b>" << xml_escape(row->id) << "</b> <span class=\"meta\">"
          << xml_escape(row->protocol) << "/" << xml_escape(row->category) << "</span></td><td class=\"text\">"
          << xml_escape(row->rfc) << "</td><td class=\"text\">" << xml_escape(row->level) << "</td>";
        std::set<std::string> outcomes;
        for (std::size_t i = 0; i < runs.size(); ++i) {
            const auto it = by_id[i].find(row->id);
            if (it == by_id[i].end()) {
                o << "<td class=\"skip\">-</td>";
                continue;
            }
            const auto& c = *it->second;
            outcomes.insert(c.outcome);
            o << "<td class=\"" << verdict_class(c.outcome) << "\" title=\"" << xml_escape(c.message) << "\">"
              << xml_escape(c.outcome) << "</td>";
        }
        o << "<td class=\"text\">" << (outcomes.size() <= 1 ? "yes" : "<b>no</b>") << "</td></tr>\n";
    }
    o << "</table>\n";
    page_end(o);
}

}  // namespace mailharness::reports

#include "mailharness/conform/report.hpp"

#include <nlohmann/json.hpp>

#include <ostream>

namespace mailharness::conform {

totals count(const std::vector<case_result>& results) {
    totals t;
    for (const auto& r : results) {
        if (r.outcome == outcome::passed) ++t.passed;
        else if (r.outcome == outcome::failed) ++t.failed;
        else ++t.skipped;
    }
    return t;
}

void write_summary(std::ostream& out, const std::vector<case_result>& results) {
    bool header = false;
    for (const auto& r : results) {
        if (r.outcome != outcome::failed) continue;
        if (!header) out << "\nFailures:\n";
        header = true;
        out << "  " << r.tc->id << " [" << to_string(r.tc->level) << ", " << r.tc->rfc << "] " << r.tc->title << "\n    "
            << r.message;
        if (r.line) out << " (" << r.tc->file << ':' << r.line << ')';
        out << '\n';
    }
    const auto t = count(results);
    out << t.passed << " passed, " << t.failed << " failed, " << t.skipped << " skipped\n";
}

namespace {

std::string xml_escape(std::string_view s) {
    std::string out;
    for (char c : s) {
        switch (c) {
            case '&': out += "&amp;"; break;
            case '<': out += "&lt;"; break;
            case '>': out += "&gt;"; break;
            case '"': out += "&quot;"; break;
            case '\'': out += "&apos;"; break;
            default:
                // XML 1.0 allows no control characters but TAB, LF and CR.
                if (static_cast<unsigned char>(c) < 0x20 && c != '\t' && c != '\n' && c != '\r') out += '?';
                else out += c;
        }
    }
    return out;
}

}  // namespace

void write_junit(std::ostream& out, const std::vector<case_result>& results) {
    const auto t = count(results);
    double total = 0;
    for (const auto& r : results) total += static_cast<double>(r.duration.count()) / 1000.0;
    out << "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
        << "<testsuites>\n<testsuite name=\"mailconform\" tests=\"" << results.size() << "\" failures=\"" << t.failed
        << "\" errors=\"0\" skipped=\"" << t.skipped << "\" time=\"" << total << "\">\n";
    for (const auto& r : results) {
        const auto& c = *r.tc;
        out << "  <testcase classname=\"" << to_string(c.protocol) << '.' << to_string(c.category) << "\" name=\""
            << xml_escape(c.id) << "\" file=\"" << xml_escape(c.file) << "\" time=\""
            << static_cast<double>(r.duration.count()) / 1000.0 << "\">\n";
        if (r.outcome == outcome::failed) {
            out << "    <failure message=\"" << xml_escape(r.message) << "\" type=\"" << to_string(c.level) << "\">"
                << xml_escape(c.title + " [" + c.rfc + "]") << "</failure>\n";
        } else if (r.outcome == outcome::skipped) {
            out << "    <skipped message=\"" << xml_escape(r.message) << "\"/>\n";
        }
        if (!r.transcript.empty()) out << "    <system-out>" << xml_escape(r.transcript) << "</system-out>\n";
        out << "  </testcase>\n";
    }
    out << "</testsuite>\n</testsuites>\n";
}

void write_tap(std::ostream& out, const std::vector<case_result>& results) {
    out << "TAP version 13\n1.." << results.size() << '\n';
    int n = 0;
    for (const auto& r : results) {
        const auto& c = *r.tc;
        ++n;
        out << (r.outcome == outcome::failed ? "not ok " : "ok ") << n << " - " << c.id << ' ' << c.title;
        if (r.outcome == outcome::skipped) out << " # SKIP " << r.message;
        out << '\n';
        if (r.outcome == outcome::failed) {
            // The YAML block is JSON-quoted, which YAML reads as double-quoted scalars.
            out << "  ---\n  message: " << nlohmann::json(r.message).dump() << "\n  rfc: " << nlohmann::json(c.rfc).dump()
                << "\n  level: " << to_string(c.level) << "\n  at: " << nlohmann::json(c.file + ':' + std::to_string(r.line)).dump()
                << "\n  ...\n";
        }
    }
}

void write_json(std::ostream& out, const std::vector<case_result>& results) {
    const auto t = count(results);
    nlohmann::json cases = nlohmann::json::array();
    for (const auto& r : results) {
        const auto& c = *r.tc;
        cases.push_back({{"id", c.id},
                         {"title", c.title},
                         {"protocol", to_string(c.protocol)},
                         {"rfc", c.rfc},
                         {"level", to_string(c.level)},
                         {"category", to_string(c.category)},
                         {"tags", c.tags},
                         {"outcome", to_string(r.outcome)},
                         {"message", r.message},
                         {"file", c.file},
                         {"line", r.line},
                         {"duration_ms", r.duration.count()},
                         {"transcript", r.transcript}});
    }
    nlohmann::json doc = {{"summary", {{"passed", t.passed}, {"failed", t.failed}, {"skipped", t.skipped}}},
                          {"cases", std::move(cases)}};
    // Replies are bytes from the server: replace invalid UTF-8 rather than throw.
    out << doc.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << '\n';
}

bool any_failure_at(const std::vector<case_result>& results, level fail_on) {
    for (const auto& r : results) {
        if (r.outcome == outcome::failed && static_cast<int>(r.tc->level) <= static_cast<int>(fail_on)) return true;
    }
    return false;
}

}  // namespace mailharness::conform

// Fuzz target: a conformance results file (mailconform --json), which mailreport render,
// compare and matrix read. Bad input is an error, never a crash; accepted input serializes back
// to JSON that reads the same, and every renderer takes it.
#include <cstddef>
#include <cstdint>
#include <ostream>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "mailharness/reports/compare.hpp"
#include "mailharness/reports/conformance.hpp"
#include "mailharness/reports/sarif.hpp"

namespace reports = mailharness::reports;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size > (1u << 16)) return 0;
    const auto j = nlohmann::json::parse(std::string_view(reinterpret_cast<const char*>(data), size), nullptr, false);
    if (j.is_discarded()) return 0;
    reports::conformance_run r;
    std::string error;
    if (!reports::from_json(j, r, error)) {
        if (error.empty()) __builtin_trap();
        return 0;
    }
    reports::conformance_run back;
    if (!reports::from_json(reports::to_json(r), back, error) || reports::to_json(back) != reports::to_json(r)) __builtin_trap();
    struct null_buf : std::streambuf {
        int overflow(int c) override { return c; }
    } nb;
    std::ostream null(&nb);
    reports::write_conformance_summary(null, r);
    reports::write_conformance_junit(null, r);
    reports::write_conformance_tap(null, r);
    reports::write_conformance_json(null, r);
    reports::write_conformance_markdown(null, r);
    reports::write_conformance_html(null, r);
    reports::write_conformance_matrix_html(null, {{"a", r}, {"b", r}});
    reports::write_sarif(null, {"mailconform", "", ""}, reports::conformance_findings(r));
    const auto c = reports::compare_conformance(r, r);
    if (c.regression || !c.changes.empty()) __builtin_trap();
    return 0;
}

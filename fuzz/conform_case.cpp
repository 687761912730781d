// Fuzz target: mailconform's case parser (conformance test_case.hpp parse_case) and the ${var}
// expansion of step payloads and patterns (expand.hpp). A bad case is a case_error and nothing
// else; a parsed case has its required fields, starts with a connect step and parses again to
// the same steps; expansion either fails with std::invalid_argument or stays within its bound.
// The case is named "/nonexistent/fuzz.yaml", so relative send_file fixtures cannot be read (an
// absolute path would be; the dictionary holds none).
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>

#include "mailharness/conform/expand.hpp"
#include "mailharness/conform/target.hpp"
#include "mailharness/conform/test_case.hpp"

namespace conform = mailharness::conform;

namespace {

void try_expand(std::string_view text, const conform::variables& vars) {
    try {
        const std::string out = conform::expand(text, vars);
        if (out.size() > conform::max_expanded_size) __builtin_trap();
    } catch (const std::invalid_argument& e) {
        if (std::string_view(e.what()).empty()) __builtin_trap();
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string text(reinterpret_cast<const char*>(data), size);
    conform::variables vars = conform::target{}.vars();
    vars["big"] = "9223372036854775807";  // what a captured SIZE could hold
    vars["small"] = "-9223372036854775808";
    try_expand(text, vars);

    conform::test_case c;
    try {
        c = conform::parse_case(text, "/nonexistent/fuzz.yaml");
    } catch (const conform::case_error& e) {
        if (!std::string_view(e.what()).starts_with("/nonexistent/fuzz.yaml")) __builtin_trap();
        return 0;
    }
    int lines = 1;
    for (char ch : text) lines += ch == '\n' || ch == '\r';
    if (c.id.empty() || c.steps.empty() || c.steps.front().kind != conform::step_kind::connect) __builtin_trap();
    for (const auto& s : c.steps) {
        if (s.line < 0 || s.line > lines) __builtin_trap();
        try_expand(s.text, vars);
        for (const auto& a : s.absent) try_expand(a, vars);
    }
    const conform::test_case again = conform::parse_case(text, "/nonexistent/fuzz.yaml");
    if (again.id != c.id || again.steps.size() != c.steps.size()) __builtin_trap();
    for (std::size_t i = 0; i < c.steps.size(); ++i) {
        const auto &x = c.steps[i], &y = again.steps[i];
        if (x.kind != y.kind || x.text != y.text || x.line != y.line || x.codes != y.codes) __builtin_trap();
    }
    return 0;
}

// Fuzz target: scenario files (YAML) through mailload's loader. Whatever the input, the loader
// returns problems or a scenario, and never throws or crashes; a scenario it accepts has what
// the engine relies on (targets and flows resolved, stages with time in them).
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "mailharness/load/scenario_loader.hpp"

namespace load = mailharness::load;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size > 16384) return 0;
    const std::string_view in(reinterpret_cast<const char*>(data), size);
    // A base folder that does not exist: file references fail as problems, nothing is read.
    auto r = load::parse_scenario(in, "/nonexistent-mailload-fuzz/scenario.yaml");
    if (!r.ok()) {
        for (const auto& p : r.problems)
            if (p.message.empty()) __builtin_trap();
        return 0;
    }
    const auto& s = r.value;
    if (s.workloads.empty() || s.targets.empty()) __builtin_trap();
    for (const auto& w : s.workloads) {
        if (!s.find_target(w.target) || w.flow.empty() || w.exec.stages.empty()) __builtin_trap();
        if (w.exec.duration().count() <= 0) __builtin_trap();
    }
    return 0;
}

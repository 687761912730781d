// Loading and validating scenario files (YAML, yaml-cpp). The format is described with examples
// in loadgen/README.md; scenarios/ holds the shipped ones.
//
// Every problem found is reported, each with the file and line (where yaml-cpp gives a mark;
// values set with --set have none), e.g.
//   scenarios/smoke.yaml:41: workloads[0].executor: unknown key 'vu' (known: type, vus, ...)
// Nothing here throws on bad input.
#pragma once

#include <filesystem>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "mailharness/load/scenario.hpp"

namespace mailharness::load {

struct load_problem {
    std::string file;
    int line = 0;  ///< 1-based; 0 when unknown
    std::string message;
    /// "file:line: message" (or "file: message").
    std::string to_string() const;
};

struct load_result {
    scenario value;  ///< complete only when ok()
    std::vector<load_problem> problems;
    bool ok() const noexcept { return problems.empty(); }
};

/// Largest scenario file read, in octets.
inline constexpr std::size_t max_scenario_size = 4 << 20;
/// Largest user file read, in octets, and most .eml files taken from a folder.
inline constexpr std::size_t max_user_file_size = 256 << 20;

/// Reads `file`, applies `overrides` and validates. An override is "path=value": path is a
/// dot-separated list of map keys and sequence items (an index, or the item's `name`), value is
/// YAML ("2525", "starttls", "{file: creds}"); missing maps are created. Examples:
///   targets.main.port=2525   workloads.submit.executor.vus=50   seed=7
/// Relative paths inside the scenario (user files, eml_dir, certificates) are relative to the
/// scenario file's folder.
load_result load_scenario(const std::filesystem::path& file, std::span<const std::string> overrides = {});

/// The same for YAML text; `file` names it in messages and is the base for relative paths.
load_result parse_scenario(std::string_view yaml, const std::filesystem::path& file,
                           std::span<const std::string> overrides = {});

}  // namespace mailharness::load

// Regular expressions of conformance cases, run with RE2: matching takes linear time and no
// recursion, so a hostile server's reply (a few hundred kilobytes within the reply parser's
// limits) can neither hang nor crash the runner. Patterns are multi-line: ^ and $ match at line
// boundaries inside a multi-line reply (lines are joined with '\n').
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace mailharness::conform::detail {

/// Empty when `pattern` compiles; otherwise RE2's reason.
std::string regex_error(const std::string& pattern);

/// Searches `text` for `pattern` (unanchored). On a match and when `groups` is given, fills it
/// with the whole match (index 0) and every capturing group (nullopt for a group that did not
/// take part). Throws std::invalid_argument when the pattern does not compile.
bool regex_search(const std::string& text, const std::string& pattern,
                  std::vector<std::optional<std::string>>* groups = nullptr);

}  // namespace mailharness::conform::detail

// Markdown helpers shared by the Markdown renderers (GitHub-flavoured: tables, code spans).
#pragma once

#include <string>
#include <string_view>

namespace mailharness::reports {

/// Text for a Markdown table cell or paragraph: the characters Markdown or HTML would read
/// (\ ` * _ [ ] < > | #) are escaped with a backslash or an entity, line breaks become spaces,
/// other control characters '?'.
std::string md_escape(std::string_view s);

/// Text for inside a `code span` in a table cell: backticks become ', '|' becomes \|, line
/// breaks spaces.
std::string md_code(std::string_view s);

}  // namespace mailharness::reports

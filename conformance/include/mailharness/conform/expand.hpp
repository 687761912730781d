// ${var} expansion for case payloads and patterns.
#pragma once

#include <map>
#include <string>
#include <string_view>

namespace mailharness::conform {

using variables = std::map<std::string, std::string>;

/// Expands, in `text`:
///   ${name}           the variable's value
///   ${name+N}         the variable read as a decimal integer, plus N (N may be negative: ${n+-1})
///   ${repeat:N:text}  `text` repeated N times (N <= 1,000,000); text may not contain '}'
///   $$                a single '$'
/// Anything else after '$' is kept as is. Throws std::invalid_argument naming the problem for an
/// unknown variable, a non-integer in ${name+N}, an unterminated ${ or a bad repeat count.
std::string expand(std::string_view text, const variables& vars);

}  // namespace mailharness::conform

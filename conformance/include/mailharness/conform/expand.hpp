// ${var} expansion for case payloads and patterns.
#pragma once

#include <cstddef>
#include <map>
#include <string>
#include <string_view>

namespace mailharness::conform {

using variables = std::map<std::string, std::string>;

/// The longest text expand() returns (16 MiB, as much as a send_file fixture may hold).
inline constexpr std::size_t max_expanded_size = std::size_t{16} << 20;

/// Expands, in `text`:
///   ${name}           the variable's value
///   ${name+N}         the variable read as a decimal integer, plus N (N may be negative: ${n+-1})
///   ${repeat:N:text}  `text` repeated N times (N <= 1,000,000); text may not contain '}'
///   $$                a single '$'
/// Anything else after '$' is kept as is. Throws std::invalid_argument naming the problem for an
/// unknown variable, a non-integer in ${name+N} or a sum outside long long, an unterminated ${, a
/// bad repeat count, or a result over max_expanded_size.
std::string expand(std::string_view text, const variables& vars);

}  // namespace mailharness::conform

// Test helper: run a check on an input delivered whole and split at every byte offset
// (the "parsegrind" idea from Boost.Beast). A sans-I/O parser must give the same result
// for every split.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace mailharness::test {

/// Calls fn(chunks) once with the whole input as one chunk, then once for every offset
/// 1..size-1 with the input split into two chunks at that offset, then once with the
/// input fed one byte at a time.
template <class Fn>
void for_each_split(std::string_view input, Fn&& fn) {
    fn(std::vector<std::string_view>{input});
    for (std::size_t i = 1; i < input.size(); ++i) {
        fn(std::vector<std::string_view>{input.substr(0, i), input.substr(i)});
    }
    if (input.size() > 2) {
        std::vector<std::string_view> bytes;
        for (std::size_t i = 0; i < input.size(); ++i) bytes.push_back(input.substr(i, 1));
        fn(bytes);
    }
}

}  // namespace mailharness::test

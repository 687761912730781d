// Test helper: the shared printable rendering (core/test_support/printable.hpp) with the
// length the POP3 tests use.
#pragma once

#include "../../test_support/printable.hpp"

namespace mailharness::pop3::test {

inline std::string printable(std::string_view s, std::size_t max = 40) { return mailharness::test::printable(s, max); }

}  // namespace mailharness::pop3::test

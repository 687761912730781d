// Test helper: the shared printable rendering (core/test_support/printable.hpp) with the
// length the IMAP tests use.
#pragma once

#include "../../test_support/printable.hpp"

namespace mailharness::imap::test {

inline std::string printable(std::string_view s, std::size_t max = 60) { return mailharness::test::printable(s, max); }

}  // namespace mailharness::imap::test

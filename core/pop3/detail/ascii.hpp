// The POP3 codec uses the shared ASCII helpers of the core.
#pragma once

#include "mailharness/detail/ascii.hpp"

namespace mailharness::pop3::detail {
using namespace mailharness::detail;
}  // namespace mailharness::pop3::detail

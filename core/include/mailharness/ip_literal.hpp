// IP address literals, the one check every program uses (net/, the config loader, the cert tool).
#pragma once

#include <string>

namespace mailharness {

/// True when `host` is an IPv4 or IPv6 address literal, without brackets ("::1", not "[::1]").
bool is_ip_literal(const std::string& host) noexcept;

}  // namespace mailharness

#include "mailharness/ip_literal.hpp"

#include <arpa/inet.h>

namespace mailharness {

bool is_ip_literal(const std::string& host) noexcept {
    unsigned char buf[16];
    return ::inet_pton(AF_INET, host.c_str(), buf) == 1 || ::inet_pton(AF_INET6, host.c_str(), buf) == 1;
}

}  // namespace mailharness

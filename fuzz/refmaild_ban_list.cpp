// Fuzz target: refmaild's ban file (reference-server/policy ban_list::load_text). What loads is at
// most one ban per line, each in force until its expiry and not after, and the text form of the
// bans loads back to the same text.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <sstream>
#include <string>
#include <string_view>

#include "mailharness/refmaild/ban_list.hpp"

namespace policy = mailharness::refmaild::policy;
using clock_type = policy::ban_list::clock;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view in(reinterpret_cast<const char*>(data), size);
    const clock_type::time_point now{std::chrono::seconds(1'700'000'000)};  // fixed: deterministic

    policy::ban_list bans;
    bans.load_text(in, now);
    std::size_t lines = 1;
    for (char c : in) lines += c == '\n';
    if (bans.size() > lines) __builtin_trap();

    const std::string text = bans.to_text(now);
    std::istringstream saved(text);
    std::string ip;
    long long expiry = 0;
    std::size_t count = 0;
    while (saved >> ip >> expiry) {
        ++count;
        const clock_type::time_point until{std::chrono::seconds(expiry)};
        if (until <= now || !bans.banned(ip, now) || bans.banned(ip, until)) __builtin_trap();
    }
    if (count != bans.size()) __builtin_trap();

    policy::ban_list again;
    again.load_text(text, now);
    if (again.size() != bans.size() || again.to_text(now) != text) __builtin_trap();
    if (!bans.to_text(clock_type::time_point::max()).empty()) __builtin_trap();
    return 0;
}

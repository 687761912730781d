// The per-IP authentication failure throttle, shared by SMTP AUTH, POP3 and IMAP logins.
//
// Each failed attempt from an IP doubles that IP's penalty (base, 2*base, ... up to max); the
// penalty is forgotten 15 minutes after the IP's last failure, or once a login from the IP
// succeeds. Every authentication attempt from the IP, on any connection and any protocol, waits
// the current penalty before its reply (a success too: otherwise a guesser learns a right
// password at full speed by racing connections), and the network layer reads nothing more from
// the client meanwhile. Thread-safe.
#pragma once

#include <chrono>
#include <cstddef>
#include <mutex>
#include <string>
#include <unordered_map>

namespace mailharness::refmaild::auth {

class throttle {
public:
    using clock = std::chrono::steady_clock;

    /// base 0 disables the throttle.
    throttle(std::chrono::milliseconds base, std::chrono::milliseconds max, std::size_t max_tracked = 100000)
        : base_(base), max_(max), max_tracked_(max_tracked) {}

    /// Records a failed attempt from `ip`; returns the delay that attempt's reply must wait.
    std::chrono::milliseconds failed(const std::string& ip);
    /// The delay an attempt from `ip` waits now (0 when it has no recent failures).
    std::chrono::milliseconds penalty(const std::string& ip);
    /// A login from `ip` succeeded (after waiting penalty()): the IP starts again from no penalty,
    /// as Dovecot's auth penalty does. A guesser's right guess still waited the full penalty.
    void succeeded(const std::string& ip);

    /// IPs tracked now (bounded by max_tracked: past it the oldest entries are dropped).
    std::size_t tracked() const;

private:
    struct entry {
        unsigned failures = 0;
        clock::time_point last{};
    };
    std::chrono::milliseconds delay_for(unsigned failures) const;
    void prune(clock::time_point now);

    std::chrono::milliseconds base_, max_;
    std::size_t max_tracked_;
    mutable std::mutex mutex_;
    std::unordered_map<std::string, entry> map_;
};

}  // namespace mailharness::refmaild::auth

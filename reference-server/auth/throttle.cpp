#include "mailharness/refmaild/auth/throttle.hpp"

#include <algorithm>

namespace mailharness::refmaild::auth {

namespace {
constexpr auto forget_after = std::chrono::minutes(15);
}

std::chrono::milliseconds throttle::delay_for(unsigned failures) const {
    if (failures == 0 || base_.count() <= 0) return std::chrono::milliseconds(0);
    auto d = base_ * (1LL << std::min<unsigned>(failures - 1, 20));
    return std::min<std::chrono::milliseconds>(d, max_);
}

void throttle::prune(clock::time_point now) {
    if (map_.size() < max_tracked_) return;
    // Drop the expired entries; when a spray of addresses keeps them all fresh, drop half.
    for (auto it = map_.begin(); it != map_.end();) {
        if (now - it->second.last > forget_after) it = map_.erase(it);
        else ++it;
    }
    if (map_.size() >= max_tracked_) {
        std::size_t n = map_.size() / 2;
        for (auto it = map_.begin(); it != map_.end() && n > 0; --n) it = map_.erase(it);
    }
}

std::chrono::milliseconds throttle::failed(const std::string& ip) {
    std::lock_guard lock(mutex_);
    auto now = clock::now();
    prune(now);
    auto& e = map_[ip];
    if (now - e.last > forget_after) e.failures = 0;
    e.last = now;
    if (e.failures < 64) ++e.failures;
    return delay_for(e.failures);
}

std::chrono::milliseconds throttle::penalty(const std::string& ip) {
    std::lock_guard lock(mutex_);
    auto it = map_.find(ip);
    if (it == map_.end()) return std::chrono::milliseconds(0);
    if (clock::now() - it->second.last > forget_after) {
        map_.erase(it);
        return std::chrono::milliseconds(0);
    }
    return delay_for(it->second.failures);
}

void throttle::succeeded(const std::string& ip) {
    std::lock_guard lock(mutex_);
    map_.erase(ip);
}

std::size_t throttle::tracked() const {
    std::lock_guard lock(mutex_);
    return map_.size();
}

}  // namespace mailharness::refmaild::auth

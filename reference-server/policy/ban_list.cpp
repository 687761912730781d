#include "mailharness/refmaild/ban_list.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <sstream>
#include <utility>
#include <vector>

namespace mailharness::refmaild::policy {

std::error_code ban_list::load() {
    if (file_.empty()) return {};
    std::ifstream in(file_, std::ios::binary);
    if (!in) return {};  // no file yet: no bans
    std::ostringstream text;
    text << in.rdbuf();
    load_text(text.str());
    return {};
}

void ban_list::load_text(std::string_view text, clock::time_point now) {
    // The clock counts nanoseconds in 64 bits: a larger expiry would overflow the conversion.
    const long long max_expiry =
        std::chrono::duration_cast<std::chrono::seconds>(clock::time_point::max().time_since_epoch()).count();
    std::lock_guard lock(mutex_);
    std::istringstream in{std::string(text)};
    std::string line, ip;
    long long expiry = 0;
    while (std::getline(in, line)) {
        std::istringstream ls(line);
        if (!(ls >> ip >> expiry) || expiry < 1 || expiry > max_expiry) continue;
        auto until = clock::time_point(std::chrono::seconds(expiry));
        if (until > now) until_[ip] = until;
    }
}

std::string ban_list::to_text(clock::time_point now) const {
    std::lock_guard lock(mutex_);
    return text_locked(now);
}

std::string ban_list::text_locked(clock::time_point now) const {
    std::vector<std::pair<std::string, long long>> bans;
    for (const auto& [ip, until] : until_) {
        if (until > now) bans.emplace_back(ip, std::chrono::duration_cast<std::chrono::seconds>(until.time_since_epoch()).count());
    }
    std::sort(bans.begin(), bans.end());
    std::string text;
    for (const auto& [ip, expiry] : bans) text += ip + " " + std::to_string(expiry) + "\n";
    return text;
}

std::error_code ban_list::save_locked() const {
    if (file_.empty()) return {};
    auto tmp = file_;
    tmp += ".tmp";
    const std::string text = text_locked(clock::now());
    int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) return {errno, std::generic_category()};
    std::size_t off = 0;
    while (off < text.size()) {
        ssize_t n = ::write(fd, text.data() + off, text.size() - off);
        if (n < 0) {
            if (errno == EINTR) continue;
            std::error_code ec(errno, std::generic_category());
            ::close(fd);
            return ec;
        }
        off += static_cast<std::size_t>(n);
    }
    if (::fsync(fd) != 0) {
        std::error_code ec(errno, std::generic_category());
        ::close(fd);
        return ec;
    }
    ::close(fd);
    if (::rename(tmp.c_str(), file_.c_str()) != 0) return {errno, std::generic_category()};
    return {};
}

std::error_code ban_list::ban(const std::string& ip, std::chrono::seconds duration, clock::time_point now) {
    std::lock_guard lock(mutex_);
    auto until = now + duration;
    auto& slot = until_[ip];
    if (slot < until) slot = until;
    for (auto it = until_.begin(); it != until_.end();) {
        it = it->second <= now ? until_.erase(it) : std::next(it);
    }
    return save_locked();
}

bool ban_list::banned(const std::string& ip, clock::time_point now) const {
    std::lock_guard lock(mutex_);
    auto it = until_.find(ip);
    return it != until_.end() && it->second > now;
}

std::size_t ban_list::size() const {
    std::lock_guard lock(mutex_);
    return until_.size();
}

}  // namespace mailharness::refmaild::policy

#include "mailharness/refmaild/ban_list.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <fstream>
#include <sstream>

namespace mailharness::refmaild::policy {

std::error_code ban_list::load() {
    if (file_.empty()) return {};
    std::ifstream in(file_);
    if (!in) return {};  // no file yet: no bans
    std::lock_guard lock(mutex_);
    auto now = clock::now();
    std::string ip;
    long long expiry = 0;
    std::string line;
    while (std::getline(in, line)) {
        std::istringstream ls(line);
        if (!(ls >> ip >> expiry)) continue;
        auto until = clock::time_point(std::chrono::seconds(expiry));
        if (until > now) until_[ip] = until;
    }
    return {};
}

std::error_code ban_list::save_locked() const {
    if (file_.empty()) return {};
    auto tmp = file_;
    tmp += ".tmp";
    std::string text;
    auto now = clock::now();
    for (const auto& [ip, until] : until_) {
        if (until <= now) continue;
        text += ip + " " + std::to_string(std::chrono::duration_cast<std::chrono::seconds>(until.time_since_epoch()).count()) + "\n";
    }
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

#include "mailharness/refmaild/ban_list.hpp"
#include "mailharness/refmaild/detail/durable_file.hpp"

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

ban_list::ban_list(std::filesystem::path file, std::size_t max_entries)
    : file_(std::move(file)), max_entries_(max_entries) {
    if (!file_.empty()) writer_ = std::thread([this] { writer_loop(); });
}

ban_list::~ban_list() {
    {
        std::lock_guard lock(mutex_);
        stop_ = true;
    }
    wake_.notify_all();
    if (writer_.joinable()) writer_.join();
}

void ban_list::writer_loop() {
    std::unique_lock lock(mutex_);
    for (;;) {
        wake_.wait(lock, [this] { return stop_ || changes_ != saved_changes_; });
        if (changes_ == saved_changes_) return;  // stopping, nothing pending
        const std::uint64_t covering = changes_;
        const std::string text = text_locked(clock::now());
        lock.unlock();
        auto ec = detail::write_file_durable(file_, text, 0600);
        lock.lock();
        last_error_ = ec;
        saved_changes_ = covering;
        ++writes_;
        written_.notify_all();
    }
}

void ban_list::evict_locked(clock::time_point now) {
    for (auto it = until_.begin(); it != until_.end();) {
        it = it->second <= now ? until_.erase(it) : std::next(it);
    }
    if (max_entries_ == 0 || until_.size() <= max_entries_) return;
    // Keep the bans that last longest: drop those that expire soonest.
    std::vector<std::pair<clock::time_point, std::string>> order;
    order.reserve(until_.size());
    for (const auto& [ip, until] : until_) order.emplace_back(until, ip);
    const std::size_t drop = until_.size() - max_entries_;
    std::nth_element(order.begin(), order.begin() + static_cast<std::ptrdiff_t>(drop), order.end());
    for (std::size_t i = 0; i < drop; ++i) until_.erase(order[i].second);
}

std::error_code ban_list::ban(const std::string& ip, std::chrono::seconds duration, clock::time_point now) {
    std::error_code last;
    {
        std::lock_guard lock(mutex_);
        auto until = now + duration;
        auto& slot = until_[ip];
        if (slot < until) slot = until;
        // Pruning walks the map: do it only when it has grown past the cap (amortised).
        if (max_entries_ && until_.size() > max_entries_) evict_locked(now);
        ++changes_;
        last = last_error_;
    }
    wake_.notify_one();
    return last;
}

std::error_code ban_list::flush() {
    std::unique_lock lock(mutex_);
    if (file_.empty()) return {};
    const std::uint64_t target = changes_;
    wake_.notify_one();
    written_.wait(lock, [&] { return saved_changes_ >= target; });
    return last_error_;
}

std::uint64_t ban_list::writes() const {
    std::lock_guard lock(mutex_);
    return writes_;
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

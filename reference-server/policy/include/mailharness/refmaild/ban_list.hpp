// Client IPs banned for a time (e.g. after a command line over the limit). Thread-safe.
// Persisted to a file ("<ip> <unix expiry seconds>" per line, written to a temporary file, fsynced
// and renamed) so that bans survive a restart.
#pragma once

#include <chrono>
#include <filesystem>
#include <mutex>
#include <string>
#include <system_error>
#include <unordered_map>

namespace mailharness::refmaild::policy {

class ban_list {
public:
    using clock = std::chrono::system_clock;

    /// `file` empty: bans are kept in memory only.
    explicit ban_list(std::filesystem::path file = {}) : file_(std::move(file)) {}

    /// Loads the file (missing file = no bans); expired entries are dropped. Bad lines are skipped.
    std::error_code load();

    /// Bans `ip` until now + `duration` (an existing later expiry is kept) and saves the file.
    std::error_code ban(const std::string& ip, std::chrono::seconds duration, clock::time_point now = clock::now());

    /// True while `ip` is banned.
    bool banned(const std::string& ip, clock::time_point now = clock::now()) const;

    std::size_t size() const;

private:
    std::error_code save_locked() const;

    std::filesystem::path file_;
    mutable std::mutex mutex_;
    std::unordered_map<std::string, clock::time_point> until_;
};

}  // namespace mailharness::refmaild::policy

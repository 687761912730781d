// Client IPs banned for a time (e.g. after a command line over the limit). Thread-safe.
// Persisted to a file ("<ip> <unix expiry seconds>" per line, written to a temporary file, fsynced
// and renamed) so that bans survive a restart.
#pragma once

#include <chrono>
#include <filesystem>
#include <mutex>
#include <string>
#include <string_view>
#include <system_error>
#include <unordered_map>

namespace mailharness::refmaild::policy {

class ban_list {
public:
    using clock = std::chrono::system_clock;

    /// `file` empty: bans are kept in memory only.
    explicit ban_list(std::filesystem::path file = {}) : file_(std::move(file)) {}

    /// Loads the file (missing file = no bans) with load_text().
    std::error_code load();

    /// Adds the bans in `text`, the file's format: "<ip> <unix expiry seconds>" per line (a later
    /// line for the same IP wins). Bans over at `now` are dropped. Lines without an IP and an
    /// expiry from 1 to the clock's limit (year 2262) are skipped.
    void load_text(std::string_view text, clock::time_point now = clock::now());

    /// The bans in force at `now` in the file's format, sorted by IP (what the file holds).
    std::string to_text(clock::time_point now = clock::now()) const;

    /// Bans `ip` until now + `duration` (an existing later expiry is kept) and saves the file.
    std::error_code ban(const std::string& ip, std::chrono::seconds duration, clock::time_point now = clock::now());

    /// True while `ip` is banned.
    bool banned(const std::string& ip, clock::time_point now = clock::now()) const;

    std::size_t size() const;

private:
    std::error_code save_locked() const;
    std::string text_locked(clock::time_point now) const;

    std::filesystem::path file_;
    mutable std::mutex mutex_;
    std::unordered_map<std::string, clock::time_point> until_;
};

}  // namespace mailharness::refmaild::policy

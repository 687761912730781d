// Client IPs banned for a time (e.g. after a command line over the limit). Thread-safe.
// Persisted to a file ("<ip> <unix expiry seconds>" per line, replaced durably: temp file, fsync,
// rename, fsync of the directory) so that bans survive a restart.
//
// ban() changes memory only and returns at once: a writer thread of the list's own rewrites the
// file in the background, once for however many bans arrived meanwhile, so a ban storm never
// holds up a network thread nor the clients it serves. The list is capped (max_entries): past
// it the bans that expire soonest give way, and expired bans are dropped at every write.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <thread>
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

    /// `file` empty: bans are kept in memory only. `max_entries`: most bans held (0: no cap).
    explicit ban_list(std::filesystem::path file = {}, std::size_t max_entries = 100000);
    /// Writes pending bans and stops the writer thread.
    ~ban_list();
    ban_list(const ban_list&) = delete;
    ban_list& operator=(const ban_list&) = delete;

    /// Loads the file (missing file = no bans) with load_text().
    std::error_code load();

    /// Adds the bans in `text`, the file's format: "<ip> <unix expiry seconds>" per line (a later
    /// line for the same IP wins). Bans over at `now` are dropped. Lines without an IP and an
    /// expiry from 1 to the clock's limit (year 2262) are skipped.
    void load_text(std::string_view text, clock::time_point now = clock::now());

    /// The bans in force at `now` in the file's format, sorted by IP (what the file holds).
    std::string to_text(clock::time_point now = clock::now()) const;

    /// Bans `ip` until now + `duration` (an existing later expiry is kept); the file is rewritten
    /// in the background. Returns the error of the last background write, if it failed.
    std::error_code ban(const std::string& ip, std::chrono::seconds duration, clock::time_point now = clock::now());

    /// Blocks until every ban made so far is in the file (tests, shutdown). Returns the error of
    /// the last write.
    std::error_code flush();

    /// File rewrites done so far (each covers every ban made before it started).
    std::uint64_t writes() const;

    /// True while `ip` is banned.
    bool banned(const std::string& ip, clock::time_point now = clock::now()) const;

    std::size_t size() const;

private:
    std::string text_locked(clock::time_point now) const;
    void writer_loop();
    void evict_locked(clock::time_point now);

    std::filesystem::path file_;
    std::size_t max_entries_;
    mutable std::mutex mutex_;
    std::condition_variable wake_, written_;
    std::unordered_map<std::string, clock::time_point> until_;
    std::uint64_t changes_ = 0;        // bumped by every ban()
    std::uint64_t saved_changes_ = 0;  // changes_ as of the last completed write
    std::uint64_t writes_ = 0;
    std::error_code last_error_;
    bool stop_ = false;
    std::thread writer_;
};

}  // namespace mailharness::refmaild::policy

// refmaild's durable outbound spool: one message file and one envelope file per queued message.
//
// Layout (one directory, mode 0700, so that one directory sync commits both files of a message):
//
//     <dir>/<id>.msg        the message: header + body as received, CRLF, not dot-stuffed
//     <dir>/<id>.env        the envelope (envelope.hpp); its presence is the commit point
//     <dir>/*.tmp           files being written; removed by a recovering scan
//     <dir>/corrupt/        envelopes that did not parse (and their message files), for a human
//     <dir>/flush           flush request: "refmaild queue flush" creates it, the runner takes it
//
// Every change goes through one committer thread, in batches (group commit, as the Maildir store
// does): write every temporary file, fdatasync each, rename each into place (unlink for
// removals), then fsync the directory once for the whole batch. Only then is a change reported
// as done, so refmaild answers 250 only for a message whose two files and directory entries are
// on disk. An enqueue renames <id>.msg before <id>.env; a removal unlinks <id>.env first. Whatever
// a crash leaves half done is therefore a message file without an envelope (removed by the
// recovering scan: it was never acknowledged, or it was already delivered) or, when the kernel
// wrote the directory entries out of order, an envelope without a message file (also removed,
// with a log line).
//
// Delivery and deletion of one message exclude each other through an flock(2) on its message
// file (spool_lock), which works across processes: the runner holds it while it delivers and
// updates the envelope; `refmaild queue delete` takes it before removing the files.
//
// No Asio: completions are plain callbacks run on the committer thread.
#pragma once

#include "mailharness/refmaild/queue/envelope.hpp"

#include <boost/system/result.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

namespace mailharness::refmaild::queue {

enum class spool_errc {
    invalid_id = 1,  ///< not valid_queue_id(); nothing touched
    not_found,       ///< no such message in the spool
    busy,            ///< the message is locked (being delivered or deleted)
    stopped,         ///< the spool was stopped; nothing written
    invalid_request, ///< enqueue without a body or without recipients
    exists,          ///< enqueue of an ID that is already in the spool
};

const std::error_category& spool_category() noexcept;
std::error_code make_error_code(spool_errc e) noexcept;

struct spool_settings {
    /// The spool directory; created (mode 0700, durably) by prepare().
    std::filesystem::path dir;
    /// Most changes committed in one batch.
    std::size_t max_batch = 256;
    /// Limits for reading envelope files.
    envelope_limits limits;
};

/// A message to enqueue. The message file gets `header` then `*body`, byte for byte.
struct queued_message {
    envelope env;  ///< env.id from spool::new_id(); at least one recipient
    std::string header;
    std::shared_ptr<const std::string> body;
};

/// One message found by scan().
struct scan_entry {
    envelope env;
    std::uint64_t size = 0;  ///< octets in the message file
};

/// Something scan() found wrong, for the log (or `queue list`).
struct scan_problem {
    std::string file;     ///< file name within the spool directory
    std::string message;  ///< what was wrong and what was done about it
};

struct scan_result {
    std::vector<scan_entry> entries;  ///< sorted by creation time, then ID
    std::vector<scan_problem> problems;
};

enum class scan_mode {
    read_only,  ///< report problems, change nothing (safe while a server runs)
    recover,    ///< at server start: remove *.tmp and orphans, move unreadable envelopes aside
};

/// Counters since construction (relaxed snapshot).
struct spool_stats {
    std::uint64_t enqueued = 0, updated = 0, removed = 0, failed = 0;
    std::uint64_t batches = 0, file_syncs = 0, dir_syncs = 0;
};

using spool_handler = std::function<void(std::error_code)>;

/// Exclusive lock on one queued message (flock on its message file), released on destruction.
/// Holding it, a process may update or remove the message knowing no other process does.
class spool_lock {
public:
    spool_lock() = default;
    spool_lock(spool_lock&& o) noexcept;
    spool_lock& operator=(spool_lock&& o) noexcept;
    ~spool_lock();
    explicit operator bool() const noexcept { return fd_ >= 0; }
    const std::string& id() const noexcept { return id_; }
    /// The message file's content, read through the locked descriptor (at most `max` octets;
    /// larger files give std::errc::file_too_large).
    boost::system::result<std::string, std::error_code> read_message(std::uint64_t max = 1ull << 31) const;

private:
    friend class spool;
    spool_lock(int fd, std::string id) : fd_(fd), id_(std::move(id)) {}
    int fd_ = -1;
    std::string id_;
};

/// Thread-safe. Owns one committer thread from construction to stop().
class spool {
public:
    explicit spool(spool_settings settings);
    ~spool();
    spool(const spool&) = delete;
    spool& operator=(const spool&) = delete;

    /// Creates the directory (and corrupt/) with mode 0700, syncing each parent it creates.
    std::error_code prepare();

    /// A new queue ID: 24 upper-case hex digits (microseconds since the epoch, process ID, a
    /// counter), unique within this machine and increasing with time.
    std::string new_id();

    /// Writes <id>.msg and <id>.env durably (see the file comment). `done` runs exactly once on
    /// the committer thread: cleared error once both files and their directory entries are
    /// synced; on error no file of the message is left. After stop(), runs at once with stopped.
    void enqueue_async(queued_message m, spool_handler done);
    /// Replaces <id>.env atomically and durably. The caller must hold the message's spool_lock.
    void update_async(envelope e, spool_handler done);
    /// Removes <id>.env, then <id>.msg, and syncs the directory. The caller holds the lock.
    void remove_async(std::string id, spool_handler done);

    /// Blocking forms of the three above; not to be called from a spool_handler.
    std::error_code enqueue(queued_message m);
    std::error_code update(envelope e);
    std::error_code remove(std::string id);

    /// Commits what is queued, then stops the committer. Idempotent.
    void stop();

    /// Every message in the spool (see scan_mode).
    scan_result scan(scan_mode mode);

    /// Reads and parses <id>.env: spool_errc::not_found when it does not exist, an
    /// envelope_errc when it does not parse.
    boost::system::result<envelope, std::error_code> read_envelope(std::string_view id) const;

    /// Locks <id>.msg without waiting: busy when another holder has it, not_found when the
    /// message is gone (or was removed while we waited for the lock).
    boost::system::result<spool_lock, std::error_code> try_lock(std::string_view id) const;
    /// Like try_lock() but waits up to `timeout` for a busy lock.
    boost::system::result<spool_lock, std::error_code> lock(std::string_view id, std::chrono::milliseconds timeout) const;

    /// Moves <id>.env and <id>.msg into corrupt/ (each when it exists) and syncs both directories.
    std::error_code quarantine(std::string_view id);

    /// Creates the flush request file (durably); a running server's runner takes it within its
    /// poll interval and attempts every message.
    std::error_code request_flush();
    /// True when a flush was requested since the last call; removes the request file.
    bool take_flush_request();

    spool_stats stats() const noexcept;
    const spool_settings& settings() const noexcept { return settings_; }

private:
    enum class op_kind { enqueue, update, remove };
    struct op {
        op_kind kind;
        queued_message msg;  // enqueue: whole message; update: msg.env; remove: msg.env.id
        spool_handler done;
    };
    struct counters;

    void submit(op o);
    void run();

    spool_settings settings_;
    std::unique_ptr<counters> counters_;
    std::mutex mutex_;
    std::condition_variable wake_;
    std::deque<op> queue_;
    bool stopping_ = false;
    std::mutex join_mutex_;
    std::thread committer_;
};

}  // namespace mailharness::refmaild::queue

template <>
struct std::is_error_code_enum<mailharness::refmaild::queue::spool_errc> : std::true_type {};

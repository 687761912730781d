// Durable Maildir delivery with group commit, for refmaild.
//
// Layout: <root>/<domain>/<user>/Maildir/{tmp,new,cur}, directories created on demand with mode
// 0700, message files with mode 0600. Any Maildir reader (Dovecot, mutt, ...) can read the store.
//
// A delivery follows the Maildir protocol (https://cr.yp.to/proto/maildir.html): the message is
// written to tmp/<unique>, its data is synced, it is renamed to new/<unique>, and new/ is synced.
// Only then is the delivery reported as a success, so the server may answer 250 / OK.
//
// Group commit: every delivery goes through one committer thread. It takes all deliveries queued
// while it was busy (up to store_settings::max_batch) and commits them together: write every file,
// sync the data of all of them, rename all of them, then sync each touched new/ directory once.
// Many concurrent deliveries therefore share directory syncs (and, with sync_mode::syncfs, the data
// sync too) instead of waiting behind each other.
//
// No Asio here. An Asio coroutine awaits a delivery by passing a completion that posts to its
// executor (the completion runs on the committer thread):
//
//     store.deliver_async(std::move(req), [ex, handler](std::error_code ec, std::string name) mutable {
//         asio::post(ex, [h = std::move(handler), ec, n = std::move(name)]() mutable { h(ec, n); });
//     });
#pragma once

#include <boost/system/result.hpp>

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

namespace mailharness::refmaild::store {

/// Errors of the store itself; file-system failures come back as std::errc / errno values
/// (std::system_category), e.g. permission_denied, no_space_on_device, not_a_directory.
enum class store_errc {
    /// The user or domain cannot be used as a path component (empty, too long, '/', NUL, control
    /// characters, or a leading '.'). Nothing was written.
    invalid_mailbox = 1,
    /// The delivery request has no body pointer. Nothing was written.
    invalid_request,
    /// The store has been stopped; nothing was written.
    stopped,
};

const std::error_category& store_category() noexcept;
std::error_code make_error_code(store_errc e) noexcept;

/// Which mailbox a message goes to. The domain is compared and stored in ASCII lower case; the
/// user is used as given (the caller passes the canonical name from the user database).
struct mailbox_id {
    std::string user;
    std::string domain;
    /// Maildir++ folder below the INBOX, e.g. "Junk" or "Lists.dev" (stored in Maildir/.Junk);
    /// empty for the INBOX. Each dot-separated part must be a valid path component.
    std::string folder;
};

/// How a batch is made durable.
enum class sync_mode {
    /// Start write-back of every message file of the batch (sync_file_range), fdatasync(2) each,
    /// then fsync(2) each touched new/ directory once per batch.
    per_file,
    /// One syncfs(2) for the data of the whole batch, renames, then one more syncfs(2) for the
    /// directory entries. Two system calls per batch whatever its size, but they also flush
    /// unrelated dirty data of the same file system: use it when the maildir root is a file system
    /// of its own.
    syncfs,
};

struct store_settings {
    /// Directory that holds <domain>/<user>/Maildir. Created (mode 0700) on first delivery.
    std::filesystem::path root;
    /// How a batch is made durable.
    sync_mode sync = sync_mode::per_file;
    /// Most deliveries committed in one batch; bounds the latency a batch adds to its members.
    std::size_t max_batch = 256;
    /// How long the committer waits after the first delivery of a batch for more to arrive.
    /// 0 (the default) commits at once; batching then comes only from deliveries that queue up
    /// while the previous batch syncs, which is what load produces.
    std::chrono::microseconds batch_delay{0};
    /// Host part of unique names; empty means gethostname(2). '/', ':' and ',' are escaped as
    /// \057, \072 and \054 as the Maildir convention asks.
    std::string hostname;
};

/// One message for one mailbox. The file gets `header` followed by `*body`, byte for byte (the
/// store adds nothing, converts no line endings).
struct delivery_request {
    mailbox_id mailbox;
    /// Bytes written before the body, e.g. Return-Path: and Received: lines; may be empty.
    std::string header;
    /// The message. Shared so that one DATA buffer serves every recipient without copies; the store
    /// keeps a reference until the delivery completes. Must not be null.
    std::shared_ptr<const std::string> body;
};

/// Counters since construction; a snapshot, read with relaxed ordering.
struct store_stats {
    std::uint64_t delivered = 0;      ///< deliveries completed with success
    std::uint64_t failed = 0;         ///< deliveries completed with an error
    std::uint64_t batches = 0;        ///< batches committed (each has >= 1 delivery)
    std::uint64_t largest_batch = 0;  ///< most deliveries seen in one batch
    std::uint64_t file_syncs = 0;     ///< fdatasync(2) calls on message files
    std::uint64_t dir_syncs = 0;      ///< fsync(2) calls on directories (new/ and created parents)
    std::uint64_t fs_syncs = 0;       ///< syncfs(2) calls
};

/// Completion of a delivery: an error, or success and the unique file name in new/ (which has the
/// form "<secs>.M<usecs>P<pid>Q<seq>.<host>,S=<size>", S= being the file size in octets as Dovecot
/// reads it).
using delivery_handler = std::function<void(std::error_code, std::string unique_name)>;

/// Thread-safe. Owns one committer thread from construction to destruction.
class maildir_store {
public:
    /// Starts the committer thread. Touches no file: the root is created on first delivery, and
    /// problems with it are reported per delivery.
    explicit maildir_store(store_settings settings);

    /// Stops accepting deliveries, commits everything already queued, and joins the thread.
    ~maildir_store();

    maildir_store(const maildir_store&) = delete;
    maildir_store& operator=(const maildir_store&) = delete;

    /// Queues a delivery. `on_done` is called exactly once, on the committer thread, after the
    /// message is durable in new/ (error_code cleared, unique name set) or after it failed (error
    /// set, name empty; no file of it is left in tmp/ or new/). Exception: after stop(), `on_done`
    /// runs at once on the calling thread with store_errc::stopped.
    /// `on_done` must not throw, must not block for long (it holds up the next batch) and must not
    /// call deliver() or stop(). It may call deliver_async().
    void deliver_async(delivery_request request, delivery_handler on_done);

    /// Blocking convenience: deliver_async() and wait. Returns the unique name in new/.
    /// Must not be called from a delivery_handler (it would wait for itself).
    boost::system::result<std::string, std::error_code> deliver(delivery_request request);

    /// Stops accepting deliveries and waits until everything queued has completed. Idempotent.
    void stop();

    store_stats stats() const noexcept;

    const store_settings& settings() const noexcept { return settings_; }

    /// The Maildir directory of a mailbox: <root>/<lower(domain)>/<user>/Maildir, or
    /// Maildir/.<folder> for a folder. Does not check
    /// that it exists; returns store_errc::invalid_mailbox for names the store refuses.
    boost::system::result<std::filesystem::path, std::error_code> maildir_path(const mailbox_id& mailbox) const;

private:
    struct queued {
        delivery_request request;
        delivery_handler on_done;
    };
    struct counters;

    void run();

    store_settings settings_;
    std::string host_;  // escaped host part of unique names
    std::unique_ptr<counters> counters_;
    mutable std::mutex mutex_;
    std::condition_variable wake_;
    std::deque<queued> queue_;  // guarded by mutex_
    bool stopping_ = false;     // guarded by mutex_
    std::mutex join_mutex_;     // serialises stop() callers around the join
    std::thread committer_;
};

}  // namespace mailharness::refmaild::store

template <>
struct std::is_error_code_enum<mailharness::refmaild::store::store_errc> : std::true_type {};

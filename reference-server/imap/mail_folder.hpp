// One Maildir folder as every IMAP session of the process shares it: the messages with their
// UIDs, flags, keywords and modification sequences, kept in memory once per folder and synced
// with the disk (where SMTP deliveries, POP3, other refmaild processes and Dovecot change it).
// No Asio here: the IMAP sessions call it on the blocking pool.
//
// On disk it is what Dovecot reads and writes (see store/):
//   - messages in cur/ and new/, flags in the names (":2,DFRST", keywords as letters a-z);
//   - UIDs in dovecot-uidlist (store::uid_list), under its dotlock;
//   - keyword names in dovecot-keywords ("<index> <name>" per line, letter = 'a' + index);
//   - the modification sequence of each message (CONDSTORE, RFC 7162) as an "M<modseq>" field of
//     its uid list line, and HIGHESTMODSEQ as an "M<modseq>" header field; both are extension
//     fields Dovecot keeps when it rewrites the list. When they are lost (a list rewritten by a
//     program that drops them), every message gets a new modseq above the current time in
//     microseconds: HIGHESTMODSEQ never goes back, and a client resyncs everything once.
//
// refresh() looks at the modification times of new/ and cur/ (as Dovecot does) and syncs only
// when one changed: a command costs two stat(2) calls when nothing happened. A sync moves new/ to
// cur/, reads cur/ and the uid list, gives new files UIDs (Dovecot's order), and compares each
// message's flags with what it knew: a change made by another program gets a new modseq.
//
// Changes by anyone (SMTP deliveries, other sessions, other programs such as Dovecot) are seen
// through inotify on new/ and cur/ and wake the folder's watchers at once (IMAP IDLE).
//
// Thread safety: every member function is safe to call from any thread; a folder is shared
// through folder::open() (one object per directory in the process while anyone holds it).
#pragma once

#include <boost/system/result.hpp>

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <unordered_set>
#include <vector>

#include "mailharness/refmaild/maildir_name.hpp"

namespace mailharness::refmaild::imap_store {

/// One message as the folder knows it.
struct message {
    std::uint32_t uid = 0;
    /// The file's name in cur/ ("<base>:2,<flags>").
    std::string name;
    /// Octets with CRLF line endings (RFC822.SIZE).
    std::uint64_t size = 0;
    /// Flag letters of the name (system flags and keyword letters).
    store::flag_set flags;
    std::uint64_t modseq = 1;
    /// INTERNALDATE: the file's modification time, seconds since the epoch.
    std::int64_t internal_date = 0;
};

/// What a folder looks like at one moment (what sessions diff their view against).
struct folder_state {
    std::uint32_t uid_validity = 0;
    std::uint32_t uid_next = 1;
    std::uint64_t highest_modseq = 1;
    std::vector<message> messages;  ///< UID order
    /// Keyword names by letter index (a = 0).
    std::vector<std::string> keywords;
    /// Messages with uid >= recent_from are \Recent for the next session that claims them.
    std::uint32_t recent_from = 1;
    /// Grows with every change (sessions compare it to skip work).
    std::uint64_t generation = 0;
};

enum class store_mode { replace, add, remove };

/// A message placed into a folder (APPEND, COPY, MOVE): the new UID for APPENDUID/COPYUID.
struct placed {
    std::uint32_t source_uid = 0;  ///< COPY: the source message; APPEND: 0
    std::uint32_t uid = 0;
};

class folder {
public:
    /// The shared folder object for `dir` (a Maildir or Maildir++ folder), opened and synced if
    /// no one holds it yet. cur/ new/ tmp/ are created when missing and `create` is true; else a
    /// folder without cur/ is no_such_file_or_directory.
    static boost::system::result<std::shared_ptr<folder>, std::error_code> open(const std::filesystem::path& dir,
                                                                               bool create);
    ~folder();
    folder(const folder&) = delete;
    folder& operator=(const folder&) = delete;

    const std::filesystem::path& dir() const noexcept { return dir_; }

    /// Syncs with the disk if new/ or cur/ changed since the last sync (or always with `force`).
    std::error_code refresh(bool force = false);

    /// Calls fn(state) under the folder's lock. fn must not call back into the folder.
    void read(const std::function<void(const folder_state&)>& fn) const;
    std::uint64_t generation() const noexcept { return generation_.load(std::memory_order_acquire); }

    /// Takes the \Recent messages not yet claimed by a session: returns the lowest UID that is
    /// recent for the caller (messages with uid >= it, up to the current uid_next).
    std::uint32_t claim_recent();

    /// Letters for keyword names, adding names to dovecot-keywords (at most 26; names beyond
    /// cannot be stored and give nullopt). Case-insensitive match (RFC 3501 flags).
    std::vector<std::optional<char>> keyword_letters(std::span<const std::string_view> names, bool add);

    /// STORE: changes the flags of `uids` (renames their files) and gives each message whose
    /// flags changed a new modseq. With `unchangedsince`, a message whose modseq is above it is
    /// left alone and its UID put in `failed` (RFC 7162 3.1.3 MODIFIED). Messages gone meanwhile
    /// are skipped. Returns the UIDs whose flags changed.
    boost::system::result<std::vector<std::uint32_t>, std::error_code> store(
        std::span<const std::uint32_t> uids, store_mode mode, store::flag_set flags,
        std::optional<std::uint64_t> unchangedsince, std::vector<std::uint32_t>* failed);

    /// Removes the files of `uids` and fsyncs cur/ before returning. Returns the UIDs removed
    /// (those already gone are not an error).
    boost::system::result<std::vector<std::uint32_t>, std::error_code> expunge(std::span<const std::uint32_t> uids);

    /// APPEND, step 1: a new file in tmp/ for the message (O_WRONLY|O_EXCL, mode 0600); `name`
    /// gets its base name.
    boost::system::result<int, std::error_code> create_tmp(std::string& name);
    /// APPEND, step 2: fsyncs tmp/<name> (the caller wrote it and closed nothing), moves it to
    /// cur/ with `flags`, `vsize` (CRLF size) in its name and the mtime `internal_date`, fsyncs
    /// cur/, and gives it a UID (the uid list written durably). Closes `fd`.
    boost::system::result<std::uint32_t, std::error_code> commit_tmp(int fd, const std::string& name,
                                                                      std::uint64_t vsize, store::flag_set flags,
                                                                      std::int64_t internal_date);
    /// APPEND failed: removes tmp/<name> and closes `fd`.
    void discard_tmp(int fd, const std::string& name);

    /// COPY: places copies (hard links when possible) of `uids` into `dest` with their flags and
    /// keywords (keywords mapped to dest's letters), fsynced before returning.
    boost::system::result<std::vector<placed>, std::error_code> copy_to(folder& dest, std::span<const std::uint32_t> uids);

    /// Opens the file of message `uid` for reading; follows a rename by another program.
    boost::system::result<int, std::error_code> open_message(std::uint32_t uid);

    /// Called (from any thread) after every change this folder sees; used to wake IDLE.
    /// Returns an id for unwatch().
    std::uint64_t watch(std::function<void()> fn);
    void unwatch(std::uint64_t id);
    /// Marks the folder changed and wakes the watchers (the next refresh syncs).
    void notify_external();
    /// An inotify event on new/ (`in_new`) or cur/: true (and the folder marked changed) unless
    /// it is this process's own change, already in the state.
    bool on_change_event(bool in_new, std::uint32_t mask, const std::string& name);
    /// Calls the watchers.
    void wake();

private:
    explicit folder(std::filesystem::path dir);
    std::error_code sync_locked(bool force);  // mutex_ held
    std::error_code write_list_locked(bool durable);
    std::error_code read_keywords_locked();
    std::error_code write_keywords_locked();
    std::uint64_t next_modseq_locked();
    void changed_locked();

    std::filesystem::path dir_;
    int cur_fd_ = -1, new_fd_ = -1, tmp_fd_ = -1;
    mutable std::mutex mutex_;
    folder_state state_;
    std::atomic<std::uint64_t> generation_{0};
    struct timespec_pair;
    std::int64_t cur_mtime_ns_ = -1, new_mtime_ns_ = -1, keywords_mtime_ns_ = -2;
    std::uint32_t delivery_seq_ = 0;
    std::string hostname_;
    bool loaded_ = false;

    std::vector<int> watch_descriptors_;  // inotify, on new/ and cur/
    std::atomic<bool> dirty_{true};       // inotify saw a change by someone else
    std::unordered_set<std::string> names_;  // file names in cur/ the state holds
    std::mutex watch_mutex_;
    std::uint64_t next_watch_ = 1;
    std::vector<std::pair<std::uint64_t, std::function<void()>>> watchers_;
};

}  // namespace mailharness::refmaild::imap_store

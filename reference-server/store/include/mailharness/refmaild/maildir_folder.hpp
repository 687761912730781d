// One Maildir folder as a POP3 or IMAP session sees it: a snapshot of its messages in UID order,
// with UIDs kept in Dovecot's dovecot-uidlist (uid_list.hpp) so that Dovecot sharing the Maildir
// gives the same messages the same UIDs.
//
// open() / sync() do what Dovecot does when it opens a mailbox:
//   1. take the uid list's dotlock (Dovecot's convention, uid_list_lock);
//   2. move every file in new/ to cur/, adding ":2," (no flags) to names without an info; then
//      fsync cur/ and new/ once each (cur/ first, so a crash never loses a moved file);
//   3. read the uid list; drop entries whose file is gone; give files not in it the next UIDs in
//      Dovecot's order (maildir_sort_compare: time stamp, microseconds, name);
//   4. find each message's size as a client receives it (CRLF line endings): the name's ,W=;
//      else the list's cached W field; else ,S= when the content is known to be CRLF (refmaild's
//      own deliveries, see folder_settings::trust_s_size); else by reading the file once and
//      counting bare LFs, cached in the list as a W field;
//   5. write the list durably, only when it changed; release the lock.
//
// A broken list (fatal uid_list_errc) is replaced by a new one with a new UIDVALIDITY above the
// old (when known), as Dovecot does. Lines lost from a damaged list are harmless: their files get
// new UIDs above UIDNEXT, so a UID is never reused within one UIDVALIDITY.
//
// Thread safety: one maildir_folder per session, not shared. Several sessions (threads or
// processes, refmaild or Dovecot) may open the same folder; the dotlock serialises their syncs.
//
// Not here yet, for the IMAP server (each goes where marked "IMAP:" below):
//   - flag changes: rename cur/<base>:2,<old> to cur/<base>:2,<new> (maildir_name.hpp set_flags)
//     with rename_noreplace semantics, updating message_info::name/flags;
//   - keywords: letters a-z in the flags, their names in `dovecot-keywords` (Dovecot's format:
//     "<index> <name>" per line, letter = 'a' + index), read and written under the same lock;
//   - per-message MODSEQ (CONDSTORE, RFC 7162): kept in the uid list as an extension field of its
//     own key (uid_list_entry::extensions survive Dovecot's rewrites), with a HIGHESTMODSEQ
//     header extension;
//   - \Recent: files that got their UID in this sync (sync_result::new_messages).
#pragma once

#include "mailharness/refmaild/detail/durable_file.hpp"
#include "mailharness/refmaild/maildir_name.hpp"
#include "mailharness/refmaild/uid_list.hpp"

#include <boost/system/result.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include <sys/types.h>

namespace mailharness::refmaild::store {

/// True for the base names of refmaild's own deliveries (maildir_store.hpp):
/// "<secs>.M<usec>P<pid>Q<n>.<host>,S=<size>": their content is the SMTP wire form (CRLF), so
/// S= is also the size a client receives.
bool is_refmaild_delivery_name(std::string_view base) noexcept;

struct folder_settings {
    /// Decides whether a name's ,S= may be taken as the CRLF size (the file's content is known
    /// to have CRLF line endings only). Default: is_refmaild_delivery_name. Files for which it
    /// says no and whose name has no ,W= are read once and their size cached in the list.
    std::function<bool(std::string_view base)> trust_s_size = is_refmaild_delivery_name;
    /// The uid list's dotlock (wait, stale timeout).
    uid_list_lock_settings lock;
    /// Bounds of the uid list read.
    uid_list_file_limits list_limits;
};

/// One message of a snapshot.
struct message_info {
    /// IMAP UID (1..2^32-2), ascending in a snapshot.
    std::uint32_t uid = 0;
    /// The file's current name, relative to the folder: "cur/<base>:2,<flags>".
    std::string path;
    /// Size in octets with CRLF line endings: POP3 LIST/RETR (RFC 1939), IMAP RFC822.SIZE.
    std::uint64_t size = 0;
    /// Flags from the file name. IMAP: updated by flag changes.
    flag_set flags;
    /// Set by remove() once the file is gone; the message keeps its index in the snapshot.
    bool removed = false;
    // IMAP: keywords (names of the a-z letters) and modseq go here.

    /// The file name without "cur/".
    std::string_view name() const noexcept { return std::string_view(path).substr(4); }
};

/// What a sync found (counts, for logs and IMAP untagged responses).
struct sync_result {
    std::size_t moved_from_new = 0;    ///< files moved new/ → cur/
    std::size_t new_messages = 0;      ///< files that got a UID in this sync (IMAP: \Recent)
    std::size_t dropped_entries = 0;   ///< list entries whose file was gone
    std::size_t sizes_computed = 0;    ///< files read to find their CRLF size
    bool list_written = false;         ///< the uid list was rewritten
    bool list_recreated = false;       ///< it was missing or broken: new UIDVALIDITY
    std::size_t list_problems = 0;     ///< non-fatal problems in the list read
};

class maildir_folder {
public:
    /// Opens the Maildir folder `dir` (the directory holding cur/ new/ tmp/; missing ones are
    /// created durably, and `dir` itself with its parents) and syncs it (see the file comment).
    /// Errors: errno values (std::system_category), uid_list_errc::lock_timeout,
    /// uid_list_errc::too_many_records / file_too_large for a list too large to read.
    static boost::system::result<maildir_folder, std::error_code> open(std::filesystem::path dir,
                                                                      folder_settings settings = {});

    maildir_folder(maildir_folder&&) noexcept = default;
    maildir_folder& operator=(maildir_folder&&) noexcept = default;

    /// Syncs again and replaces the snapshot (IMAP NOOP/CHECK; POP3 never needs it). Message
    /// indexes of the old snapshot are invalid afterwards.
    std::error_code sync();

    /// The snapshot: messages in UID order.
    const std::vector<message_info>& messages() const noexcept { return messages_; }
    std::uint32_t uid_validity() const noexcept { return uid_validity_; }
    /// UIDNEXT: above every UID ever given in this UIDVALIDITY.
    std::uint32_t uid_next() const noexcept { return uid_next_; }
    /// What the last sync did.
    const sync_result& last_sync() const noexcept { return last_sync_; }
    const std::filesystem::path& dir() const noexcept { return dir_; }

    /// Opens message `i` for reading (O_RDONLY | O_CLOEXEC). If its file was renamed since the
    /// snapshot (flags changed by another session), it is found again by its base name in cur/
    /// and the snapshot's path and flags are updated. Errors: invalid_argument for a bad index,
    /// no_such_file_or_directory when the message is gone (removed or expunged elsewhere).
    boost::system::result<detail::unique_fd, std::error_code> open_message(std::size_t i);

    /// Unlinks the files of messages `indexes` (of this snapshot) and fsyncs cur/ once before
    /// returning, so a removal reported done survives a crash. A file already gone is not an
    /// error (another session removed it). Every index is tried; returns the first real error
    /// (invalid_argument for an index out of range, else an errno value). The uid list is not
    /// touched: the next sync drops the entries, and UIDNEXT keeps their UIDs from reuse.
    std::error_code remove(std::span<const std::size_t> indexes);

    /// Removes files in tmp/ whose atime, mtime and ctime are all older than `max_age` (the
    /// Maildir convention is 36 hours: a delivery never takes that long). Returns how many.
    boost::system::result<std::size_t, std::error_code> clean_tmp(
        std::chrono::seconds max_age = std::chrono::hours(36));

private:
    maildir_folder() = default;
    std::error_code find_by_base(message_info& m);

    std::filesystem::path dir_;
    folder_settings settings_;
    detail::unique_fd cur_;  // cur/, for openat/unlinkat
    std::uint32_t uid_validity_ = 0;
    std::uint32_t uid_next_ = 1;
    std::vector<message_info> messages_;
    sync_result last_sync_;
};

/// At server start: removes from `<maildir>/tmp/` the files refmaild itself left behind in an
/// earlier process: names of refmaild's form (is_refmaild_delivery_name) whose host part is
/// `host` (as written in names: '/' ':' ',' escaped as \057 \072 \054), whose P<pid> is not
/// `current_pid`, and whose pid is not a live process (so a second refmaild writing to the same
/// store keeps its deliveries in flight). Other programs' files are left to clean_tmp().
/// Returns how many were removed; a missing tmp/ is 0.
boost::system::result<std::size_t, std::error_code> clean_own_tmp(const std::filesystem::path& maildir,
                                                                  std::string_view host, pid_t current_pid);

/// Removes files in `<maildir>/tmp/` (any program's) whose atime, mtime and ctime are all older
/// than `max_age` (the Maildir convention is 36 hours: no delivery takes that long). A missing
/// tmp/ is 0. Returns how many were removed.
boost::system::result<std::size_t, std::error_code> clean_old_tmp(const std::filesystem::path& maildir,
                                                                  std::chrono::seconds max_age);

/// clean_own_tmp() for every Maildir under a store root laid out as maildir_store writes it:
/// <root>/<domain>/<user>/Maildir and its Maildir++ folders (Maildir/.<name>), and, when
/// `older_than` is above 0, clean_old_tmp() with it too. An error in one directory does not stop
/// the walk; the first one is returned at the end (instead of the count).
boost::system::result<std::size_t, std::error_code> clean_own_tmp_tree(const std::filesystem::path& root,
                                                                       std::string_view host, pid_t current_pid,
                                                                       std::chrono::seconds older_than = {});

}  // namespace mailharness::refmaild::store

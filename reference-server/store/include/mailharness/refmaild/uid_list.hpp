// The per-folder UID list, in Dovecot's `dovecot-uidlist` format version 3, so that Dovecot and
// refmaild give the same messages the same IMAP UIDs (RFC 3501 section 2.3.1.1) and POP3 order.
// Model: Dovecot src/lib-storage/index/maildir/maildir-uidlist.c / .h.
//
//     3 V<uidvalidity> N<nextuid> G<mailbox guid, 32 hex digits>[ <key><value> ...]\n
//     <uid>[ <key><value> ...] :<base file name>\n        one line per message, uid ascending
//
// Keys are single characters; record keys are 'A'-'Z' (W = size with CRLF line endings, S =
// physical size, P = POP3 UIDL, O = POP3 order, G = message GUID). The base file name is the
// Maildir name before its ':' (see maildir_name.hpp); flags are not in the list.
//
// Three parts:
//   - uid_list_parser / parse_uid_list(): sans-I/O, tolerant, bounded parse of the text.
//   - format_uid_list(): the text Dovecot writes for a list.
//   - uid_list_lock, read_uid_list_file(), write_uid_list_file(): the file in a folder, with
//     Dovecot's dotlock convention (`dovecot-uidlist.lock`) around read-modify-write.
#pragma once

#include "mailharness/refmaild/detail/durable_file.hpp"

#include <boost/system/result.hpp>

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <unordered_map>
#include <vector>

namespace mailharness::refmaild::store {

/// File names in a Maildir folder (the folder is Dovecot's control directory by default).
inline constexpr std::string_view uid_list_file_name = "dovecot-uidlist";
inline constexpr std::string_view uid_list_lock_name = "dovecot-uidlist.lock";

/// Problems found in a UID list, and lock errors. A problem of a line is reported and the line
/// (or field) left out; those marked fatal make the whole list unusable (the caller starts a new
/// list with a new UIDVALIDITY, as Dovecot does when it finds a broken file).
enum class uid_list_errc {
    /// Fatal: no header line (empty text, or only an unterminated line).
    missing_header = 1,
    /// Fatal: the header's version is not 3 (Dovecot 1.0's version 1 is not read).
    unsupported_version,
    /// Fatal: the header has no V or N, or one of them is 0 or not a 32-bit number.
    bad_header,
    /// The header's G is not 32 hex digits; the list is used, with an empty GUID (a new one is
    /// written with it).
    bad_guid,
    /// A record is not `<uid> ... :<name>` with a uid in 1..2^32-2; the line is left out.
    bad_record,
    /// A record's uid is not above the previous one; the line is left out.
    uid_not_ascending,
    /// A record's file name is empty or has '/', ':', CR or NUL; the line is left out.
    bad_file_name,
    /// A record's file name was already in the list under a lower uid; the later line wins
    /// (as in Dovecot: the file was most likely moved back after an expunge).
    duplicate_file_name,
    /// A record's extension field has a key outside 'A'-'Z', or a W field is not a number, or a
    /// header extension field has a CR or would make the header's extensions longer than half
    /// of uid_list_limits::max_line; the field is left out.
    bad_extension,
    /// A line is longer than uid_list_limits::max_line; it is left out.
    line_too_long,
    /// The last line has no '\n' (a writer was interrupted); it is left out.
    unterminated_line,
    /// Fatal: more records than uid_list_limits::max_records.
    too_many_records,
    /// Fatal: the file is larger than uid_list_limits::max_file_size.
    file_too_large,
    /// The lock could not be taken within uid_list_lock_settings::timeout.
    lock_timeout,
};

const std::error_category& uid_list_category() noexcept;
std::error_code make_error_code(uid_list_errc e) noexcept;
/// True for the problems after which the list cannot be used at all.
bool is_fatal(uid_list_errc e) noexcept;

/// Bounds of the parser.
struct uid_list_limits {
    /// Longest line in octets, without its '\n'. Dovecot's own lines are a file name (at most 255)
    /// plus a few fields.
    std::size_t max_line = 4096;
    /// Most records; a mailbox with more is refused (too_many_records) rather than renumbered.
    std::size_t max_records = 2'000'000;
    /// Most problems kept in the result (later ones are counted in problems_dropped only).
    std::size_t max_problems = 100;
};

/// One message of the list.
struct uid_list_entry {
    /// IMAP UID, 1..2^32-2.
    std::uint32_t uid = 0;
    /// The Maildir base name (no ':' info).
    std::string base;
    /// W field: size with CRLF line endings, when the list caches it (refmaild writes it for
    /// files whose name has no ,W= and whose content had to be scanned).
    std::optional<std::uint64_t> vsize;
    /// Other extension fields, space-separated, as read ("S123 GABC"); kept so that a list
    /// rewritten by refmaild loses nothing Dovecot put there. Each field starts with 'A'-'Z'.
    /// (Where the IMAP server will keep a per-message MODSEQ if it needs one outside Dovecot's
    /// index: a field of its own key here.)
    std::string extensions;

    bool operator==(const uid_list_entry&) const = default;
};

struct uid_list {
    /// UIDVALIDITY (RFC 3501 section 2.3.1.1); never 0 in a valid list.
    std::uint32_t uid_validity = 0;
    /// The next UID to assign; always above every entry's uid. Only grows.
    std::uint32_t next_uid = 1;
    /// Mailbox GUID (Dovecot's G header field), 16 octets; all zero = none (a list without G, or
    /// with a bad one): write_uid_list_file() then writes a new random one.
    std::array<std::uint8_t, 16> guid{};
    /// Unknown header fields, space-separated, as read; written back after G.
    std::string header_extensions;
    /// Entries, uid strictly ascending, base names unique.
    std::vector<uid_list_entry> entries;

    bool operator==(const uid_list&) const = default;
};

/// One problem: the 1-based line number and what was wrong there.
struct uid_list_problem {
    std::size_t line = 0;
    uid_list_errc code{};
};

struct uid_list_parse_result {
    /// The list as far as it could be read. Meaningful only when `fatal` is unset.
    uid_list list;
    /// Set when the list cannot be used (a fatal uid_list_errc); `list` is then empty.
    std::error_code fatal;
    /// Non-fatal problems, in line order (at most limits.max_problems).
    std::vector<uid_list_problem> problems;
    /// Problems beyond max_problems.
    std::size_t problems_dropped = 0;

    bool ok() const noexcept { return !fatal; }
    /// True when the list read is not exactly what the text said: a writer should rewrite it.
    bool needs_rewrite() const noexcept;
};

/// True when the list has a mailbox GUID (not all zero).
bool has_guid(const uid_list& list) noexcept;

inline bool uid_list_parse_result::needs_rewrite() const noexcept {
    return fatal || !problems.empty() || problems_dropped > 0 || !has_guid(list);
}

/// Incremental parser: put() the text in chunks of any size, then finish(). The result is the
/// same for every way of splitting the text. Never throws on bad input (only std::bad_alloc).
class uid_list_parser {
public:
    explicit uid_list_parser(uid_list_limits limits = {}) : limits_(limits) {}

    /// Feeds more text. Bytes after a fatal problem are ignored.
    void put(std::string_view chunk);

    /// Ends the text and returns the result; the parser is then spent.
    uid_list_parse_result finish();

private:
    void line(std::string_view l);
    void header(std::string_view l);
    void record(std::string_view l);
    void problem(uid_list_errc e);
    void fail(uid_list_errc e);

    uid_list_limits limits_;
    uid_list_parse_result result_;
    std::string partial_;        // the current line so far
    bool skipping_ = false;      // the current line is too long: drop it up to its '\n'
    bool have_header_ = false;
    std::size_t line_no_ = 0;    // lines completed
    std::size_t dropped_ = 0;    // entries superseded by a later duplicate (uid set to 0)
    std::unordered_map<std::string, std::size_t> by_base_;  // base name -> index in entries
};

/// parse_uid_list(text) == a parser fed `text` whole.
uid_list_parse_result parse_uid_list(std::string_view text, const uid_list_limits& limits = {});

/// The text Dovecot would write for `list` (header, then one line per entry; W written from
/// `vsize`, then `extensions`). `list` must be valid (uid_validity != 0, entries ascending, uids
/// below next_uid, names without '\n'); format(parse(format(l))) == format(l).
std::string format_uid_list(const uid_list& list);

/// A new list: UIDVALIDITY = the current time in seconds (as Dovecot), but above `previous`
/// (when a broken list is replaced), next_uid 1, a random GUID.
uid_list new_uid_list(std::uint32_t previous_uid_validity = 0);

/// Settings of the dotlock.
struct uid_list_lock_settings {
    /// Longest wait for a lock held by someone else.
    std::chrono::milliseconds timeout{std::chrono::seconds(10)};
    /// A lock file (and uid list) unchanged for this long is taken over (Dovecot's
    /// MAILDIR_UIDLIST_LOCK_STALE_TIMEOUT is 2 minutes). A lock whose writer is a dead process of
    /// this host is taken over at once.
    std::chrono::seconds stale_timeout{120};
    /// Host written into the lock (Dovecot writes "<pid>:<host>"); empty = gethostname(2).
    std::string hostname;
};

/// Dovecot's `dovecot-uidlist.lock` dotlock: created with O_EXCL, holding "<pid>:<host>".
/// Removed on destruction if it is still ours. Movable.
class uid_list_lock {
public:
    /// Takes the lock of the folder `dir`, waiting up to settings.timeout (then lock_timeout);
    /// other errors are errno values.
    static boost::system::result<uid_list_lock, std::error_code> acquire(const std::filesystem::path& dir,
                                                                         const uid_list_lock_settings& settings = {});

    uid_list_lock(uid_list_lock&&) noexcept = default;
    uid_list_lock& operator=(uid_list_lock&&) noexcept;
    ~uid_list_lock();

    /// Releases now (what the destructor does).
    void release() noexcept;

private:
    uid_list_lock() = default;
    std::filesystem::path path_;
    detail::unique_fd fd_;
};

/// Bounds of read_uid_list_file().
struct uid_list_file_limits : uid_list_limits {
    /// Largest file read (octets); about 100 octets per message.
    std::size_t max_file_size = 256u << 20;
};

/// Reads and parses `<dir>/dovecot-uidlist`. A missing file is an empty optional; a file larger
/// than max_file_size gives a result whose `fatal` is file_too_large. Other errors are errno
/// values. Call it while holding the uid_list_lock.
boost::system::result<std::optional<uid_list_parse_result>, std::error_code> read_uid_list_file(
    const std::filesystem::path& dir, const uid_list_file_limits& limits = {});

/// Writes `list` (with a new random GUID if it has none) to `<dir>/dovecot-uidlist` durably (detail::write_file_durable: temp file in the
/// folder, fsync, rename over the list, fsync the folder). Call it while holding the lock.
/// With durable = false the fsyncs are left out (atomic for readers, survives kill -9 but not a
/// power loss): for changes that lose nothing if rolled back, such as modification sequences.
std::error_code write_uid_list_file(const std::filesystem::path& dir, const uid_list& list, bool durable = true);

}  // namespace mailharness::refmaild::store

template <>
struct std::is_error_code_enum<mailharness::refmaild::store::uid_list_errc> : std::true_type {};

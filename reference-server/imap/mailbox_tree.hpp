// A user's IMAP mailboxes as a Maildir++ tree, the layout Dovecot uses for Maildir: INBOX is the
// Maildir itself; mailbox "a.b" is the directory Maildir/.a.b ('.' is the hierarchy delimiter,
// names are stored in modified UTF-7 as on the wire, as Dovecot does). Subscriptions are in
// Maildir/subscriptions, one name per line (Dovecot reads that format).
// No Asio; blocking file-system calls.
#pragma once

#include <boost/system/result.hpp>

#include <filesystem>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace mailharness::refmaild::imap_store {

inline constexpr char hierarchy_delimiter = '.';

/// The special-use mailboxes created for a new user (RFC 6154), with their attributes.
struct special_use_box {
    std::string_view name;
    std::string_view attribute;
};
inline constexpr special_use_box special_use_boxes[] = {
    {"Drafts", "\\Drafts"}, {"Sent", "\\Sent"}, {"Junk", "\\Junk"}, {"Trash", "\\Trash"}};

/// The \Sent etc. attribute of a mailbox name ("" for none).
std::string_view special_use_of(std::string_view name) noexcept;

/// RFC 3501 6.3.8 LIST pattern match: '*' matches anything, '%' anything but the delimiter.
/// INBOX is matched case-insensitively.
bool list_match(std::string_view pattern, std::string_view name) noexcept;

class mailbox_tree {
public:
    explicit mailbox_tree(std::filesystem::path maildir) : root_(std::move(maildir)) {}

    /// A mailbox name (UTF-8, INBOX already canonical) checked and mapped to its directory.
    /// Errors: invalid_argument (empty part, leading '.', '/', control characters, too long).
    boost::system::result<std::filesystem::path, std::error_code> path_of(std::string_view name) const;

    struct entry {
        std::string name;       ///< UTF-8
        bool selectable = true; ///< false: only implied by a child (\Noselect / \NonExistent)
        bool has_children = false;
    };
    /// Every mailbox (INBOX first), plus parents implied by a child.
    std::vector<entry> list() const;
    bool exists(std::string_view name) const;

    /// CREATE: errors file_exists, invalid_argument.
    std::error_code create(std::string_view name);
    /// DELETE (not INBOX): removes the folder's files and directory. Children stay.
    std::error_code remove(std::string_view name);
    /// RENAME (not INBOX, which the caller handles by moving messages): the mailbox and its
    /// children. Errors: file_exists (target exists), no_such_file_or_directory.
    std::error_code rename(std::string_view from, std::string_view to);

    std::vector<std::string> subscriptions() const;
    std::error_code subscribe(std::string_view name, bool on);

    /// Creates the INBOX and the special-use mailboxes (subscribed) when the Maildir is new.
    std::error_code ensure_defaults();

    const std::filesystem::path& root() const noexcept { return root_; }

private:
    std::error_code write_subscriptions(const std::vector<std::string>& subs);
    std::filesystem::path root_;
};

}  // namespace mailharness::refmaild::imap_store

// Maildir file names: parse and format (https://cr.yp.to/proto/maildir.html, with the extensions
// Dovecot reads and writes; model: Dovecot src/lib-storage/index/maildir/maildir-filename.c and
// maildir-filename-flags.c).
//
//     <base>[:<info>]
//     base = <secs>.<unique>.<host>[,S=<size>][,W=<vsize>][,<other>...]
//     info = 2,<flags>[,<more>]     (flags sorted by ASCII code, each at most once)
//
// The base is the message's identity: it never changes while the message lives; only the info
// (flags) does, by renaming the file. S= is the file size in octets, W= the size with CRLF line
// endings (what IMAP RFC822.SIZE and POP3 LIST report). Flags: D draft, F flagged, R replied
// (\Answered), S seen, T trashed (\Deleted); lower-case a-z are Dovecot keyword letters (their
// names live in dovecot-keywords). Other upper-case letters (e.g. P, passed) are kept as they are.
//
// Nothing here allocates except the formatting functions, nothing throws, and any string is a
// valid input: a name that does not follow the convention is still a message, it just gives no
// size hints, no time and no flags.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace mailharness::refmaild::store {

/// A set of Maildir flag letters: 'A'-'Z' and 'a'-'z'. Value type, constexpr.
class flag_set {
public:
    constexpr flag_set() = default;

    /// True for the letters a set can hold ('A'-'Z', 'a'-'z').
    static constexpr bool is_flag_letter(char c) noexcept {
        return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
    }
    /// The set holding one letter; empty for anything but a flag letter.
    static constexpr flag_set of(char c) noexcept { return flag_set(bit(c)); }

    constexpr bool has(char c) const noexcept { return bit(c) != 0 && (bits_ & bit(c)) != 0; }
    constexpr bool empty() const noexcept { return bits_ == 0; }
    constexpr flag_set& add(flag_set o) noexcept { bits_ |= o.bits_; return *this; }
    constexpr flag_set& remove(flag_set o) noexcept { bits_ &= ~o.bits_; return *this; }
    constexpr flag_set operator|(flag_set o) const noexcept { return flag_set(bits_ | o.bits_); }
    constexpr flag_set operator&(flag_set o) const noexcept { return flag_set(bits_ & o.bits_); }
    constexpr bool operator==(const flag_set&) const noexcept = default;

    /// The letters in ASCII order ("DFRSTab..."), as they appear after ":2,".
    std::string letters() const;

    /// Raw bits: 'A'-'Z' are bits 0-25, 'a'-'z' bits 32-57.
    constexpr std::uint64_t bits() const noexcept { return bits_; }

private:
    constexpr explicit flag_set(std::uint64_t b) noexcept : bits_(b) {}
    static constexpr std::uint64_t bit(char c) noexcept {
        if (c >= 'A' && c <= 'Z') return std::uint64_t{1} << (c - 'A');
        if (c >= 'a' && c <= 'z') return std::uint64_t{1} << (32 + (c - 'a'));
        return 0;
    }
    std::uint64_t bits_ = 0;
};

/// The IMAP system flags (RFC 3501 section 2.3.2) as Maildir letters.
inline constexpr flag_set flag_draft = flag_set::of('D');     ///< \Draft
inline constexpr flag_set flag_flagged = flag_set::of('F');   ///< \Flagged
inline constexpr flag_set flag_replied = flag_set::of('R');   ///< \Answered
inline constexpr flag_set flag_seen = flag_set::of('S');      ///< \Seen
inline constexpr flag_set flag_trashed = flag_set::of('T');   ///< \Deleted

/// Longest name the parser looks into; of a longer name (impossible on Linux, NAME_MAX is 255)
/// only the base is taken, with no fields and no flags.
inline constexpr std::size_t max_maildir_name = 1024;

/// A parsed name. Views point into the string given to parse_maildir_name().
struct maildir_name {
    /// Everything before the first ':' (the whole name when there is none).
    std::string_view base;
    /// `,S=<size>` of the base, when present and well-formed (digits ending at ',' or the end).
    std::optional<std::uint64_t> size;
    /// `,W=<vsize>` of the base, likewise.
    std::optional<std::uint64_t> vsize;
    /// Seconds of the leading time stamp ("1700000000." → 1700000000); 0 when absent.
    std::uint64_t secs = 0;
    /// Microseconds from an `M<usec>` part of the unique part, when present.
    std::optional<std::uint32_t> usecs;
    /// Process id from a `P<pid>` part of the unique part, when present.
    std::optional<std::uint64_t> pid;
    /// True when the unique part has a `Q<n>` (delivery count) part; refmaild writes
    /// `M<usec>P<pid>Q<n>`, Dovecot `M<usec>P<pid>`.
    bool has_delivery_count = false;
    /// Host part: between the second '.' of the base and the first ',' (escaped as in the name:
    /// '/' ':' ',' are \057 \072 \054). Empty when the base has fewer than two dots.
    std::string_view host;
    /// True when the name has a ':' (info part).
    bool has_info = false;
    /// True when the info is "2,<flags>" (experimental "1,..." infos carry no flags).
    bool info_has_flags = false;
    /// The flag letters of a "2," info.
    flag_set flags;
};

/// Parses a Maildir file name (no directory). Never fails: see the file comment.
maildir_name parse_maildir_name(std::string_view name) noexcept;

/// The base of a name: everything before the first ':'.
std::string_view maildir_base(std::string_view name) noexcept;

/// The name with its flags replaced by `flags`: "<base>:2,<flags sorted>". Characters of the old
/// "2," info that are not flag letters, and a ",<more>" after the flags, are kept as Dovecot
/// keeps them (sorted in among the letters, and appended, respectively); a non-"2," info is
/// replaced. set_flags(n, parse_maildir_name(n).flags) for a name from a client of this module
/// gives the name back when it is already in canonical form.
std::string set_flags(std::string_view name, flag_set flags);

/// set_flags() with `add` added to the name's current flags.
std::string add_flags(std::string_view name, flag_set add);

/// set_flags() with `remove` removed from the name's current flags.
std::string remove_flags(std::string_view name, flag_set remove);

/// Dovecot's order for assigning UIDs to new files (maildir_filename_sort_cmp): by the leading
/// seconds, then by M<usec> when both names have it, then by base name. Returns <0, 0, >0.
int maildir_sort_compare(std::string_view a, std::string_view b) noexcept;

}  // namespace mailharness::refmaild::store

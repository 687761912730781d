// Access lists for refmaild: the kill file (who is refused) and the accept file (who may relay
// and is exempt from the per-message and per-session limits). Plain text, one entry per line, '#' starts a comment:
//
//   192.0.2.7            an IPv4 or IPv6 address
//   198.51.100.0/24      a CIDR network (IPv4 or IPv6, e.g. 2001:db8::/32)
//   spam.example         a domain: matches addresses in it and host names equal to it
//   .spam.example        any subdomain of spam.example (not spam.example itself)
//   user@spam.example    one mailbox (local part exact, domain case-insensitive)
//   *@*.bad.example      a wildcard pattern ('*' and '?', fnmatch) over a mailbox or host name
//
// Parsing is sans-I/O and never throws on bad input: bad lines are reported with their number.
#pragma once

#include <array>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace mailharness::refmaild::policy {

/// An IPv4 or IPv6 network. IPv4 is kept as IPv4-mapped IPv6 so that one comparison serves both.
struct ip_network {
    std::array<std::uint8_t, 16> address{};
    unsigned prefix = 128;  ///< in IPv6 bits (an IPv4 /24 is stored as /120)

    /// Parses "192.0.2.1", "192.0.2.0/24", "2001:db8::/32", "::1". nullopt when malformed or when
    /// host bits are set beyond the prefix.
    static std::optional<ip_network> parse(std::string_view text);
    /// True when `ip` (textual IPv4 or IPv6, IPv4-mapped IPv6 accepted) is inside the network.
    bool contains(std::string_view ip) const;
};

/// Parses a textual IP address into the 16-byte form used by ip_network (IPv4 mapped).
std::optional<std::array<std::uint8_t, 16>> parse_ip(std::string_view text);

struct list_problem {
    std::size_t line = 0;
    std::string message;
};

class access_list {
public:
    /// Parses list text. Bad lines are skipped and reported in `problems`.
    static access_list parse(std::string_view text, std::vector<list_problem>* problems = nullptr);
    /// Reads and parses a file; an unreadable file gives an empty list and one problem at line 0.
    static access_list load(const std::filesystem::path& file, std::vector<list_problem>* problems = nullptr);

    /// Client IP listed (address or network)?
    bool matches_ip(std::string_view ip) const;
    /// Mailbox "local@domain" listed (exact mailbox, its domain, a parent-domain entry, or a
    /// wildcard)? Comparison of domains is case-insensitive.
    bool matches_address(std::string_view mailbox) const;
    /// Host name listed (domain entries and wildcards)?
    bool matches_host(std::string_view host) const;

    /// True when some entry can match a host name (domain or wildcard entries): only then is a
    /// client's host name worth looking up.
    bool has_host_entries() const noexcept { return !domains_.empty() || !patterns_.empty(); }

    std::size_t size() const noexcept { return networks_.size() + domains_.size() + mailboxes_.size() + patterns_.size(); }

private:
    bool domain_listed(std::string domain) const;

    std::vector<ip_network> networks_;
    std::vector<std::string> domains_;    // "spam.example" or ".spam.example", lower case
    std::vector<std::string> mailboxes_;  // "user@domain" with the domain lower-cased
    std::vector<std::string> patterns_;   // wildcard patterns, lower case
};

}  // namespace mailharness::refmaild::policy

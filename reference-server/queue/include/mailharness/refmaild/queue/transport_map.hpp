// Transport map: which host receives mail for a recipient domain, and how TLS is used with it.
//
// A text file, one entry per line, '#' starts a comment, blank lines ignored:
//
//     # pattern        next hop                 options
//     example.com      mail.example.net:2525    tls=required
//     .example.com     10.0.0.7:25              tls=opportunistic
//     partner.test     [2001:db8::25]:25
//     *                smarthost.example.net    tls=none
//
// Pattern: a domain (exact match, case-insensitive), ".domain" (any subdomain of domain, not
// domain itself), or "*" (every domain). Lookup order for a domain: its exact entry, then
// ".parent" entries from the longest parent to the shortest, then "*". No entry: the domain's
// MX records are used (dns.hpp).
// Next hop: host[:port] or [IPv6]:port; the port defaults to 25. The host is used as given (no
// MX lookup); a name is resolved to its A/AAAA addresses.
// Options: tls=required (STARTTLS must succeed, certificate verified when queue.tls_verify),
// tls=opportunistic (STARTTLS when offered, no verification, plaintext when not offered),
// tls=none (never STARTTLS). Default: the queue's default_tls setting for MX hops; opportunistic
// here when the entry says nothing (see transport_entry::tls).
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "mailharness/smtp/client_session.hpp"

namespace mailharness::refmaild::queue {

/// STARTTLS policy of a next hop (the SMTP client's type, core/smtp).
using tls_policy = smtp::tls_policy;

std::string_view to_string(tls_policy p) noexcept;

struct transport_entry {
    std::string host;       ///< name or IP literal (IPv6 without brackets)
    std::uint16_t port = 25;
    std::optional<tls_policy> tls;  ///< unset: the entry did not say

    friend bool operator==(const transport_entry&, const transport_entry&) = default;
};

struct transport_problem {
    std::size_t line = 0;  ///< 1-based
    std::string message;
};

class transport_map {
public:
    /// Parses the text of a map. Each bad line is skipped and reported in `problems` (when given).
    static transport_map parse(std::string_view text, std::vector<transport_problem>* problems = nullptr);

    /// Reads and parses `file`; a read error is returned (and the map is empty).
    static transport_map load(const std::filesystem::path& file, std::error_code& ec,
                              std::vector<transport_problem>* problems = nullptr);

    /// The entry for `domain` (any case) in the lookup order above, or nullptr.
    const transport_entry* find(std::string_view domain) const;

    std::size_t size() const noexcept { return exact_.size() + parents_.size() + (any_ ? 1 : 0); }
    bool empty() const noexcept { return size() == 0; }

private:
    std::map<std::string, transport_entry, std::less<>> exact_;    // "example.com"
    std::map<std::string, transport_entry, std::less<>> parents_;  // "example.com" for ".example.com"
    std::optional<transport_entry> any_;
};

}  // namespace mailharness::refmaild::queue

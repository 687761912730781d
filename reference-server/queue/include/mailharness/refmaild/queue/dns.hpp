// MX lookup for the outbound queue (RFC 5321 5.1, RFC 7505), through the system resolver.
//
// parse_mx_response() reads a DNS response packet (RFC 1035 4.1) with libresolv's ns_initparse /
// ns_parserr; it is pure and tested with canned packets. query_mx() sends the query with
// res_nquery() (blocking: call it on a worker thread) and hands the packet to the parser.
// mx_route() turns the answer into the ordered list of hosts to try.
#pragma once

#include <cstdint>
#include <random>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace mailharness::refmaild::queue {

struct mx_record {
    std::uint16_t preference = 0;
    std::string host;  ///< lower case, no trailing dot; "" for the RFC 7505 null MX "."

    friend bool operator==(const mx_record&, const mx_record&) = default;
};

enum class dns_status {
    ok,         ///< NOERROR with at least one MX record
    no_data,    ///< NOERROR, no MX record: the domain itself is the implicit MX (RFC 5321 5.1)
    nxdomain,   ///< the domain does not exist: permanent failure
    temporary,  ///< SERVFAIL, timeout, no answer: retry later
    malformed,  ///< the packet could not be parsed: treated as temporary
};

struct mx_answer {
    dns_status status = dns_status::temporary;
    std::vector<mx_record> records;  ///< in packet order
    std::string error;               ///< what went wrong, for the log and the DSN
};

/// Parses a response to an MX query. Records of other types in the answer section (CNAME, ...)
/// are skipped; a response code other than NOERROR / NXDOMAIN is temporary.
mx_answer parse_mx_response(std::span<const unsigned char> packet);

/// Blocking MX query for `domain` with the system resolver (/etc/resolv.conf), or, when
/// `nameserver` is set ("IPv4[:port]", see valid_nameserver()), with that server only.
mx_answer query_mx(const std::string& domain, const std::string& nameserver = {});

/// True for "a.b.c.d" or "a.b.c.d:port" (port 1..65535).
bool valid_nameserver(std::string_view s) noexcept;

/// Where to deliver mail for a domain, from its MX answer.
struct mx_route {
    enum class kind {
        hosts,      ///< try `hosts` in order
        permanent,  ///< bounce: no such domain, or null MX (RFC 7505)
        temporary,  ///< defer: DNS trouble
    };
    kind result = kind::temporary;
    std::vector<std::string> hosts;
    std::string error;
};

/// Hosts by ascending preference, equal preferences shuffled with `rng` (RFC 5321 5.1: SHOULD
/// randomize); no_data gives the domain itself; nxdomain and a null MX give permanent.
mx_route route_from_mx(const mx_answer& answer, std::string_view domain, std::mt19937& rng);

}  // namespace mailharness::refmaild::queue

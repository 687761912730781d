// POP3 APOP (RFC 1939 section 7): the server's greeting carries a timestamp "<...>", the client
// sends MD5(timestamp + secret) in lowercase hex. The same msg-id style challenge is CRAM-MD5's
// (RFC 2195 section 2).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace mailharness::sasl {

/// Longest timestamp (angle brackets included) that extract_apop_timestamp() accepts.
inline constexpr std::size_t max_apop_timestamp_size = 256;

/// The APOP digest: lowercase hex of MD5(timestamp + secret), 32 characters. `timestamp`
/// includes the angle brackets, exactly as it appeared in the greeting.
std::string apop_digest(std::string_view timestamp, std::string_view secret);

/// Finds the APOP timestamp in a POP3 greeting line ("+OK POP3 server ready <1896.697170952@dbc>").
/// Returns a view into `greeting` from '<' to '>' inclusive, or nullopt when there is none or it
/// is not msg-id shaped: non-empty, printable ASCII without spaces or other angle brackets, one '@'
/// inside, at most max_apop_timestamp_size octets.
std::optional<std::string_view> extract_apop_timestamp(std::string_view greeting) noexcept;

/// Server check of "APOP name digest": true when `client_digest` equals apop_digest(timestamp,
/// secret). Hex digits are compared case-insensitively, in constant time.
bool apop_verify(std::string_view timestamp, std::string_view secret, std::string_view client_digest);

/// Builds a msg-id challenge "<random.timestamp@hostname>" (RFC 1939 section 7, RFC 2195
/// section 2). `random_part` and `hostname` are used as given.
std::string format_msg_id_challenge(std::string_view random_part, std::int64_t timestamp, std::string_view hostname);

/// Same with a random decimal part from OpenSSL's CSPRNG and the current time: the greeting
/// timestamp for a POP3 server that offers APOP.
std::string make_apop_timestamp(std::string_view hostname);

}  // namespace mailharness::sasl

#include "mailharness/sasl/apop.hpp"

#include <chrono>
#include <cstring>

#include "mailharness/sasl/crypto.hpp"

namespace mailharness::sasl {

std::string apop_digest(std::string_view timestamp, std::string_view secret) {
    std::string input;
    input.reserve(timestamp.size() + secret.size());
    input.append(timestamp).append(secret);
    return to_hex(md5(input));
}

std::optional<std::string_view> extract_apop_timestamp(std::string_view greeting) noexcept {
    std::size_t open = greeting.find('<');
    if (open == std::string_view::npos) return std::nullopt;
    std::size_t close = greeting.find('>', open);
    if (close == std::string_view::npos) return std::nullopt;
    std::string_view ts = greeting.substr(open, close - open + 1);
    if (ts.size() > max_apop_timestamp_size || ts.size() < 3) return std::nullopt;
    std::string_view inner = ts.substr(1, ts.size() - 2);
    for (char c : inner) {
        if (c <= ' ' || c > '~' || c == '<') return std::nullopt;
    }
    // Exactly one '@', with something on both sides.
    std::size_t at = inner.find('@');
    if (at == 0 || at == std::string_view::npos || at + 1 == inner.size()) return std::nullopt;
    if (inner.find('@', at + 1) != std::string_view::npos) return std::nullopt;
    return ts;
}

bool apop_verify(std::string_view timestamp, std::string_view secret, std::string_view client_digest) {
    std::string lowered(client_digest);
    for (char& c : lowered) {
        if (c >= 'A' && c <= 'F') c = static_cast<char>(c - 'A' + 'a');
    }
    return constant_time_equal(apop_digest(timestamp, secret), lowered);
}

std::string format_msg_id_challenge(std::string_view random_part, std::int64_t timestamp, std::string_view hostname) {
    std::string out = "<";
    out.append(random_part).append(".").append(std::to_string(timestamp)).append("@").append(hostname).append(">");
    return out;
}

std::string make_apop_timestamp(std::string_view hostname) {
    std::string r = random_bytes(8);
    std::uint64_t n = 0;
    std::memcpy(&n, r.data(), sizeof n);
    auto now = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch());
    return format_msg_id_challenge(std::to_string(n), now.count(), hostname);
}

}  // namespace mailharness::sasl

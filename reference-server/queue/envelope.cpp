#include "mailharness/refmaild/queue/envelope.hpp"

#include <algorithm>
#include <charconv>
#include <cstring>
#include <limits>

namespace mailharness::refmaild::queue {

namespace {

struct envelope_category_impl final : std::error_category {
    const char* name() const noexcept override { return "mailharness.refmaild.queue.envelope"; }
    std::string message(int ev) const override {
        switch (static_cast<envelope_errc>(ev)) {
            case envelope_errc::bad_magic: return "not a queue envelope (bad first line)";
            case envelope_errc::line_too_long: return "envelope line too long";
            case envelope_errc::file_too_big: return "envelope file too big";
            case envelope_errc::too_many_recipients: return "too many recipients in envelope";
            case envelope_errc::unknown_key: return "unknown envelope field";
            case envelope_errc::duplicate_key: return "envelope field given twice";
            case envelope_errc::bad_value: return "malformed envelope field";
            case envelope_errc::missing_field: return "envelope field missing";
            case envelope_errc::truncated: return "envelope truncated";
            case envelope_errc::data_after_end: return "data after the end of the envelope";
        }
        return "unknown envelope error";
    }
};

constexpr std::string_view magic = "refmaild-queue-envelope 1";

// Single-valued keys, one bit each in envelope_parser::seen_.
enum key_bit : std::uint32_t {
    k_id = 1,
    k_created = 2,
    k_next = 4,
    k_attempts = 8,
    k_sender = 16,
    k_arrival = 32,
};
constexpr std::uint32_t required_keys = k_id | k_created | k_next | k_attempts | k_sender;

bool must_encode(unsigned char c) { return c <= 0x20 || c >= 0x7f || c == '%'; }

// Splits `line` on single spaces; false when there are not exactly `n` tokens.
bool split(std::string_view line, std::string_view* out, std::size_t n) {
    std::size_t i = 0;
    while (i < n) {
        auto sp = line.find(' ');
        if (i + 1 == n) {
            if (sp != std::string_view::npos) return false;
            out[i++] = line;
            break;
        }
        if (sp == std::string_view::npos) return false;
        out[i++] = line.substr(0, sp);
        line.remove_prefix(sp + 1);
    }
    return true;
}

template <class T>
bool parse_number(std::string_view s, T& out) {
    if (s.empty() || s.size() > 19 || (s.size() > 1 && s[0] == '0')) return false;
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
    return ec == std::errc{} && p == s.data() + s.size() && out >= 0;
}

// RFC 3463 class.subject.detail with 1-3 digit subject and detail, or empty.
bool valid_status(std::string_view s) {
    if (s.empty()) return true;
    if (s.size() < 5 || (s[0] != '2' && s[0] != '4' && s[0] != '5') || s[1] != '.') return false;
    std::size_t i = 2, digits = 0;
    for (; i < s.size() && s[i] != '.'; ++i, ++digits) {
        if (s[i] < '0' || s[i] > '9') return false;
    }
    if (digits < 1 || digits > 3 || i == s.size()) return false;
    digits = 0;
    for (++i; i < s.size(); ++i, ++digits) {
        if (s[i] < '0' || s[i] > '9') return false;
    }
    return digits >= 1 && digits <= 3;
}

}  // namespace

const std::error_category& envelope_category() noexcept {
    static const envelope_category_impl cat;
    return cat;
}

std::error_code make_error_code(envelope_errc e) noexcept { return {static_cast<int>(e), envelope_category()}; }

bool valid_queue_id(std::string_view id) noexcept {
    if (id.empty() || id.size() > 64) return false;
    return std::all_of(id.begin(), id.end(), [](char c) {
        return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
    });
}

std::string_view to_string(rcpt_state s) noexcept {
    switch (s) {
        case rcpt_state::pending: return "pending";
        case rcpt_state::delivered: return "delivered";
        case rcpt_state::failed: return "failed";
    }
    return "?";
}

std::size_t envelope::pending() const noexcept {
    return static_cast<std::size_t>(std::count_if(recipients.begin(), recipients.end(),
                                                  [](const recipient& r) { return r.state == rcpt_state::pending; }));
}

std::string encode_token(std::string_view s) {
    if (s.empty()) return "-";
    if (s == "-") return "%2D";
    static const char hex[] = "0123456789ABCDEF";
    std::string out;
    out.reserve(s.size());
    for (unsigned char c : s) {
        if (must_encode(c)) {
            out += '%';
            out += hex[c >> 4];
            out += hex[c & 15];
        } else {
            out += static_cast<char>(c);
        }
    }
    return out;
}

bool decode_token(std::string_view s, std::string& out) {
    out.clear();
    if (s == "-") return true;
    if (s.empty()) return false;
    auto hexval = [](char c) -> int {
        if (c >= '0' && c <= '9') return c - '0';
        if (c >= 'A' && c <= 'F') return c - 'A' + 10;
        if (c >= 'a' && c <= 'f') return c - 'a' + 10;
        return -1;
    };
    for (std::size_t i = 0; i < s.size(); ++i) {
        unsigned char c = static_cast<unsigned char>(s[i]);
        if (c == '%') {
            if (i + 2 >= s.size()) return false;
            int hi = hexval(s[i + 1]), lo = hexval(s[i + 2]);
            if (hi < 0 || lo < 0) return false;
            out += static_cast<char>(hi * 16 + lo);
            i += 2;
        } else if (must_encode(c)) {
            return false;
        } else {
            out += static_cast<char>(c);
        }
    }
    return true;
}

std::string serialize(const envelope& e) {
    std::string out;
    out.reserve(256 + e.recipients.size() * 96);
    out += magic;
    out += '\n';
    out += "id " + encode_token(e.id) + '\n';
    out += "created " + std::to_string(e.created) + '\n';
    out += "next-attempt " + std::to_string(e.next_attempt) + '\n';
    out += "attempts " + std::to_string(e.attempts) + '\n';
    out += "sender " + encode_token(e.sender) + '\n';
    if (!e.arrival_from.empty()) out += "arrival-from " + encode_token(e.arrival_from) + '\n';
    for (const auto& r : e.recipients) {
        out += "rcpt ";
        out += to_string(r.state);
        out += ' ' + encode_token(r.mailbox) + ' ' + std::to_string(r.last.code) + ' ' + encode_token(r.last.status) +
               ' ' + encode_token(r.last.remote) + ' ' + encode_token(r.last.diagnostic) + '\n';
    }
    out += "end\n";
    return out;
}

std::size_t envelope_parser::put(std::string_view in, std::error_code& ec) {
    if (error_) {
        ec = error_;
        return 0;
    }
    ec.clear();
    std::size_t consumed = 0;
    auto fail = [&](envelope_errc e) {
        error_ = e;
        ec = error_;
        return consumed;
    };
    while (consumed < in.size()) {
        if (ended_) return fail(envelope_errc::data_after_end);
        std::string_view rest = in.substr(consumed);
        const void* nl = std::memchr(rest.data(), '\n', rest.size());
        std::size_t take = nl ? static_cast<std::size_t>(static_cast<const char*>(nl) - rest.data()) : rest.size();
        if (total_ + take + (nl ? 1 : 0) > limits_.max_size) return fail(envelope_errc::file_too_big);
        if (partial_.size() + take > limits_.max_line) return fail(envelope_errc::line_too_long);
        total_ += take + (nl ? 1 : 0);
        if (!nl) {
            partial_.append(rest);
            consumed = in.size();
            break;
        }
        std::string_view line = rest.substr(0, take);
        std::error_code lec;
        ++line_no_;
        if (partial_.empty()) {
            lec = take_line(line);
        } else {
            partial_.append(line);
            lec = take_line(partial_);
            partial_.clear();
        }
        if (lec) {
            error_ = lec;
            ec = lec;
            return consumed;
        }
        consumed += take + 1;
    }
    return consumed;
}

std::error_code envelope_parser::take_line(std::string_view line) {
    using E = envelope_errc;
    if (line_no_ == 1) return line == magic ? std::error_code{} : E::bad_magic;
    auto sp = line.find(' ');
    std::string_view key = line.substr(0, sp);
    std::string_view value = sp == std::string_view::npos ? std::string_view() : line.substr(sp + 1);
    const bool has_value = sp != std::string_view::npos;

    if (key == "end") {
        if (has_value) return E::bad_value;
        if ((seen_ & required_keys) != required_keys || env_.recipients.empty()) return E::missing_field;
        ended_ = true;
        return {};
    }
    auto once = [&](std::uint32_t bit) -> std::error_code {
        if (seen_ & bit) return E::duplicate_key;
        seen_ |= bit;
        return {};
    };
    auto token = [&](std::string_view t, std::string& out) -> bool {
        return decode_token(t, out) && out.size() <= limits_.max_field;
    };
    if (!has_value) return key == "id" || key == "created" || key == "next-attempt" || key == "attempts" ||
                                   key == "sender" || key == "arrival-from" || key == "rcpt"
                               ? E::bad_value
                               : E::unknown_key;

    if (key == "id") {
        if (auto ec = once(k_id)) return ec;
        if (!token(value, env_.id) || !valid_queue_id(env_.id)) return E::bad_value;
        return {};
    }
    if (key == "created" || key == "next-attempt") {
        if (auto ec = once(key == "created" ? k_created : k_next)) return ec;
        unix_millis& v = key == "created" ? env_.created : env_.next_attempt;
        return parse_number(value, v) ? std::error_code{} : E::bad_value;
    }
    if (key == "attempts") {
        if (auto ec = once(k_attempts)) return ec;
        return parse_number(value, env_.attempts) ? std::error_code{} : E::bad_value;
    }
    if (key == "sender") {
        if (auto ec = once(k_sender)) return ec;
        return token(value, env_.sender) ? std::error_code{} : E::bad_value;
    }
    if (key == "arrival-from") {
        if (auto ec = once(k_arrival)) return ec;
        return token(value, env_.arrival_from) ? std::error_code{} : E::bad_value;
    }
    if (key == "rcpt") {
        if (env_.recipients.size() >= limits_.max_recipients) return E::too_many_recipients;
        std::string_view f[6];
        if (!split(value, f, 6)) return E::bad_value;
        recipient r;
        if (f[0] == "pending") {
            r.state = rcpt_state::pending;
        } else if (f[0] == "delivered") {
            r.state = rcpt_state::delivered;
        } else if (f[0] == "failed") {
            r.state = rcpt_state::failed;
        } else {
            return E::bad_value;
        }
        if (!token(f[1], r.mailbox) || r.mailbox.empty()) return E::bad_value;
        if (!parse_number(f[2], r.last.code) || (r.last.code != 0 && (r.last.code < 200 || r.last.code > 599))) {
            return E::bad_value;
        }
        if (!token(f[3], r.last.status) || !valid_status(r.last.status)) return E::bad_value;
        if (!token(f[4], r.last.remote) || !token(f[5], r.last.diagnostic)) return E::bad_value;
        env_.recipients.push_back(std::move(r));
        return {};
    }
    return E::unknown_key;
}

void envelope_parser::finish(std::error_code& ec) {
    if (error_) {
        ec = error_;
        return;
    }
    if (!ended_) {
        error_ = envelope_errc::truncated;
        ec = error_;
        return;
    }
    ec.clear();
}

std::error_code parse_envelope(std::string_view text, envelope& out, const envelope_limits& limits) {
    envelope_parser p(limits);
    std::error_code ec;
    p.put(text, ec);
    if (!ec) p.finish(ec);
    if (!ec) out = p.release();
    return ec;
}

std::chrono::milliseconds backoff(const retry_schedule& s, std::uint32_t attempts) noexcept {
    const auto cap = std::max(s.max, s.min);
    auto d = std::max(s.min, std::chrono::milliseconds(1));
    for (std::uint32_t i = 1; i < attempts && d < cap; ++i) {
        d = d > cap / 2 ? cap : d * 2;  // never overflows, whatever cap is
    }
    return std::min(d, cap);
}

bool expired(const retry_schedule& s, unix_millis created, unix_millis now) noexcept {
    return now - created >= s.max_lifetime.count();
}

}  // namespace mailharness::refmaild::queue

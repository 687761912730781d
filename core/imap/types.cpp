#include "mailharness/imap/types.hpp"

#include <array>
#include <charconv>

#include "detail/chars.hpp"

namespace mailharness::imap {

using namespace detail;

bool sequence_set::contains(std::uint32_t n, std::uint32_t largest) const noexcept {
    for (const auto& r : ranges) {
        std::uint32_t a = r.first == star ? largest : r.first;
        std::uint32_t b = r.last == star ? largest : r.last;
        if (a > b) std::swap(a, b);
        if (n >= a && n <= b) return true;
    }
    return false;
}

namespace {

bool seq_number(std::string_view s, std::uint32_t& out) {
    if (s == "*") {
        out = star;
        return true;
    }
    if (s.empty() || s[0] == '0') return false;  // nz-number
    return parse_u32(s, out);
}

}  // namespace

std::error_code parse_sequence_set(std::string_view text, sequence_set& out, std::size_t max_ranges) {
    out.ranges.clear();
    if (text.empty()) return errc::invalid_sequence_set;
    while (true) {
        std::size_t comma = text.find(',');
        std::string_view item = text.substr(0, comma);
        if (out.ranges.size() >= max_ranges) return errc::sequence_set_too_large;
        seq_range r;
        std::size_t colon = item.find(':');
        if (colon == std::string_view::npos) {
            if (!seq_number(item, r.first)) return errc::invalid_sequence_set;
            r.last = r.first;
        } else if (!seq_number(item.substr(0, colon), r.first) || !seq_number(item.substr(colon + 1), r.last)) {
            return errc::invalid_sequence_set;
        }
        out.ranges.push_back(r);
        if (comma == std::string_view::npos) break;
        text.remove_prefix(comma + 1);
    }
    return {};
}

void write_sequence_set(std::string& out, const sequence_set& set) {
    auto num = [&out](std::uint32_t n) {
        if (n == star) {
            out.push_back('*');
            return;
        }
        char buf[16];
        auto r = std::to_chars(buf, buf + sizeof buf, n);
        out.append(buf, r.ptr);
    };
    bool first = true;
    for (const auto& r : set.ranges) {
        if (!first) out.push_back(',');
        first = false;
        num(r.first);
        if (r.last != r.first) {
            out.push_back(':');
            num(r.last);
        }
    }
}

namespace {

constexpr std::array<std::string_view, 12> months = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                     "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

bool valid_day(const date& d) {
    static constexpr std::uint8_t days[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (d.month < 1 || d.month > 12 || d.day < 1 || d.day > days[d.month - 1]) return false;
    if (d.month == 2 && d.day == 29) {
        bool leap = (d.year % 4 == 0 && d.year % 100 != 0) || d.year % 400 == 0;
        return leap;
    }
    return true;
}

bool digits(std::string_view s, std::size_t n, unsigned& out) {
    if (s.size() != n) return false;
    out = 0;
    for (char c : s) {
        if (!is_digit(c)) return false;
        out = out * 10 + static_cast<unsigned>(c - '0');
    }
    return true;
}

// "d-Mon-yyyy" with 1 or 2 day digits (date-day), or with a leading space (date-day-fixed).
bool parse_date_text(std::string_view s, date& out, bool allow_space) {
    std::size_t dash = s.find('-');
    if (dash == std::string_view::npos || s.size() != dash + 9 || s[dash + 4] != '-') return false;
    std::string_view day = s.substr(0, dash);
    if (allow_space && day.size() == 2 && day[0] == ' ') day.remove_prefix(1);
    unsigned d = 0, y = 0;
    if (!(digits(day, 1, d) || digits(day, 2, d))) return false;
    std::string_view mon = s.substr(dash + 1, 3);
    unsigned m = 0;
    for (unsigned i = 0; i < months.size(); ++i) {
        if (iequals(mon, months[i])) m = i + 1;
    }
    if (m == 0 || !digits(s.substr(dash + 5), 4, y)) return false;
    out = {static_cast<std::uint16_t>(y), static_cast<std::uint8_t>(m), static_cast<std::uint8_t>(d)};
    return valid_day(out);
}

void two(std::string& out, unsigned v, char pad = '0') {
    out.push_back(v < 10 ? pad : static_cast<char>('0' + v / 10));
    out.push_back(static_cast<char>('0' + v % 10));
}

}  // namespace

std::error_code parse_date(std::string_view text, date& out) {
    date d;
    if (!parse_date_text(text, d, false)) return errc::invalid_date;
    out = d;
    return {};
}

std::error_code parse_date_time(std::string_view text, date_time& out) {
    // date-day-fixed "-" date-month "-" date-year SP time SP zone: 26 octets, or 25 with a one-digit
    // day (sent by some clients although RFC 3501 wants the space).
    if (text.size() != 26 && text.size() != 25) return errc::invalid_date;
    std::size_t date_len = text.size() - 15;
    date_time dt;
    if (!parse_date_text(text.substr(0, date_len), dt.date, true)) return errc::invalid_date;
    std::string_view rest = text.substr(date_len);  // " hh:mm:ss +zzzz"
    unsigned h = 0, m = 0, s = 0, zh = 0, zm = 0;
    if (rest[0] != ' ' || rest[3] != ':' || rest[6] != ':' || rest[9] != ' ' ||
        (rest[10] != '+' && rest[10] != '-') || !digits(rest.substr(1, 2), 2, h) ||
        !digits(rest.substr(4, 2), 2, m) || !digits(rest.substr(7, 2), 2, s) ||
        !digits(rest.substr(11, 2), 2, zh) || !digits(rest.substr(13, 2), 2, zm)) {
        return errc::invalid_date;
    }
    if (h > 23 || m > 59 || s > 60 || zm > 59) return errc::invalid_date;
    dt.hour = static_cast<std::uint8_t>(h);
    dt.minute = static_cast<std::uint8_t>(m);
    dt.second = static_cast<std::uint8_t>(s);
    int zone = static_cast<int>(zh * 60 + zm);
    dt.zone_minutes = static_cast<std::int16_t>(rest[10] == '-' ? -zone : zone);
    out = dt;
    return {};
}

void write_date(std::string& out, const date& d) {
    two(out, d.day);
    out.push_back('-');
    out.append(d.month >= 1 && d.month <= 12 ? months[d.month - 1] : "Jan");
    out.push_back('-');
    char buf[8];
    auto r = std::to_chars(buf, buf + sizeof buf, d.year);
    out.append(4 - std::min<std::size_t>(4, static_cast<std::size_t>(r.ptr - buf)), '0');
    out.append(buf, r.ptr);
}

void write_date_time(std::string& out, const date_time& dt) {
    out.push_back('"');
    two(out, dt.date.day, ' ');
    out.push_back('-');
    out.append(dt.date.month >= 1 && dt.date.month <= 12 ? months[dt.date.month - 1] : "Jan");
    out.push_back('-');
    std::string y;
    write_date(y, {dt.date.year, 1, 1});
    out.append(y.substr(7));
    out.push_back(' ');
    two(out, dt.hour);
    out.push_back(':');
    two(out, dt.minute);
    out.push_back(':');
    two(out, dt.second);
    out.push_back(' ');
    int z = dt.zone_minutes;
    out.push_back(z < 0 ? '-' : '+');
    if (z < 0) z = -z;
    two(out, static_cast<unsigned>(z / 60) % 100);
    two(out, static_cast<unsigned>(z % 60));
    out.push_back('"');
}

bool is_inbox(std::string_view name) noexcept { return iequals(name, "INBOX"); }

bool is_atom(std::string_view s) noexcept { return all_of(s, is_atom_char); }

bool is_flag(std::string_view s) noexcept {
    if (!s.empty() && s[0] == '\\') return is_atom(s.substr(1));
    return is_atom(s);
}

// --- modified UTF-7 (RFC 3501 section 5.1.3) ---

namespace {

constexpr char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,";

int b64_value(char c) {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == ',') return 63;
    return -1;
}

void put_utf8(std::string& out, std::uint32_t cp) {
    if (cp < 0x80) {
        out.push_back(static_cast<char>(cp));
    } else if (cp < 0x800) {
        out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
        out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else if (cp < 0x10000) {
        out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
        out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
        out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else {
        out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
        out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
        out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
        out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    }
}

// Next code point of UTF-8 `s` at `i`; false when ill-formed (overlong, surrogate, > U+10FFFF).
bool next_utf8(std::string_view s, std::size_t& i, std::uint32_t& cp) {
    auto u = [&](std::size_t k) { return static_cast<unsigned char>(s[k]); };
    unsigned char c = u(i);
    std::size_t n = 0;
    if (c < 0x80) {
        cp = c;
        ++i;
        return true;
    }
    if (c >= 0xC2 && c <= 0xDF) {
        n = 1;
        cp = c & 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
        n = 2;
        cp = c & 0x0F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        n = 3;
        cp = c & 0x07;
    } else {
        return false;
    }
    if (i + n >= s.size()) return false;
    for (std::size_t k = 1; k <= n; ++k) {
        if (i + k >= s.size() || (u(i + k) & 0xC0) != 0x80) return false;
        cp = (cp << 6) | (u(i + k) & 0x3F);
    }
    static constexpr std::uint32_t min_cp[] = {0, 0x80, 0x800, 0x10000};
    if (cp < min_cp[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    i += n + 1;
    return true;
}

}  // namespace

std::error_code mutf7_decode(std::string_view in, std::string& out) {
    std::size_t i = 0;
    bool last_was_run = false;
    while (i < in.size()) {
        char c = in[i];
        if (is_8bit(c) || is_ctl(c)) return errc::invalid_mailbox_name;
        if (c != '&') {
            out.push_back(c);
            ++i;
            last_was_run = false;
            continue;
        }
        std::size_t end = in.find('-', i + 1);
        if (end == std::string_view::npos) return errc::invalid_mailbox_name;
        if (end == i + 1) {  // "&-"
            out.push_back('&');
            i = end + 1;
            last_was_run = false;
            continue;
        }
        if (last_was_run) return errc::invalid_mailbox_name;
        std::uint32_t bits = 0;
        int nbits = 0;
        std::uint32_t high = 0;  // pending high surrogate
        bool any_non_ascii = false;
        for (std::size_t k = i + 1; k < end; ++k) {
            int v = b64_value(in[k]);
            if (v < 0) return errc::invalid_mailbox_name;
            bits = (bits << 6) | static_cast<std::uint32_t>(v);
            nbits += 6;
            if (nbits >= 16) {
                nbits -= 16;
                std::uint32_t unit = (bits >> nbits) & 0xFFFF;
                bits &= (1u << nbits) - 1;
                if (high) {
                    if (unit < 0xDC00 || unit > 0xDFFF) return errc::invalid_mailbox_name;
                    put_utf8(out, 0x10000 + ((high - 0xD800) << 10) + (unit - 0xDC00));
                    high = 0;
                    any_non_ascii = true;
                } else if (unit >= 0xD800 && unit <= 0xDBFF) {
                    high = unit;
                } else if (unit >= 0xDC00 && unit <= 0xDFFF) {
                    return errc::invalid_mailbox_name;
                } else {
                    if (unit >= 0x20 && unit <= 0x7E) return errc::invalid_mailbox_name;  // must be direct
                    put_utf8(out, unit);
                    any_non_ascii = true;
                }
            }
        }
        if (high || nbits >= 6 || bits != 0 || !any_non_ascii) return errc::invalid_mailbox_name;
        i = end + 1;
        last_was_run = true;
    }
    return {};
}

std::error_code mutf7_encode(std::string_view in, std::string& out) {
    // Validate first so that nothing is appended on error.
    for (std::size_t i = 0; i < in.size();) {
        std::uint32_t cp = 0;
        if (!next_utf8(in, i, cp)) return errc::invalid_mailbox_name;
    }
    std::size_t i = 0;
    while (i < in.size()) {
        char c = in[i];
        if (c >= 0x20 && c <= 0x7E) {
            out.push_back(c);
            if (c == '&') out.push_back('-');
            ++i;
            continue;
        }
        out.push_back('&');
        std::uint32_t bits = 0;
        int nbits = 0;
        auto unit = [&](std::uint32_t u) {
            bits = (bits << 16) | u;
            nbits += 16;
            while (nbits >= 6) {
                nbits -= 6;
                out.push_back(b64[(bits >> nbits) & 0x3F]);
            }
            bits &= (1u << nbits) - 1;
        };
        while (i < in.size() && !(in[i] >= 0x20 && in[i] <= 0x7E)) {
            std::uint32_t cp = 0;
            next_utf8(in, i, cp);
            if (cp >= 0x10000) {
                cp -= 0x10000;
                unit(0xD800 + (cp >> 10));
                unit(0xDC00 + (cp & 0x3FF));
            } else {
                unit(cp);
            }
        }
        if (nbits > 0) out.push_back(b64[(bits << (6 - nbits)) & 0x3F]);
        out.push_back('-');
    }
    return {};
}

}  // namespace mailharness::imap

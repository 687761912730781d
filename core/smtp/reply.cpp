#include "mailharness/smtp/reply.hpp"

#include "mailharness/smtp/error.hpp"

namespace mailharness::smtp {

namespace {

constexpr bool is_digit(char c) noexcept { return c >= '0' && c <= '9'; }

// 1*3DIGIT without leading zeros beyond a single "0" (RFC 3463 2: subject and detail 0..999).
std::size_t parse_number(std::string_view s, std::uint16_t& v) noexcept {
    std::size_t i = 0;
    v = 0;
    while (i < s.size() && i < 3 && is_digit(s[i])) {
        v = static_cast<std::uint16_t>(v * 10 + (s[i] - '0'));
        ++i;
    }
    if (i < s.size() && is_digit(s[i])) return 0;  // more than three digits
    return i;
}

}  // namespace

std::string enhanced_status::to_string() const {
    if (!present) return {};
    return std::to_string(cls) + '.' + std::to_string(subject) + '.' + std::to_string(detail);
}

std::string reply::text() const {
    std::string r;
    for (std::size_t i = 0; i < lines.size(); ++i) {
        if (i) r.push_back('\n');
        r.append(lines[i]);
    }
    return r;
}

std::size_t parse_enhanced_status(std::string_view t, enhanced_status& out, int reply_class) noexcept {
    out = {};
    if (t.size() < 5 || (t[0] != '2' && t[0] != '4' && t[0] != '5') || t[1] != '.') return 0;
    if (reply_class != 0 && t[0] - '0' != reply_class) return 0;
    std::size_t pos = 2;
    std::uint16_t subject = 0, detail = 0;
    std::size_t n = parse_number(t.substr(pos), subject);
    if (n == 0) return 0;
    pos += n;
    if (pos >= t.size() || t[pos] != '.') return 0;
    ++pos;
    n = parse_number(t.substr(pos), detail);
    if (n == 0) return 0;
    pos += n;
    if (pos < t.size() && t[pos] != ' ') return 0;
    out = {static_cast<std::uint8_t>(t[0] - '0'), subject, detail, true};
    return pos < t.size() ? pos + 1 : pos;
}

void append_reply(std::string& out, int code, enhanced_status status, std::string_view text) {
    const std::string code_text = std::to_string(code);
    const std::string st = status.to_string();
    std::size_t pos = 0;
    do {
        std::size_t nl = text.find('\n', pos);
        bool last = nl == std::string_view::npos;
        std::string_view line = text.substr(pos, last ? std::string_view::npos : nl - pos);
        if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
        out.append(code_text);
        out.push_back(last ? ' ' : '-');
        if (!st.empty()) {
            out.append(st);
            if (!line.empty()) out.push_back(' ');
        }
        out.append(line);
        out.append("\r\n");
        pos = last ? text.size() + 1 : nl + 1;
    } while (pos <= text.size());
}

std::string format_reply(int code, enhanced_status status, std::string_view text) {
    std::string out;
    append_reply(out, code, status, text);
    return out;
}

std::string serialize(const reply& r) {
    std::string joined = r.text();
    return format_reply(r.code, r.status, joined);
}

reply_parser::reply_parser(reply_limits limits)
    : limits_(limits), framer_({.max_line_length = limits.max_line_length}) {}

void reply_parser::next() {
    reply_ = reply{};
    done_ = false;
    status_on_all_ = true;
    line_status_.clear();
}

reply reply_parser::release() {
    reply r = std::move(reply_);
    next();
    return r;
}

std::error_code reply_parser::take_line(std::string_view line) {
    if (line.size() < 3 || !is_digit(line[0]) || !is_digit(line[1]) || !is_digit(line[2]) ||
        line[0] < '2' || line[0] > '5' || line[1] > '5') {
        return errc::invalid_reply;
    }
    int code = (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
    bool last;
    std::string_view text;
    if (line.size() == 3) {
        last = true;
    } else if (line[3] == ' ' || line[3] == '-') {
        last = line[3] == ' ';
        text = line.substr(4);
    } else {
        return errc::invalid_reply;
    }
    if (reply_.lines.empty()) {
        reply_.code = code;
    } else if (reply_.code != code) {
        return errc::inconsistent_reply;
    }
    if (reply_.lines.size() >= limits_.max_lines) return errc::reply_too_long;
    enhanced_status st;
    parse_enhanced_status(text, st, code / 100);
    if (!st.present) status_on_all_ = false;
    line_status_.push_back(st);
    reply_.lines.emplace_back(text);
    if (last) {
        // Strip statuses only when every line has one, so that EHLO keyword lines that happen
        // to look like "2.0.0" are not mangled in replies that otherwise carry none.
        if (status_on_all_) {
            reply_.status = line_status_.front();
            for (auto& l : reply_.lines) {
                enhanced_status tmp;
                l.erase(0, parse_enhanced_status(l, tmp, code / 100));
            }
        }
        done_ = true;
    }
    return {};
}

std::size_t reply_parser::put(std::string_view in, std::error_code& ec) {
    ec.clear();
    std::size_t consumed = 0;
    while (!done_ && consumed < in.size()) {
        std::error_code lec;
        consumed += framer_.put(in.substr(consumed), lec);
        if (lec == line_errc::line_too_long) {
            ec = errc::reply_too_long;
            return consumed;
        }
        if (!framer_.has_line()) continue;
        if (lec == line_errc::bare_lf) ++bare_lf_count_;
        ec = take_line(framer_.line());
        if (ec) return consumed;
    }
    return consumed;
}

}  // namespace mailharness::smtp

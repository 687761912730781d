#include <algorithm>

#include "detail/ascii.hpp"
#include "detail/resp_code.hpp"
#include "mailharness/pop3/response.hpp"

namespace mailharness::pop3 {

namespace {

// While waiting for a status line we cannot know yet whether it is "+OK"/"-ERR" (bounded by
// max_status_line_length) or a SASL continuation (bounded by max_line_length).
line_limits status_phase_limits(const response_limits& l) noexcept {
    return {.max_line_length = std::max(l.max_status_line_length, l.max_line_length)};
}

}  // namespace

std::error_code parse_status_line(std::string_view line, status_line& out) {
    out = status_line{};
    std::string_view rest;
    if (line.starts_with("+OK") && (line.size() == 3 || line[3] == ' ')) {
        out.status = status::ok;
        rest = line.substr(std::min<std::size_t>(4, line.size()));
    } else if (line.starts_with("-ERR") && (line.size() == 4 || line[4] == ' ')) {
        out.status = status::err;
        rest = line.substr(std::min<std::size_t>(5, line.size()));
    } else if (line.starts_with("+") && (line.size() == 1 || line[1] == ' ')) {
        out.status = status::continuation;
        rest = line.substr(std::min<std::size_t>(2, line.size()));
    } else {
        return errc::invalid_status;
    }
    if (std::any_of(line.begin(), line.end(), [](char c) { return c == '\0' || c == '\r'; })) {
        out = status_line{};
        return errc::invalid_character;
    }
    if (out.status != status::continuation && rest.starts_with('[')) {
        std::size_t close = rest.find(']');
        if (close != std::string_view::npos && (close + 1 == rest.size() || rest[close + 1] == ' ')) {
            std::string_view code = rest.substr(1, close - 1);
            if (detail::valid_resp_code(code)) {
                out.resp_code = code;
                rest = rest.substr(std::min(close + 2, rest.size()));
            }
        }
    }
    out.text = rest;
    return {};
}

std::vector<std::string_view> resp_code_levels(std::string_view resp_code) {
    std::vector<std::string_view> levels;
    if (resp_code.empty()) return levels;
    for (;;) {
        std::size_t slash = resp_code.find('/');
        levels.push_back(resp_code.substr(0, slash));
        if (slash == std::string_view::npos) break;
        resp_code.remove_prefix(slash + 1);
    }
    return levels;
}

std::string_view apop_timestamp(std::string_view text) noexcept {
    std::size_t from = 0;
    for (;;) {
        std::size_t lt = text.find('<', from);
        if (lt == std::string_view::npos) return {};
        std::size_t gt = text.find('>', lt);
        if (gt == std::string_view::npos) return {};
        std::string_view id = text.substr(lt, gt - lt + 1);
        // A msg-id has an "@" and no spaces; "<" inside means the candidate started too early.
        std::string_view inner = id.substr(1, id.size() - 2);
        if (inner.find('@') != std::string_view::npos && inner.find_first_of(" <") == std::string_view::npos) {
            return id;
        }
        from = lt + 1;
    }
}

std::vector<std::string_view> body_lines(std::string_view body) {
    std::vector<std::string_view> lines;
    while (!body.empty()) {
        std::size_t end = body.find("\r\n");
        lines.push_back(body.substr(0, end));
        if (end == std::string_view::npos) break;
        body.remove_prefix(end + 2);
    }
    return lines;
}

response_parser::response_parser(response_limits limits)
    : limits_(limits), framer_(status_phase_limits(limits)) {}

void response_parser::start(expect e) {
    res_ = response{};
    scratch_.clear();
    chunk_ = {};
    error_.clear();
    line_length_ = 0;
    at_line_start_ = true;
    expect_ = e;
    state_ = state::status_line;
    framer_.reset();
    framer_.set_limits(status_phase_limits(limits_));
}

response response_parser::release() {
    response r = std::move(res_);
    res_ = response{};
    chunk_ = {};
    state_ = state::done;
    return r;
}

std::size_t response_parser::fail(std::size_t consumed, errc e, std::error_code& ec) {
    state_ = state::failed;
    error_ = e;
    ec = e;
    chunk_ = {};
    return consumed;
}

std::size_t response_parser::put(std::string_view in, std::error_code& ec) {
    ec.clear();
    chunk_ = {};
    scratch_.clear();
    if (state_ == state::done) return 0;
    if (state_ == state::failed) {
        ec = error_;
        return 0;
    }
    if (in.empty()) return 0;

    std::error_code fec;
    std::size_t n = framer_.put(in, fec);
    if (fec == line_errc::line_too_long) return fail(n, errc::line_too_long, ec);
    if (!framer_.has_line()) return n;

    bool bare_lf = fec == line_errc::bare_lf;
    if (bare_lf) {
        res_.bare_lf = true;
        if (limits_.reject_bare_lf) return fail(n, errc::bare_lf, ec);
    }
    std::error_code e = state_ == state::status_line ? on_status_line(framer_.line())
                                                     : on_body_segment(framer_.line(), bare_lf);
    if (e) return fail(n, static_cast<errc>(e.value()), ec);
    return n;
}

std::error_code response_parser::on_status_line(std::string_view line) {
    status_line sl;
    if (auto e = parse_status_line(line, sl)) return e;
    if (sl.status != status::continuation && line.size() > limits_.max_status_line_length) {
        return errc::line_too_long;
    }
    res_.status = sl.status;
    res_.resp_code.assign(sl.resp_code);
    res_.text.assign(sl.text);
    if (expect_ == expect::multi_line && sl.status == status::ok) {
        res_.multi_line = true;
        state_ = state::body;
        framer_.set_limits({.max_line_length = limits_.max_line_length});
    } else {
        state_ = state::done;
    }
    return {};
}

std::error_code response_parser::on_body_segment(std::string_view segment, bool bare_lf) {
    // RFC 1939 section 3: a line of "." alone ends the body; otherwise a leading "." is removed.
    // A segment is a whole line, or the part of one before a bare LF (which does not end a line).
    if (at_line_start_ && !bare_lf && segment == ".") {
        state_ = state::done;
        return {};
    }
    std::string_view data = segment;
    if (at_line_start_ && data.starts_with('.')) data.remove_prefix(1);

    line_length_ += segment.size();
    if (line_length_ > limits_.max_line_length) return errc::line_too_long;
    std::string_view ending = bare_lf ? std::string_view("\n") : std::string_view("\r\n");
    std::size_t size = data.size() + ending.size();
    if (size > limits_.max_body_size - res_.body_size) return errc::body_too_large;

    std::string& target = limits_.keep_body ? res_.body : scratch_;
    std::size_t from = target.size();
    target.append(data);
    target.append(ending);
    chunk_ = std::string_view(target).substr(from);
    res_.body_size += size;

    if (bare_lf) {
        line_length_ += 1;  // the LF is part of the line's content
        at_line_start_ = false;
    } else {
        ++res_.body_line_count;
        line_length_ = 0;
        at_line_start_ = true;
    }
    return {};
}

}  // namespace mailharness::pop3

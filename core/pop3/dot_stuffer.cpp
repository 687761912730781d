#include "mailharness/pop3/dot_stuffer.hpp"

namespace mailharness::pop3 {

void dot_stuffer::reset(std::optional<std::uint32_t> top_lines) noexcept {
    top_ = top_lines;
    body_left_ = top_lines.value_or(0);
    in_header_ = true;
    at_line_start_ = true;
    pending_cr_ = false;
    done_ = false;
}

void dot_stuffer::content(std::string_view s, std::string& out) {
    if (s.empty()) return;
    if (at_line_start_ && s.front() == '.') out.push_back('.');
    at_line_start_ = false;
    out.append(s);
}

void dot_stuffer::end_line(std::string& out) {
    out.append("\r\n");
    const bool empty = at_line_start_;
    at_line_start_ = true;
    if (!top_) return;
    if (in_header_) {
        // The first empty line ends the header; TOP n then wants n more lines.
        if (empty) {
            in_header_ = false;
            done_ = body_left_ == 0;
        }
    } else if (--body_left_ == 0) {
        done_ = true;
    }
}

bool dot_stuffer::write(std::string_view data, std::string& out) {
    std::size_t i = 0;
    const std::size_t n = data.size();
    while (i < n && !done_) {
        if (pending_cr_) {
            pending_cr_ = false;
            if (data[i] == '\n') {
                ++i;
                end_line(out);
                continue;
            }
            content("\r", out);  // a CR on its own is data
        }
        const std::size_t j = data.find_first_of("\r\n", i);
        if (j == std::string_view::npos) {
            content(data.substr(i), out);
            break;
        }
        content(data.substr(i, j - i), out);
        if (data[j] == '\n') {
            end_line(out);
            i = j + 1;
        } else if (j + 1 == n) {
            pending_cr_ = true;  // its LF may start the next chunk
            i = n;
        } else if (data[j + 1] == '\n') {
            end_line(out);
            i = j + 2;
        } else {
            content("\r", out);
            i = j + 1;
        }
    }
    return !done_;
}

void dot_stuffer::finish(std::string& out) {
    if (!done_ && (pending_cr_ || !at_line_start_)) out.append("\r\n");
    out.append(".\r\n");
    reset(top_);
}

std::string dot_stuff(std::string_view message, std::optional<std::uint32_t> top_lines) {
    std::string out;
    dot_stuffer d(top_lines);
    d.write(message, out);
    d.finish(out);
    return out;
}

}  // namespace mailharness::pop3

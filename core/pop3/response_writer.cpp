#include <algorithm>

#include "detail/ascii.hpp"
#include "detail/resp_code.hpp"
#include "mailharness/pop3/response.hpp"

namespace mailharness::pop3 {

std::error_code write_status(std::string& out, status st, std::string_view text, std::string_view resp_code) {
    if (std::any_of(text.begin(), text.end(), detail::breaks_line)) return errc::invalid_argument;
    if (st == status::continuation) {
        if (!resp_code.empty()) return errc::invalid_argument;
        out.append("+ ");
        out.append(text);
        out.append("\r\n");
        return {};
    }
    if (st != status::ok && st != status::err) return errc::invalid_argument;
    if (!resp_code.empty() && !detail::valid_resp_code(resp_code)) return errc::invalid_argument;

    std::string_view indicator = st == status::ok ? "+OK" : "-ERR";
    std::size_t length = indicator.size() + (resp_code.empty() ? 0 : resp_code.size() + 3) +
                         (text.empty() ? 0 : text.size() + 1);
    if (length > 510) return errc::line_too_long;  // 512 with CRLF, RFC 1939 section 3
    out.append(indicator);
    if (!resp_code.empty()) {
        out.append(" [");
        out.append(resp_code);
        out.push_back(']');
    }
    if (!text.empty()) {
        out.push_back(' ');
        out.append(text);
    }
    out.append("\r\n");
    return {};
}

void body_writer::write(std::string& out, std::string_view data) {
    while (!data.empty()) {
        if (pending_cr_) {
            pending_cr_ = false;
            if (data.front() == '\n') {
                out.append("\r\n");
                at_line_start_ = true;
                data.remove_prefix(1);
                continue;
            }
            out.push_back('\r');  // a CR not followed by LF is data
            at_line_start_ = false;
        }
        if (at_line_start_ && data.front() == '.') out.push_back('.');

        std::size_t lf = data.find('\n');
        std::string_view line = data.substr(0, lf);
        bool ends = lf != std::string_view::npos;
        // A CR right before the LF (or at the end of this piece, where its LF may follow in the
        // next piece) is part of the line ending, not data.
        bool cr = !line.empty() && line.back() == '\r';
        if (cr) line.remove_suffix(1);
        out.append(line);
        if (ends) {
            out.append("\r\n");
            at_line_start_ = true;
            data.remove_prefix(lf + 1);
        } else {
            if (!line.empty()) at_line_start_ = false;
            pending_cr_ = cr;
            data = {};
        }
    }
}

void body_writer::finish(std::string& out) {
    // A CR at the very end is taken as the end of the last line.
    if (pending_cr_ || !at_line_start_) out.append("\r\n");
    out.append(".\r\n");
    at_line_start_ = true;
    pending_cr_ = false;
}

void write_body(std::string& out, std::string_view body) {
    body_writer w;
    w.write(out, body);
    w.finish(out);
}

}  // namespace mailharness::pop3

#include "mailharness/refmaild/queue/dsn.hpp"

#include <ctime>

namespace mailharness::refmaild::queue {

namespace {

constexpr std::string_view crlf = "\r\n";

// Printable US-ASCII only: everything else (CR, LF, controls, 8-bit) becomes a space or '?'.
std::string ascii_text(std::string_view s) {
    std::string out;
    out.reserve(s.size());
    for (unsigned char c : s) {
        if (c == '\n' || c == '\r' || c == '\t') {
            if (!out.empty() && out.back() != ' ') out += ' ';
        } else if (c < 0x20 || c >= 0x7f) {
            out += '?';
        } else {
            out += static_cast<char>(c);
        }
    }
    while (!out.empty() && out.back() == ' ') out.pop_back();
    return out;
}

// "Name: value" folded at spaces to stay near 78 characters a line (RFC 5322 2.2.3).
void add_field(std::string& out, std::string_view name, std::string_view value) {
    std::string line = std::string(name) + ": ";
    std::size_t line_len = line.size();
    out += line;
    std::size_t i = 0;
    bool first = true;
    while (i < value.size()) {
        auto sp = value.find(' ', i);
        std::string_view word = value.substr(i, sp == std::string_view::npos ? std::string_view::npos : sp - i);
        i = sp == std::string_view::npos ? value.size() : sp + 1;
        if (word.empty()) continue;
        if (!first && line_len + 1 + word.size() > 78) {
            out += "\r\n ";
            line_len = 1;
        } else if (!first) {
            out += ' ';
            ++line_len;
        }
        out += word;
        line_len += word.size();
        first = false;
    }
    out += crlf;
}

std::string reply_text(const last_reply& r) {
    std::string s;
    if (r.code) s += std::to_string(r.code);
    if (!r.status.empty()) s += (s.empty() ? "" : " ") + r.status;
    if (!r.diagnostic.empty()) s += (s.empty() ? "" : " ") + r.diagnostic;
    return ascii_text(s);
}

}  // namespace

std::string rfc5322_date(unix_millis t) {
    static const char* days[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    static const char* months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    std::time_t secs = static_cast<std::time_t>(t / 1000);
    std::tm tm{};
    ::gmtime_r(&secs, &tm);
    char buf[64];
    std::snprintf(buf, sizeof buf, "%s, %02d %s %04d %02d:%02d:%02d +0000", days[tm.tm_wday % 7], tm.tm_mday,
                  months[tm.tm_mon % 12], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
    return buf;
}

std::string_view header_section(std::string_view message) noexcept {
    if (message.starts_with("\r\n")) return {};
    auto end = message.find("\r\n\r\n");
    return end == std::string_view::npos ? message : message.substr(0, end + 2);
}

std::string dsn_status(const dsn_recipient& r) {
    const std::string& s = r.last.status;
    if (r.expired) return !s.empty() && s[0] == '4' ? s : std::string("4.4.7");
    if (!s.empty() && s[0] == '5') return s;
    return "5.0.0";
}

std::string make_dsn(const dsn_params& p) {
    std::string_view headers = header_section(p.original);
    if (headers.size() > p.max_attached_headers) {
        headers = headers.substr(0, p.max_attached_headers);
        auto last = headers.rfind("\r\n");
        headers = last == std::string_view::npos ? std::string_view() : headers.substr(0, last + 2);
    }
    std::string boundary = "refmaild-dsn-" + p.queue_id;
    while (headers.find(boundary) != std::string_view::npos) boundary += "-x";
    const std::string mta = ascii_text(p.reporting_mta);

    std::string out;
    add_field(out, "From", "Mail Delivery System <MAILER-DAEMON@" + mta + ">");
    add_field(out, "To", "<" + ascii_text(p.sender) + ">");
    add_field(out, "Subject", "Undelivered Mail Returned to Sender");
    add_field(out, "Date", rfc5322_date(p.now));
    add_field(out, "Message-ID", "<" + ascii_text(p.queue_id) + ".dsn@" + mta + ">");
    add_field(out, "Auto-Submitted", "auto-replied");  // RFC 3834: no auto-replies to this
    add_field(out, "X-Queue-ID", ascii_text(p.queue_id));
    add_field(out, "MIME-Version", "1.0");
    out += "Content-Type: multipart/report; report-type=delivery-status;\r\n\tboundary=\"" + boundary + "\"\r\n";
    out += crlf;
    out += "This is a MIME-encapsulated message.\r\n\r\n";

    // 1. For people.
    out += "--" + boundary + "\r\n";
    out += "Content-Type: text/plain; charset=us-ascii\r\n";
    out += "Content-Description: Notification\r\n\r\n";
    out += "This is the mail system at host " + mta + ".\r\n\r\n";
    out += "Your message could not be delivered to one or more recipients. Its header\r\n";
    out += "section is attached below.\r\n\r\n";
    for (const auto& r : p.failed) {
        std::string why = reply_text(r.last);
        if (r.expired) why = "gave up after retrying for too long" + (why.empty() ? std::string() : "; last error: " + why);
        out += "<" + ascii_text(r.mailbox) + ">";
        if (!r.last.remote.empty()) out += " (host " + ascii_text(r.last.remote) + ")";
        out += ": " + (why.empty() ? std::string("delivery failed") : why) + "\r\n";
    }
    out += crlf;

    // 2. For programs (RFC 3464 2.2, 2.3).
    out += "--" + boundary + "\r\n";
    out += "Content-Type: message/delivery-status\r\n";
    out += "Content-Description: Delivery report\r\n\r\n";
    add_field(out, "Reporting-MTA", "dns; " + mta);
    add_field(out, "X-Queue-ID", ascii_text(p.queue_id));
    if (!p.arrival_from.empty()) add_field(out, "X-Arrival-From", ascii_text(p.arrival_from));
    if (p.arrival) add_field(out, "Arrival-Date", rfc5322_date(p.arrival));
    for (const auto& r : p.failed) {
        out += crlf;
        add_field(out, "Final-Recipient", "rfc822; " + ascii_text(r.mailbox));
        add_field(out, "Action", "failed");
        add_field(out, "Status", dsn_status(r));
        if (!r.last.remote.empty()) add_field(out, "Remote-MTA", "dns; " + ascii_text(r.last.remote));
        if (r.last.code != 0 && !r.last.remote.empty()) {
            add_field(out, "Diagnostic-Code", "smtp; " + reply_text(r.last));
        } else if (!r.last.diagnostic.empty()) {
            add_field(out, "Diagnostic-Code", "X-refmaild; " + ascii_text(r.last.diagnostic));
        }
        add_field(out, "Last-Attempt-Date", rfc5322_date(p.now));
    }
    out += crlf;

    // 3. The original header section.
    out += "--" + boundary + "\r\n";
    out += "Content-Type: text/rfc822-headers\r\n";
    out += "Content-Description: Undelivered Message Headers\r\n\r\n";
    out += headers;
    if (!headers.empty() && !headers.ends_with("\r\n")) out += crlf;
    out += crlf;
    out += "--" + boundary + "--\r\n";
    return out;
}

}  // namespace mailharness::refmaild::queue

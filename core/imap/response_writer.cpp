#include "mailharness/imap/response_writer.hpp"

#include <charconv>

#include "detail/chars.hpp"

namespace mailharness::imap {

using namespace detail;

std::string_view to_string(status s) noexcept {
    switch (s) {
        case status::none: return "";
        case status::ok: return "OK";
        case status::no: return "NO";
        case status::bad: return "BAD";
        case status::preauth: return "PREAUTH";
        case status::bye: return "BYE";
    }
    return "";
}

namespace {
bool line_safe(std::string_view s) { return s.find_first_of(std::string_view("\r\n\0", 3)) == std::string_view::npos; }
}  // namespace

std::error_code write_status(std::string& out, std::string_view tag, status st, std::string_view code,
                             std::string_view text) {
    if (st == status::none || !line_safe(code) || !line_safe(text) || code.find(']') != std::string_view::npos)
        return errc::invalid_argument;
    if (!tag.empty() && !all_of(tag, is_tag_char)) return errc::invalid_argument;
    if (tag.empty() ? false : (st == status::preauth || st == status::bye)) return errc::invalid_argument;
    out.append(tag.empty() ? "*" : tag);
    out.push_back(' ');
    out.append(to_string(st));
    if (!code.empty()) {
        out.append(" [");
        out.append(code);
        out.push_back(']');
    }
    out.push_back(' ');
    out.append(text.empty() ? to_string(st) : text);
    out.append("\r\n");
    return {};
}

std::error_code write_untagged(std::string& out, std::string_view text) {
    if (!line_safe(text)) return errc::invalid_argument;
    out.append("* ");
    out.append(text);
    out.append("\r\n");
    return {};
}

std::error_code write_continuation(std::string& out, std::string_view text) {
    if (!line_safe(text)) return errc::invalid_argument;
    out.append("+ ");
    out.append(text);
    out.append("\r\n");
    return {};
}

void write_number(std::string& out, std::uint64_t n) {
    char buf[24];
    auto r = std::to_chars(buf, buf + sizeof buf, n);
    out.append(buf, r.ptr);
}

void write_literal_header(std::string& out, std::uint64_t size) {
    out.push_back('{');
    write_number(out, size);
    out.append("}\r\n");
}

void write_literal(std::string& out, std::string_view s) {
    write_literal_header(out, s.size());
    out.append(s);
}

void write_string(std::string& out, std::string_view s) {
    bool quotable = s.size() <= 1024;
    for (std::size_t i = 0; quotable && i < s.size(); ++i) quotable = !is_ctl(s[i]) && !is_8bit(s[i]);
    if (!quotable) {
        write_literal(out, s);
        return;
    }
    out.push_back('"');
    for (char c : s) {
        if (c == '"' || c == '\\') out.push_back('\\');
        out.push_back(c);
    }
    out.push_back('"');
}

void write_astring(std::string& out, std::string_view s) {
    if (all_of(s, is_astring_char) && !iequals(s, "NIL")) {
        out.append(s);
        return;
    }
    write_string(out, s);
}

void write_nstring(std::string& out, const std::optional<std::string_view>& s) {
    if (!s) {
        out.append("NIL");
        return;
    }
    write_string(out, *s);
}

std::error_code write_mailbox(std::string& out, std::string_view utf8_name, bool utf8) {
    if (is_inbox(utf8_name)) {
        out.append("INBOX");
        return {};
    }
    std::string enc;
    if (utf8) {
        std::string check;
        if (auto ec = mutf7_encode(utf8_name, check)) return ec;
        enc.assign(utf8_name);
    } else if (auto ec = mutf7_encode(utf8_name, enc)) {
        return ec;
    }
    write_astring(out, enc);
    return {};
}

void write_flag_list(std::string& out, std::span<const std::string_view> flags) {
    out.push_back('(');
    for (std::size_t i = 0; i < flags.size(); ++i) {
        if (i) out.push_back(' ');
        out.append(flags[i]);
    }
    out.push_back(')');
}

void write_flag_list(std::string& out, std::initializer_list<std::string_view> flags) {
    write_flag_list(out, std::span<const std::string_view>(flags.begin(), flags.size()));
}

void write_value(std::string& out, const value& v) {
    switch (v.type) {
        case value::kind::nil: out.append("NIL"); return;
        case value::kind::number: write_number(out, v.number); return;
        case value::kind::string: write_string(out, v.text); return;
        case value::kind::atom: out.append(v.text); return;
        case value::kind::list:
            out.push_back('(');
            for (std::size_t i = 0; i < v.items.size(); ++i) {
                if (i) out.push_back(' ');
                write_value(out, v.items[i]);
            }
            out.push_back(')');
            return;
    }
}

namespace {

value address_list(const std::vector<address>& list) {
    if (list.empty()) return value::nil();
    std::vector<value> items;
    for (const auto& a : list)
        items.push_back(value::list({value::nstr(a.name), value::nstr(a.adl), value::nstr(a.mailbox), value::nstr(a.host)}));
    return value::list(std::move(items));
}

value params(const std::vector<std::pair<std::string, std::string>>& p) {
    if (p.empty()) return value::nil();
    std::vector<value> items;
    for (const auto& [k, v] : p) {
        items.push_back(value::str(k));
        items.push_back(value::str(v));
    }
    return value::list(std::move(items));
}

}  // namespace

value to_value(const envelope& e) {
    return value::list({value::nstr(e.date), value::nstr(e.subject), address_list(e.from),
                        address_list(e.sender.empty() ? e.from : e.sender),
                        address_list(e.reply_to.empty() ? e.from : e.reply_to), address_list(e.to), address_list(e.cc),
                        address_list(e.bcc), value::nstr(e.in_reply_to), value::nstr(e.message_id)});
}

value to_value(const body_part& b, bool extensible) {
    std::vector<value> items;
    auto extension = [&](bool multipart) {
        if (!extensible) return;
        if (!multipart) items.push_back(value::nstr(b.md5));
        if (b.disposition)
            items.push_back(value::list({value::str(b.disposition->first), params(b.disposition->second)}));
        else
            items.push_back(value::nil());
        if (!b.languages.empty()) {
            std::vector<value> langs;
            for (const auto& l : b.languages) langs.push_back(value::str(l));
            items.push_back(value::list(std::move(langs)));
        } else {
            items.push_back(value::nstr(b.language));
        }
        if (b.location || b.send_location) items.push_back(value::nstr(b.location));
    };
    if (iequals(b.type, "multipart")) {
        for (const auto& p : b.parts) items.push_back(to_value(p, extensible));
        items.push_back(value::str(b.subtype));
        if (extensible) items.push_back(params(b.params));
        extension(true);
        return value::list(std::move(items));
    }
    items = {value::str(b.type), value::str(b.subtype), params(b.params), value::nstr(b.id), value::nstr(b.description),
             value::str(b.encoding), value::num(b.size)};
    if (iequals(b.type, "message") && iequals(b.subtype, "rfc822")) {
        items.push_back(to_value(b.message_envelope.value_or(envelope{})));
        items.push_back(b.parts.empty() ? to_value(body_part{}, extensible) : to_value(b.parts.front(), extensible));
        items.push_back(value::num(b.lines));
    } else if (iequals(b.type, "text")) {
        items.push_back(value::num(b.lines));
    }
    extension(false);
    return value::list(std::move(items));
}

fetch_writer::fetch_writer(std::string& out, std::uint32_t seq) : out_(out) {
    out_.append("* ");
    write_number(out_, seq);
    out_.append(" FETCH (");
}

void fetch_writer::sep() {
    if (!first_) out_.push_back(' ');
    first_ = false;
}

void fetch_writer::flags(std::span<const std::string_view> f) {
    sep();
    out_.append("FLAGS ");
    write_flag_list(out_, f);
}

void fetch_writer::uid(std::uint32_t u) {
    sep();
    out_.append("UID ");
    write_number(out_, u);
}

void fetch_writer::rfc822_size(std::uint64_t n) {
    sep();
    out_.append("RFC822.SIZE ");
    write_number(out_, n);
}

void fetch_writer::modseq(std::uint64_t m) {
    sep();
    out_.append("MODSEQ (");
    write_number(out_, m);
    out_.push_back(')');
}

void fetch_writer::internaldate(const date_time& dt) {
    sep();
    out_.append("INTERNALDATE ");
    write_date_time(out_, dt);
}

void fetch_writer::envelope(const imap::envelope& e) { item("ENVELOPE", to_value(e)); }
void fetch_writer::bodystructure(const body_part& b) { item("BODYSTRUCTURE", to_value(b, true)); }
void fetch_writer::body(const body_part& b) { item("BODY", to_value(b, false)); }

void fetch_writer::item(std::string_view name, const value& v) {
    sep();
    out_.append(name);
    out_.push_back(' ');
    write_value(out_, v);
}

void fetch_writer::body_section(std::string_view name, std::optional<std::string_view> data) {
    sep();
    out_.append(name);
    out_.push_back(' ');
    if (data) write_literal(out_, *data);
    else out_.append("NIL");
}

void fetch_writer::body_section_header(std::string_view name, std::uint64_t size) {
    sep();
    out_.append(name);
    out_.push_back(' ');
    write_literal_header(out_, size);
}

void fetch_writer::finish() { out_.append(")\r\n"); }

}  // namespace mailharness::imap

#include "mailharness/mime/message.hpp"

#include <gmime/gmime.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <mutex>
#include <vector>

namespace mailharness::mime {

namespace {

void ensure_gmime() {
    static std::once_flag once;
    std::call_once(once, [] { g_mime_init(); });
}

struct unref {
    void operator()(void* p) const {
        if (p) g_object_unref(p);
    }
};
template <class T>
using gptr = std::unique_ptr<T, unref>;

struct gfree {
    void operator()(void* p) const { g_free(p); }
};
using gstring = std::unique_ptr<char, gfree>;

bool is_wsp(char c) { return c == ' ' || c == '\t'; }

char ascii_lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

bool iequals(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i)
        if (ascii_lower(a[i]) != ascii_lower(b[i])) return false;
    return true;
}

std::string_view trim(std::string_view s) {
    while (!s.empty() && (is_wsp(s.front()) || s.front() == '\r' || s.front() == '\n')) s.remove_prefix(1);
    while (!s.empty() && (is_wsp(s.back()) || s.back() == '\r' || s.back() == '\n')) s.remove_suffix(1);
    return s;
}

/// A folded field value without its line breaks (RFC 5322 2.2.3 unfolding), trimmed.
std::string unfold(std::string_view v) {
    std::string out;
    out.reserve(v.size());
    for (char c : trim(v))
        if (c != '\r' && c != '\n') out.push_back(c);
    return out;
}

/// One header field as in the message.
struct field {
    std::string_view name;   ///< before the colon, trailing blanks removed; empty for a line without one
    std::string_view value;  ///< after the colon up to the end of the field (folds and final CRLF included)
    std::string_view raw;    ///< the whole field with its final CRLF
};

/// Calls f(field) for each field of a header block; stops at the blank line ending it.
template <class F>
void for_each_field(std::string_view h, F&& f) {
    std::size_t p = 0;
    while (p < h.size()) {
        if (h[p] == '\n' || (h[p] == '\r' && p + 1 < h.size() && h[p + 1] == '\n')) return;
        std::size_t start = p;
        std::size_t e = p;
        for (;;) {  // the field ends at a line break not followed by a blank
            std::size_t nl = h.find('\n', e);
            e = nl == std::string_view::npos ? h.size() : nl + 1;
            if (e >= h.size() || !is_wsp(h[e])) break;
        }
        std::string_view raw = h.substr(start, e - start);
        std::size_t colon = raw.find(':');
        std::size_t eol = raw.find('\n');
        field fl{{}, {}, raw};
        if (colon != std::string_view::npos && (eol == std::string_view::npos || colon < eol)) {
            std::string_view name = raw.substr(0, colon);
            while (!name.empty() && is_wsp(name.back())) name.remove_suffix(1);
            fl.name = name;
            fl.value = raw.substr(colon + 1);
        }
        f(fl);
        p = e;
    }
}

std::optional<std::string> first_value(std::string_view header, std::string_view name) {
    std::optional<std::string> out;
    for_each_field(header, [&](const field& f) {
        if (!out && !f.name.empty() && iequals(f.name, name)) out = unfold(f.value);
    });
    return out;
}

std::uint64_t count_lines(std::string_view s) {
    std::uint64_t n = 0;
    const char* p = s.data();
    const char* end = p + s.size();
    while ((p = static_cast<const char*>(std::memchr(p, '\n', static_cast<std::size_t>(end - p))))) {
        ++n;
        ++p;
    }
    return n;
}

// ---- the parsed structure ----

struct entity {
    enum class kind : std::uint8_t { leaf, multipart, message };
    kind k = kind::leaf;
    bool opaque = false;       ///< nested deeper than the limit: no parts
    bool text = false;         ///< a text/* leaf: searched by BODY
    std::size_t hdr = 0;       ///< the part's header: [hdr, body), blank line included
    std::size_t body = 0;      ///< the body: [body, end)
    std::size_t end = 0;
    imap::body_part info;      ///< without parts and envelope
    std::string charset;       ///< for decoding text leaves
    std::vector<entity> parts; ///< multipart: the parts; message: the encapsulated message (one)
};

}  // namespace

struct message::impl {
    entity root;
};

namespace {

/// Builds the entity tree from GMime's tree. GMime gives the leaf bodies (content stream
/// bounds) and header offsets; the other offsets follow from them and from the boundary lines
/// around them, found the way GMime's scanner finds them (a line of "--" boundary, then only
/// blanks; the CRLF before a boundary line belongs to it).
class builder {
public:
    builder(std::string_view t, const parse_limits& limits) : t_(t), limits_(limits) {}

    entity build_root(GMimeMessage* msg) {
        GMimeObject* part = msg ? g_mime_message_get_mime_part(msg) : nullptr;
        entity e = part ? build(part, reinterpret_cast<GMimeObject*>(msg), 0, 0) : blank(0);
        e.hdr = 0;
        e.end = t_.size();
        e.body = std::min(e.body, e.end);
        finish(e);
        return e;
    }

private:
    struct hit {
        std::size_t pos;  ///< start of the boundary line
        bool own;         ///< the innermost boundary given
    };

    std::size_t line_end(std::size_t p) const {
        std::size_t nl = t_.find('\n', p);
        return nl == std::string_view::npos ? t_.size() : nl;
    }
    std::size_t next_line(std::size_t p) const { return std::min(t_.size(), line_end(p) + 1); }
    std::size_t after_crlf(std::size_t p) const {
        if (t_.substr(p, 2) == "\r\n") return p + 2;
        if (p < t_.size() && t_[p] == '\n') return p + 1;
        return p;
    }
    std::size_t before_crlf(std::size_t p) const {
        if (p >= 2 && t_.substr(p - 2, 2) == "\r\n") return p - 2;
        if (p >= 1 && t_[p - 1] == '\n') return p - 1;
        return p;
    }

    static bool is_boundary(std::string_view line, std::string_view b) {
        if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
        if (line.size() < b.size() + 2 || line.substr(0, 2) != "--" || line.substr(2, b.size()) != b) return false;
        line.remove_prefix(b.size() + 2);
        if (line.substr(0, 2) == "--") line.remove_prefix(2);
        return std::all_of(line.begin(), line.end(), is_wsp);
    }

    /// The first line at or after `p` (a line start) that is a boundary in bounds_ (plus `own`).
    std::optional<hit> find_boundary(std::size_t p, std::string_view own = {}) const {
        while (p < t_.size()) {
            std::size_t e = line_end(p);
            std::string_view line = t_.substr(p, e - p);
            if (line.size() >= 2 && line[0] == '-' && line[1] == '-') {
                if (!own.empty() && is_boundary(line, own)) return hit{p, true};
                for (auto b : bounds_)
                    if (is_boundary(line, b)) return hit{p, false};
            }
            p = e + 1;
        }
        return std::nullopt;
    }

    /// Where the body starts after a header whose last field starts at `last` (or, with no
    /// fields, at `start`): after the blank line, or at the first line that is not a field.
    std::size_t body_after_header(std::size_t start, gint64 last) const {
        std::size_t p = start;
        if (last >= 0 && static_cast<std::size_t>(last) >= start && static_cast<std::size_t>(last) < t_.size()) {
            p = static_cast<std::size_t>(last);
            do p = next_line(p);
            while (p < t_.size() && is_wsp(t_[p]));
        }
        return after_crlf(p);
    }

    static gint64 last_header(GMimeObject* o, gint64 last) {
        if (!o) return last;
        GMimeHeaderList* list = g_mime_object_get_header_list(o);
        int n = list ? g_mime_header_list_get_count(list) : 0;
        for (int i = 0; i < n; ++i) last = std::max(last, g_mime_header_get_offset(g_mime_header_list_get_header_at(list, i)));
        return last;
    }

    entity blank(std::size_t start) const {
        entity e;
        e.hdr = e.body = e.end = start;
        e.text = true;
        e.info.params = {{"charset", "us-ascii"}};
        e.info.send_location = true;
        return e;
    }

    entity build(GMimeObject* obj, GMimeObject* outer, std::size_t start, std::size_t depth) {
        entity e;
        e.hdr = start;
        e.body = std::max(start, body_after_header(start, last_header(outer, last_header(obj, -1))));
        e.body = std::min(e.body, t_.size());
        describe(obj, e);
        if (GMIME_IS_MULTIPART(obj)) {
            e.k = entity::kind::multipart;
            build_multipart(reinterpret_cast<GMimeMultipart*>(obj), e, depth);
        } else if (GMIME_IS_MESSAGE_PART(obj)) {
            e.k = entity::kind::message;
            GMimeMessage* inner = g_mime_message_part_get_message(reinterpret_cast<GMimeMessagePart*>(obj));
            GMimeObject* inner_part = inner ? g_mime_message_get_mime_part(inner) : nullptr;
            if (inner_part) {
                e.parts.push_back(build(inner_part, reinterpret_cast<GMimeObject*>(inner), e.body, depth + 1));
                e.end = e.parts.back().end;
            } else {
                e.end = e.body;
            }
        } else {
            e.end = e.body;
            if (GMIME_IS_PART(obj)) {
                GMimeDataWrapper* content = g_mime_part_get_content(reinterpret_cast<GMimePart*>(obj));
                GMimeStream* s = content ? g_mime_data_wrapper_get_stream(content) : nullptr;
                if (s) {
                    gint64 b = s->bound_start, en = s->bound_end < 0 ? static_cast<gint64>(t_.size()) : s->bound_end;
                    if (b >= static_cast<gint64>(start) && b <= en && en <= static_cast<gint64>(t_.size())) {
                        e.body = static_cast<std::size_t>(b);
                        e.end = static_cast<std::size_t>(en);
                    }
                }
            }
        }
        if (e.k != entity::kind::leaf && depth >= limits_.max_depth) {
            e.opaque = true;
            e.parts.clear();
        }
        return e;
    }

    void build_multipart(GMimeMultipart* mp, entity& e, std::size_t depth) {
        const char* b = g_mime_multipart_get_boundary(mp);
        std::string_view own = b ? std::string_view(b) : std::string_view();
        int n = g_mime_multipart_get_count(mp);
        std::size_t p = e.body;
        if (n > 0 && !own.empty()) {
            auto first = find_boundary(e.body, own);
            p = first ? next_line(first->pos) : t_.size();
            bounds_.push_back(own);
            for (int i = 0; i < n; ++i) {
                if (i > 0) p = next_line(after_crlf(e.parts.back().end));
                e.parts.push_back(build(g_mime_multipart_get_part(mp, i), nullptr, p, depth + 1));
            }
            bounds_.pop_back();
            std::size_t last = e.parts.back().end;
            std::size_t q = after_crlf(last);
            if (q < t_.size() && is_boundary(t_.substr(q, line_end(q) - q), own)) {
                std::size_t epilogue = next_line(q);
                auto h = find_boundary(epilogue);
                e.end = h ? std::max(before_crlf(h->pos), before_crlf(epilogue)) : t_.size();
                if (e.end < q) e.end = std::min(line_end(q), t_.size());
            } else {
                e.end = last;
            }
        } else {
            // No parts: the whole body (prologue, a lone closing boundary, epilogue) up to the
            // next boundary of an enclosing multipart.
            auto h = find_boundary(e.body);
            e.end = h ? std::max(e.body, before_crlf(h->pos)) : t_.size();
        }
        e.end = std::max(e.end, e.body);
    }

    static std::vector<std::pair<std::string, std::string>> params(GMimeParamList* list) {
        std::vector<std::pair<std::string, std::string>> out;
        int n = list ? g_mime_param_list_length(list) : 0;
        for (int i = 0; i < n; ++i) {
            GMimeParam* p = g_mime_param_list_get_parameter_at(list, i);
            const char* name = g_mime_param_get_name(p);
            const char* value = g_mime_param_get_value(p);
            if (name) out.emplace_back(name, value ? value : "");
        }
        return out;
    }

    /// Content-* data for BODYSTRUCTURE: GMime's parse of Content-Type and
    /// Content-Disposition, the other fields raw from the part's header.
    void describe(GMimeObject* obj, entity& e) const {
        auto& info = e.info;
        std::string_view header = t_.substr(e.hdr, e.body - e.hdr);
        GMimeContentType* ct = g_mime_object_get_content_type(obj);
        const char* type = ct ? g_mime_content_type_get_media_type(ct) : nullptr;
        const char* subtype = ct ? g_mime_content_type_get_media_subtype(ct) : nullptr;
        if (type && *type && subtype && *subtype) {
            info.type = type;
            info.subtype = subtype;
        }
        info.params = params(ct ? g_mime_content_type_get_parameters(ct) : nullptr);
        bool text = iequals(info.type, "text");
        if (text) {
            auto it = std::find_if(info.params.begin(), info.params.end(),
                                   [](const auto& p) { return iequals(p.first, "charset"); });
            if (it == info.params.end()) info.params.emplace_back("charset", "us-ascii");
            else e.charset = it->second;
        }
        e.text = text && !GMIME_IS_MULTIPART(obj) && !GMIME_IS_MESSAGE_PART(obj);
        info.id = first_value(header, "Content-ID");
        info.description = first_value(header, "Content-Description");
        if (auto enc = first_value(header, "Content-Transfer-Encoding"); enc && !enc->empty()) info.encoding = *enc;
        info.md5 = first_value(header, "Content-MD5");
        info.location = first_value(header, "Content-Location");
        info.send_location = true;
        if (auto lang = first_value(header, "Content-Language")) {
            std::string_view rest = *lang;
            while (!rest.empty()) {
                std::size_t comma = rest.find(',');
                std::string_view tag = trim(rest.substr(0, comma));
                if (!tag.empty()) info.languages.emplace_back(tag);
                rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
            }
        }
        if (first_value(header, "Content-Disposition")) {
            GMimeContentDisposition* d = g_mime_object_get_content_disposition(obj);
            const char* disp = d ? g_mime_content_disposition_get_disposition(d) : nullptr;
            if (disp && *disp)
                info.disposition = std::make_pair(std::string(disp), params(g_mime_content_disposition_get_parameters(d)));
        }
    }

    /// Sizes and line counts, once, so that BODYSTRUCTURE is cheap.
    void finish(entity& e) const {
        e.end = std::clamp(e.end, e.body, t_.size());
        e.info.size = e.end - e.body;
        if (e.k == entity::kind::message || iequals(e.info.type, "text"))
            e.info.lines = count_lines(t_.substr(e.body, e.end - e.body));
        for (auto& p : e.parts) finish(p);
    }

    std::string_view t_;
    parse_limits limits_;
    std::vector<std::string_view> bounds_;  ///< boundaries of the enclosing multiparts
};

// ---- ENVELOPE ----

// atext, so that the phrase still parses; a message that already has it gets "=?" back.
constexpr std::string_view encoded_word_mark = "=#mh#?";

/// RFC 3501 7.4.2 address list from a raw field value. GMime decodes RFC 2047 names while
/// parsing; ENVELOPE wants them raw (Dovecot), so "=?" is masked before and restored after.
std::vector<imap::address> address_list(const std::string& raw) {
    std::string masked;
    for (std::size_t i = 0; i < raw.size(); ++i) {
        if (raw[i] == '=' && i + 1 < raw.size() && raw[i + 1] == '?') {
            masked.append(encoded_word_mark);
            ++i;
        } else {
            masked.push_back(raw[i]);
        }
    }
    auto unmask = [](const char* s) -> std::optional<std::string> {
        if (!s || !*s) return std::nullopt;
        std::string out(s);
        for (std::size_t at = 0; (at = out.find(encoded_word_mark, at)) != std::string::npos; at += 2)
            out.replace(at, encoded_word_mark.size(), "=?");  // cannot loop: "=?" is shorter
        return out;
    };
    std::vector<imap::address> out;
    gptr<InternetAddressList> list(internet_address_list_parse(nullptr, masked.c_str()));
    if (!list) return out;
    auto add_mailbox = [&](InternetAddress* a) {
        auto* mb = reinterpret_cast<InternetAddressMailbox*>(a);
        std::string addr = unmask(internet_address_mailbox_get_addr(mb)).value_or("");
        imap::address x;
        x.name = unmask(internet_address_get_name(a));
        std::size_t at = addr.rfind('@');
        std::string local = at == std::string::npos ? addr : addr.substr(0, at);
        std::string host = at == std::string::npos ? std::string() : addr.substr(at + 1);
        x.mailbox = local.empty() ? "MISSING_MAILBOX" : local;
        x.host = host.empty() ? "MISSING_DOMAIN" : host;
        out.push_back(std::move(x));
    };
    int n = internet_address_list_length(list.get());
    for (int i = 0; i < n; ++i) {
        InternetAddress* a = internet_address_list_get_address(list.get(), i);
        if (INTERNET_ADDRESS_IS_GROUP(a)) {
            out.push_back({std::nullopt, std::nullopt, unmask(internet_address_get_name(a)).value_or(""), std::nullopt});
            InternetAddressList* members = internet_address_group_get_members(reinterpret_cast<InternetAddressGroup*>(a));
            int m = members ? internet_address_list_length(members) : 0;
            for (int j = 0; j < m; ++j) {
                InternetAddress* member = internet_address_list_get_address(members, j);
                if (INTERNET_ADDRESS_IS_MAILBOX(member)) add_mailbox(member);
            }
            out.push_back({});
        } else if (INTERNET_ADDRESS_IS_MAILBOX(a)) {
            add_mailbox(a);
        }
    }
    return out;
}

imap::envelope envelope_of(std::string_view header) {
    imap::envelope e;
    auto addresses = [&](std::string_view name) {
        auto v = first_value(header, name);
        return v ? address_list(*v) : std::vector<imap::address>{};
    };
    e.date = first_value(header, "Date");
    e.subject = first_value(header, "Subject");
    e.from = addresses("From");
    e.sender = addresses("Sender");
    e.reply_to = addresses("Reply-To");
    e.to = addresses("To");
    e.cc = addresses("Cc");
    e.bcc = addresses("Bcc");
    e.in_reply_to = first_value(header, "In-Reply-To");
    e.message_id = first_value(header, "Message-ID");
    return e;
}

// ---- BODYSTRUCTURE ----

imap::body_part empty_text_part() {
    imap::body_part b;
    b.params = {{"charset", "us-ascii"}};
    b.send_location = true;
    return b;
}

imap::body_part structure_of(const entity& e, std::string_view t) {
    imap::body_part b = e.info;
    if (e.k == entity::kind::multipart) {
        for (const auto& p : e.parts) b.parts.push_back(structure_of(p, t));
        if (b.parts.empty()) b.parts.push_back(empty_text_part());  // Dovecot, for a multipart without parts
    } else if (e.k == entity::kind::message) {
        if (e.parts.empty()) {
            b.message_envelope = imap::envelope{};
            b.parts.push_back(empty_text_part());
        } else {
            const entity& inner = e.parts.front();
            b.message_envelope = envelope_of(t.substr(inner.hdr, inner.body - inner.hdr));
            b.parts.push_back(structure_of(inner, t));
        }
    }
    return b;
}

// ---- SEARCH ----

std::string decode_body(std::string_view raw, const std::string& encoding, const std::string& charset) {
    gptr<GMimeStream> src(g_mime_stream_mem_new_with_buffer(raw.data(), raw.size()));
    gptr<GMimeStream> filtered(g_mime_stream_filter_new(src.get()));
    GMimeContentEncoding enc = g_mime_content_encoding_from_string(encoding.c_str());
    if (enc == GMIME_CONTENT_ENCODING_BASE64 || enc == GMIME_CONTENT_ENCODING_QUOTEDPRINTABLE ||
        enc == GMIME_CONTENT_ENCODING_UUENCODE) {
        gptr<GMimeFilter> f(g_mime_filter_basic_new(enc, FALSE));
        g_mime_stream_filter_add(reinterpret_cast<GMimeStreamFilter*>(filtered.get()), f.get());
    }
    if (!charset.empty() && !iequals(charset, "utf-8") && !iequals(charset, "us-ascii")) {
        gptr<GMimeFilter> f(g_mime_filter_charset_new(charset.c_str(), "UTF-8"));
        if (f) g_mime_stream_filter_add(reinterpret_cast<GMimeStreamFilter*>(filtered.get()), f.get());
    }
    GByteArray* bytes = g_byte_array_new();
    gptr<GMimeStream> sink(g_mime_stream_mem_new_with_byte_array(bytes));  // owns bytes
    g_mime_stream_write_to_stream(filtered.get(), sink.get());
    g_mime_stream_flush(filtered.get());
    return std::string(reinterpret_cast<const char*>(bytes->data), bytes->len);
}

bool search_bodies(const entity& e, std::string_view t, std::string_view needle) {
    if (e.k == entity::kind::leaf) {
        if (!e.text) return false;
        return contains_ci(decode_body(t.substr(e.body, e.end - e.body), e.info.encoding, e.charset), needle);
    }
    for (const auto& p : e.parts)
        if (search_bodies(p, t, needle)) return true;
    return false;
}

std::string decode_header_value(std::string_view value) {
    std::string raw = unfold(value);
    gstring decoded(g_mime_utils_header_decode_text(nullptr, raw.c_str()));
    return decoded ? std::string(decoded.get()) : raw;
}

bool is_ascii(std::string_view s) {
    return std::all_of(s.begin(), s.end(), [](char c) { return static_cast<unsigned char>(c) < 0x80; });
}

std::string fold_case(std::string_view s) {
    gstring valid(g_utf8_make_valid(s.data(), static_cast<gssize>(s.size())));
    if (!valid) return {};
    gstring normal(g_utf8_normalize(valid.get(), -1, G_NORMALIZE_ALL_COMPOSE));
    const char* src = normal ? normal.get() : valid.get();
    gstring folded(g_utf8_casefold(src, -1));
    return folded ? std::string(folded.get()) : std::string(src);
}

}  // namespace

// ---- public ----

void to_crlf(std::string_view in, std::string& out) {
    out.reserve(out.size() + in.size() + in.size() / 32);
    for (std::size_t i = 0; i < in.size(); ++i) {
        char c = in[i];
        if (c == '\r') {
            out.append("\r\n");
            if (i + 1 < in.size() && in[i + 1] == '\n') ++i;
        } else if (c == '\n') {
            out.append("\r\n");
        } else {
            out.push_back(c);
        }
    }
}

bool contains_ci(std::string_view haystack, std::string_view needle) {
    if (needle.empty()) return true;
    if (is_ascii(haystack) && is_ascii(needle)) {
        auto it = std::search(haystack.begin(), haystack.end(), needle.begin(), needle.end(),
                              [](char a, char b) { return ascii_lower(a) == ascii_lower(b); });
        return it != haystack.end();
    }
    ensure_gmime();
    std::string n = fold_case(needle);
    if (n.empty()) return true;
    return fold_case(haystack).find(n) != std::string::npos;
}

message::message() : impl_(std::make_shared<impl>()) {}
message::~message() = default;
message::message(const message&) = default;
message& message::operator=(const message&) = default;
message::message(message&& o) noexcept : text_(std::move(o.text_)), impl_(std::move(o.impl_)) {
    o.impl_ = std::make_shared<impl>();
    o.text_.clear();
}
message& message::operator=(message&& o) noexcept {
    if (this != &o) {
        text_ = std::move(o.text_);
        impl_ = std::move(o.impl_);
        o.text_.clear();
        o.impl_ = std::make_shared<impl>();
    }
    return *this;
}

message message::parse(std::string crlf_text, const parse_limits& limits) {
    ensure_gmime();
    message m;
    m.text_ = std::move(crlf_text);
    auto im = std::make_shared<impl>();
    // GMime reads a copy; persisting keeps leaf contents as bounds into it, which are our offsets.
    gptr<GMimeStream> stream(g_mime_stream_mem_new_with_buffer(m.text_.data(), m.text_.size()));
    gptr<GMimeParser> parser(g_mime_parser_new_with_stream(stream.get()));
    g_mime_parser_set_persist_stream(parser.get(), TRUE);
    g_mime_parser_set_format(parser.get(), GMIME_FORMAT_MESSAGE);
    gptr<GMimeMessage> msg(g_mime_parser_construct_message(parser.get(), nullptr));
    im->root = builder(m.text_, limits).build_root(msg.get());
    m.impl_ = std::move(im);
    return m;
}

const std::string& message::text() const noexcept { return text_; }

imap::envelope message::envelope() const {
    ensure_gmime();
    return envelope_of(std::string_view(text_).substr(0, impl_->root.body));
}

imap::body_part message::body_structure() const {
    ensure_gmime();
    return structure_of(impl_->root, text_);
}

std::optional<std::string_view> message::section(const imap::section& s, std::string& storage) const {
    std::string_view t = text_;
    const entity* cur = &impl_->root;
    for (std::size_t i = 0; i < s.part.size(); ++i) {
        std::uint32_t n = s.part[i];
        const entity* ctx = cur;
        if (i > 0 && cur->k == entity::kind::message) {
            if (cur->parts.empty()) return std::nullopt;
            ctx = &cur->parts.front();
        }
        if (ctx->k == entity::kind::multipart && !ctx->opaque) {
            if (n == 0 || n > ctx->parts.size()) return std::nullopt;
            cur = &ctx->parts[n - 1];
        } else {
            if (n != 1 || (i > 0 && ctx == cur)) return std::nullopt;
            cur = ctx;
        }
    }
    auto range = [&](std::size_t a, std::size_t b) { return t.substr(a, b - a); };
    // The message whose header HEADER, TEXT and HEADER.FIELDS refer to.
    const entity* msg = nullptr;
    if (s.part.empty()) msg = cur;
    else if (cur->k == entity::kind::message && !cur->parts.empty()) msg = &cur->parts.front();
    switch (s.text) {
        case imap::section_text::none:
            return s.part.empty() ? t : range(cur->body, cur->end);
        case imap::section_text::mime:
            if (s.part.empty()) return std::nullopt;
            return range(cur->hdr, cur->body);
        case imap::section_text::header:
            if (!msg) return std::nullopt;
            return range(msg->hdr, msg->body);
        case imap::section_text::text:
            if (!msg) return std::nullopt;
            return range(msg->body, msg->end);
        case imap::section_text::header_fields:
        case imap::section_text::header_fields_not: {
            if (!msg) return std::nullopt;
            bool want = s.text == imap::section_text::header_fields;
            storage.clear();
            for_each_field(range(msg->hdr, msg->body), [&](const field& f) {
                bool listed = std::any_of(s.fields.begin(), s.fields.end(),
                                          [&](std::string_view name) { return !f.name.empty() && iequals(f.name, name); });
                if (listed == want) {
                    storage.append(f.raw);
                    if (storage.back() != '\n') storage.append("\r\n");
                }
            });
            storage.append("\r\n");
            return std::string_view(storage);
        }
    }
    return std::nullopt;
}

bool message::header_contains(std::string_view name, std::string_view needle) const {
    ensure_gmime();
    bool found = false;
    for_each_field(std::string_view(text_).substr(0, impl_->root.body), [&](const field& f) {
        if (found || f.name.empty() || !iequals(f.name, name)) return;
        found = needle.empty() || contains_ci(decode_header_value(f.value), needle);
    });
    return found;
}

bool message::body_contains(std::string_view needle) const {
    ensure_gmime();
    if (needle.empty()) return true;
    return search_bodies(impl_->root, text_, needle);
}

bool message::text_contains(std::string_view needle) const {
    ensure_gmime();
    if (needle.empty()) return true;
    bool found = false;
    for_each_field(std::string_view(text_).substr(0, impl_->root.body), [&](const field& f) {
        if (!found) found = contains_ci(decode_header_value(f.raw), needle);
    });
    return found || body_contains(needle);
}

std::optional<imap::date> message::sent_date() const {
    ensure_gmime();
    auto v = first_value(std::string_view(text_).substr(0, impl_->root.body), "Date");
    if (!v) return std::nullopt;
    GDateTime* dt = g_mime_utils_header_decode_date(v->c_str());
    if (!dt) return std::nullopt;
    imap::date d;
    int y = g_date_time_get_year(dt);
    d.month = static_cast<std::uint8_t>(g_date_time_get_month(dt));
    d.day = static_cast<std::uint8_t>(g_date_time_get_day_of_month(dt));
    g_date_time_unref(dt);
    if (y < 1 || y > 9999) return std::nullopt;
    d.year = static_cast<std::uint16_t>(y);
    return d;
}

}  // namespace mailharness::mime

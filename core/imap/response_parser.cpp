#include <utility>

#include "detail/chars.hpp"
#include "detail/wire.hpp"
#include "mailharness/imap/response.hpp"

namespace mailharness::imap {

namespace detail {

namespace {

status status_word(std::string_view w) {
    if (iequals(w, "OK")) return status::ok;
    if (iequals(w, "NO")) return status::no;
    if (iequals(w, "BAD")) return status::bad;
    if (iequals(w, "PREAUTH")) return status::preauth;
    if (iequals(w, "BYE")) return status::bye;
    return status::none;
}

bool all_digits(std::string_view s) {
    if (s.empty()) return false;
    for (char c : s)
        if (!is_digit(c)) return false;
    return true;
}

std::optional<fetch_item> fetch_item_name(std::string_view n) {
    static constexpr std::pair<std::string_view, fetch_item> names[] = {
        {"ENVELOPE", fetch_item::envelope},           {"FLAGS", fetch_item::flags},
        {"INTERNALDATE", fetch_item::internaldate},   {"RFC822", fetch_item::rfc822},
        {"RFC822.HEADER", fetch_item::rfc822_header}, {"RFC822.SIZE", fetch_item::rfc822_size},
        {"RFC822.TEXT", fetch_item::rfc822_text},     {"BODY", fetch_item::body},
        {"BODYSTRUCTURE", fetch_item::bodystructure}, {"UID", fetch_item::uid},
        {"MODSEQ", fetch_item::modseq},
    };
    for (const auto& [name, item] : names)
        if (iequals(n, name)) return item;
    return std::nullopt;
}

}  // namespace

struct response_parser_impl {
    response_limits limits;
    framer fr;
    tokenizer tz;
    std::vector<token> toks;
    response res;
    errc error = ok;
    bool finished = true;
    bool after_literal = false;
    std::string literal_item;
    std::uint32_t literal_message = 0;
    std::uint64_t literal_size = 0;
    std::string_view chunk;

    explicit response_parser_impl(const response_limits& l) : limits(l) {
        fr.max_line = l.max_line_length;
        fr.command_side = false;
        tz.max_depth = l.max_depth;
        tz.max_arguments = l.max_arguments;
        tz.allow_8bit = true;
        tz.allow_non_sync = false;
    }

    void start() {
        fr.start();
        tz.reset();
        toks.clear();
        res.kind = response_kind::untagged;
        res.tag = {};
        res.status = status::none;
        res.code.reset();
        res.text = {};
        res.number.reset();
        res.name = {};
        res.values.clear();
        res.first = no_value;
        res.fetch.clear();
        error = ok;
        finished = false;
        after_literal = false;
        literal_item.clear();
        literal_message = 0;
        literal_size = 0;
    }

    response_event fail_now(errc e) {
        if (error == ok) error = e;
        finished = true;
        return response_event::error;
    }

    // The server sends literal octets whatever happens: skip them, then the rest.
    response_event fail_skip(errc e, const literal_header& lit) {
        if (error == ok) error = e;
        if (lit.present && !lit.overflow) {
            fr.skip_literal_then_rest(lit.size);
            return response_event::need_more;
        }
        finished = true;
        return response_event::error;
    }

    response_event on_status_line(std::string_view line) {
        // line: "tag SP" already removed; holds "OK [code] text" etc.
        std::size_t sp = line.find(' ');
        std::string_view rest = sp == std::string_view::npos ? std::string_view{} : line.substr(sp + 1);
        if (sp != std::string_view::npos && rest.empty()) {
            res.text = rest;  // "OK " with nothing after: lenient
        }
        if (!rest.empty() && rest[0] == '[') {
            std::size_t close = rest.find(']');
            if (close == std::string_view::npos) return fail_now(errc::invalid_response_code);
            response_code code;
            if (parse_response_code(rest.substr(1, close - 1), code, limits.max_sequence_ranges))
                return fail_now(errc::invalid_response_code);
            res.code = std::move(code);
            rest.remove_prefix(close + 1);
            if (!rest.empty() && rest[0] == ' ') rest.remove_prefix(1);
        }
        res.text = rest;
        finished = true;
        return response_event::response;
    }

    response_event first_fragment(std::string_view line) {
        if (line.empty()) return fail_now(errc::invalid_response);
        if (line[0] == '+') {
            if (line.size() > 1 && line[1] != ' ') return fail_now(errc::invalid_response);
            res.kind = response_kind::continuation;
            res.text = line.size() > 2 ? line.substr(2) : std::string_view{};
            finished = true;
            return response_event::response;
        }
        std::size_t sp = line.find(' ');
        if (sp == std::string_view::npos) return fail_now(errc::invalid_response);
        std::string_view first = line.substr(0, sp);
        if (first == "*") {
            res.kind = response_kind::untagged;
        } else if (all_of(first, is_tag_char)) {
            res.kind = response_kind::tagged;
            res.tag = first;
        } else {
            return fail_now(errc::invalid_response);
        }
        std::string_view rest = line.substr(sp + 1);
        std::string_view word = rest.substr(0, rest.find(' '));
        res.status = status_word(word);
        if (res.status != status::none) {
            if (res.kind == response_kind::tagged && res.status != status::ok && res.status != status::no &&
                res.status != status::bad) {
                return fail_now(errc::invalid_response);
            }
            return on_status_line(rest);
        }
        if (res.kind == response_kind::tagged) return fail_now(errc::invalid_response);
        return response_event::need_more;  // untagged data: tokenize
    }

    response_event on_fragment() {
        std::string& b = fr.buffer();
        std::size_t off = fr.fragment_offset();
        if (off == 0) {
            response_event e = first_fragment(std::string_view(b));
            if (e != response_event::need_more || error != ok) {
                if (e == response_event::need_more) return fail_now(error);
                return e;
            }
        }
        literal_header lit;
        errc e = tz.run(b, off, after_literal, toks, lit);
        if (e != ok) return fail_skip(e, trailing_literal(std::string_view(b.data() + off, b.size() - off), false));
        if (!lit.present) {
            if (tz.depth != 0) return fail_now(errc::syntax_error);
            errc be = build(b.data());
            if (be != ok) return fail_now(be);
            finished = true;
            return response_event::response;
        }
        if (lit.overflow) return fail_now(errc::literal_too_large);
        if (lit.size > limits.max_literal_size) return fail_skip(errc::literal_too_large, lit);
        token& pending = toks.back();
        after_literal = true;
        if (lit.size > limits.max_buffered_literal) {
            pending.kind = tok::streamed;
            literal_item.clear();
            literal_message = 0;
            literal_size = lit.size;
            if (toks.size() >= 4 && toks[2].kind == tok::word &&
                iequals(std::string_view(b.data() + toks[2].off, toks[2].len), "FETCH")) {
                parse_u32(std::string_view(b.data() + toks[1].off, toks[1].len), literal_message);
                const token& prev = toks[toks.size() - 2];
                if (prev.kind == tok::word) literal_item.assign(b.data() + prev.off, prev.len);
            }
            fr.begin_literal(lit.size, true);
            return response_event::need_more;
        }
        pending.kind = tok::literal;
        pending.off = b.size();
        pending.len = static_cast<std::size_t>(lit.size);
        fr.begin_literal(lit.size, false);
        return response_event::need_more;
    }

    // Builds the value tree from toks[i..] until the matching ")" or the end.
    std::uint32_t build_values(const char* base, std::size_t& i, bool in_list) {
        std::uint32_t first = no_value, prev = no_value;
        while (i < toks.size()) {
            const token& k = toks[i++];
            if (k.kind == tok::rparen) {
                if (in_list) return first;
                continue;  // cannot happen: the tokenizer balances parentheses
            }
            std::uint32_t idx = static_cast<std::uint32_t>(res.values.size());
            res.values.emplace_back();
            {
                data_value& v = res.values.back();
                std::string_view text(base + k.off, k.len);
                switch (k.kind) {
                    case tok::word:
                        v.text = text;
                        if (iequals(text, "NIL")) {
                            v.type = data_value::kind::nil;
                        } else if (all_digits(text) && parse_u64(text, v.number)) {
                            v.type = data_value::kind::number;
                        } else {
                            v.type = data_value::kind::atom;
                        }
                        break;
                    case tok::quoted: v.type = data_value::kind::quoted; v.text = text; break;
                    case tok::literal: v.type = data_value::kind::literal; v.text = text; break;
                    case tok::streamed: v.type = data_value::kind::streamed; v.number = k.size; break;
                    case tok::lparen: v.type = data_value::kind::list; break;
                    default: break;
                }
            }
            if (k.kind == tok::lparen) {
                std::uint32_t child = build_values(base, i, true);
                res.values[idx].first_child = child;
            }
            if (prev == no_value) first = idx;
            else res.values[prev].next_sibling = idx;
            prev = idx;
        }
        return first;
    }

    errc build(const char* base) {
        std::size_t i = 1;  // toks[0] is "*"
        auto word_at = [&](std::size_t k) -> std::string_view {
            if (k >= toks.size() || toks[k].kind != tok::word) return {};
            return {base + toks[k].off, toks[k].len};
        };
        std::string_view w = word_at(i);
        if (all_digits(w)) {
            std::uint32_t n = 0;
            if (!parse_u32(w, n)) return errc::invalid_number;
            res.number = n;
            w = word_at(++i);
        }
        if (w.empty() || !all_of(w, is_atom_char)) return errc::invalid_response;
        res.name = w;
        ++i;
        res.first = build_values(base, i, false);
        if (iequals(res.name, "FETCH")) return build_fetch();
        return ok;
    }

    errc build_fetch() {
        if (!res.number || res.first == no_value) return errc::invalid_fetch_item;
        const data_value& list = res.values[res.first];
        if (list.type != data_value::kind::list || list.next_sibling != no_value) return errc::invalid_fetch_item;
        for (std::uint32_t n = list.first_child; n != no_value;) {
            const data_value& name = res.values[n];
            std::uint32_t v = name.next_sibling;
            if (name.type != data_value::kind::atom || v == no_value) return errc::invalid_fetch_item;
            fetch_response_item item;
            item.name = name.text;
            item.value = v;
            item.item = fetch_item_name(name.text);
            if (!item.item) {
                std::size_t open = name.text.find('[');
                std::size_t close = name.text.rfind(']');
                if (open == std::string_view::npos || close == std::string_view::npos ||
                    !iequals(name.text.substr(0, open), "BODY")) {
                    // Unknown items (extensions) are kept with no item kind.
                } else {
                    item.item = fetch_item::body_section;
                    item.section = name.text.substr(open + 1, close - open - 1);
                    std::string_view rest = name.text.substr(close + 1);
                    if (!rest.empty()) {
                        std::uint32_t origin = 0;
                        if (rest.size() < 3 || rest.front() != '<' || rest.back() != '>' ||
                            !parse_u32(rest.substr(1, rest.size() - 2), origin)) {
                            return errc::invalid_fetch_item;
                        }
                        item.origin = origin;
                    }
                }
            }
            res.fetch.push_back(item);
            n = res.values[v].next_sibling;
        }
        return ok;
    }

    response_put_result put(std::string_view in) {
        if (finished) start();
        chunk = {};
        std::size_t used = 0;
        while (true) {
            auto r = fr.step(in.substr(used));
            used += r.consumed;
            switch (r.what) {
                case framer::ev::need_more:
                    if (used == in.size()) return {used, response_event::need_more};
                    break;
                case framer::ev::line: {
                    response_event e = on_fragment();
                    if (e != response_event::need_more) return {used, e};
                    break;
                }
                case framer::ev::overflow:
                    if (error == ok) error = errc::line_too_long;
                    fr.skip_rest();
                    break;
                case framer::ev::literal_chunk:
                    chunk = fr.chunk();
                    return {used, response_event::literal_data};
                case framer::ev::literal_end:
                    break;
                case framer::ev::skip_end:
                    finished = true;
                    return {used, response_event::error};
            }
        }
    }
};

}  // namespace detail

response_parser::response_parser(response_limits limits)
    : impl_(std::make_unique<detail::response_parser_impl>(limits)) {}
response_parser::~response_parser() = default;
response_parser::response_parser(response_parser&&) noexcept = default;
response_parser& response_parser::operator=(response_parser&&) noexcept = default;

response_put_result response_parser::put(std::string_view in) { return impl_->put(in); }
const response& response_parser::get() const noexcept { return impl_->res; }
std::error_code response_parser::error() const noexcept {
    return impl_->error == detail::ok ? std::error_code{} : make_error_code(impl_->error);
}
std::string_view response_parser::literal_data() const noexcept { return impl_->chunk; }
std::string_view response_parser::literal_item() const noexcept { return impl_->literal_item; }
std::uint32_t response_parser::literal_message() const noexcept { return impl_->literal_message; }
std::uint64_t response_parser::literal_size() const noexcept { return impl_->literal_size; }
void response_parser::reset() { impl_->start(); }

std::vector<std::uint32_t> children(const response& r, std::uint32_t index) {
    std::vector<std::uint32_t> out;
    if (index >= r.values.size() || r.values[index].type != data_value::kind::list) return out;
    for (auto c = r.values[index].first_child; c != no_value; c = r.values[c].next_sibling) out.push_back(c);
    return out;
}

std::error_code parse_response_code(std::string_view inside, response_code& out, std::size_t max_ranges) {
    using namespace detail;
    out = {};
    std::size_t sp = inside.find(' ');
    out.name = inside.substr(0, sp);
    out.text = sp == std::string_view::npos ? std::string_view{} : inside.substr(sp + 1);
    if (!all_of(out.name, is_atom_char)) return errc::invalid_response_code;
    std::string_view t = out.text;
    auto words = [](std::string_view s, std::vector<std::string_view>& v) {
        while (!s.empty()) {
            std::size_t e = s.find(' ');
            std::string_view w = s.substr(0, e);
            if (w.empty()) return false;
            v.push_back(w);
            if (e == std::string_view::npos) break;
            s.remove_prefix(e + 1);
            if (s.empty()) return false;
        }
        return true;
    };
    auto nz32 = [](std::string_view s, std::uint64_t& n) { return parse_u64(s, n, UINT32_MAX) && n != 0; };
    const std::string_view n = out.name;
    if (iequals(n, "UIDVALIDITY") || iequals(n, "UIDNEXT") || iequals(n, "UNSEEN")) {
        if (!nz32(t, out.number)) return errc::invalid_response_code;
    } else if (iequals(n, "HIGHESTMODSEQ")) {
        if (!parse_u64(t, out.number, INT64_MAX)) return errc::invalid_response_code;
    } else if (iequals(n, "APPENDUID") || iequals(n, "COPYUID")) {
        std::vector<std::string_view> w;
        bool copy = iequals(n, "COPYUID");
        if (!words(t, w) || w.size() != (copy ? 3u : 2u) || !nz32(w[0], out.number) ||
            parse_sequence_set(w[1], out.set, max_ranges) || (copy && parse_sequence_set(w[2], out.set2, max_ranges))) {
            return errc::invalid_response_code;
        }
    } else if (iequals(n, "MODIFIED")) {
        if (parse_sequence_set(t, out.set, max_ranges)) return errc::invalid_response_code;
    } else if (iequals(n, "CAPABILITY")) {
        if (!words(t, out.list) || out.list.empty()) return errc::invalid_response_code;
    } else if (iequals(n, "PERMANENTFLAGS") || (iequals(n, "BADCHARSET") && !t.empty())) {
        if (t.size() < 2 || t.front() != '(' || t.back() != ')' || !words(t.substr(1, t.size() - 2), out.list))
            return errc::invalid_response_code;
    }
    return {};
}

}  // namespace mailharness::imap

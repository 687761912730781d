#include "command_grammar.hpp"

#include <array>

#include "detail/chars.hpp"

namespace mailharness::imap::detail {

namespace {

struct verb_name {
    std::string_view name;
    verb v;
};

constexpr std::array<verb_name, 30> verbs = {{
    {"CAPABILITY", verb::capability}, {"NOOP", verb::noop}, {"LOGOUT", verb::logout},
    {"STARTTLS", verb::starttls}, {"AUTHENTICATE", verb::authenticate}, {"LOGIN", verb::login},
    {"SELECT", verb::select}, {"EXAMINE", verb::examine}, {"CREATE", verb::create},
    {"DELETE", verb::delete_}, {"RENAME", verb::rename}, {"SUBSCRIBE", verb::subscribe},
    {"UNSUBSCRIBE", verb::unsubscribe}, {"LIST", verb::list}, {"LSUB", verb::lsub},
    {"STATUS", verb::status}, {"APPEND", verb::append}, {"CHECK", verb::check}, {"CLOSE", verb::close},
    {"EXPUNGE", verb::expunge}, {"SEARCH", verb::search}, {"FETCH", verb::fetch}, {"STORE", verb::store},
    {"COPY", verb::copy}, {"MOVE", verb::move}, {"IDLE", verb::idle}, {"NAMESPACE", verb::namespace_},
    {"ID", verb::id}, {"ENABLE", verb::enable}, {"UNSELECT", verb::unselect},
}};

verb lookup_verb(std::string_view w) {
    for (const auto& e : verbs)
        if (iequals(w, e.name)) return e.v;
    return verb::unknown;
}

struct grammar {
    const std::vector<token>& t;
    const char* base;
    bool partial;
    const command_limits& lim;
    std::size_t i = 0;
    bool message_literal = false;

    bool at_end() const { return i >= t.size() || (partial && t[i].kind == tok::pending); }
    const token* peek() const { return at_end() ? nullptr : &t[i]; }
    std::string_view text(const token& k) const { return {base + k.off, k.len}; }
    bool peek_word(std::string_view& w) const {
        const token* k = peek();
        if (!k || k->kind != tok::word) return false;
        w = text(*k);
        return true;
    }
    bool peek_kind(tok kind) const {
        const token* k = peek();
        return k && k->kind == kind;
    }

    errc next(const token*& k) {
        if (at_end()) return errc::missing_argument;
        k = &t[i++];
        return ok;
    }

    errc finish() { return at_end() ? ok : errc::too_many_tokens; }

    errc lparen(errc wrong = errc::syntax_error) {
        const token* k = nullptr;
        if (auto e = next(k); e != ok) return e;
        return k->kind == tok::lparen ? ok : wrong;
    }
    errc rparen(errc wrong = errc::syntax_error) {
        const token* k = nullptr;
        if (auto e = next(k); e != ok) return e;
        return k->kind == tok::rparen ? ok : wrong;
    }

    // A word token (no string, no literal).
    errc word(std::string_view& out, errc wrong = errc::syntax_error) {
        const token* k = nullptr;
        if (auto e = next(k); e != ok) return e;
        if (k->kind == tok::quoted || k->kind == tok::literal || k->kind == tok::streamed)
            return wrong == errc::syntax_error ? errc::unexpected_literal : wrong;
        if (k->kind != tok::word) return wrong;
        out = text(*k);
        return ok;
    }

    errc atom(std::string_view& out, errc wrong = errc::syntax_error) {
        if (auto e = word(out, wrong); e != ok) return e;
        return all_of(out, is_atom_char) ? ok : wrong;
    }

    bool word_chars(std::string_view w, bool (*pred)(char) noexcept) const {
        if (w.empty()) return false;
        for (char c : w)
            if (!pred(c) && !(lim.allow_8bit && is_8bit(c))) return false;
        return true;
    }

    errc astring(std::string_view& out) {
        const token* k = nullptr;
        if (auto e = next(k); e != ok) return e;
        out = text(*k);
        switch (k->kind) {
            case tok::quoted:
            case tok::literal: return ok;
            case tok::word: return word_chars(out, is_astring_char) ? ok : errc::syntax_error;
            default: return errc::syntax_error;
        }
    }

    errc string(std::string_view& out) {
        const token* k = nullptr;
        if (auto e = next(k); e != ok) return e;
        out = text(*k);
        return k->kind == tok::quoted || k->kind == tok::literal ? ok : errc::syntax_error;
    }

    errc nstring(std::optional<std::string_view>& out) {
        std::string_view w;
        if (peek_word(w)) {
            ++i;
            if (!iequals(w, "NIL")) return errc::syntax_error;
            out.reset();
            return ok;
        }
        std::string_view s;
        if (auto e = string(s); e != ok) return e;
        out = s;
        return ok;
    }

    errc mailbox(std::string_view& out) {
        if (auto e = astring(out); e != ok) return e;
        if (is_inbox(out)) out = "INBOX";
        return ok;
    }

    errc list_mailbox(std::string_view& out) {
        const token* k = nullptr;
        if (auto e = next(k); e != ok) return e;
        out = text(*k);
        switch (k->kind) {
            case tok::quoted:
            case tok::literal: return ok;
            case tok::word: return word_chars(out, is_list_char) ? ok : errc::syntax_error;
            default: return errc::syntax_error;
        }
    }

    errc number(std::uint64_t& out, std::uint64_t max, bool nonzero) {
        std::string_view w;
        if (auto e = word(w, errc::invalid_number); e != ok) return e;
        if (!parse_u64(w, out, max) || (nonzero && out == 0)) return errc::invalid_number;
        return ok;
    }

    // mod-sequence-value: 1*DIGIT, 63-bit (RFC 7162 section 7).
    errc modseq(std::uint64_t& out, bool nonzero) { return number(out, INT64_MAX, nonzero); }

    errc seqset(sequence_set& out) {
        std::string_view w;
        if (auto e = word(w, errc::invalid_sequence_set); e != ok)
            return e == errc::unexpected_literal ? errc::invalid_sequence_set : e;
        if (auto ec = parse_sequence_set(w, out, lim.max_sequence_ranges))
            return static_cast<errc>(ec.value());
        return ok;
    }

    errc flag(std::string_view& out) {
        if (auto e = word(out, errc::invalid_flag); e != ok) return e;
        return is_flag(out) ? ok : errc::invalid_flag;
    }

    // "(" [flag *(SP flag)] ")"
    errc flag_list(std::vector<std::string_view>& out) {
        if (auto e = lparen(); e != ok) return e;
        while (!peek_kind(tok::rparen)) {
            std::string_view f;
            if (auto e = flag(f); e != ok) return e;
            out.push_back(f);
        }
        ++i;
        return ok;
    }

    // date = date-text / DQUOTE date-text DQUOTE
    errc search_date(date& out) {
        const token* k = nullptr;
        if (auto e = next(k); e != ok) return e;
        if (k->kind != tok::word && k->kind != tok::quoted) return errc::invalid_date;
        return parse_date(text(*k), out) ? errc::invalid_date : ok;
    }

    // ---------------------------------------------------------------- commands

    errc parse(command& c) {
        std::string_view w;
        const token* k = nullptr;
        if (next(k) != ok || k->kind != tok::word || !all_of(text(*k), is_tag_char)) return errc::invalid_tag;
        c.tag = text(*k);
        if (at_end()) return errc::missing_command;
        if (word(w, errc::unknown_command) != ok) return errc::unknown_command;
        c.verb = lookup_verb(w);
        if (c.verb == verb::unknown && iequals(w, "UID")) {
            c.uid = true;
            if (at_end()) return errc::missing_command;
            if (word(w, errc::unknown_command) != ok) return errc::unknown_command;
            c.verb = lookup_verb(w);
            switch (c.verb) {
                case verb::fetch: case verb::store: case verb::search: case verb::copy: case verb::move:
                case verb::expunge: break;
                default: c.verb = verb::unknown;
            }
        }
        if (c.verb == verb::unknown) return errc::unknown_command;
        if (auto e = arguments(c); e != ok) return e;
        return finish();
    }

    errc arguments(command& c) {
        switch (c.verb) {
            case verb::unknown: return errc::unknown_command;
            case verb::capability: case verb::noop: case verb::logout: case verb::starttls: case verb::check:
            case verb::close: case verb::idle: case verb::namespace_: case verb::unselect:
                return ok;
            case verb::expunge:
                if (!c.uid) return ok;
                return seqset(c.args.emplace<expunge_args>().set);
            case verb::authenticate: return authenticate(c.args.emplace<authenticate_args>());
            case verb::login: {
                auto& a = c.args.emplace<login_args>();
                if (auto e = astring(a.user); e != ok) return e;
                return astring(a.password);
            }
            case verb::select: case verb::examine: return select(c.args.emplace<select_args>());
            case verb::create: case verb::delete_: case verb::subscribe: case verb::unsubscribe:
                return mailbox(c.args.emplace<mailbox_args>().mailbox);
            case verb::rename: {
                auto& a = c.args.emplace<rename_args>();
                if (auto e = mailbox(a.from); e != ok) return e;
                return mailbox(a.to);
            }
            case verb::list: case verb::lsub: {
                auto& a = c.args.emplace<list_args>();
                if (auto e = mailbox(a.reference); e != ok) return e;
                return list_mailbox(a.pattern);
            }
            case verb::status: return status(c.args.emplace<status_args>());
            case verb::append: return append(c.args.emplace<append_args>());
            case verb::search: return search(c.args.emplace<search_args>());
            case verb::fetch: return fetch(c.args.emplace<fetch_args>());
            case verb::store: return store(c.args.emplace<store_args>());
            case verb::copy: case verb::move: {
                auto& a = c.args.emplace<copy_args>();
                if (auto e = seqset(a.set); e != ok) return e;
                return mailbox(a.mailbox);
            }
            case verb::enable: {
                auto& a = c.args.emplace<enable_args>();
                do {
                    std::string_view cap;
                    if (auto e = atom(cap, errc::invalid_argument); e != ok) return e;
                    a.capabilities.push_back(cap);
                } while (!at_end());
                return ok;
            }
            case verb::id: return id(c.args.emplace<id_args>());
        }
        return errc::unknown_command;
    }

    errc authenticate(authenticate_args& a) {
        if (auto e = atom(a.mechanism, errc::invalid_argument); e != ok) return e;
        if (at_end()) return ok;
        std::string_view ir;
        if (auto e = word(ir, errc::invalid_argument); e != ok) return e;
        if (ir == "=") {
            a.initial_response = std::string_view{};
            return ok;
        }
        for (char ch : ir) {
            bool b64 = (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || is_digit(ch) || ch == '+' ||
                       ch == '/' || ch == '=';
            if (!b64) return errc::invalid_argument;
        }
        a.initial_response = ir;
        return ok;
    }

    errc select(select_args& a) {
        if (auto e = mailbox(a.mailbox); e != ok) return e;
        if (at_end()) return ok;
        if (auto e = lparen(); e != ok) return e;
        do {
            std::string_view p;
            if (auto e = atom(p, errc::invalid_argument); e != ok) return e;
            if (!iequals(p, "CONDSTORE")) return errc::invalid_argument;
            a.condstore = true;
        } while (!peek_kind(tok::rparen) && !at_end());
        return rparen();
    }

    errc status(status_args& a) {
        if (auto e = mailbox(a.mailbox); e != ok) return e;
        if (auto e = lparen(); e != ok) return e;
        do {
            std::string_view w;
            if (auto e = atom(w, errc::invalid_status_item); e != ok) return e;
            static constexpr std::pair<std::string_view, status_item> items[] = {
                {"MESSAGES", status_item::messages}, {"RECENT", status_item::recent},
                {"UIDNEXT", status_item::uidnext},   {"UIDVALIDITY", status_item::uidvalidity},
                {"UNSEEN", status_item::unseen},     {"HIGHESTMODSEQ", status_item::highestmodseq},
                {"SIZE", status_item::size},
            };
            bool found = false;
            for (const auto& [name, item] : items) {
                if (iequals(w, name)) {
                    a.items.push_back(item);
                    found = true;
                }
            }
            if (!found) return errc::invalid_status_item;
        } while (!peek_kind(tok::rparen) && !at_end());
        return rparen();
    }

    errc append(append_args& a) {
        if (auto e = mailbox(a.mailbox); e != ok) return e;
        if (peek_kind(tok::lparen)) {
            if (auto e = flag_list(a.flags); e != ok) return e;
        }
        if (peek_kind(tok::quoted)) {
            date_time dt;
            if (parse_date_time(text(t[i]), dt)) return errc::invalid_date;
            a.internal_date = dt;
            ++i;
        }
        if (partial && i < t.size() && t[i].kind == tok::pending) {
            message_literal = true;
            a.size = t[i].size;
            a.non_sync = t[i].non_sync;
            ++i;
            return ok;
        }
        const token* k = nullptr;
        if (auto e = next(k); e != ok) return e;
        if (k->kind != tok::streamed) return errc::syntax_error;
        a.size = k->size;
        a.non_sync = k->non_sync;
        return ok;
    }

    // ------------------------------------------------------------------ SEARCH

    errc search(search_args& a) {
        std::string_view w;
        if (peek_word(w) && iequals(w, "RETURN")) {
            ++i;
            a.esearch = true;
            if (auto e = lparen(); e != ok) return e;
            while (!peek_kind(tok::rparen)) {
                std::string_view o;
                if (auto e = atom(o, errc::invalid_argument); e != ok) return e;
                if (iequals(o, "MIN")) a.return_options |= return_min;
                else if (iequals(o, "MAX")) a.return_options |= return_max;
                else if (iequals(o, "ALL")) a.return_options |= return_all;
                else if (iequals(o, "COUNT")) a.return_options |= return_count;
                else if (iequals(o, "SAVE")) a.return_options |= return_save;
                else return errc::invalid_argument;
            }
            ++i;
            if (a.return_options == 0) a.return_options = return_all;
        }
        if (peek_word(w) && iequals(w, "CHARSET")) {
            ++i;
            if (auto e = astring(a.charset); e != ok) return e;
            if (!iequals(a.charset, "UTF-8") && !iequals(a.charset, "US-ASCII")) return errc::unsupported_charset;
        }
        std::uint32_t prev = no_node;
        do {
            std::uint32_t n = 0;
            if (auto e = search_key_node(a, n, 0); e != ok) return e;
            if (prev == no_node) a.first_key = n;
            else a.keys[prev].next_sibling = n;
            prev = n;
        } while (!at_end());
        return ok;
    }

    errc search_key_node(search_args& a, std::uint32_t& node, std::size_t depth) {
        if (depth >= lim.max_depth) return errc::too_deep;
        const token* k = nullptr;
        if (auto e = next(k); e != ok) return e;
        node = static_cast<std::uint32_t>(a.keys.size());
        a.keys.emplace_back();
        auto key = [&]() -> search_key& { return a.keys[node]; };  // keys may reallocate
        if (k->kind == tok::lparen) {
            key().kind = search_key_kind::group;
            std::uint32_t prev = no_node;
            do {
                std::uint32_t child = 0;
                if (auto e = search_key_node(a, child, depth + 1); e != ok) return e;
                if (prev == no_node) key().first_child = child;
                else a.keys[prev].next_sibling = child;
                prev = child;
            } while (!peek_kind(tok::rparen) && !at_end());
            return rparen();
        }
        if (k->kind != tok::word) return errc::invalid_search_key;
        std::string_view w = text(*k);
        if (is_digit(w[0]) || w[0] == '*') {
            key().kind = search_key_kind::sequence_set;
            key().set = static_cast<std::uint32_t>(a.sets.size());
            a.sets.emplace_back();
            if (auto ec = parse_sequence_set(w, a.sets.back(), lim.max_sequence_ranges))
                return static_cast<errc>(ec.value());
            return ok;
        }
        using K = search_key_kind;
        struct entry {
            std::string_view name;
            K kind;
            char args;  // '-' none, 's' astring, 'd' date, 'k' keyword, 'n' number, 'h' header,
                        // '1' one key, '2' two keys, 'u' sequence set, 'm' modseq
        };
        static constexpr entry table[] = {
            {"ALL", K::all, '-'},           {"ANSWERED", K::answered, '-'},     {"BCC", K::bcc, 's'},
            {"BEFORE", K::before, 'd'},     {"BODY", K::body, 's'},             {"CC", K::cc, 's'},
            {"DELETED", K::deleted, '-'},   {"DRAFT", K::draft, '-'},           {"FLAGGED", K::flagged, '-'},
            {"FROM", K::from, 's'},         {"HEADER", K::header, 'h'},         {"KEYWORD", K::keyword, 'k'},
            {"LARGER", K::larger, 'n'},     {"NEW", K::new_, '-'},              {"NOT", K::not_, '1'},
            {"OLD", K::old, '-'},           {"ON", K::on, 'd'},                 {"OR", K::or_, '2'},
            {"RECENT", K::recent, '-'},     {"SEEN", K::seen, '-'},             {"SENTBEFORE", K::sentbefore, 'd'},
            {"SENTON", K::senton, 'd'},     {"SENTSINCE", K::sentsince, 'd'},   {"SINCE", K::since, 'd'},
            {"SMALLER", K::smaller, 'n'},   {"SUBJECT", K::subject, 's'},       {"TEXT", K::text, 's'},
            {"TO", K::to, 's'},             {"UID", K::uid, 'u'},               {"UNANSWERED", K::unanswered, '-'},
            {"UNDELETED", K::undeleted, '-'}, {"UNDRAFT", K::undraft, '-'},     {"UNFLAGGED", K::unflagged, '-'},
            {"UNKEYWORD", K::unkeyword, 'k'}, {"UNSEEN", K::unseen, '-'},       {"MODSEQ", K::modseq, 'm'},
        };
        const entry* found = nullptr;
        for (const auto& e : table)
            if (iequals(w, e.name)) found = &e;
        if (!found) return errc::invalid_search_key;
        key().kind = found->kind;
        switch (found->args) {
            case '-': return ok;
            case 's': return astring(key().value);
            case 'd': return search_date(key().date);
            case 'k': return atom(key().value, errc::invalid_flag);
            case 'n': return number(key().number, INT64_MAX, false);
            case 'h': {
                if (auto e = astring(key().field); e != ok) return e;
                return astring(key().value);
            }
            case '1': {
                std::uint32_t child = 0;
                if (auto e = search_key_node(a, child, depth + 1); e != ok) return e;
                key().first_child = child;
                return ok;
            }
            case '2': {
                std::uint32_t c1 = 0, c2 = 0;
                if (auto e = search_key_node(a, c1, depth + 1); e != ok) return e;
                key().first_child = c1;
                if (auto e = search_key_node(a, c2, depth + 1); e != ok) return e;
                a.keys[c1].next_sibling = c2;
                return ok;
            }
            case 'u': {
                key().set = static_cast<std::uint32_t>(a.sets.size());
                a.sets.emplace_back();
                return seqset(a.sets.back());
            }
            case 'm': {
                // "MODSEQ" [SP entry-name SP entry-type-req] SP mod-sequence-valzer
                if (peek_kind(tok::quoted) || peek_kind(tok::literal)) {
                    if (auto e = string(key().field); e != ok) return e;
                    std::string_view type;
                    if (auto e = atom(type, errc::invalid_search_key); e != ok) return e;
                    if (!iequals(type, "priv") && !iequals(type, "shared") && !iequals(type, "all"))
                        return errc::invalid_search_key;
                    key().value = type;
                }
                return modseq(key().number, false);
            }
        }
        return errc::invalid_search_key;
    }

    // ------------------------------------------------------------------- FETCH

    errc fetch(fetch_args& a) {
        if (auto e = seqset(a.set); e != ok) return e;
        std::string_view w;
        if (peek_kind(tok::lparen)) {
            ++i;
            do {
                if (auto e = word(w, errc::invalid_fetch_attribute); e != ok) return e;
                if (auto e = fetch_att_word(w, a); e != ok) return e;
            } while (!peek_kind(tok::rparen) && !at_end());
            if (auto e = rparen(errc::invalid_fetch_attribute); e != ok) return e;
        } else {
            if (auto e = word(w, errc::invalid_fetch_attribute); e != ok) return e;
            auto push = [&a](std::initializer_list<fetch_item> items) {
                for (auto it : items) a.atts.push_back({.item = it});
            };
            if (iequals(w, "ALL")) {
                a.macro = fetch_macro::all;
                push({fetch_item::flags, fetch_item::internaldate, fetch_item::rfc822_size, fetch_item::envelope});
            } else if (iequals(w, "FAST")) {
                a.macro = fetch_macro::fast;
                push({fetch_item::flags, fetch_item::internaldate, fetch_item::rfc822_size});
            } else if (iequals(w, "FULL")) {
                a.macro = fetch_macro::full;
                push({fetch_item::flags, fetch_item::internaldate, fetch_item::rfc822_size, fetch_item::envelope,
                      fetch_item::body});
            } else if (auto e = fetch_att_word(w, a); e != ok) {
                return e;
            }
        }
        if (at_end()) return ok;
        // fetch-modifiers (RFC 4466): "(" CHANGEDSINCE mod-sequence-value ")"
        if (auto e = lparen(); e != ok) return e;
        if (auto e = atom(w, errc::invalid_argument); e != ok) return e;
        if (!iequals(w, "CHANGEDSINCE")) return errc::invalid_argument;
        std::uint64_t v = 0;
        if (auto e = modseq(v, true); e != ok) return e;
        a.changedsince = v;
        return rparen();
    }

    errc fetch_att_word(std::string_view w, fetch_args& a) {
        static constexpr std::pair<std::string_view, fetch_item> simple[] = {
            {"ENVELOPE", fetch_item::envelope},         {"FLAGS", fetch_item::flags},
            {"INTERNALDATE", fetch_item::internaldate}, {"RFC822", fetch_item::rfc822},
            {"RFC822.HEADER", fetch_item::rfc822_header}, {"RFC822.SIZE", fetch_item::rfc822_size},
            {"RFC822.TEXT", fetch_item::rfc822_text},   {"BODY", fetch_item::body},
            {"BODYSTRUCTURE", fetch_item::bodystructure}, {"UID", fetch_item::uid},
            {"MODSEQ", fetch_item::modseq},
        };
        for (const auto& [name, item] : simple) {
            if (iequals(w, name)) {
                a.atts.push_back({.item = item});
                return ok;
            }
        }
        fetch_att att{.item = fetch_item::body_section};
        std::size_t open = w.find('[');
        if (open == std::string_view::npos) return errc::invalid_fetch_attribute;
        std::string_view name = w.substr(0, open);
        if (iequals(name, "BODY.PEEK")) att.peek = true;
        else if (!iequals(name, "BODY")) return errc::invalid_fetch_attribute;
        std::size_t close = w.rfind(']');
        if (close == std::string_view::npos || close < open) return errc::invalid_fetch_attribute;
        if (auto e = parse_section(w.substr(open + 1, close - open - 1), att.section); e != ok) return e;
        std::string_view rest = w.substr(close + 1);
        if (!rest.empty()) {
            // "<" number "." nz-number ">"
            std::size_t dot = rest.find('.');
            if (rest.size() < 5 || rest.front() != '<' || rest.back() != '>' || dot == std::string_view::npos ||
                !parse_u32(rest.substr(1, dot - 1), att.offset) ||
                !parse_u32(rest.substr(dot + 1, rest.size() - dot - 2), att.length) || att.length == 0) {
                return errc::invalid_fetch_attribute;
            }
            att.partial = true;
        }
        a.atts.push_back(std::move(att));
        return ok;
    }

    errc parse_section(std::string_view s, section& out) {
        // section-part ["." section-text] / section-msgtext / empty
        while (!s.empty() && is_digit(s[0])) {
            std::size_t n = 0;
            while (n < s.size() && is_digit(s[n])) ++n;
            std::uint32_t part = 0;
            if (s[0] == '0' || !parse_u32(s.substr(0, n), part)) return errc::invalid_fetch_attribute;
            if (out.part.size() >= 64) return errc::invalid_fetch_attribute;
            out.part.push_back(part);
            s.remove_prefix(n);
            if (s.empty()) return ok;
            if (s[0] != '.') return errc::invalid_fetch_attribute;
            s.remove_prefix(1);
            if (s.empty()) return errc::invalid_fetch_attribute;
        }
        if (s.empty()) return ok;
        std::size_t sp = s.find(' ');
        std::string_view kw = s.substr(0, sp);
        if (iequals(kw, "HEADER")) out.text = section_text::header;
        else if (iequals(kw, "TEXT")) out.text = section_text::text;
        else if (iequals(kw, "MIME") && !out.part.empty()) out.text = section_text::mime;
        else if (iequals(kw, "HEADER.FIELDS")) out.text = section_text::header_fields;
        else if (iequals(kw, "HEADER.FIELDS.NOT")) out.text = section_text::header_fields_not;
        else return errc::invalid_fetch_attribute;
        bool fields = out.text == section_text::header_fields || out.text == section_text::header_fields_not;
        if (!fields) return sp == std::string_view::npos ? ok : errc::invalid_fetch_attribute;
        if (sp == std::string_view::npos) return errc::invalid_fetch_attribute;
        s.remove_prefix(sp + 1);
        // header-list = "(" header-fld-name *(SP header-fld-name) ")"
        if (s.size() < 3 || s.front() != '(' || s.back() != ')') return errc::invalid_fetch_attribute;
        s = s.substr(1, s.size() - 2);
        while (true) {
            std::string_view f;
            if (!s.empty() && s[0] == '"') {
                std::size_t q = s.find('"', 1);
                if (q == std::string_view::npos) return errc::invalid_fetch_attribute;
                f = s.substr(1, q - 1);
                if (f.empty() || f.find('\\') != std::string_view::npos) return errc::invalid_fetch_attribute;
                s.remove_prefix(q + 1);
            } else {
                std::size_t e = s.find(' ');
                f = s.substr(0, e);
                if (!word_chars(f, is_astring_char)) return errc::invalid_fetch_attribute;
                s.remove_prefix(f.size());
            }
            if (out.fields.size() >= lim.max_arguments) return errc::too_many_arguments;
            out.fields.push_back(f);
            if (s.empty()) return ok;
            if (s[0] != ' ' || s.size() == 1) return errc::invalid_fetch_attribute;
            s.remove_prefix(1);
        }
    }

    // ------------------------------------------------------------------- STORE

    errc store(store_args& a) {
        if (auto e = seqset(a.set); e != ok) return e;
        std::string_view w;
        if (peek_kind(tok::lparen)) {
            ++i;
            if (auto e = atom(w, errc::invalid_argument); e != ok) return e;
            if (!iequals(w, "UNCHANGEDSINCE")) return errc::invalid_argument;
            std::uint64_t v = 0;
            if (auto e = modseq(v, false); e != ok) return e;
            a.unchangedsince = v;
            if (auto e = rparen(); e != ok) return e;
        }
        if (auto e = word(w, errc::invalid_argument); e != ok) return e;
        if (!w.empty() && (w[0] == '+' || w[0] == '-')) {
            a.mode = w[0] == '+' ? store_mode::add : store_mode::remove;
            w.remove_prefix(1);
        }
        if (iequals(w, "FLAGS.SILENT")) a.silent = true;
        else if (!iequals(w, "FLAGS")) return errc::invalid_argument;
        if (peek_kind(tok::lparen)) return flag_list(a.flags);
        do {
            std::string_view f;
            if (auto e = flag(f); e != ok) return e;
            a.flags.push_back(f);
        } while (!at_end());
        return ok;
    }

    // ---------------------------------------------------------------------- ID

    errc id(id_args& a) {
        std::string_view w;
        if (peek_word(w)) {
            ++i;
            return iequals(w, "NIL") ? ok : errc::syntax_error;
        }
        a.nil = false;
        if (auto e = lparen(); e != ok) return e;
        while (!peek_kind(tok::rparen)) {
            std::string_view key;
            std::optional<std::string_view> value;
            if (auto e = string(key); e != ok) return e;
            if (auto e = nstring(value); e != ok) return e;
            a.params.emplace_back(key, value);
        }
        ++i;
        return ok;
    }
};

}  // namespace

grammar_result parse_command_tokens(const std::vector<token>& toks, const char* base, bool partial,
                                    const command_limits& limits, command& out) {
    out.tag = {};
    out.verb = verb::unknown;
    out.uid = false;
    out.args = std::monostate{};
    grammar g{toks, base, partial, limits};
    errc e = g.parse(out);
    if (partial && e == errc::missing_argument && g.at_end()) e = ok;
    if (partial && e == errc::missing_command) e = ok;
    return {e, g.message_literal};
}

}  // namespace mailharness::imap::detail

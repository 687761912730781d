#include <utility>

#include "command_grammar.hpp"
#include "detail/chars.hpp"
#include "detail/wire.hpp"
#include "mailharness/imap/command.hpp"

namespace mailharness::imap {

namespace detail {

struct command_parser_impl {
    command_limits limits;
    framer fr;
    tokenizer tz;
    std::vector<token> toks;
    command cmd;
    std::string tag;              // copy of the tag of a failed command
    std::string_view line;
    std::string_view chunk;
    errc error = ok;
    bool finished = true;         // the last event ended a command: start afresh on next put()
    bool raw_line = false;        // expect_line()
    bool in_append = false;       // streaming the APPEND message
    bool after_literal = false;   // the next fragment follows a literal

    explicit command_parser_impl(const command_limits& l) : limits(l) {
        fr.max_line = l.max_line_length;
        fr.command_side = true;
        tz.max_depth = l.max_depth;
        tz.max_arguments = l.max_arguments;
        tz.allow_8bit = l.allow_8bit;
        tz.allow_non_sync = true;
    }

    void start() {
        fr.start();
        tz.reset();
        toks.clear();
        tag.clear();
        error = ok;
        finished = false;
        in_append = false;
        after_literal = false;
        line = {};
    }

    void capture_tag() {
        const std::string& b = fr.buffer();
        std::string_view t;
        if (!toks.empty() && toks[0].kind == tok::word) {
            t = std::string_view(b.data() + toks[0].off, toks[0].len);
        } else if (toks.empty()) {
            std::string_view raw(b);
            t = raw.substr(0, raw.find(' '));
            if (t.size() == raw.size()) t = {};  // the tag's end was not seen
        }
        if (all_of(t, is_tag_char)) tag.assign(t);
    }

    // Fails the command; `lit` is the literal header ending the current fragment, if any. Returns
    // true when the command ends here (report the error now).
    bool fail(errc e, const literal_header& lit) {
        if (error == ok) {
            error = e;
            capture_tag();
        }
        if (lit.present && !lit.overflow && lit.non_sync) {
            fr.skip_literal_then_rest(lit.size);
            return false;
        }
        return true;
    }

    event on_fragment() {
        std::string& b = fr.buffer();
        std::size_t off = fr.fragment_offset();
        if (raw_line) {
            raw_line = false;
            line = std::string_view(b.data() + off, b.size() - off);
            finished = true;
            return event::line;
        }
        if (off == 0 && b.empty()) {
            error = errc::invalid_tag;
            finished = true;
            return event::error;
        }
        literal_header lit;
        errc e = tz.run(b, off, after_literal, toks, lit);
        if (e != ok) {
            // The tokenizer stopped early; a literal header may still end the line.
            literal_header raw = trailing_literal(std::string_view(b.data() + off, b.size() - off), true);
            if (fail(e, raw)) return finish_error();
            return event::need_more;
        }
        if (!lit.present) {
            if (tz.depth != 0) {
                fail(errc::syntax_error, lit);
                return finish_error();
            }
            grammar_result r = parse_command_tokens(toks, b.data(), false, limits, cmd);
            finished = true;
            if (r.error != ok) {
                fail(r.error, lit);
                return event::error;
            }
            return event::command;
        }
        if (lit.overflow) {
            // Size unknown: nothing can be skipped; the command ends here.
            fail(errc::literal_too_large, {});
            return finish_error();
        }
        bool message = false;
        if (!lit.non_sync || is_append()) {
            grammar_result r = parse_command_tokens(toks, b.data(), true, limits, cmd);
            if (r.error != ok) {
                if (fail(r.error, lit)) return finish_error();
                return event::need_more;
            }
            message = r.message_literal;
        }
        token& pending = toks.back();
        pending.non_sync = lit.non_sync;
        if (message) {
            if (lit.size > limits.max_append_size) {
                if (fail(errc::message_too_large, lit)) return finish_error();
                return event::need_more;
            }
            pending.kind = tok::streamed;
            in_append = true;
            after_literal = true;
            fr.begin_literal(lit.size, true);
            chunk = {};
            return event::append_begin;
        }
        if (lit.size > limits.max_literal_size) {
            if (fail(errc::literal_too_large, lit)) return finish_error();
            return event::need_more;
        }
        pending.kind = tok::literal;
        pending.off = b.size();
        pending.len = static_cast<std::size_t>(lit.size);
        after_literal = true;
        fr.begin_literal(lit.size, false);
        return lit.non_sync ? event::need_more : event::continuation;
    }

    event finish_error() {
        finished = true;
        return event::error;
    }

    // Cheap look at the second token: only APPEND has a streamed literal.
    bool is_append() const {
        if (toks.size() < 2 || toks[1].kind != tok::word) return false;
        return iequals(std::string_view(fr.buffer().data() + toks[1].off, toks[1].len), "APPEND");
    }

    put_result put(std::string_view in) {
        if (finished) start();
        chunk = {};
        std::size_t used = 0;
        while (true) {
            auto r = fr.step(in.substr(used));
            used += r.consumed;
            switch (r.what) {
                case framer::ev::need_more:
                    if (used == in.size()) return {used, event::need_more};
                    break;
                case framer::ev::line: {
                    event e = on_fragment();
                    if (e != event::need_more) return {used, e};
                    break;
                }
                case framer::ev::overflow:
                    if (raw_line) raw_line = false;
                    if (error == ok) {
                        error = errc::line_too_long;
                        capture_tag();
                    }
                    fr.skip_rest();
                    break;
                case framer::ev::literal_chunk:
                    chunk = fr.chunk();
                    return {used, event::literal_data};
                case framer::ev::literal_end:
                    break;
                case framer::ev::skip_end:
                    finished = true;
                    return {used, event::error};
            }
        }
    }
};

}  // namespace detail

command_parser::command_parser(command_limits limits)
    : impl_(std::make_unique<detail::command_parser_impl>(limits)) {}
command_parser::~command_parser() = default;
command_parser::command_parser(command_parser&&) noexcept = default;
command_parser& command_parser::operator=(command_parser&&) noexcept = default;

put_result command_parser::put(std::string_view in) { return impl_->put(in); }
const command& command_parser::get() const noexcept { return impl_->cmd; }

const append_args& command_parser::append() const noexcept {
    static const append_args none;
    const auto* a = std::get_if<append_args>(&impl_->cmd.args);
    return a ? *a : none;
}

std::string_view command_parser::literal_data() const noexcept { return impl_->chunk; }
bool command_parser::literal_done() const noexcept { return impl_->in_append && impl_->fr.literal_left() == 0; }
std::error_code command_parser::error() const noexcept {
    return impl_->error == detail::ok ? std::error_code{} : make_error_code(impl_->error);
}
std::string_view command_parser::tag() const noexcept { return impl_->tag; }
std::string_view command_parser::line() const noexcept { return impl_->line; }

void command_parser::expect_line() noexcept {
    if (impl_->finished) impl_->start();
    impl_->raw_line = true;
}

void command_parser::reset() {
    impl_->start();
    impl_->raw_line = false;
}

const command_limits& command_parser::limits() const noexcept { return impl_->limits; }

bool is_idle_done(std::string_view line) noexcept { return detail::iequals(line, "DONE"); }

std::string_view to_string(verb v) noexcept {
    switch (v) {
        case verb::unknown: return "";
        case verb::capability: return "CAPABILITY";
        case verb::noop: return "NOOP";
        case verb::logout: return "LOGOUT";
        case verb::starttls: return "STARTTLS";
        case verb::authenticate: return "AUTHENTICATE";
        case verb::login: return "LOGIN";
        case verb::select: return "SELECT";
        case verb::examine: return "EXAMINE";
        case verb::create: return "CREATE";
        case verb::delete_: return "DELETE";
        case verb::rename: return "RENAME";
        case verb::subscribe: return "SUBSCRIBE";
        case verb::unsubscribe: return "UNSUBSCRIBE";
        case verb::list: return "LIST";
        case verb::lsub: return "LSUB";
        case verb::status: return "STATUS";
        case verb::append: return "APPEND";
        case verb::check: return "CHECK";
        case verb::close: return "CLOSE";
        case verb::expunge: return "EXPUNGE";
        case verb::search: return "SEARCH";
        case verb::fetch: return "FETCH";
        case verb::store: return "STORE";
        case verb::copy: return "COPY";
        case verb::move: return "MOVE";
        case verb::idle: return "IDLE";
        case verb::namespace_: return "NAMESPACE";
        case verb::id: return "ID";
        case verb::enable: return "ENABLE";
        case verb::unselect: return "UNSELECT";
    }
    return "";
}

std::string_view to_string(status_item s) noexcept {
    switch (s) {
        case status_item::messages: return "MESSAGES";
        case status_item::recent: return "RECENT";
        case status_item::uidnext: return "UIDNEXT";
        case status_item::uidvalidity: return "UIDVALIDITY";
        case status_item::unseen: return "UNSEEN";
        case status_item::highestmodseq: return "HIGHESTMODSEQ";
        case status_item::size: return "SIZE";
    }
    return "";
}

std::string_view to_string(search_key_kind k) noexcept {
    using K = search_key_kind;
    switch (k) {
        case K::all: return "ALL"; case K::answered: return "ANSWERED"; case K::bcc: return "BCC";
        case K::before: return "BEFORE"; case K::body: return "BODY"; case K::cc: return "CC";
        case K::deleted: return "DELETED"; case K::draft: return "DRAFT"; case K::flagged: return "FLAGGED";
        case K::from: return "FROM"; case K::header: return "HEADER"; case K::keyword: return "KEYWORD";
        case K::larger: return "LARGER"; case K::new_: return "NEW"; case K::not_: return "NOT";
        case K::old: return "OLD"; case K::on: return "ON"; case K::or_: return "OR"; case K::recent: return "RECENT";
        case K::seen: return "SEEN"; case K::sentbefore: return "SENTBEFORE"; case K::senton: return "SENTON";
        case K::sentsince: return "SENTSINCE"; case K::since: return "SINCE"; case K::smaller: return "SMALLER";
        case K::subject: return "SUBJECT"; case K::text: return "TEXT"; case K::to: return "TO"; case K::uid: return "UID";
        case K::unanswered: return "UNANSWERED"; case K::undeleted: return "UNDELETED"; case K::undraft: return "UNDRAFT";
        case K::unflagged: return "UNFLAGGED"; case K::unkeyword: return "UNKEYWORD"; case K::unseen: return "UNSEEN";
        case K::sequence_set: return ""; case K::group: return "("; case K::modseq: return "MODSEQ";
    }
    return "";
}

}  // namespace mailharness::imap

// IMAP commands (server side): a push parser in the manner of Dovecot's imap-parser ("doesn't read
// the stream; you do") and Beast's basic_parser (put() returns the octets consumed).
//
// RFC 3501 (IMAP4rev1) commands and the extensions most clients use: LITERAL+ (RFC 7888),
// SASL-IR (RFC 4959), UIDPLUS UID EXPUNGE (RFC 4315), MOVE (RFC 6851), IDLE (RFC 2177),
// NAMESPACE (RFC 2342), ID (RFC 2971), ENABLE (RFC 5161), UNSELECT (RFC 3691), ESEARCH RETURN
// (RFC 4731), CONDSTORE (RFC 7162: SELECT (CONDSTORE), FETCH CHANGEDSINCE and MODSEQ, STORE
// UNCHANGEDSINCE, SEARCH MODSEQ, STATUS HIGHESTMODSEQ).
//
// Literals. A fragment ending in "{n}" announces a synchronising literal: the parser returns
// event::continuation and the caller writes a continuation request ("+ Ready\r\n") before the
// client sends the n octets. "{n+}" (LITERAL+) needs none. The message literal of APPEND is never
// buffered: the parser returns event::append_begin, then hands the octets over in pieces
// (event::literal_data), so a 50 MB APPEND never sits in the parser. Other literals (LOGIN
// password, SEARCH strings, mailbox names) are buffered up to command_limits::max_literal_size.
//
// Errors never throw. A malformed command gives event::error with error() and, when it was
// readable, tag(); the parser has consumed the whole failed command (the rest of the line, and
// any non-synchronising literal in it), so the server answers "<tag> BAD ..." once and goes on.
// When the error is found at a synchronising literal header, the command ends there: the client
// waits for a continuation and takes the tagged BAD as the end of the command (RFC 3501 7.5).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <variant>
#include <vector>

#include "mailharness/imap/error.hpp"
#include "mailharness/imap/types.hpp"

namespace mailharness::imap {

namespace detail {
struct command_parser_impl;
}

enum class verb : std::uint8_t {
    unknown,
    capability, noop, logout,                     // any state, RFC 3501 6.1
    starttls, authenticate, login,                // not authenticated, 6.2
    select, examine, create, delete_, rename,     // authenticated, 6.3
    subscribe, unsubscribe, list, lsub, status, append,
    check, close, expunge, search, fetch, store,  // selected, 6.4
    copy, move,
    idle, namespace_, id, enable, unselect,       // extensions
};

/// The canonical upper-case command name ("FETCH"); "" for verb::unknown.
std::string_view to_string(verb v) noexcept;

// --- arguments, one struct per command shape. All string_views point into the parser's buffer
// and are valid until the next put() or reset(). Mailbox names are as sent (modified UTF-7, see
// mutf7_decode()), except that any case of INBOX is given as "INBOX". ---

struct authenticate_args {
    std::string_view mechanism;  ///< auth-type atom as sent
    /// SASL-IR (RFC 4959) initial response, base64 as sent; "" for "=" (an empty response).
    std::optional<std::string_view> initial_response;
};

struct login_args {
    std::string_view user;
    std::string_view password;
};

/// CREATE, DELETE, SUBSCRIBE, UNSUBSCRIBE.
struct mailbox_args {
    std::string_view mailbox;
};

/// SELECT, EXAMINE.
struct select_args {
    std::string_view mailbox;
    bool condstore = false;  ///< "(CONDSTORE)" select parameter, RFC 7162 3.1.8
};

struct rename_args {
    std::string_view from;
    std::string_view to;
};

/// LIST, LSUB.
struct list_args {
    std::string_view reference;
    std::string_view pattern;  ///< list-mailbox, may hold "%" and "*"
};

enum class status_item : std::uint8_t { messages, recent, uidnext, uidvalidity, unseen, highestmodseq, size };
std::string_view to_string(status_item s) noexcept;

struct status_args {
    std::string_view mailbox;
    std::vector<status_item> items;  ///< in the order sent (duplicates kept)
};

struct append_args {
    std::string_view mailbox;
    std::vector<std::string_view> flags;  ///< empty when no flag list (or "()") was sent
    std::optional<date_time> internal_date;
    std::uint64_t size = 0;  ///< octets of the message literal
    bool non_sync = false;   ///< "{n+}": no continuation was asked for
};

enum class search_key_kind : std::uint8_t {
    all, answered, bcc, before, body, cc, deleted, draft, flagged, from, header, keyword, larger,
    new_, not_, old, on, or_, recent, seen, sentbefore, senton, sentsince, since, smaller, subject,
    text, to, uid, unanswered, undeleted, undraft, unflagged, unkeyword, unseen,
    sequence_set,  ///< a sequence set as a key
    group,         ///< "(" key *(SP key) ")": all children must match
    modseq,        ///< RFC 7162 MODSEQ [entry-name entry-type] mod-sequence-valzer
};
std::string_view to_string(search_key_kind k) noexcept;

inline constexpr std::uint32_t no_node = 0xFFFFFFFFu;

/// One node of a search program. Children (NOT: one, OR: two, group: one or more) are linked by
/// first_child / next_sibling indices into search_args::keys.
struct search_key {
    search_key_kind kind = search_key_kind::all;
    std::string_view field;  ///< HEADER field name; MODSEQ entry name
    std::string_view value;  ///< string argument (BODY, FROM, HEADER value, ...); KEYWORD flag;
                             ///< MODSEQ entry type ("priv", "shared", "all")
    std::uint64_t number = 0;   ///< LARGER / SMALLER size; MODSEQ value
    imap::date date{};          ///< BEFORE, ON, SINCE, SENT*
    std::uint32_t set = 0;      ///< sequence_set / uid: index into search_args::sets
    std::uint32_t first_child = no_node;
    std::uint32_t next_sibling = no_node;
};

/// ESEARCH RETURN options (RFC 4731 section 3.1), a bit mask.
enum search_return : std::uint8_t {
    return_min = 1, return_max = 2, return_all = 4, return_count = 8, return_save = 16,
};

struct search_args {
    /// "RETURN (...)" was given: answer with ESEARCH. An empty list means ALL (RFC 4731 3.1).
    bool esearch = false;
    std::uint8_t return_options = 0;
    /// CHARSET as sent ("" when absent); only UTF-8 and US-ASCII are accepted.
    std::string_view charset;
    std::vector<search_key> keys;
    std::vector<sequence_set> sets;
    /// The top-level keys, all of which must match: first of a sibling chain in `keys`.
    std::uint32_t first_key = no_node;
};

enum class fetch_item : std::uint8_t {
    envelope, flags, internaldate, rfc822, rfc822_header, rfc822_size, rfc822_text,
    body,           ///< BODY without section: non-extensible BODYSTRUCTURE
    bodystructure,
    uid,
    body_section,   ///< BODY[...] / BODY.PEEK[...]
    modseq,         ///< RFC 7162
};

enum class section_text : std::uint8_t {
    none,               ///< BODY[] or BODY[1.2]: the whole message or part
    header,
    header_fields,
    header_fields_not,
    text,
    mime,               ///< only after a part number
};

/// RFC 3501 section-spec.
struct section {
    std::vector<std::uint32_t> part;  ///< "1.2.3" as {1,2,3}; empty for the top level
    section_text text = section_text::none;
    std::vector<std::string_view> fields;  ///< HEADER.FIELDS[.NOT] names as sent
    bool operator==(const section&) const = default;
};

struct fetch_att {
    fetch_item item = fetch_item::flags;
    bool peek = false;       ///< BODY.PEEK[...]: do not set \Seen
    imap::section section;   ///< body_section only
    bool partial = false;    ///< "<offset.length>" given
    std::uint32_t offset = 0;
    std::uint32_t length = 0;
};

enum class fetch_macro : std::uint8_t { none, all, fast, full };

struct fetch_args {
    sequence_set set;
    /// The attributes; a macro is expanded here (ALL = FLAGS INTERNALDATE RFC822.SIZE ENVELOPE).
    std::vector<fetch_att> atts;
    fetch_macro macro = fetch_macro::none;
    std::optional<std::uint64_t> changedsince;  ///< "(CHANGEDSINCE n)" modifier, RFC 7162 3.1.4
};

enum class store_mode : std::uint8_t { replace, add, remove };

struct store_args {
    sequence_set set;
    std::optional<std::uint64_t> unchangedsince;  ///< RFC 7162 3.1.3
    store_mode mode = store_mode::replace;
    bool silent = false;
    std::vector<std::string_view> flags;
};

/// COPY, MOVE.
struct copy_args {
    sequence_set set;
    std::string_view mailbox;
};

/// UID EXPUNGE (RFC 4315).
struct expunge_args {
    sequence_set set;
};

struct enable_args {
    std::vector<std::string_view> capabilities;
};

struct id_args {
    bool nil = true;  ///< "ID NIL"
    std::vector<std::pair<std::string_view, std::optional<std::string_view>>> params;
};

using command_args = std::variant<std::monostate, authenticate_args, login_args, mailbox_args, select_args,
                                  rename_args, list_args, status_args, append_args, search_args, fetch_args,
                                  store_args, copy_args, expunge_args, enable_args, id_args>;

struct command {
    std::string_view tag;
    imap::verb verb = verb::unknown;
    bool uid = false;  ///< "UID FETCH" etc.
    command_args args;
};

/// Bounds of the command parser, with defaults after Dovecot's.
struct command_limits {
    /// Longest command without its literals' contents, CRLFs not counted (Dovecot's
    /// imap_max_line_length, 64 KiB). Longer: errc::line_too_long, the command is discarded.
    std::size_t max_line_length = 65536;
    /// Largest literal other than the APPEND message (buffered): errc::literal_too_large.
    std::uint64_t max_literal_size = 65536;
    /// Largest APPEND message literal (streamed, never buffered): errc::message_too_large.
    std::uint64_t max_append_size = 64u << 20;
    /// Deepest nesting of parenthesised lists, and of SEARCH NOT/OR/groups: errc::too_deep.
    std::size_t max_depth = 64;
    /// Most tokens (atoms, strings, literals; not parentheses) in one command.
    std::size_t max_arguments = 10000;
    /// Most comma-separated items in one sequence set: errc::sequence_set_too_large.
    std::size_t max_sequence_ranges = 10000;
    /// Accept 8-bit octets in atoms and quoted strings (UTF-8 from RFC 6855 clients).
    bool allow_8bit = true;
};

enum class event : std::uint8_t {
    need_more,     ///< every octet given was consumed; feed more
    continuation,  ///< a synchronising literal was announced: write "+ ...\r\n", keep feeding
    append_begin,  ///< APPEND message literal announced: get() holds the APPEND so far
                   ///< (mailbox, flags, date, size); if !append().non_sync write "+ ...\r\n"
    literal_data,  ///< literal_data() holds the next piece of the APPEND message
    command,       ///< get() holds a complete command
    line,          ///< after expect_line(): line() holds the raw line
    error,         ///< error() (and tag() if readable): answer BAD; the command is consumed
};

struct put_result {
    std::size_t consumed = 0;
    imap::event event = event::need_more;
};

/// Incremental command parser.
///
/// Usage:
///     for (;;) {
///         if (buf.empty()) read_more(buf);
///         auto [n, ev] = p.put(buf);
///         consume(buf, n);
///         switch (ev) {
///             case event::continuation: write("+ Ready\r\n"); break;
///             case event::append_begin: open_temp(p.get()); if (!p.append().non_sync) write("+ Ready\r\n"); break;
///             case event::literal_data: write_temp(p.literal_data()); break;
///             case event::command: execute(p.get()); break;
///             case event::error: write(tag_or_star(p.tag()) + " BAD " + p.error().message()); break;
///             ...
///         }
///     }
/// put() stops after each event so that the caller can act on it before feeding the octets after
/// it; it never needs to be called with empty input to make progress. Everything the parser hands
/// out (get(), tag(), line(), literal_data()) is valid until the next put() or reset().
class command_parser {
public:
    explicit command_parser(command_limits limits = {});
    ~command_parser();
    command_parser(command_parser&&) noexcept;
    command_parser& operator=(command_parser&&) noexcept;

    /// Consumes octets of `in` up to and including the one that completes an event.
    put_result put(std::string_view in);

    /// The command (event::command), or the APPEND command so far (event::append_begin).
    const command& get() const noexcept;
    /// The APPEND arguments (valid at event::append_begin, literal_data and command of APPEND).
    const append_args& append() const noexcept;
    /// The piece of APPEND message given by the last event::literal_data.
    std::string_view literal_data() const noexcept;
    /// True after the event::literal_data that carried the last octet of the message.
    bool literal_done() const noexcept;
    /// After event::error: the error.
    std::error_code error() const noexcept;
    /// The tag of the command in error, "" when none could be read (answer "* BAD").
    std::string_view tag() const noexcept;
    /// After event::line: the line without CRLF.
    std::string_view line() const noexcept;

    /// Makes the next line raw (event::line) instead of a command: the "DONE" ending IDLE
    /// (RFC 2177), a SASL response during AUTHENTICATE (RFC 3501 6.2.2). Bounded by
    /// max_line_length; literal headers are not interpreted.
    void expect_line() noexcept;

    /// Forgets any partial command (e.g. after STARTTLS, RFC 3501 6.2.1: data buffered before the
    /// TLS handshake must be discarded).
    void reset();

    const command_limits& limits() const noexcept;

private:
    std::unique_ptr<detail::command_parser_impl> impl_;
};

/// True for the line that ends IDLE ("DONE", any case, RFC 2177).
bool is_idle_done(std::string_view line) noexcept;

/// The SASL response line "*" cancels AUTHENTICATE (RFC 3501 6.2.2).
inline bool is_sasl_cancel(std::string_view line) noexcept { return line == "*"; }

}  // namespace mailharness::imap

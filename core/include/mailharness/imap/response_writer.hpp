// IMAP responses (server side): serializers appending to a std::string.
//
// RFC 3501 section 7 and 9: status responses ("* OK", "tag NO [CODE] text"), untagged data,
// continuation requests, strings as atom / quoted / literal, mailbox names (modified UTF-7),
// flag lists, FETCH response items, and ENVELOPE / BODYSTRUCTURE from a small value model.
// Nothing here can produce a line that breaks the framing: text with CR, LF or NUL is refused
// (errc::invalid_argument, nothing appended), and strings that cannot be quoted become literals.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "mailharness/imap/error.hpp"
#include "mailharness/imap/types.hpp"

namespace mailharness::imap {

enum class status : std::uint8_t { none, ok, no, bad, preauth, bye };
std::string_view to_string(status s) noexcept;

/// Appends "<tag|*> <STATUS>[ [code]] text\r\n". An empty tag writes "*" (untagged status).
/// `code` is the response code without brackets ("UIDVALIDITY 3857529045", "APPENDUID 38505 3955").
/// Fails (errc::invalid_argument, nothing appended) for status::none, an invalid tag, CR/LF/NUL in
/// code or text, or "]" in code. RFC 3501 wants text to be non-empty: an empty text becomes the
/// status name ("OK").
std::error_code write_status(std::string& out, std::string_view tag, status st, std::string_view code = {},
                             std::string_view text = {});

/// Appends "* text\r\n" (untagged data, already serialized). Fails on CR/LF/NUL in `text`.
std::error_code write_untagged(std::string& out, std::string_view text);

/// Appends "+ text\r\n" (or "+ \r\n"); for AUTHENTICATE, text is the base64 challenge.
std::error_code write_continuation(std::string& out, std::string_view text = {});

/// Appends `s` as an astring: an atom when it is one (and not "NIL"), else a quoted string when
/// it has no CR, LF, NUL or 8-bit octet and is at most 1024 octets, else a literal.
void write_astring(std::string& out, std::string_view s);
/// Appends `s` as a string (quoted, or literal as above). Use for nstring/string fields.
void write_string(std::string& out, std::string_view s);
/// NIL for nullopt, else write_string().
void write_nstring(std::string& out, const std::optional<std::string_view>& s);
/// Appends "{n}\r\n" followed by `s`.
void write_literal(std::string& out, std::string_view s);
/// Appends only "{n}\r\n"; the caller then sends n octets (streaming a large body).
void write_literal_header(std::string& out, std::uint64_t size);
void write_number(std::string& out, std::uint64_t n);

/// Appends a mailbox name given in UTF-8: "INBOX" for any case of inbox, otherwise modified
/// UTF-7 (RFC 3501 5.1.3) written as an astring. With utf8 (RFC 6855 UTF8=ACCEPT enabled) the
/// name is written as UTF-8 instead. Fails with errc::invalid_mailbox_name on invalid UTF-8.
std::error_code write_mailbox(std::string& out, std::string_view utf8_name, bool utf8 = false);

/// Appends "(" flags separated by SP ")". Flags are written as given (they are atoms).
void write_flag_list(std::string& out, std::span<const std::string_view> flags);
void write_flag_list(std::string& out, std::initializer_list<std::string_view> flags);

/// A small value model for nested IMAP data (ENVELOPE, BODYSTRUCTURE, anything else).
struct value {
    enum class kind : std::uint8_t { nil, number, string, atom, list };
    value::kind type = kind::nil;
    std::string text;            ///< string / atom
    std::uint64_t number = 0;    ///< number
    std::vector<value> items;    ///< list

    static value nil() { return {}; }
    static value num(std::uint64_t n) { return {kind::number, {}, n, {}}; }
    static value str(std::string s) { return {kind::string, std::move(s), 0, {}}; }
    static value nstr(const std::optional<std::string>& s) { return s ? str(*s) : nil(); }
    static value atom(std::string s) { return {kind::atom, std::move(s), 0, {}}; }
    static value list(std::vector<value> v) { return {kind::list, {}, 0, std::move(v)}; }
    bool operator==(const value&) const = default;
};

/// Appends `v`: NIL, a number, a string (write_string), an atom as is, "(" items ")".
void write_value(std::string& out, const value& v);

/// RFC 3501 7.4.2 address: (name adl mailbox host).
struct address {
    std::optional<std::string> name, adl, mailbox, host;
};

/// RFC 3501 7.4.2 ENVELOPE.
struct envelope {
    std::optional<std::string> date, subject;
    std::vector<address> from, sender, reply_to, to, cc, bcc;
    std::optional<std::string> in_reply_to, message_id;
};
/// The ENVELOPE list; empty address lists are NIL.
value to_value(const envelope& e);

/// One body part for BODY / BODYSTRUCTURE (RFC 3501 7.4.2). A multipart has `parts` and
/// type "multipart"; a message/rfc822 part has `message_envelope` and one entry in `parts`.
struct body_part {
    std::string type = "text", subtype = "plain";
    std::vector<std::pair<std::string, std::string>> params;  ///< ("charset", "utf-8")
    std::optional<std::string> id, description;
    std::string encoding = "7bit";
    std::uint64_t size = 0;   ///< octets of the encoded body
    std::uint64_t lines = 0;  ///< text/* and message/rfc822 only
    std::optional<imap::envelope> message_envelope;
    std::vector<body_part> parts;
    /// Extension data for BODYSTRUCTURE: disposition ("attachment", params) and language.
    std::optional<std::pair<std::string, std::vector<std::pair<std::string, std::string>>>> disposition;
    std::optional<std::string> md5, language;
    /// Content-Language tags; when non-empty they are sent as a list (as Dovecot does) instead
    /// of `language`.
    std::vector<std::string> languages;
    /// Content-Location (RFC 2557), body-fld-loc: sent after the language when set or when
    /// `send_location` (then NIL when absent; Dovecot always sends it).
    std::optional<std::string> location;
    bool send_location = false;
};
/// BODYSTRUCTURE (extensible = true) or BODY (false).
value to_value(const body_part& b, bool extensible);

/// Builds one "* n FETCH (...)" response item by item.
///     fetch_writer w(out, 12);
///     w.uid(4827313); w.flags({"\\Seen"}); w.body_section("BODY[]", message); w.finish();
/// For a large body, body_section_header("BODY[]", size) writes "BODY[] {size}\r\n"; the
/// caller appends the octets, then goes on with the next item or finish().
class fetch_writer {
public:
    fetch_writer(std::string& out, std::uint32_t seq);
    void flags(std::span<const std::string_view> f);
    void flags(std::initializer_list<std::string_view> f) { flags(std::span<const std::string_view>(f.begin(), f.size())); }
    void uid(std::uint32_t u);
    void rfc822_size(std::uint64_t n);
    void modseq(std::uint64_t m);  ///< "MODSEQ (m)" (RFC 7162)
    void internaldate(const date_time& dt);
    void envelope(const imap::envelope& e);
    void bodystructure(const body_part& b);
    void body(const body_part& b);
    /// "name " + value, for anything else.
    void item(std::string_view name, const value& v);
    /// name ("BODY[]", "BODY[1.MIME]", "BODY[]<0>", "RFC822.HEADER") followed by the data as a
    /// literal (NIL when nullopt).
    void body_section(std::string_view name, std::optional<std::string_view> data);
    void body_section_header(std::string_view name, std::uint64_t size);
    /// Appends ")\r\n".
    void finish();

private:
    void sep();
    std::string& out_;
    bool first_ = true;
};

}  // namespace mailharness::imap

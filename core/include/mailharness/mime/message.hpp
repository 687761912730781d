// A parsed RFC 5322 / MIME message for the IMAP server's FETCH and SEARCH (RFC 3501 6.4.4,
// 6.4.5, 7.4.2). Structure, RFC 2047 / RFC 2231 decoding, addresses and content decoding come
// from GMime 3; this header keeps GMime (and glib) out of its includers.
//
// Everything is counted on the CRLF form of the message (the IMAP wire form): sizes, line
// counts, sections. A section is a substring of text() found by offsets, except HEADER.FIELDS
// and HEADER.FIELDS.NOT, which are built from the matching fields.
//
// Nothing here throws on bad input or fails to parse: malformed MIME still gives a structure.
// Where RFC 3501 leaves a choice, the behaviour is Dovecot's (see each function).
#pragma once

#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "mailharness/imap/command.hpp"
#include "mailharness/imap/response_writer.hpp"
#include "mailharness/imap/types.hpp"

namespace mailharness::mime {

/// Appends `in` to `out` with every bare LF (and bare CR) turned into CRLF: the IMAP wire form.
/// CRLF pairs are kept as they are.
void to_crlf(std::string_view in, std::string& out);

/// UTF-8 case-insensitive substring test: both sides are normalized (NFC) and case folded
/// (Unicode full case folding, so "GRÜSSE", "grüße" and "GRÜẞE" all match one another). Invalid
/// UTF-8 is first replaced by U+FFFD. An empty needle matches everything.
bool contains_ci(std::string_view haystack, std::string_view needle);

struct parse_limits {
    /// Multipart and message/rfc822 nesting deeper than this is an opaque leaf: its body is
    /// still there as octets, but it has no parts (a multipart then shows as one empty
    /// text/plain part, as Dovecot shows a multipart without parts).
    std::size_t max_depth = 32;
};

/// A message parsed for FETCH and SEARCH. The text is the CRLF form of the message; every
/// size, line count, section and partial range is counted on it (RFC 3501: sizes as sent).
/// Immutable after parse(); copies share the parsed structure; distinct messages may be used
/// from distinct threads.
class message {
public:
    /// Parses `crlf_text` (already CRLF, see to_crlf; stray bare LFs are tolerated but then
    /// counted as they are). Never fails: a message that is not MIME is one text/plain part
    /// (RFC 3501 7.4.2), a multipart whose boundary is missing or broken gives the parts that
    /// could be found, an empty input is a message with an empty header and body.
    /// Linear in the size of the text (one GMime pass plus short scans around boundaries).
    static message parse(std::string crlf_text, const parse_limits& limits = {});

    message();  ///< an empty message, as parse("")
    ~message();
    message(const message&);
    message& operator=(const message&);
    message(message&&) noexcept;
    message& operator=(message&&) noexcept;

    const std::string& text() const noexcept;
    std::size_t size() const noexcept { return text().size(); }  ///< RFC822.SIZE

    /// RFC 3501 7.4.2 ENVELOPE of the top-level header. Strings are the raw field values,
    /// unfolded (CRLF removed) and trimmed, RFC 2047 encoded words kept encoded (Dovecot);
    /// a missing field is NIL. Address names are the raw phrases (quotes removed); groups are
    /// (NIL NIL "name" NIL) ... (NIL NIL NIL NIL); a mailbox without a domain gets host
    /// "MISSING_DOMAIN" and an empty local part "MISSING_MAILBOX" (Dovecot: NIL host would mean a
    /// group). `sender` and `reply_to` are left empty when absent; to_value() sends From.
    imap::envelope envelope() const;

    /// BODYSTRUCTURE with extension data filled; to_value(b, false) of the same value is BODY.
    /// Types, subtypes and parameter names as in the message (Dovecot); a part without
    /// Content-Type is "text" "plain"; every text/* part has a charset parameter ("us-ascii"
    /// when none is given); encoding defaults to "7bit"; size is the body's octets and lines its
    /// line count (text/* and message/rfc822), both on the CRLF text; languages and location
    /// are always written (NIL when absent), as Dovecot does.
    imap::body_part body_structure() const;

    /// BODY[section] without the partial range (the caller applies <offset.length>). Returns
    /// nullopt when the part does not exist (the server then sends an empty string, as Dovecot).
    /// Part numbers go into multiparts and message/rfc822 parts; part 1 of a non-multipart is
    /// its body. For a message/rfc822 part, N.HEADER, N.TEXT and N.HEADER.FIELDS refer to the
    /// encapsulated message and N.1 to its body part(s); they do not exist for other parts.
    ///  - HEADER: the header including the blank line after it (if there is one).
    ///  - HEADER.FIELDS (a b) / .NOT: the fields whose names match (or not), case-insensitively,
    ///    each as in the message (folded lines included), then a blank line. Built into
    ///    `storage`; the result views it.
    ///  - TEXT: the body after the header; MIME: the part's own header and blank line.
    /// Every other result views text(): valid as long as this message is.
    std::optional<std::string_view> section(const imap::section& s, std::string& storage) const;

    /// SEARCH HEADER / FROM / TO / CC / BCC / SUBJECT (RFC 3501 6.4.4): true when a top-level
    /// field named `field` (case-insensitive) has a value, RFC 2047 decoded to UTF-8, that
    /// contains `needle` (contains_ci). An empty needle matches when the field is present.
    bool header_contains(std::string_view field, std::string_view needle) const;

    /// SEARCH BODY: the text of the text/* parts (in encapsulated messages too),
    /// transfer-decoded (base64, quoted-printable, uuencode) and converted from their charset
    /// to UTF-8 where GMime can, contains `needle` (contains_ci).
    bool body_contains(std::string_view needle) const;

    /// SEARCH TEXT: any top-level header field (decoded) or the body, as body_contains().
    bool text_contains(std::string_view needle) const;

    /// The Date: field as a calendar date in the field's own zone (SENTBEFORE / SENTON /
    /// SENTSINCE); nullopt when there is none or it cannot be parsed.
    std::optional<imap::date> sent_date() const;

    struct impl;  ///< the parsed structure (offsets into text()), defined in message.cpp

private:
    std::string text_;
    std::shared_ptr<const impl> impl_;
};

}  // namespace mailharness::mime

// IMAP responses (client side): a push parser for server responses, for a load generator, a
// conformance runner and a probe. RFC 3501 section 7 and 9, UIDPLUS (RFC 4315) and CONDSTORE
// (RFC 7162) response codes.
//
// Sans-I/O in the manner of the command parser: put() takes octets, returns how many it consumed
// and at most one event. Untagged data is parsed into a tree of values (atoms, numbers, strings,
// literals, NIL, lists); a FETCH response is also split item by item. Literals up to
// response_limits::max_buffered_literal are kept; larger ones (a BODY[] of a big message) are
// handed out in pieces (event::literal_data) and only their size is kept in the tree.
// Status responses (OK/NO/BAD/PREAUTH/BYE) never contain literals: their text runs to the CRLF.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "mailharness/imap/command.hpp"
#include "mailharness/imap/error.hpp"
#include "mailharness/imap/response_writer.hpp"
#include "mailharness/imap/types.hpp"

namespace mailharness::imap {

namespace detail {
struct response_parser_impl;
}

enum class response_kind : std::uint8_t {
    untagged,      ///< "* ..."
    tagged,        ///< "tag OK|NO|BAD ..."
    continuation,  ///< "+ ..."
};

inline constexpr std::uint32_t no_value = 0xFFFFFFFFu;

/// One node of the data tree. Views point into the parser's buffer.
struct data_value {
    enum class kind : std::uint8_t { atom, number, quoted, literal, streamed, nil, list };
    data_value::kind type = kind::atom;
    std::string_view text;      ///< atom / number as sent; quoted (unescaped) / literal contents
    std::uint64_t number = 0;   ///< number value; streamed literal size
    std::uint32_t first_child = no_value;  ///< list
    std::uint32_t next_sibling = no_value;
};

/// A response code "[NAME args]" (RFC 3501 7.1, RFC 4315, RFC 7162).
struct response_code {
    std::string_view name;  ///< as sent ("UIDVALIDITY")
    std::string_view text;  ///< everything after the name up to "]" (may be empty)
    /// UIDVALIDITY, UIDNEXT, UNSEEN, HIGHESTMODSEQ value; APPENDUID / COPYUID uidvalidity.
    std::uint64_t number = 0;
    /// APPENDUID: the new UID(s); COPYUID: the source UIDs; MODIFIED: the set.
    sequence_set set;
    /// COPYUID: the destination UIDs.
    sequence_set set2;
    /// CAPABILITY atoms, PERMANENTFLAGS flags, BADCHARSET charsets.
    std::vector<std::string_view> list;
};

/// One item of a FETCH response.
struct fetch_response_item {
    std::string_view name;              ///< as sent: "UID", "BODY[HEADER.FIELDS (From)]<0>"
    std::optional<fetch_item> item;     ///< the item, when known (BODY[...] gives body_section)
    std::string_view section;           ///< text between "[" and "]" for body_section
    std::optional<std::uint32_t> origin;  ///< "<n>" after the section
    std::uint32_t value = no_value;     ///< index into response::values
};

struct response {
    response_kind kind = response_kind::untagged;
    std::string_view tag;
    /// OK/NO/BAD/PREAUTH/BYE; none for untagged data and continuations.
    imap::status status = status::none;
    std::optional<response_code> code;
    /// Status text, or the continuation text (base64 challenge during AUTHENTICATE).
    std::string_view text;
    /// "* 23 EXISTS", "* 5 FETCH ...": the number.
    std::optional<std::uint32_t> number;
    /// Untagged data name as sent: "EXISTS", "FETCH", "CAPABILITY", "LIST", "SEARCH", ...
    std::string_view name;
    /// Data values after the name: `first` is the first top-level value, siblings follow.
    std::vector<data_value> values;
    std::uint32_t first = no_value;
    /// FETCH items in the order sent.
    std::vector<fetch_response_item> fetch;
};

struct response_limits {
    /// Longest response without its literals' contents, CRLFs not counted.
    std::size_t max_line_length = 1u << 20;
    /// Largest literal accepted (buffered or streamed): errc::literal_too_large.
    std::uint64_t max_literal_size = std::uint64_t{1} << 32;
    /// Literals larger than this are streamed (event::literal_data) instead of kept.
    std::uint64_t max_buffered_literal = 65536;
    std::size_t max_depth = 64;
    std::size_t max_arguments = 1000000;
    std::size_t max_sequence_ranges = 100000;
};

enum class response_event : std::uint8_t {
    need_more,     ///< every octet given was consumed
    literal_data,  ///< literal_data() holds the next piece of a large literal (see literal_item())
    response,      ///< get() holds a complete response
    error,         ///< error(): the response was malformed; it has been skipped
};

struct response_put_result {
    std::size_t consumed = 0;
    response_event event = response_event::need_more;
};

/// Incremental response parser. Everything it hands out is valid until the next put() or reset().
/// After an error the rest of the malformed response is skipped (literal-aware) before the error
/// is reported, so the parser can go on; a client will usually close the connection anyway.
class response_parser {
public:
    explicit response_parser(response_limits limits = {});
    ~response_parser();
    response_parser(response_parser&&) noexcept;
    response_parser& operator=(response_parser&&) noexcept;

    response_put_result put(std::string_view in);

    const response& get() const noexcept;
    std::error_code error() const noexcept;
    /// The piece of a streamed literal given by the last event::literal_data (a view into `in`).
    std::string_view literal_data() const noexcept;
    /// The streamed literal: the FETCH item name it belongs to ("" outside FETCH), the message
    /// number, its total size.
    std::string_view literal_item() const noexcept;
    std::uint32_t literal_message() const noexcept;
    std::uint64_t literal_size() const noexcept;
    void reset();

private:
    std::unique_ptr<detail::response_parser_impl> impl_;
};

/// Parses a response code's inside ("UIDVALIDITY 3857529045") into `out`. errc::invalid_response_code.
std::error_code parse_response_code(std::string_view inside, response_code& out, std::size_t max_ranges = 100000);

/// Children of list value `index` in `r` (empty for non-lists).
std::vector<std::uint32_t> children(const response& r, std::uint32_t index);

}  // namespace mailharness::imap

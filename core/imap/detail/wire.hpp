// Wire layer shared by the command and response parsers: framing of line fragments and literals,
// and tokenizing of one fragment. Private to core/imap.
//
// An IMAP command (or response) is a sequence of line fragments, each but the last ending in a
// literal header "{n}" / "{n+}" whose n octets follow the CRLF. The framer delivers fragments and
// literal octets; the owner tokenizes each fragment and decides, per literal, whether to store it,
// stream it to the caller, or skip it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "mailharness/imap/error.hpp"

namespace mailharness::imap::detail {

/// "No error" for functions returning errc directly (errc has no zero enumerator).
inline constexpr errc ok = errc{};

class framer {
public:
    enum class ev {
        need_more,      ///< all given bytes consumed (or the step continues in another mode)
        line,           ///< a fragment is complete: fragment_offset()/buffer(); CRLF stripped
        overflow,       ///< the message's non-literal octets exceed max_line; call skip_rest()
        literal_chunk,  ///< chunk() holds streamed literal octets
        literal_end,    ///< a stored literal is complete; the next fragment follows
        skip_end,       ///< the skipped message is over
    };
    struct result {
        std::size_t consumed = 0;
        ev what = ev::need_more;
    };

    /// Longest sum of non-literal octets of one message (CRLFs not counted).
    std::size_t max_line = 65536;
    /// Command side: "{n+}" is a literal, and while skipping, a synchronising literal ends the
    /// message (the peer waits for a continuation it will not get). Response side: only "{n}",
    /// always followed by its octets.
    bool command_side = true;

    /// Starts a new message: forgets the buffer and counters.
    void start();
    /// Consumes bytes of `in` until one event (never more than one line or one literal piece).
    result step(std::string_view in);

    std::string& buffer() noexcept { return buf_; }
    const std::string& buffer() const noexcept { return buf_; }
    std::size_t fragment_offset() const noexcept { return frag_; }
    /// After ev::line: follow with `size` literal octets, stored in the buffer or streamed.
    void begin_literal(std::uint64_t size, bool stream);
    /// Discards the rest of the message, literal-aware. Keeps the buffer before the fragment.
    void skip_rest();
    /// After ev::line that ended in an unwanted literal header: skip the literal, then the rest.
    void skip_literal_then_rest(std::uint64_t size);
    std::string_view chunk() const noexcept { return chunk_; }
    std::uint64_t literal_left() const noexcept { return left_; }
    bool skipping() const noexcept { return mode_ == mode::skip_line || mode_ == mode::skip_literal; }

private:
    enum class mode { line, literal_store, literal_stream, skip_line, skip_literal };

    std::string buf_;
    std::string tail_;  // last octets of the skipped line (to spot a literal header at its end)
    std::string_view chunk_;
    std::size_t frag_ = 0;
    std::size_t line_bytes_ = 0;
    std::uint64_t left_ = 0;
    mode mode_ = mode::line;
};

/// A literal header "{n}" / "{n+}" at the end of `s`.
struct literal_header {
    bool present = false;
    bool non_sync = false;
    bool overflow = false;  ///< n does not fit 64 bits
    std::uint64_t size = 0;
};
literal_header trailing_literal(std::string_view s, bool allow_non_sync) noexcept;

enum class tok : std::uint8_t {
    word,      ///< atom-like run (may hold "[...]" after BODY/BINARY prefixes)
    quoted,    ///< quoted string, unescaped in place; off/len give its content
    literal,   ///< stored literal content
    streamed,  ///< literal handed to the caller; `size` octets
    pending,   ///< literal announced at the end of the latest fragment, not read yet
    lparen,
    rparen,
};

struct token {
    tok kind = tok::word;
    bool non_sync = false;
    std::size_t off = 0;
    std::size_t len = 0;
    std::uint64_t size = 0;
};

struct tokenizer {
    std::size_t max_depth = 64;
    std::size_t max_arguments = 10000;
    bool allow_8bit = true;
    bool allow_non_sync = true;
    std::size_t depth = 0;
    std::size_t count = 0;

    void reset() noexcept { depth = count = 0; }
    /// Tokenizes buf[off, end). `after_literal`: the fragment continues after a literal. A literal
    /// header at the end appends a `pending` token and fills `lit`.
    errc run(std::string& buf, std::size_t off, bool after_literal, std::vector<token>& out,
             literal_header& lit);
};

}  // namespace mailharness::imap::detail

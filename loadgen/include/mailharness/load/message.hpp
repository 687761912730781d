// Message generators: the mail a workload sends, built so that sending one costs no copy and no
// allocation of its body.
//
// A generated message is headers (a few hundred octets, written per message into a reused
// buffer), then a prefix of one shared, pre-generated text of printable 76-character lines, then
// one short last line: three buffers for one gather write. Sizes are exact (headers included).
// No line starts with '.', so the same bytes serve DATA (no dot-stuffing needed) and BDAT.
//
// A folder of .eml files is read once: line endings become CRLF, and each file is kept both as it
// is (for BDAT) and dot-stuffed (for DATA).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "mailharness/load/scenario.hpp"
#include "mailharness/load/schedule.hpp"

namespace mailharness::load {

/// One message as up to three consecutive parts. Views into the source's shared text and the
/// caller's scratch buffer: valid until the next build() with the same scratch.
struct message_parts {
    std::string_view head;
    std::string_view body;
    std::string_view tail;
    std::uint64_t size() const noexcept { return head.size() + body.size() + tail.size(); }
};

class message_source {
public:
    /// Builds the shared text (generated: as long as the largest size asked; eml: every file).
    /// Returns nullptr and sets `error` when the eml folder cannot be read or is too large
    /// (256 MiB in all).
    static std::unique_ptr<message_source> make(const message_spec& spec, std::uint64_t seed, std::string& error);

    /// Draws a size (generated messages) or a file (eml) with `r` and lays out the message for
    /// `from` and the first recipient `to` in `scratch`. `stuffed`: the DATA form (eml files are
    /// dot-stuffed; generated text needs none); otherwise the BDAT form. Parts end with CRLF.
    message_parts build(rng& r, std::string_view from, std::string_view to, std::uint64_t number, std::string& scratch,
                        bool stuffed) const;

    const message_spec& spec() const noexcept { return spec_; }

    /// Octets of shared text held.
    std::size_t footprint() const noexcept;

private:
    explicit message_source(const message_spec& s) : spec_(s) {}
    std::uint64_t draw_size(rng& r) const;

    message_spec spec_;
    std::string text_;  // generated: lines of 76 printable characters + CRLF
    struct eml {
        std::string raw;      // CRLF line endings, ends with CRLF
        std::string stuffed;  // the same, dot-stuffed
    };
    std::vector<eml> files_;
    std::string date_;    // Date: header value, made once
};

/// Length of one line of the generated text, CRLF included.
inline constexpr std::size_t generated_line_length = 78;

}  // namespace mailharness::load

// Fuzz target: MIME message parse (GMime underneath) and every accessor FETCH and SEARCH use.
// Sections must be substrings of the text (or built HEADER.FIELDS), sizes must fit in it.
// First byte: which CR/LF form the input gets and a part path for the sections.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "mailharness/mime/message.hpp"

namespace imap = mailharness::imap;
namespace mime = mailharness::mime;

namespace {

void check_sizes(const imap::body_part& b, std::size_t total, int depth) {
    if (b.size > total || depth > 200) __builtin_trap();
    for (const auto& p : b.parts) check_sizes(p, total, depth + 1);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0) return 0;
    std::uint8_t flags = data[0];
    std::string_view in(reinterpret_cast<const char*>(data) + 1, size - 1);
    std::string text;
    if (flags & 1) mime::to_crlf(in, text);
    else text.assign(in);
    auto m = mime::message::parse(text, {.max_depth = static_cast<std::size_t>(1 + (flags >> 4))});
    if (m.text() != text) __builtin_trap();

    std::string out;
    imap::write_value(out, imap::to_value(m.envelope()));
    auto bs = m.body_structure();
    check_sizes(bs, text.size(), 0);
    imap::write_value(out, imap::to_value(bs, true));
    imap::write_value(out, imap::to_value(bs, false));

    std::string storage;
    const char* begin = m.text().data();
    const char* end = begin + m.text().size();
    for (std::uint32_t a = 0; a <= 3; ++a) {
        for (std::uint32_t b = 0; b <= 3; ++b) {
            for (int t = 0; t <= 5; ++t) {
                imap::section s;
                if (a) s.part.push_back(a);
                if (a && b) s.part.push_back(b);
                if (flags & 2) s.part.push_back(1);
                s.text = static_cast<imap::section_text>(t);
                s.fields = {"subject", "From"};
                auto r = m.section(s, storage);
                if (!r) continue;
                bool in_text = r->empty() || (r->data() >= begin && r->data() + r->size() <= end);
                bool in_storage = r->data() == storage.data() && r->size() == storage.size();
                if (!in_text && !in_storage) __builtin_trap();
            }
        }
    }
    std::string_view needle = in.substr(0, 4);
    m.header_contains("subject", needle);
    m.header_contains("from", "");
    m.body_contains(needle);
    m.text_contains(needle);
    m.sent_date();
    mime::contains_ci(in, needle);
    return 0;
}

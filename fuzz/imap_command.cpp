// Fuzz target: IMAP command parser (server side). The input is fed whole and in chunks; both
// feeds must give the same events (a sans-I/O parser may not depend on how bytes arrive), and
// every event must keep the parser's promises. First byte: chunk size and limit flags.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "mailharness/imap/command.hpp"

namespace imap = mailharness::imap;

namespace {

std::vector<std::string> feed(std::string_view in, std::size_t chunk, const imap::command_limits& limits) {
    imap::command_parser p(limits);
    std::vector<std::string> events;
    std::uint64_t data = 0;
    while (!in.empty()) {
        std::string_view piece = in.substr(0, chunk);
        in.remove_prefix(piece.size());
        while (!piece.empty()) {
            auto [n, ev] = p.put(piece);
            if (n > piece.size()) __builtin_trap();
            if (ev == imap::event::need_more && n != piece.size()) __builtin_trap();
            if (ev != imap::event::need_more && ev != imap::event::literal_data && n == 0) __builtin_trap();
            piece.remove_prefix(n);
            switch (ev) {
                case imap::event::need_more: break;
                case imap::event::literal_data:
                    if (p.literal_data().empty() || p.literal_data().size() > n) __builtin_trap();
                    data += p.literal_data().size();
                    if (data > limits.max_append_size) __builtin_trap();
                    break;
                case imap::event::append_begin:
                    if (p.append().size > limits.max_append_size) __builtin_trap();
                    data = 0;
                    events.push_back("A" + std::to_string(p.append().size));
                    break;
                case imap::event::continuation: events.push_back("+"); break;
                case imap::event::command: {
                    const auto& c = p.get();
                    if (c.tag.empty() || c.verb == imap::verb::unknown) __builtin_trap();
                    if (c.verb == imap::verb::append && data != p.append().size) __builtin_trap();
                    if (auto* f = std::get_if<imap::fetch_args>(&c.args)) {
                        if (f->set.empty() || f->atts.empty() || f->set.ranges.size() > limits.max_sequence_ranges)
                            __builtin_trap();
                    }
                    if (auto* s = std::get_if<imap::search_args>(&c.args)) {
                        if (s->first_key >= s->keys.size()) __builtin_trap();
                        for (const auto& k : s->keys) {
                            if (k.first_child != imap::no_node && k.first_child >= s->keys.size()) __builtin_trap();
                            if (k.next_sibling != imap::no_node && k.next_sibling >= s->keys.size()) __builtin_trap();
                        }
                    }
                    events.push_back("C" + std::string(c.tag) + std::string(imap::to_string(c.verb)));
                    if (c.verb == imap::verb::idle) p.expect_line();
                    break;
                }
                case imap::event::line: events.push_back("L" + std::string(p.line())); break;
                case imap::event::error:
                    if (!p.error() || p.error().category() != imap::imap_category()) __builtin_trap();
                    events.push_back("E" + std::to_string(p.error().value()) + std::string(p.tag()));
                    break;
            }
        }
    }
    return events;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0) return 0;
    std::size_t chunk = 1 + data[0] % 13;
    imap::command_limits limits;
    if (data[0] & 0x10) {
        limits.max_line_length = 64;
        limits.max_literal_size = 16;
        limits.max_append_size = 32;
        limits.max_depth = 4;
        limits.max_arguments = 16;
        limits.max_sequence_ranges = 4;
    }
    limits.allow_8bit = (data[0] & 0x20) == 0;
    std::string_view in(reinterpret_cast<const char*>(data) + 1, size - 1);
    auto whole = feed(in, in.size() ? in.size() : 1, limits);
    auto split = feed(in, chunk, limits);
    if (whole != split) __builtin_trap();
    return 0;
}

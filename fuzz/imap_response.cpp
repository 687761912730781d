// Fuzz target: IMAP response parser (client side). Fed whole and in chunks, both feeds must give
// the same events; every value index must be in range. First byte: chunk size and limit flags.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "mailharness/imap/response.hpp"

namespace imap = mailharness::imap;

namespace {

void check_tree(const imap::response& r) {
    auto ok = [&](std::uint32_t i) { return i == imap::no_value || i < r.values.size(); };
    if (!ok(r.first)) __builtin_trap();
    for (const auto& v : r.values) {
        if (!ok(v.first_child) || !ok(v.next_sibling)) __builtin_trap();
        if (v.first_child != imap::no_value && v.type != imap::data_value::kind::list) __builtin_trap();
    }
    for (const auto& f : r.fetch) {
        if (f.value >= r.values.size() || f.name.empty()) __builtin_trap();
    }
}

std::vector<std::string> feed(std::string_view in, std::size_t chunk, const imap::response_limits& limits) {
    imap::response_parser p(limits);
    std::vector<std::string> events;
    std::uint64_t data = 0;
    while (!in.empty()) {
        std::string_view piece = in.substr(0, chunk);
        in.remove_prefix(piece.size());
        while (!piece.empty()) {
            auto [n, ev] = p.put(piece);
            if (n > piece.size()) __builtin_trap();
            if (ev == imap::response_event::need_more && n != piece.size()) __builtin_trap();
            piece.remove_prefix(n);
            switch (ev) {
                case imap::response_event::need_more: break;
                case imap::response_event::literal_data:
                    if (p.literal_data().empty()) __builtin_trap();
                    data += p.literal_data().size();
                    if (data > p.literal_size() * 64 || p.literal_size() <= limits.max_buffered_literal) __builtin_trap();
                    break;
                case imap::response_event::response: {
                    const auto& r = p.get();
                    check_tree(r);
                    if (r.kind == imap::response_kind::tagged && r.tag.empty()) __builtin_trap();
                    events.push_back("R" + std::to_string(static_cast<int>(r.kind)) + std::string(r.tag) + std::string(r.name) +
                                     std::to_string(r.values.size()) + "/" + std::to_string(r.fetch.size()) + "/" +
                                     std::to_string(data));
                    data = 0;
                    break;
                }
                case imap::response_event::error:
                    if (!p.error() || p.error().category() != imap::imap_category()) __builtin_trap();
                    events.push_back("E" + std::to_string(p.error().value()));
                    data = 0;
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
    imap::response_limits limits;
    if (data[0] & 0x10) {
        limits.max_line_length = 64;
        limits.max_literal_size = 64;
        limits.max_depth = 4;
        limits.max_arguments = 32;
        limits.max_sequence_ranges = 4;
    }
    if (data[0] & 0x20) limits.max_buffered_literal = 4;
    std::string_view in(reinterpret_cast<const char*>(data) + 1, size - 1);
    auto whole = feed(in, in.size() ? in.size() : 1, limits);
    auto split = feed(in, chunk, limits);
    if (whole != split) __builtin_trap();
    return 0;
}

// Fuzz target: refmaild's reader of Dovecot's dovecot-uidlist (reference-server/store uid_list)
// and the Maildir name functions applied to every name it accepts. The text is parsed whole and
// split in two at a point taken from its first byte: both must give the same result. An accepted
// list is well-formed (uids ascending and below next_uid, names valid), and what format_uid_list()
// writes parses back to the same list with no problem.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "mailharness/refmaild/maildir_name.hpp"
#include "mailharness/refmaild/uid_list.hpp"

namespace store = mailharness::refmaild::store;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view in(reinterpret_cast<const char*>(data), size);
    const store::uid_list_limits limits{.max_line = 512, .max_records = 1000, .max_problems = 50};
    const auto whole = store::parse_uid_list(in, limits);

    store::uid_list_parser split(limits);
    const std::size_t at = size == 0 ? 0 : data[0] % (size + 1);
    split.put(in.substr(0, at));
    split.put(in.substr(at));
    const auto parts = split.finish();
    if (parts.fatal != whole.fatal || !(parts.list == whole.list) || parts.problems.size() != whole.problems.size() ||
        parts.problems_dropped != whole.problems_dropped) {
        __builtin_trap();
    }

    if (whole.fatal) {
        if (!store::is_fatal(static_cast<store::uid_list_errc>(whole.fatal.value())) || !whole.list.entries.empty()) {
            __builtin_trap();
        }
        return 0;
    }
    for (const auto& p : whole.problems) {
        if (store::is_fatal(p.code) || p.line < 1) __builtin_trap();
    }
    const auto& list = whole.list;
    if (list.uid_validity == 0 || list.next_uid == 0 || list.entries.size() > limits.max_records) __builtin_trap();
    std::uint32_t prev = 0;
    for (const auto& e : list.entries) {
        if (e.uid <= prev || e.uid >= list.next_uid) __builtin_trap();
        if (e.base.empty() || e.base.find_first_of(std::string_view("/:\r\n\0", 5)) != std::string::npos) {
            __builtin_trap();
        }
        prev = e.uid;
        // The name functions on every accepted base: the base survives any flag change.
        const auto name = store::parse_maildir_name(e.base);
        if (name.base != e.base) __builtin_trap();
        const auto renamed = store::set_flags(e.base, store::flag_seen | store::flag_set::of('a'));
        if (store::maildir_base(renamed) != e.base || store::parse_maildir_name(renamed).flags.letters() != "Sa") {
            __builtin_trap();
        }
    }
    const auto back = store::parse_uid_list(store::format_uid_list(list), limits);
    if (back.fatal || !back.problems.empty() || !(back.list == list)) __builtin_trap();
    return 0;
}

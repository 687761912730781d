#include "mailharness/refmaild/maildir_name.hpp"

#include <algorithm>

namespace mailharness::refmaild::store {

namespace {

bool is_digit(char c) { return c >= '0' && c <= '9'; }

// Digits at the start of `s` as a number; nullopt when there are none or it overflows.
std::optional<std::uint64_t> leading_number(std::string_view s, std::size_t& used) {
    std::uint64_t v = 0;
    used = 0;
    while (used < s.size() && is_digit(s[used])) {
        const auto d = static_cast<std::uint64_t>(s[used] - '0');
        if (v > (UINT64_MAX - d) / 10) return std::nullopt;
        v = v * 10 + d;
        ++used;
    }
    if (used == 0) return std::nullopt;
    return v;
}

// ",<key>=<digits>" in the base, the digits ending at ',' or the end of the base (as Dovecot's
// maildir_filename_get_size(), which only looks at the first occurrence).
std::optional<std::uint64_t> size_field(std::string_view base, char key) {
    const char pat[] = {',', key, '=', '\0'};
    const auto at = base.find(pat);
    if (at == std::string_view::npos) return std::nullopt;
    std::string_view rest = base.substr(at + 3);
    std::size_t used = 0;
    auto v = leading_number(rest, used);
    if (!v || (used < rest.size() && rest[used] != ',')) return std::nullopt;
    return v;
}

// The part of an info after "2," up to (not including) a further ','.
struct flags_part {
    std::string_view letters;  // the flag characters
    std::string_view tail;     // ",..." after them, or empty
};

flags_part split_flags(std::string_view info_after_colon) {
    if (info_after_colon.size() < 2 || info_after_colon[0] != '2' || info_after_colon[1] != ',') return {};
    std::string_view f = info_after_colon.substr(2);
    const auto comma = f.find(',');
    if (comma == std::string_view::npos) return {f, {}};
    return {f.substr(0, comma), f.substr(comma)};
}

}  // namespace

std::string flag_set::letters() const {
    std::string out;
    for (char c = 'A'; c <= 'Z'; ++c) {
        if (has(c)) out += c;
    }
    for (char c = 'a'; c <= 'z'; ++c) {
        if (has(c)) out += c;
    }
    return out;
}

std::string_view maildir_base(std::string_view name) noexcept { return name.substr(0, name.find(':')); }

maildir_name parse_maildir_name(std::string_view name) noexcept {
    maildir_name out;
    const auto colon = name.find(':');
    out.base = name.substr(0, colon);
    if (name.size() > max_maildir_name) return out;
    if (colon != std::string_view::npos) {
        out.has_info = true;
        std::string_view info = name.substr(colon + 1);
        out.info_has_flags = info.size() >= 2 && info[0] == '2' && info[1] == ',';
        for (char c : split_flags(info).letters) out.flags.add(flag_set::of(c));
    }
    const std::string_view base = out.base;
    out.size = size_field(base, 'S');
    out.vsize = size_field(base, 'W');

    // <secs>.<unique>.<host>[,fields]
    std::size_t used = 0;
    if (auto secs = leading_number(base, used)) out.secs = *secs;
    if (used == base.size() || base[used] != '.') return out;
    std::string_view after = base.substr(used + 1);
    const auto dot = after.find('.');
    const std::string_view unique = after.substr(0, dot);
    // The unique part is a sequence of <letter><digits> (and '_' or '#' forms, left alone).
    for (std::size_t i = 0; i < unique.size(); ++i) {
        const char c = unique[i];
        if (c != 'M' && c != 'P' && c != 'Q') continue;
        std::size_t n = 0;
        auto v = leading_number(unique.substr(i + 1), n);
        if (c == 'M' && !out.usecs && v && *v <= 999999) out.usecs = static_cast<std::uint32_t>(*v);
        if (c == 'P' && !out.pid && v) out.pid = *v;
        if (c == 'Q' && v) out.has_delivery_count = true;
        i += n;
    }
    if (dot != std::string_view::npos) {
        std::string_view host = after.substr(dot + 1);
        out.host = host.substr(0, host.find(','));
    }
    return out;
}

std::string set_flags(std::string_view name, flag_set flags) {
    const auto colon = name.find(':');
    const std::string_view base = name.substr(0, colon);
    flags_part old;
    if (colon != std::string_view::npos) old = split_flags(name.substr(colon + 1));

    std::string chars = flags.letters();
    for (char c : old.letters) {
        if (!flag_set::is_flag_letter(c)) chars += c;  // unknown to us: keep, as Dovecot does
    }
    std::sort(chars.begin(), chars.end(), [](char a, char b) {
        return static_cast<unsigned char>(a) < static_cast<unsigned char>(b);
    });

    std::string out;
    out.reserve(base.size() + 3 + chars.size() + old.tail.size());
    out.append(base).append(":2,").append(chars).append(old.tail);
    return out;
}

std::string add_flags(std::string_view name, flag_set add) {
    return set_flags(name, parse_maildir_name(name).flags | add);
}

std::string remove_flags(std::string_view name, flag_set remove) {
    return set_flags(name, parse_maildir_name(name).flags.remove(remove));
}

int maildir_sort_compare(std::string_view a, std::string_view b) noexcept {
    const maildir_name na = parse_maildir_name(a);
    const maildir_name nb = parse_maildir_name(b);
    if (na.secs != nb.secs) return na.secs < nb.secs ? -1 : 1;
    if (na.usecs && nb.usecs && *na.usecs != *nb.usecs) return *na.usecs < *nb.usecs ? -1 : 1;
    const int c = na.base.compare(nb.base);
    return c < 0 ? -1 : c > 0 ? 1 : 0;
}

}  // namespace mailharness::refmaild::store

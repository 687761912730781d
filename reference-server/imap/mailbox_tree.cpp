#include "mailbox_tree.hpp"

#include <algorithm>
#include <fstream>
#include <set>
#include <sstream>

#include "mailharness/imap/types.hpp"
#include "mailharness/refmaild/detail/durable_file.hpp"

namespace mailharness::refmaild::imap_store {

namespace fs = std::filesystem;

namespace {

constexpr std::string_view subscriptions_file = "subscriptions";

std::string upper_inbox_prefix(std::string_view name) {
    // "inbox" and "inbox.x" in any case name INBOX and its children.
    if (name.size() >= 5 && imap::is_inbox(name.substr(0, 5)) && (name.size() == 5 || name[5] == hierarchy_delimiter)) {
        return "INBOX" + std::string(name.substr(5));
    }
    return std::string(name);
}

// The directory name part after "." for a mailbox name: modified UTF-7 as on the wire.
std::string dir_part(std::string_view name) {
    std::string out;
    if (imap::mutf7_encode(name, out)) return {};
    return out;
}

}  // namespace

std::string_view special_use_of(std::string_view name) noexcept {
    for (const auto& b : special_use_boxes) {
        if (b.name == name) return b.attribute;
    }
    return {};
}

bool list_match(std::string_view pattern, std::string_view name) noexcept {
    // INBOX (and its children) match case-insensitively.
    std::string p = upper_inbox_prefix(pattern);
    std::string n = upper_inbox_prefix(name);
    // Dynamic programming over (pattern position, name position): no backtracking blow-up.
    const std::size_t P = p.size(), N = n.size();
    std::vector<char> row(N + 1, 0), next(N + 1, 0);
    row[0] = 1;
    // row[j]: pattern[0..i) matches name[0..j)
    for (std::size_t i = 0; i < P; ++i) {
        std::fill(next.begin(), next.end(), 0);
        const char c = p[i];
        for (std::size_t j = 0; j <= N; ++j) {
            if (!row[j]) continue;
            if (c == '*') {
                for (std::size_t k = j; k <= N; ++k) next[k] = 1;
                break;
            }
            if (c == '%') {
                next[j] = 1;
                for (std::size_t k = j; k < N && n[k] != hierarchy_delimiter; ++k) next[k + 1] = 1;
            } else if (j < N && n[j] == c) {
                next[j + 1] = 1;
            }
        }
        std::swap(row, next);
    }
    return row[N] != 0;
}

boost::system::result<fs::path, std::error_code> mailbox_tree::path_of(std::string_view name) const {
    if (name == "INBOX") return root_;
    const auto bad = std::make_error_code(std::errc::invalid_argument);
    if (name.empty() || name.size() > 200) return bad;
    if (name.front() == hierarchy_delimiter || name.back() == hierarchy_delimiter) return bad;
    for (std::size_t i = 0; i < name.size(); ++i) {
        const auto c = static_cast<unsigned char>(name[i]);
        if (c < 0x20 || c == 0x7f || c == '/' || c == '\\' || c == '*' || c == '%') return bad;
        if (c == hierarchy_delimiter && i + 1 < name.size() && name[i + 1] == hierarchy_delimiter) return bad;
        if (c == '~' && (i == 0 || name[i - 1] == hierarchy_delimiter)) return bad;
    }
    std::string part = dir_part(upper_inbox_prefix(name));
    if (part.empty()) return bad;
    return root_ / ("." + part);
}

std::vector<mailbox_tree::entry> mailbox_tree::list() const {
    std::set<std::string> names;
    std::error_code ec;
    for (fs::directory_iterator it(root_, ec), end; !ec && it != end; it.increment(ec)) {
        const std::string d = it->path().filename().string();
        if (d.size() < 2 || d[0] != '.' || d == "..") continue;
        std::error_code sec;
        if (!it->is_directory(sec) || it->is_symlink(sec)) continue;
        if (!fs::is_directory(it->path() / "cur", sec)) continue;
        std::string utf8;
        if (imap::mutf7_decode(std::string_view(d).substr(1), utf8)) continue;
        if (utf8 == "INBOX") continue;
        names.insert(std::move(utf8));
    }
    std::vector<entry> out;
    out.push_back({"INBOX", true, false});
    std::set<std::string> implied;
    for (const auto& n : names) {
        for (std::size_t p = n.find(hierarchy_delimiter); p != std::string::npos; p = n.find(hierarchy_delimiter, p + 1)) {
            implied.insert(n.substr(0, p));
        }
    }
    std::set<std::string> all = names;
    for (const auto& i : implied) {
        if (i != "INBOX") all.insert(i);
    }
    for (const auto& n : all) {
        entry e{n, names.count(n) > 0, implied.count(n) > 0};
        out.push_back(std::move(e));
    }
    out[0].has_children = implied.count("INBOX") > 0;
    return out;
}

bool mailbox_tree::exists(std::string_view name) const {
    if (name == "INBOX") return true;
    auto p = path_of(name);
    if (!p) return false;
    std::error_code ec;
    return fs::is_directory(*p / "cur", ec);
}

std::error_code mailbox_tree::create(std::string_view name) {
    auto p = path_of(name);
    if (!p) return p.error();
    std::error_code ec;
    if (name == "INBOX" || fs::exists(*p / "cur", ec)) return std::make_error_code(std::errc::file_exists);
    // RFC 3501 6.3.3: superior names that are needed are created too.
    for (std::size_t d = name.find(hierarchy_delimiter); d != std::string_view::npos; d = name.find(hierarchy_delimiter, d + 1)) {
        const auto parent = name.substr(0, d);
        if (parent != "INBOX" && !exists(parent)) {
            if (auto e = create(parent); e && e != std::errc::file_exists) return e;
        }
    }
    for (const char* sub : {"cur", "new", "tmp"}) {
        if (auto e = detail::make_dirs_durable(*p / sub)) return e;
    }
    // Dovecot marks Maildir++ folders with an empty "maildirfolder" file.
    std::ofstream(*p / "maildirfolder").flush();
    return {};
}

std::error_code mailbox_tree::remove(std::string_view name) {
    if (name == "INBOX") return std::make_error_code(std::errc::permission_denied);
    auto p = path_of(name);
    if (!p) return p.error();
    std::error_code ec;
    if (!fs::is_directory(*p / "cur", ec)) return std::make_error_code(std::errc::no_such_file_or_directory);
    // Rename out of sight first (atomic for other readers), then remove, as Dovecot does.
    const fs::path trash = root_ / (".DOVECOT-TRASHED." + std::to_string(::getpid()) + "." +
                                    std::to_string(reinterpret_cast<std::uintptr_t>(&ec)));
    fs::rename(*p, trash, ec);
    if (ec) return ec;
    fs::remove_all(trash, ec);
    if (auto e = detail::fsync_dir(root_)) return e;
    return ec;
}

std::error_code mailbox_tree::rename(std::string_view from, std::string_view to) {
    auto pf = path_of(from);
    auto pt = path_of(to);
    if (!pf) return pf.error();
    if (!pt) return pt.error();
    std::error_code ec;
    if (!fs::is_directory(*pf / "cur", ec)) return std::make_error_code(std::errc::no_such_file_or_directory);
    if (fs::exists(*pt, ec)) return std::make_error_code(std::errc::file_exists);
    // Children first collected: ".from.x" -> ".to.x".
    const std::string from_dir = pf->filename().string(), to_dir = pt->filename().string();
    std::vector<std::pair<fs::path, fs::path>> moves{{*pf, *pt}};
    for (fs::directory_iterator it(root_, ec), end; !ec && it != end; it.increment(ec)) {
        const std::string d = it->path().filename().string();
        if (d.size() > from_dir.size() && d.compare(0, from_dir.size(), from_dir) == 0 && d[from_dir.size()] == '.') {
            const fs::path target = root_ / (to_dir + d.substr(from_dir.size()));
            if (fs::exists(target)) return std::make_error_code(std::errc::file_exists);
            moves.emplace_back(it->path(), target);
        }
    }
    for (const auto& [a, b] : moves) {
        fs::rename(a, b, ec);
        if (ec) return ec;
    }
    // Subscriptions follow the rename.
    auto subs = subscriptions();
    bool changed = false;
    for (auto& s : subs) {
        if (s == from || (s.size() > from.size() && s.compare(0, from.size(), from) == 0 && s[from.size()] == hierarchy_delimiter)) {
            s = std::string(to) + s.substr(from.size());
            changed = true;
        }
    }
    if (changed) write_subscriptions(subs);
    return detail::fsync_dir(root_);
}

std::vector<std::string> mailbox_tree::subscriptions() const {
    std::ifstream in(root_ / subscriptions_file, std::ios::binary);
    std::vector<std::string> out;
    std::string line;
    bool first = true;
    while (std::getline(in, line)) {
        if (!line.empty() && line.back() == '\r') line.pop_back();
        // Dovecot 2.3's version 2 format: "V\t2", an empty line, then names with the hierarchy
        // separated by TABs.
        if (first && line.rfind("V\t", 0) == 0) {
            first = false;
            continue;
        }
        first = false;
        if (line.empty()) continue;
        std::replace(line.begin(), line.end(), '\t', hierarchy_delimiter);
        std::string utf8;
        if (imap::mutf7_decode(line, utf8)) utf8 = line;  // stored as UTF-8 already
        if (std::find(out.begin(), out.end(), utf8) == out.end()) out.push_back(std::move(utf8));
    }
    return out;
}

std::error_code mailbox_tree::subscribe(std::string_view name, bool on) {
    auto subs = subscriptions();
    auto it = std::find(subs.begin(), subs.end(), name);
    if (on == (it != subs.end())) return {};
    if (on) subs.emplace_back(name);
    else subs.erase(it);
    std::error_code ec;
    fs::create_directories(root_, ec);
    return write_subscriptions(subs);
}

std::error_code mailbox_tree::write_subscriptions(const std::vector<std::string>& subs) {
    std::string text;
    for (const auto& s : subs) {
        std::string enc;
        if (imap::mutf7_encode(s, enc)) continue;
        text += enc + "\n";
    }
    return detail::write_file_durable(root_ / subscriptions_file, text);
}

std::error_code mailbox_tree::ensure_defaults() {
    std::error_code ec;
    if (fs::exists(root_ / "cur", ec) && fs::exists(root_ / subscriptions_file, ec)) return {};
    const bool fresh = !fs::exists(root_ / subscriptions_file, ec);
    for (const char* sub : {"cur", "new", "tmp"}) {
        if (auto e = detail::make_dirs_durable(root_ / sub)) return e;
    }
    if (!fresh) return {};
    for (const auto& b : special_use_boxes) {
        if (!exists(b.name)) {
            if (auto e = create(b.name); e && e != std::errc::file_exists) return e;
        }
    }
    std::string text;
    for (const auto& b : special_use_boxes) text += std::string(b.name) + "\n";
    return detail::write_file_durable(root_ / subscriptions_file, text);
}

}  // namespace mailharness::refmaild::imap_store

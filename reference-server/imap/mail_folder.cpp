#include "mail_folder.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <map>
#include <thread>
#include <unordered_map>

#include "mailharness/refmaild/detail/durable_file.hpp"
#include "mailharness/refmaild/maildir_folder.hpp"
#include "mailharness/refmaild/uid_list.hpp"

namespace mailharness::refmaild::imap_store {

using detail::last_error;
using detail::unique_fd;

namespace {

constexpr std::string_view keywords_file = "dovecot-keywords";

std::int64_t mtime_ns(const struct stat& st) {
    return static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec;
}

std::int64_t now_ns() {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
}

// A directory's mtime, or -1 when it is too recent to trust: file times come from a coarse clock
// (a few ms), so two changes in one tick leave the same mtime. Such a directory is synced again
// next time (Dovecot does the same).
std::int64_t stable_mtime(int fd) {
    struct stat st {};
    if (::fstat(fd, &st) != 0) return -1;
    const std::int64_t m = mtime_ns(st);
    return now_ns() - m > 2'000'000'000 ? m : -1;
}

template <class Fn>
std::error_code for_each_file(int dirfd, Fn&& fn) {
    const int copy = ::fcntl(dirfd, F_DUPFD_CLOEXEC, 0);
    if (copy < 0) return last_error();
    DIR* d = ::fdopendir(copy);
    if (!d) {
        ::close(copy);
        return last_error();
    }
    ::rewinddir(d);
    std::error_code ec;
    for (;;) {
        errno = 0;
        const dirent* e = ::readdir(d);
        if (!e) {
            if (errno) ec = last_error();
            break;
        }
        const std::string_view name = e->d_name;
        if (name.empty() || name[0] == '.' || name.find_first_of("\r\n/") != std::string_view::npos) continue;
        if (e->d_type != DT_REG && e->d_type != DT_UNKNOWN) continue;
        fn(name);
    }
    ::closedir(d);
    return ec;
}

boost::system::result<std::uint64_t, std::error_code> crlf_size(int dirfd, const std::string& name) {
    unique_fd fd(::openat(dirfd, name.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
    if (!fd) return last_error();
    char buf[65536];
    std::uint64_t size = 0;
    char prev = '\0';
    for (;;) {
        const ssize_t n = ::read(fd.get(), buf, sizeof buf);
        if (n < 0) {
            if (errno == EINTR) continue;
            return last_error();
        }
        if (n == 0) return size;
        size += static_cast<std::uint64_t>(n);
        for (ssize_t i = 0; i < n; ++i) {
            if (buf[i] == '\n' && prev != '\r') ++size;
            prev = buf[i];
        }
    }
}

// The value of the `key` field in a space-separated extension string ("S12 M40 GAB").
std::optional<std::uint64_t> ext_number(std::string_view ext, char key) {
    while (!ext.empty()) {
        const auto sp = ext.find(' ');
        const std::string_view f = ext.substr(0, sp);
        if (f.size() > 1 && f[0] == key) {
            std::uint64_t v = 0;
            for (char c : f.substr(1)) {
                if (c < '0' || c > '9' || v > (UINT64_MAX - 9) / 10) return std::nullopt;
                v = v * 10 + static_cast<std::uint64_t>(c - '0');
            }
            return v;
        }
        if (sp == std::string_view::npos) break;
        ext.remove_prefix(sp + 1);
    }
    return std::nullopt;
}

// `ext` with the `key` field set to `value` (replacing an old one).
std::string set_ext_number(std::string_view ext, char key, std::uint64_t value) {
    std::string out;
    while (!ext.empty()) {
        const auto sp = ext.find(' ');
        const std::string_view f = ext.substr(0, sp);
        if (!f.empty() && f[0] != key) {
            if (!out.empty()) out += ' ';
            out += f;
        }
        if (sp == std::string_view::npos) break;
        ext.remove_prefix(sp + 1);
    }
    if (!out.empty()) out += ' ';
    out += key;
    out += std::to_string(value);
    return out;
}

bool iequal(std::string_view a, std::string_view b) {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
               return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
           });
}

std::string local_hostname() {
    char buf[256] = {};
    if (::gethostname(buf, sizeof buf - 1) != 0) return "localhost";
    std::string h;
    for (const char* p = buf; *p; ++p) {
        if (*p == '/') h += "\\057";
        else if (*p == ':') h += "\\072";
        else if (*p == ',') h += "\\054";
        else h += *p;
    }
    return h;
}

// One inotify instance for the process: changes to new/ and cur/ of an open folder by anyone
// (SMTP deliveries, other sessions, Dovecot) wake the folder's watchers (IDLE) at once.
class change_watcher {
public:
    static change_watcher& get() {
        static auto* w = new change_watcher;  // lives as long as the process (its thread blocks in read)
        return *w;
    }
    std::vector<int> add(const std::filesystem::path& dir, const std::shared_ptr<folder>& f) {
        std::vector<int> wds;
        if (fd_ < 0) return wds;
        for (const char* sub : {"new", "cur"}) {
            const bool is_new = std::string_view(sub) == "new";
            const std::uint32_t mask = is_new ? IN_CREATE | IN_MOVED_TO | IN_ONLYDIR
                                              : IN_CREATE | IN_MOVED_TO | IN_MOVED_FROM | IN_DELETE | IN_ONLYDIR;
            const int wd = ::inotify_add_watch(fd_, (dir / sub).c_str(), mask);
            if (wd < 0) continue;
            std::lock_guard lock(mutex_);
            by_wd_[wd] = {f, is_new};
            wds.push_back(wd);
        }
        return wds;
    }
    void remove(const std::vector<int>& wds) {
        std::lock_guard lock(mutex_);
        for (int wd : wds) {
            by_wd_.erase(wd);
            ::inotify_rm_watch(fd_, wd);
        }
    }

private:
    change_watcher() : fd_(::inotify_init1(IN_CLOEXEC)) {
        if (fd_ >= 0) std::thread([this] { run(); }).detach();
    }
    void run() {
        alignas(struct inotify_event) char buf[8192];
        for (;;) {
            const ssize_t n = ::read(fd_, buf, sizeof buf);
            if (n <= 0) {
                if (n < 0 && errno == EINTR) continue;
                return;
            }
            struct event {
                std::shared_ptr<folder> f;
                bool is_new;
                std::uint32_t mask;
                std::string name;
            };
            std::vector<event> events;
            {
                std::lock_guard lock(mutex_);
                for (char* p = buf; p < buf + n;) {
                    const auto* e = reinterpret_cast<const struct inotify_event*>(p);
                    if (e->mask & IN_Q_OVERFLOW) {  // events were lost: every folder syncs
                        for (auto& [wd, w] : by_wd_) {
                            if (auto f = w.f.lock()) events.push_back({std::move(f), true, IN_CREATE, {}});
                        }
                    }
                    auto it = by_wd_.find(e->wd);
                    if (it != by_wd_.end()) {
                        if (auto f = it->second.f.lock()) {
                            events.push_back({std::move(f), it->second.is_new, e->mask,
                                              e->len ? std::string(e->name) : std::string()});
                        }
                    }
                    p += sizeof(struct inotify_event) + e->len;
                }
            }
            std::vector<std::shared_ptr<folder>> hit;
            for (auto& e : events) {
                if (e.f->on_change_event(e.is_new, e.mask, e.name) &&
                    std::find(hit.begin(), hit.end(), e.f) == hit.end()) {
                    hit.push_back(e.f);
                }
            }
            for (auto& f : hit) f->wake();
        }
    }
    int fd_;
    std::mutex mutex_;
    struct watched {
        std::weak_ptr<folder> f;
        bool is_new = false;
    };
    std::unordered_map<int, watched> by_wd_;
};

std::mutex registry_mutex;
std::map<std::string, std::weak_ptr<folder>>& registry() {
    static std::map<std::string, std::weak_ptr<folder>> r;
    return r;
}

}  // namespace

folder::folder(std::filesystem::path dir) : dir_(std::move(dir)), hostname_(local_hostname()) {}

folder::~folder() {
    if (!watch_descriptors_.empty()) change_watcher::get().remove(watch_descriptors_);
    for (int fd : {cur_fd_, new_fd_, tmp_fd_}) {
        if (fd >= 0) ::close(fd);
    }
}

boost::system::result<std::shared_ptr<folder>, std::error_code> folder::open(const std::filesystem::path& dir,
                                                                            bool create) {
    const std::string key = dir.lexically_normal().string();
    std::lock_guard reg(registry_mutex);
    auto& slot = registry()[key];
    if (auto f = slot.lock()) return f;
    if (create) {
        for (const char* sub : {"cur", "new", "tmp"}) {
            if (auto ec = detail::make_dirs_durable(dir / sub)) return ec;
        }
    }
    std::shared_ptr<folder> f(new folder(dir));
    f->cur_fd_ = ::open((dir / "cur").c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (f->cur_fd_ < 0) return last_error();
    if (create || ::access((dir / "new").c_str(), F_OK) == 0) {
        for (const char* sub : {"new", "tmp"}) {
            if (auto ec = detail::make_dirs_durable(dir / sub)) return ec;
        }
    }
    f->new_fd_ = ::open((dir / "new").c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    f->tmp_fd_ = ::open((dir / "tmp").c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (f->new_fd_ < 0 || f->tmp_fd_ < 0) return last_error();
    {
        std::lock_guard lock(f->mutex_);
        if (auto ec = f->sync_locked(true)) return ec;
    }
    // Forget registry entries of folders nobody holds any more.
    for (auto it = registry().begin(); it != registry().end();) {
        if (it->second.expired() && it->first != key) it = registry().erase(it);
        else ++it;
    }
    slot = f;
    f->watch_descriptors_ = change_watcher::get().add(dir, f);
    f->dirty_.store(true);  // anything between the first sync and the watches
    return f;
}

std::uint64_t folder::next_modseq_locked() { return ++state_.highest_modseq; }

void folder::changed_locked() {
    ++state_.generation;
    generation_.store(state_.generation, std::memory_order_release);
}

void folder::read(const std::function<void(const folder_state&)>& fn) const {
    std::lock_guard lock(mutex_);
    fn(state_);
}

std::error_code folder::refresh(bool force) {
    std::uint64_t before;
    std::error_code ec;
    {
        std::lock_guard lock(mutex_);
        before = state_.generation;
        ec = sync_locked(force);
        if (state_.generation == before) return ec;
    }
    wake();
    return ec;
}

std::error_code folder::read_keywords_locked() {
    struct stat st {};
    const auto path = dir_ / keywords_file;
    if (::stat(path.c_str(), &st) != 0) {
        keywords_mtime_ns_ = -1;
        return {};
    }
    if (mtime_ns(st) == keywords_mtime_ns_) return {};
    keywords_mtime_ns_ = now_ns() - mtime_ns(st) > 2'000'000'000 ? mtime_ns(st) : -2;
    unique_fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd) return last_error();
    std::string text;
    char buf[4096];
    for (;;) {
        const ssize_t n = ::read(fd.get(), buf, sizeof buf);
        if (n < 0) return last_error();
        if (n == 0) break;
        text.append(buf, static_cast<std::size_t>(n));
        if (text.size() > 65536) break;
    }
    std::vector<std::string> kw;
    std::size_t pos = 0;
    while (pos < text.size()) {
        auto nl = text.find('\n', pos);
        if (nl == std::string::npos) nl = text.size();
        std::string_view line(text.data() + pos, nl - pos);
        pos = nl + 1;
        const auto sp = line.find(' ');
        if (sp == std::string_view::npos || sp == 0) continue;
        unsigned idx = 0;
        bool ok = true;
        for (char c : line.substr(0, sp)) {
            if (c < '0' || c > '9') ok = false;
            else idx = idx * 10 + static_cast<unsigned>(c - '0');
            if (idx >= 26) ok = false;
        }
        if (!ok || line.size() == sp + 1) continue;
        if (kw.size() <= idx) kw.resize(idx + 1);
        kw[idx] = std::string(line.substr(sp + 1));
    }
    state_.keywords = std::move(kw);
    return {};
}

std::error_code folder::write_keywords_locked() {
    std::string text;
    for (std::size_t i = 0; i < state_.keywords.size(); ++i) {
        if (!state_.keywords[i].empty()) text += std::to_string(i) + ' ' + state_.keywords[i] + '\n';
    }
    if (auto ec = detail::write_file_atomic(dir_ / keywords_file, text, 0600, true)) return ec;
    keywords_mtime_ns_ = -2;
    return {};
}

std::error_code folder::sync_locked(bool force) {
    // What may have changed: with inotify, cur/ changes by others are reported by events (our
    // own renames and removals are told apart by name); new/ is also checked by its mtime, so a
    // delivery acknowledged just before this call is never missed while its event is in flight.
    // Without inotify, both directories' mtimes decide.
    const bool dirty = dirty_.exchange(false);
    const std::int64_t new_m = stable_mtime(new_fd_);
    const std::int64_t cur_m = watch_descriptors_.empty() ? stable_mtime(cur_fd_) : cur_mtime_ns_;
    if (auto ec = read_keywords_locked()) return ec;
    if (!force && !dirty && loaded_ && cur_m >= 0 && new_m >= 0 && cur_m == cur_mtime_ns_ && new_m == new_mtime_ns_) {
        return {};
    }

    auto lock = store::uid_list_lock::acquire(dir_);
    if (!lock) return lock.error();

    // 1. new/ -> cur/.
    std::vector<std::string> in_new;
    if (auto ec = for_each_file(new_fd_, [&](std::string_view n) { in_new.emplace_back(n); })) return ec;
    bool moved = false;
    for (const auto& name : in_new) {
        const std::string target = name.find(':') == std::string::npos ? name + ":2," : name;
        if (detail::rename_noreplace(new_fd_, name.c_str(), cur_fd_, target.c_str()) == 0) moved = true;
        else if (errno != ENOENT && errno != EEXIST) return last_error();
    }
    if (moved) {
        if (::fsync(cur_fd_) != 0) return last_error();
        if (::fsync(new_fd_) != 0) return last_error();
    }

    // 2. cur/: base -> name.
    std::unordered_map<std::string, std::string> files;
    if (auto ec = for_each_file(cur_fd_, [&](std::string_view n) { files.try_emplace(std::string(store::maildir_base(n)), n); })) {
        return ec;
    }

    // 3. The uid list.
    auto read = store::read_uid_list_file(dir_);
    if (!read) return read.error();
    store::uid_list list;
    bool list_changed = false, durable = false;
    if (!*read || (*read)->fatal) {
        if (*read) {
            const auto fatal = (*read)->fatal;
            if (fatal == store::uid_list_errc::too_many_records || fatal == store::uid_list_errc::file_too_large) return fatal;
        }
        list = store::new_uid_list(state_.uid_validity);
        list_changed = durable = true;
    } else {
        list_changed = (*read)->needs_rewrite();
        durable = list_changed;
        list = std::move((*read)->list);
    }
    const bool validity_changed = loaded_ && list.uid_validity != state_.uid_validity;

    // HIGHESTMODSEQ: the header's M field; lost or never written: the time in microseconds.
    std::uint64_t highest = ext_number(list.header_extensions, 'M').value_or(0);
    if (highest == 0) {
        highest = static_cast<std::uint64_t>(now_ns() / 1000);
        list_changed = true;
    }
    if (loaded_ && !validity_changed) highest = std::max(highest, state_.highest_modseq);
    state_.highest_modseq = highest;

    // 4. Entries whose file is there; new files get the next UIDs in Dovecot's order.
    std::vector<store::uid_list_entry> entries;
    entries.reserve(files.size());
    std::unordered_map<std::string_view, bool> listed;
    bool dropped = false;
    for (auto& e : list.entries) {
        if (files.count(e.base) == 0) {
            dropped = true;
            continue;
        }
        entries.push_back(std::move(e));
    }
    for (const auto& e : entries) listed.emplace(e.base, true);
    std::vector<const std::string*> fresh;
    for (const auto& [base, name] : files) {
        if (!listed.count(base)) fresh.push_back(&name);
    }
    std::sort(fresh.begin(), fresh.end(), [](const std::string* a, const std::string* b) {
        return store::maildir_sort_compare(*a, *b) < 0;
    });
    if (!fresh.empty() && list.next_uid + std::uint64_t{fresh.size()} - 1 > 0xfffffffeull) {
        const auto old = list.uid_validity;
        const auto keep = list.header_extensions;
        list = store::new_uid_list(old);
        list.header_extensions = keep;
        for (auto& e : entries) e.uid = list.next_uid++;
    }
    const std::uint32_t first_fresh_uid = list.next_uid;
    for (const std::string* name : fresh) {
        entries.push_back({.uid = list.next_uid++, .base = std::string(store::maildir_base(*name))});
    }
    if (!fresh.empty() || dropped) list_changed = durable = true;

    // 5. Messages: sizes, dates, flags; modseq from the list, new for what changed.
    std::unordered_map<std::uint32_t, const message*> known;
    if (loaded_ && !validity_changed) {
        for (const auto& m : state_.messages) known.emplace(m.uid, &m);
    }
    std::vector<message> messages;
    messages.reserve(entries.size());
    std::vector<store::uid_list_entry> kept;
    kept.reserve(entries.size());
    bool any_change = dropped || !fresh.empty() || validity_changed || !loaded_;
    for (auto& e : entries) {
        const std::string& name = files.at(e.base);
        const store::maildir_name n = store::parse_maildir_name(name);
        message m;
        m.uid = e.uid;
        m.name = name;
        m.flags = n.flags;
        auto k = known.find(e.uid);
        if (k != known.end() && k->second->name.substr(0, k->second->name.find(':')) == e.base) {
            m.size = k->second->size;
            m.internal_date = k->second->internal_date;
            m.modseq = k->second->modseq;
            if (k->second->flags != m.flags) {
                m.modseq = next_modseq_locked();
                any_change = true;
            }
        } else {
            if (n.vsize) {
                m.size = *n.vsize;
            } else if (e.vsize) {
                m.size = *e.vsize;
            } else if (n.size && store::is_refmaild_delivery_name(e.base)) {
                m.size = *n.size;
            } else {
                auto computed = crlf_size(cur_fd_, name);
                if (!computed) {
                    if (computed.error() != std::errc::no_such_file_or_directory) return computed.error();
                    continue;
                }
                m.size = *computed;
                e.vsize = m.size;
                list_changed = true;
            }
            struct stat st {};
            if (::fstatat(cur_fd_, name.c_str(), &st, 0) == 0) m.internal_date = st.st_mtim.tv_sec;
            else if (errno == ENOENT) continue;
            else m.internal_date = static_cast<std::int64_t>(n.secs);
            // A message the list knows keeps its modseq; a new one gets the next.
            const auto ms = ext_number(e.extensions, 'M');
            m.modseq = ms && *ms <= highest ? *ms : next_modseq_locked();
            if (k == known.end()) any_change = true;
        }
        const auto stored = ext_number(e.extensions, 'M');
        if (!stored || *stored != m.modseq) {
            e.extensions = set_ext_number(e.extensions, 'M', m.modseq);
            list_changed = true;
        }
        messages.push_back(std::move(m));
        kept.push_back(std::move(e));
    }
    if (dropped) next_modseq_locked();  // an expunge raises HIGHESTMODSEQ (RFC 7162 3.1.2.1)
    list.entries = std::move(kept);
    if (ext_number(list.header_extensions, 'M') != state_.highest_modseq) {
        list.header_extensions = set_ext_number(list.header_extensions, 'M', state_.highest_modseq);
        list_changed = true;
    }
    if (list_changed) {
        if (auto ec = store::write_uid_list_file(dir_, list, durable)) return ec;
    }
    lock->release();

    if (!loaded_ || validity_changed) state_.recent_from = first_fresh_uid;
    state_.uid_validity = list.uid_validity;
    state_.uid_next = list.next_uid;
    state_.messages = std::move(messages);
    loaded_ = true;
    cur_mtime_ns_ = watch_descriptors_.empty() ? stable_mtime(cur_fd_) : 0;
    new_mtime_ns_ = stable_mtime(new_fd_);
    names_.clear();
    for (const auto& m : state_.messages) names_.insert(m.name);
    if (any_change) changed_locked();
    return {};
}

std::uint32_t folder::claim_recent() {
    std::lock_guard lock(mutex_);
    const std::uint32_t from = state_.recent_from;
    state_.recent_from = state_.uid_next;
    return from;
}

std::vector<std::optional<char>> folder::keyword_letters(std::span<const std::string_view> names, bool add) {
    std::lock_guard lock(mutex_);
    read_keywords_locked();
    std::vector<std::optional<char>> out;
    bool added = false;
    for (auto name : names) {
        std::optional<char> letter;
        for (std::size_t i = 0; i < state_.keywords.size(); ++i) {
            if (!state_.keywords[i].empty() && iequal(state_.keywords[i], name)) letter = static_cast<char>('a' + i);
        }
        if (!letter && add) {
            std::size_t i = 0;
            while (i < state_.keywords.size() && !state_.keywords[i].empty()) ++i;
            if (i < 26) {
                if (i == state_.keywords.size()) state_.keywords.emplace_back();
                state_.keywords[i] = std::string(name);
                letter = static_cast<char>('a' + i);
                added = true;
            }
        }
        out.push_back(letter);
    }
    if (added) {
        write_keywords_locked();
        changed_locked();
    }
    return out;
}

boost::system::result<std::vector<std::uint32_t>, std::error_code> folder::store(
    std::span<const std::uint32_t> uids, store_mode mode, store::flag_set flags, std::optional<std::uint64_t> unchangedsince,
    std::vector<std::uint32_t>* failed) {
    std::vector<std::uint32_t> changed;
    {
        std::lock_guard lock(mutex_);
        if (auto ec = sync_locked(false)) return ec;
        bool renamed = false;
        for (std::uint32_t uid : uids) {
            auto it = std::lower_bound(state_.messages.begin(), state_.messages.end(), uid,
                                       [](const message& m, std::uint32_t u) { return m.uid < u; });
            if (it == state_.messages.end() || it->uid != uid) continue;
            if (unchangedsince && it->modseq > *unchangedsince) {
                if (failed) failed->push_back(uid);
                continue;
            }
            store::flag_set next = it->flags;
            switch (mode) {
                case store_mode::replace: next = flags; break;
                case store_mode::add: next.add(flags); break;
                case store_mode::remove: next.remove(flags); break;
            }
            if (next == it->flags) {
                changed.push_back(uid);  // no change, but STORE still answers with FETCH
                continue;
            }
            const std::string target = store::set_flags(it->name, next);
            if (::renameat(cur_fd_, it->name.c_str(), cur_fd_, target.c_str()) != 0) {
                if (errno == ENOENT) continue;  // gone or renamed elsewhere: the next sync sees it
                return last_error();
            }
            names_.erase(it->name);
            names_.insert(target);
            it->name = target;
            it->flags = next;
            it->modseq = next_modseq_locked();
            renamed = true;
            changed.push_back(uid);
        }
        if (renamed) {
            // Persist the modseqs (not fsynced: a rollback loses nothing but modseq precision).
            auto lock2 = store::uid_list_lock::acquire(dir_);
            if (!lock2) return lock2.error();
            auto read = store::read_uid_list_file(dir_);
            if (read && *read && !(*read)->fatal && (*read)->list.uid_validity == state_.uid_validity) {
                auto& list = (*read)->list;
                std::unordered_map<std::uint32_t, std::uint64_t> ms;
                for (const auto& m : state_.messages) ms.emplace(m.uid, m.modseq);
                for (auto& e : list.entries) {
                    auto f = ms.find(e.uid);
                    if (f != ms.end()) e.extensions = set_ext_number(e.extensions, 'M', f->second);
                }
                list.header_extensions = set_ext_number(list.header_extensions, 'M', state_.highest_modseq);
                if (auto ec = store::write_uid_list_file(dir_, list, false)) return ec;
            }
            changed_locked();
        }
    }
    wake();
    return changed;
}

boost::system::result<std::vector<std::uint32_t>, std::error_code> folder::expunge(std::span<const std::uint32_t> uids) {
    std::vector<std::uint32_t> removed;
    {
        std::lock_guard lock(mutex_);
        if (auto ec = sync_locked(false)) return ec;
        for (std::uint32_t uid : uids) {
            auto it = std::lower_bound(state_.messages.begin(), state_.messages.end(), uid,
                                       [](const message& m, std::uint32_t u) { return m.uid < u; });
            if (it == state_.messages.end() || it->uid != uid) continue;
            if (::unlinkat(cur_fd_, it->name.c_str(), 0) != 0 && errno != ENOENT) return last_error();
            removed.push_back(uid);
        }
        if (!removed.empty()) {
            if (::fsync(cur_fd_) != 0) return last_error();
            if (auto ec = sync_locked(true)) return ec;
        }
    }
    wake();
    return removed;
}

boost::system::result<int, std::error_code> folder::create_tmp(std::string& name) {
    for (int attempt = 0; attempt < 100; ++attempt) {
        const auto now = std::chrono::system_clock::now().time_since_epoch();
        const auto secs = std::chrono::duration_cast<std::chrono::seconds>(now).count();
        const auto usecs = std::chrono::duration_cast<std::chrono::microseconds>(now).count() % 1'000'000;
        std::uint32_t seq;
        {
            std::lock_guard lock(mutex_);
            seq = ++delivery_seq_;
        }
        name = std::to_string(secs) + ".M" + std::to_string(usecs) + "P" + std::to_string(::getpid()) + "I" +
               std::to_string(seq) + "." + hostname_;
        const int fd = ::openat(tmp_fd_, name.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (fd >= 0) return fd;
        if (errno != EEXIST) return last_error();
    }
    return std::make_error_code(std::errc::file_exists);
}

void folder::discard_tmp(int fd, const std::string& name) {
    ::close(fd);
    ::unlinkat(tmp_fd_, name.c_str(), 0);
}

boost::system::result<std::uint32_t, std::error_code> folder::commit_tmp(int fd, const std::string& name,
                                                                         std::uint64_t vsize, store::flag_set flags,
                                                                         std::int64_t internal_date) {
    unique_fd owned(fd);
    struct stat st {};
    if (::fstat(fd, &st) != 0) return last_error();
    if (internal_date > 0) {
        const struct timespec times[2] = {{internal_date, 0}, {internal_date, 0}};
        ::futimens(fd, times);
    }
    if (::fdatasync(fd) != 0) return last_error();
    owned.reset();
    const std::string base = name + ",S=" + std::to_string(st.st_size) + ",W=" + std::to_string(vsize);
    const std::string target = store::set_flags(base, flags);
    if (detail::rename_noreplace(tmp_fd_, name.c_str(), cur_fd_, target.c_str()) != 0) {
        auto ec = last_error();
        ::unlinkat(tmp_fd_, name.c_str(), 0);
        return ec;
    }
    if (::fsync(cur_fd_) != 0) return last_error();
    std::uint32_t uid = 0;
    {
        std::lock_guard lock(mutex_);
        if (auto ec = sync_locked(true)) return ec;
        for (auto it = state_.messages.rbegin(); it != state_.messages.rend(); ++it) {
            if (store::maildir_base(it->name) == base) {
                uid = it->uid;
                break;
            }
        }
    }
    wake();
    if (uid == 0) return std::make_error_code(std::errc::no_such_file_or_directory);
    return uid;
}

boost::system::result<std::vector<placed>, std::error_code> folder::copy_to(folder& dest, std::span<const std::uint32_t> uids) {
    struct source {
        std::uint32_t uid;
        std::string name;
        store::flag_set flags;
        std::int64_t date;
        std::uint64_t size;
    };
    std::vector<source> sources;
    std::vector<std::string> keyword_names;
    {
        std::lock_guard lock(mutex_);
        if (auto ec = sync_locked(false)) return ec;
        for (std::uint32_t uid : uids) {
            auto it = std::lower_bound(state_.messages.begin(), state_.messages.end(), uid,
                                       [](const message& m, std::uint32_t u) { return m.uid < u; });
            if (it == state_.messages.end() || it->uid != uid) continue;
            sources.push_back({uid, it->name, it->flags, it->internal_date, it->size});
        }
        keyword_names = state_.keywords;
    }
    // Keyword letters of the source mapped to the destination's.
    std::vector<std::string_view> kw_views(keyword_names.begin(), keyword_names.end());
    std::vector<std::optional<char>> dest_letters;
    if (&dest != this && !kw_views.empty()) dest_letters = dest.keyword_letters(kw_views, true);

    std::vector<std::pair<std::uint32_t, std::string>> made;  // source uid, dest base
    for (const auto& s : sources) {
        store::flag_set f;
        for (char c = 'A'; c <= 'Z'; ++c) {
            if (s.flags.has(c)) f.add(store::flag_set::of(c));
        }
        for (char c = 'a'; c <= 'z'; ++c) {
            if (!s.flags.has(c)) continue;
            const std::size_t i = static_cast<std::size_t>(c - 'a');
            if (&dest == this) f.add(store::flag_set::of(c));
            else if (i < dest_letters.size() && dest_letters[i]) f.add(store::flag_set::of(*dest_letters[i]));
        }
        std::string tmp_name;
        auto fd = dest.create_tmp(tmp_name);
        if (!fd) return fd.error();
        ::close(*fd);
        ::unlinkat(dest.tmp_fd_, tmp_name.c_str(), 0);
        const std::string base = tmp_name + ",W=" + std::to_string(s.size);
        const std::string target = store::set_flags(base, f);
        bool done = false;
        for (int attempt = 0; attempt < 3 && !done; ++attempt) {
            std::string src_name = s.name;
            if (::linkat(cur_fd_, src_name.c_str(), dest.cur_fd_, target.c_str(), 0) == 0) {
                done = true;
                break;
            }
            if (errno == ENOENT) {
                // Renamed meanwhile (flags changed elsewhere): look again.
                std::lock_guard lock(mutex_);
                sync_locked(true);
                auto it = std::lower_bound(state_.messages.begin(), state_.messages.end(), s.uid,
                                           [](const message& m, std::uint32_t u) { return m.uid < u; });
                if (it == state_.messages.end() || it->uid != s.uid) break;
                const_cast<source&>(s).name = it->name;
                continue;
            }
            if (errno != EXDEV && errno != EPERM && errno != EMLINK) return last_error();
            // Another file system: copy the octets.
            unique_fd in(::openat(cur_fd_, s.name.c_str(), O_RDONLY | O_CLOEXEC));
            if (!in) return last_error();
            unique_fd out(::openat(dest.tmp_fd_, tmp_name.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
            if (!out) return last_error();
            char buf[65536];
            for (;;) {
                const ssize_t n = ::read(in.get(), buf, sizeof buf);
                if (n < 0) return last_error();
                if (n == 0) break;
                if (auto ec = detail::write_all(out.get(), std::string_view(buf, static_cast<std::size_t>(n)))) return ec;
            }
            const struct timespec times[2] = {{s.date, 0}, {s.date, 0}};
            ::futimens(out.get(), times);
            if (::fdatasync(out.get()) != 0) return last_error();
            out.reset();
            if (detail::rename_noreplace(dest.tmp_fd_, tmp_name.c_str(), dest.cur_fd_, target.c_str()) != 0) return last_error();
            done = true;
        }
        if (done) made.emplace_back(s.uid, base);
    }
    std::vector<placed> result;
    if (made.empty()) return result;
    if (::fsync(dest.cur_fd_) != 0) return last_error();
    {
        std::lock_guard lock(dest.mutex_);
        if (auto ec = dest.sync_locked(true)) return ec;
        std::unordered_map<std::string_view, std::uint32_t> by_base;
        for (const auto& m : dest.state_.messages) by_base.emplace(store::maildir_base(m.name), m.uid);
        for (const auto& [src, base] : made) {
            auto it = by_base.find(base);
            if (it != by_base.end()) result.push_back({src, it->second});
        }
    }
    dest.wake();
    return result;
}

boost::system::result<int, std::error_code> folder::open_message(std::uint32_t uid) {
    for (int attempt = 0; attempt < 3; ++attempt) {
        std::string name;
        {
            std::lock_guard lock(mutex_);
            auto it = std::lower_bound(state_.messages.begin(), state_.messages.end(), uid,
                                       [](const message& m, std::uint32_t u) { return m.uid < u; });
            if (it == state_.messages.end() || it->uid != uid) return std::make_error_code(std::errc::no_such_file_or_directory);
            name = it->name;
        }
        const int fd = ::openat(cur_fd_, name.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        if (fd >= 0) return fd;
        if (errno != ENOENT) return last_error();
        std::lock_guard lock(mutex_);
        if (auto ec = sync_locked(true)) return ec;
    }
    return std::make_error_code(std::errc::no_such_file_or_directory);
}

std::uint64_t folder::watch(std::function<void()> fn) {
    std::lock_guard lock(watch_mutex_);
    const auto id = next_watch_++;
    watchers_.emplace_back(id, std::move(fn));
    return id;
}

void folder::unwatch(std::uint64_t id) {
    std::lock_guard lock(watch_mutex_);
    std::erase_if(watchers_, [id](const auto& w) { return w.first == id; });
}

void folder::notify_external() {
    dirty_.store(true);
    wake();
}

bool folder::on_change_event(bool in_new, std::uint32_t mask, const std::string& name) {
    bool ours = false;
    if (!in_new && !name.empty() && !(mask & IN_Q_OVERFLOW)) {
        std::lock_guard lock(mutex_);
        const bool known = names_.count(name) > 0;
        // A name we hold appeared (our rename or link), or a name we no longer hold went away
        // (our rename or unlink): this process did it and the state already says so.
        ours = (mask & (IN_CREATE | IN_MOVED_TO)) ? known : !known;
    }
    if (ours) return false;
    dirty_.store(true);
    return true;
}

void folder::wake() {
    std::vector<std::function<void()>> fns;
    {
        std::lock_guard lock(watch_mutex_);
        for (const auto& w : watchers_) fns.push_back(w.second);
    }
    for (auto& f : fns) f();
}

}  // namespace mailharness::refmaild::imap_store

#include "mailharness/refmaild/maildir_folder.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <ctime>
#include <unordered_map>
#include <unordered_set>

namespace mailharness::refmaild::store {

using detail::last_error;
using detail::unique_fd;

namespace {

// Owns a DIR* opened on a copy of a directory fd (so the fd given stays usable).
struct dir_stream {
    DIR* d = nullptr;
    explicit dir_stream(int dirfd) {
        const int copy = ::fcntl(dirfd, F_DUPFD_CLOEXEC, 0);
        if (copy < 0) return;
        d = ::fdopendir(copy);
        if (!d) ::close(copy);
        else ::rewinddir(d);
    }
    ~dir_stream() {
        if (d) ::closedir(d);
    }
    dir_stream(const dir_stream&) = delete;
    dir_stream& operator=(const dir_stream&) = delete;
};

unique_fd open_dir(const std::filesystem::path& p) {
    return unique_fd(::open(p.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
}

// Calls fn(name) for every regular file of `dirfd` whose name does not start with '.' and has
// no CR or LF (Dovecot ignores those too). Returns the first error of reading the directory.
template <class Fn>
std::error_code for_each_file(int dirfd, Fn&& fn) {
    dir_stream ds(dirfd);
    if (!ds.d) return last_error();
    for (;;) {
        errno = 0;
        const dirent* e = ::readdir(ds.d);
        if (!e) return errno ? last_error() : std::error_code{};
        const std::string_view name = e->d_name;
        if (name.empty() || name[0] == '.' || name.find_first_of("\r\n") != std::string_view::npos) continue;
        if (e->d_type == DT_UNKNOWN) {
            struct stat st {};
            if (::fstatat(dirfd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISREG(st.st_mode)) continue;
        } else if (e->d_type != DT_REG) {
            continue;
        }
        fn(name);
    }
}

// Octets of the file with every bare LF counted as CRLF.
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

bool pid_alive(std::uint64_t pid) {
    if (pid == 0 || pid > 0x7fffffff) return false;
    return ::kill(static_cast<pid_t>(pid), 0) == 0 || errno == EPERM;
}

bool all_digits_then(std::string_view& s, char end) {
    std::size_t n = 0;
    while (n < s.size() && s[n] >= '0' && s[n] <= '9') ++n;
    if (n == 0 || n == s.size() || s[n] != end) return false;
    s.remove_prefix(n + 1);
    return true;
}

}  // namespace

bool is_refmaild_delivery_name(std::string_view base) noexcept {
    // <secs>.M<usec>P<pid>Q<n>.<host>,S=<size>
    std::string_view s = base;
    if (!all_digits_then(s, '.') || s.empty() || s[0] != 'M') return false;
    s.remove_prefix(1);
    if (!all_digits_then(s, 'P') || !all_digits_then(s, 'Q') || !all_digits_then(s, '.')) return false;
    return parse_maildir_name(base).size.has_value();
}

boost::system::result<maildir_folder, std::error_code> maildir_folder::open(std::filesystem::path dir,
                                                                           folder_settings settings) {
    for (const char* sub : {"cur", "new", "tmp"}) {
        if (auto ec = detail::make_dirs_durable(dir / sub)) return ec;
    }
    maildir_folder f;
    f.dir_ = std::move(dir);
    f.settings_ = std::move(settings);
    if (!f.settings_.trust_s_size) f.settings_.trust_s_size = [](std::string_view) { return false; };
    f.cur_ = open_dir(f.dir_ / "cur");
    if (!f.cur_) return last_error();
    if (auto ec = f.sync()) return ec;
    return f;
}

std::error_code maildir_folder::sync() {
    auto lock = uid_list_lock::acquire(dir_, settings_.lock);
    if (!lock) return lock.error();
    sync_result res;

    // 1. new/ -> cur/, as Dovecot does when it opens a mailbox.
    unique_fd new_dir = open_dir(dir_ / "new");
    if (!new_dir) return last_error();
    std::vector<std::string> in_new;
    if (auto ec = for_each_file(new_dir.get(), [&](std::string_view n) { in_new.emplace_back(n); })) return ec;
    for (const auto& name : in_new) {
        const std::string target = name.find(':') == std::string::npos ? name + ":2," : name;
        if (detail::rename_noreplace(new_dir.get(), name.c_str(), cur_.get(), target.c_str()) == 0) {
            ++res.moved_from_new;
        } else if (errno != ENOENT && errno != EEXIST) {
            // ENOENT: another session moved it first. EEXIST: a file of that name is in cur/
            // already; the copy in new/ is left alone.
            return last_error();
        }
    }
    if (res.moved_from_new > 0) {
        if (::fsync(cur_.get()) != 0) return last_error();
        if (::fsync(new_dir.get()) != 0) return last_error();
    }

    // 2. What is in cur/: base name -> file name.
    std::unordered_map<std::string, std::string> files;
    if (auto ec = for_each_file(cur_.get(), [&](std::string_view n) {
            files.try_emplace(std::string(maildir_base(n)), n);  // a second file of one base is ignored
        })) {
        return ec;
    }

    // 3. The uid list.
    auto read = read_uid_list_file(dir_, settings_.list_limits);
    if (!read) return read.error();
    uid_list list;
    bool changed = false;
    if (!*read || (*read)->fatal) {
        if (*read) {
            const auto fatal = (*read)->fatal;
            if (fatal == uid_list_errc::too_many_records || fatal == uid_list_errc::file_too_large) return fatal;
        }
        list = new_uid_list();
        changed = true;
        res.list_recreated = true;
    } else {
        res.list_problems = (*read)->problems.size() + (*read)->problems_dropped;
        changed = (*read)->needs_rewrite();
        list = std::move((*read)->list);
    }

    // 4. Keep the entries whose file is there; give new files the next UIDs in Dovecot's order.
    std::vector<uid_list_entry> entries;
    entries.reserve(files.size());
    std::unordered_set<std::string> listed;
    for (auto& e : list.entries) {
        if (files.count(e.base) == 0) {
            ++res.dropped_entries;
            changed = true;
            continue;
        }
        listed.insert(e.base);
        entries.push_back(std::move(e));
    }
    std::vector<const std::string*> fresh;
    for (const auto& [base, name] : files) {
        if (listed.count(base) == 0) fresh.push_back(&name);
    }
    std::sort(fresh.begin(), fresh.end(),
              [](const std::string* a, const std::string* b) { return maildir_sort_compare(*a, *b) < 0; });
    constexpr std::uint64_t max_uid = 0xfffffffe;
    if (list.next_uid + std::uint64_t{fresh.size()} - 1 > max_uid && !fresh.empty()) {
        // UIDs exhausted: a new UIDVALIDITY, everything renumbered in UID order then new files.
        const auto old_validity = list.uid_validity;
        list = new_uid_list(old_validity);
        for (auto& e : entries) e.uid = list.next_uid++;
        res.list_recreated = true;
    }
    for (const std::string* name : fresh) {
        entries.push_back({.uid = list.next_uid++, .base = std::string(maildir_base(*name))});
        ++res.new_messages;
        changed = true;
    }
    list.entries = std::move(entries);

    // 5. Sizes as clients receive them.
    std::vector<message_info> messages;
    messages.reserve(list.entries.size());
    std::vector<uid_list_entry> still_there;
    still_there.reserve(list.entries.size());
    for (auto& e : list.entries) {
        const std::string& name = files.at(e.base);
        const maildir_name n = parse_maildir_name(name);
        std::uint64_t size = 0;
        if (n.vsize) {
            size = *n.vsize;
        } else if (e.vsize) {
            size = *e.vsize;
        } else if (n.size && settings_.trust_s_size(e.base)) {
            size = *n.size;
        } else {
            auto computed = crlf_size(cur_.get(), name);
            if (!computed) {
                if (computed.error() != std::errc::no_such_file_or_directory) return computed.error();
                // Gone since the listing (removed or renamed by another session): the next sync
                // sees it again under its new name, with the same UID.
                continue;
            }
            size = *computed;
            e.vsize = size;
            ++res.sizes_computed;
            changed = true;
        }
        messages.push_back({.uid = e.uid, .path = "cur/" + name, .size = size, .flags = n.flags});
        still_there.push_back(std::move(e));
    }
    list.entries = std::move(still_there);

    // 6. Write the list only when it changed.
    if (changed) {
        if (auto ec = write_uid_list_file(dir_, list)) return ec;
        res.list_written = true;
    }
    lock->release();

    uid_validity_ = list.uid_validity;
    uid_next_ = list.next_uid;
    messages_ = std::move(messages);
    last_sync_ = res;
    return {};
}

std::error_code maildir_folder::find_by_base(message_info& m) {
    const std::string base(maildir_base(m.name()));
    std::string found;
    if (auto ec = for_each_file(cur_.get(), [&](std::string_view n) {
            if (found.empty() && maildir_base(n) == base) found = n;
        })) {
        return ec;
    }
    if (found.empty()) return std::make_error_code(std::errc::no_such_file_or_directory);
    m.path = "cur/" + found;
    m.flags = parse_maildir_name(found).flags;
    return {};
}

boost::system::result<unique_fd, std::error_code> maildir_folder::open_message(std::size_t i) {
    if (i >= messages_.size()) return std::make_error_code(std::errc::invalid_argument);
    message_info& m = messages_[i];
    if (m.removed) return std::make_error_code(std::errc::no_such_file_or_directory);
    for (int attempt = 0; attempt < 3; ++attempt) {
        unique_fd fd(::openat(cur_.get(), std::string(m.name()).c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
        if (fd) return fd;
        if (errno != ENOENT) return last_error();
        // Renamed meanwhile (flags changed elsewhere): look it up by its base name.
        if (auto ec = find_by_base(m)) return ec;
    }
    return std::make_error_code(std::errc::no_such_file_or_directory);
}

std::error_code maildir_folder::remove(std::span<const std::size_t> indexes) {
    std::error_code first;
    bool unlinked = false;
    for (std::size_t i : indexes) {
        if (i >= messages_.size()) {
            if (!first) first = std::make_error_code(std::errc::invalid_argument);
            continue;
        }
        message_info& m = messages_[i];
        if (m.removed) continue;
        for (int attempt = 0; attempt < 3; ++attempt) {
            if (::unlinkat(cur_.get(), std::string(m.name()).c_str(), 0) == 0) {
                m.removed = true;
                unlinked = true;
                break;
            }
            if (errno != ENOENT) {
                if (!first) first = last_error();
                break;
            }
            if (find_by_base(m)) {  // gone under every name: someone else removed it
                m.removed = true;
                break;
            }
        }
    }
    if (unlinked && ::fsync(cur_.get()) != 0 && !first) first = last_error();
    return first;
}

boost::system::result<std::size_t, std::error_code> maildir_folder::clean_tmp(std::chrono::seconds max_age) {
    return clean_old_tmp(dir_, max_age);
}

boost::system::result<std::size_t, std::error_code> clean_old_tmp(const std::filesystem::path& maildir,
                                                                  std::chrono::seconds max_age) {
    unique_fd tmp = open_dir(maildir / "tmp");
    if (!tmp) {
        if (errno == ENOENT) return std::size_t{0};
        return last_error();
    }
    const std::time_t cutoff = std::time(nullptr) - static_cast<std::time_t>(max_age.count());
    std::vector<std::string> old;
    auto ec = for_each_file(tmp.get(), [&](std::string_view n) {
        struct stat st {};
        const std::string name(n);
        if (::fstatat(tmp.get(), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) return;
        if (std::max({st.st_atime, st.st_mtime, st.st_ctime}) < cutoff) old.push_back(name);
    });
    if (ec) return ec;
    std::size_t removed = 0;
    for (const auto& name : old) {
        if (::unlinkat(tmp.get(), name.c_str(), 0) == 0) ++removed;
        else if (errno != ENOENT) return last_error();
    }
    return removed;
}

boost::system::result<std::size_t, std::error_code> clean_own_tmp(const std::filesystem::path& maildir,
                                                                  std::string_view host, pid_t current_pid) {
    unique_fd tmp = open_dir(maildir / "tmp");
    if (!tmp) {
        if (errno == ENOENT) return std::size_t{0};
        return last_error();
    }
    std::vector<std::string> stale;
    auto ec = for_each_file(tmp.get(), [&](std::string_view n) {
        if (!is_refmaild_delivery_name(maildir_base(n))) return;
        const maildir_name m = parse_maildir_name(n);
        if (m.host != host || !m.pid || *m.pid == static_cast<std::uint64_t>(current_pid) || pid_alive(*m.pid)) return;
        stale.emplace_back(n);
    });
    if (ec) return ec;
    std::size_t removed = 0;
    for (const auto& name : stale) {
        if (::unlinkat(tmp.get(), name.c_str(), 0) == 0) ++removed;
        else if (errno != ENOENT) return last_error();
    }
    return removed;
}

boost::system::result<std::size_t, std::error_code> clean_own_tmp_tree(const std::filesystem::path& root,
                                                                       std::string_view host, pid_t current_pid,
                                                                       std::chrono::seconds older_than) {
    namespace fs = std::filesystem;
    std::size_t removed = 0;
    std::error_code first;
    auto clean = [&](const fs::path& maildir) {
        auto r = clean_own_tmp(maildir, host, current_pid);
        if (r) removed += *r;
        else if (!first) first = r.error();
        if (older_than.count() > 0) {
            auto o = clean_old_tmp(maildir, older_than);
            if (o) removed += *o;
            else if (!first) first = o.error();
        }
    };
    auto subdirs = [&](const fs::path& p, auto&& fn) {
        std::error_code ec;
        fs::directory_iterator it(p, ec), end;
        if (ec) {
            if (ec != std::errc::no_such_file_or_directory && !first) first = ec;
            return;
        }
        for (; it != end; it.increment(ec)) {
            if (ec) {
                if (!first) first = ec;
                return;
            }
            std::error_code sec;
            if (it->is_directory(sec) && !it->is_symlink(sec)) fn(it->path());
        }
    };
    subdirs(root, [&](const fs::path& domain) {
        subdirs(domain, [&](const fs::path& user) {
            const fs::path maildir = user / "Maildir";
            clean(maildir);
            subdirs(maildir, [&](const fs::path& sub) {
                const std::string name = sub.filename().string();
                if (name.size() > 1 && name[0] == '.' && name != "..") clean(sub);
            });
        });
    });
    if (first) return first;
    return removed;
}

}  // namespace mailharness::refmaild::store

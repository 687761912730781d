#include "mailharness/refmaild/uid_list.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <ctime>
#include <random>
#include <thread>

namespace mailharness::refmaild::store {

using detail::last_error;
using detail::unique_fd;

namespace {

struct uid_list_category_impl final : std::error_category {
    const char* name() const noexcept override { return "mailharness.refmaild.uid_list"; }
    std::string message(int ev) const override {
        switch (static_cast<uid_list_errc>(ev)) {
            case uid_list_errc::missing_header: return "uid list has no header line";
            case uid_list_errc::unsupported_version: return "uid list version is not 3";
            case uid_list_errc::bad_header: return "uid list header lacks a valid V or N field";
            case uid_list_errc::bad_guid: return "uid list header has an invalid mailbox GUID";
            case uid_list_errc::bad_record: return "invalid uid list record";
            case uid_list_errc::uid_not_ascending: return "uid list record's uid is not ascending";
            case uid_list_errc::bad_file_name: return "invalid file name in uid list record";
            case uid_list_errc::duplicate_file_name: return "file name listed twice in uid list";
            case uid_list_errc::bad_extension: return "invalid extension field in uid list record";
            case uid_list_errc::line_too_long: return "uid list line too long";
            case uid_list_errc::unterminated_line: return "uid list ends in an unterminated line";
            case uid_list_errc::too_many_records: return "uid list has too many records";
            case uid_list_errc::file_too_large: return "uid list file too large";
            case uid_list_errc::lock_timeout: return "timed out waiting for the uid list lock";
        }
        return "unknown uid list error";
    }
};

constexpr std::uint32_t max_uid = 0xfffffffe;  // (uint32_t)-1 is never a UID in Dovecot

// A decimal number filling all of `s`, at most `max`.
std::optional<std::uint64_t> parse_number(std::string_view s, std::uint64_t max) {
    if (s.empty() || s.size() > 20) return std::nullopt;
    std::uint64_t v = 0;
    for (char c : s) {
        if (c < '0' || c > '9') return std::nullopt;
        const auto d = static_cast<std::uint64_t>(c - '0');
        if (v > (max - d) / 10) return std::nullopt;
        v = v * 10 + d;
    }
    return v;
}

int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

std::array<std::uint8_t, 16> random_guid() {
    std::random_device rd;
    std::array<std::uint8_t, 16> g{};
    for (std::size_t i = 0; i < g.size(); i += 4) {
        const std::uint32_t r = rd();
        for (std::size_t j = 0; j < 4; ++j) g[i + j] = static_cast<std::uint8_t>(r >> (8 * j));
    }
    return g;
}

// Splits off the next space-separated field of `rest` (skipping leading spaces).
std::string_view next_field(std::string_view& rest) {
    while (!rest.empty() && rest.front() == ' ') rest.remove_prefix(1);
    const auto sp = rest.find(' ');
    std::string_view f = rest.substr(0, sp);
    rest.remove_prefix(f.size());
    return f;
}

void append_field(std::string& to, std::string_view field) {
    if (!to.empty()) to += ' ';
    to.append(field);
}

}  // namespace

const std::error_category& uid_list_category() noexcept {
    static const uid_list_category_impl cat;
    return cat;
}

std::error_code make_error_code(uid_list_errc e) noexcept { return {static_cast<int>(e), uid_list_category()}; }

bool is_fatal(uid_list_errc e) noexcept {
    switch (e) {
        case uid_list_errc::missing_header:
        case uid_list_errc::unsupported_version:
        case uid_list_errc::bad_header:
        case uid_list_errc::too_many_records:
        case uid_list_errc::file_too_large:
            return true;
        default:
            return false;
    }
}

// ---- parser -----------------------------------------------------------------------------------

void uid_list_parser::problem(uid_list_errc e) {
    if (result_.problems.size() < limits_.max_problems) {
        result_.problems.push_back({line_no_ + 1, e});
    } else {
        ++result_.problems_dropped;
    }
}

void uid_list_parser::fail(uid_list_errc e) {
    if (result_.fatal) return;
    result_.fatal = e;
    result_.list = {};
    by_base_.clear();
    partial_.clear();
}

void uid_list_parser::put(std::string_view chunk) {
    while (!chunk.empty() && !result_.fatal) {
        const auto nl = chunk.find('\n');
        const std::string_view part = chunk.substr(0, nl);
        chunk.remove_prefix(nl == std::string_view::npos ? chunk.size() : nl + 1);
        if (!skipping_) {
            if (partial_.size() + part.size() > limits_.max_line) {
                problem(uid_list_errc::line_too_long);
                partial_.clear();
                skipping_ = true;
            } else if (nl == std::string_view::npos) {
                partial_.append(part);
            } else if (partial_.empty()) {
                line(part);  // the common case: a whole line inside one chunk, no copy
            } else {
                partial_.append(part);
                line(partial_);
                partial_.clear();
            }
        }
        if (nl != std::string_view::npos) {
            if (skipping_ && !have_header_) fail(uid_list_errc::bad_header);
            skipping_ = false;
            ++line_no_;
        }
    }
}

void uid_list_parser::line(std::string_view l) {
    // Every trailing CR: what format_uid_list() writes back must read the same.
    while (!l.empty() && l.back() == '\r') l.remove_suffix(1);
    if (!have_header_) {
        header(l);
    } else {
        record(l);
    }
}

void uid_list_parser::header(std::string_view l) {
    have_header_ = true;
    if (l.size() < 2 || l[0] < '0' || l[0] > '9' || l[1] != ' ') return fail(uid_list_errc::bad_header);
    if (l[0] != '3') return fail(uid_list_errc::unsupported_version);
    uid_list& list = result_.list;
    std::uint64_t validity = 0, next = 0;
    bool guid_seen = false, guid_ok = false;
    std::string_view rest = l.substr(2);
    for (std::string_view f = next_field(rest); !f.empty(); f = next_field(rest)) {
        const std::string_view value = f.substr(1);
        switch (f[0]) {
            case 'V': validity = parse_number(value, 0xffffffff).value_or(0); break;
            case 'N': next = parse_number(value, 0xffffffff).value_or(0); break;
            case 'G':
                guid_seen = true;
                guid_ok = value.size() == 32;
                for (std::size_t i = 0; guid_ok && i < 16; ++i) {
                    const int hi = hex_value(value[2 * i]), lo = hex_value(value[2 * i + 1]);
                    guid_ok = hi >= 0 && lo >= 0;
                    list.guid[i] = static_cast<std::uint8_t>(hi * 16 + lo);
                }
                break;
            default:
                // Kept for the writer, except with a CR (which would end the line when written
                // last) or beyond half a line (so the header written, with a G now, still fits).
                if (f.find('\r') == std::string_view::npos &&
                    list.header_extensions.size() + 1 + f.size() <= limits_.max_line / 2) {
                    append_field(list.header_extensions, f);
                } else {
                    problem(uid_list_errc::bad_extension);
                }
                break;
        }
    }
    if (validity == 0 || next == 0) return fail(uid_list_errc::bad_header);
    list.uid_validity = static_cast<std::uint32_t>(validity);
    list.next_uid = static_cast<std::uint32_t>(next);
    // No G (a list of Dovecot before 2.0) is not a problem; both leave the GUID empty, and the
    // writer gives the list a new one (as Dovecot does). Deterministic: no random numbers here.
    if (!guid_ok) list.guid = {};
    if (guid_seen && !guid_ok) problem(uid_list_errc::bad_guid);
}

void uid_list_parser::record(std::string_view l) {
    uid_list& list = result_.list;
    const auto sp = l.find(' ');
    const auto uid = parse_number(l.substr(0, sp), max_uid);
    if (sp == std::string_view::npos || !uid || *uid == 0) return problem(uid_list_errc::bad_record);
    if (!list.entries.empty() && *uid <= list.entries.back().uid) return problem(uid_list_errc::uid_not_ascending);

    uid_list_entry e;
    e.uid = static_cast<std::uint32_t>(*uid);
    std::string_view rest = l.substr(sp);
    for (;;) {
        while (!rest.empty() && rest.front() == ' ') rest.remove_prefix(1);
        if (rest.empty() || rest.front() == ':') break;
        const std::string_view f = next_field(rest);
        if (f[0] < 'A' || f[0] > 'Z') {
            problem(uid_list_errc::bad_extension);
        } else if (f[0] == 'W') {
            if (auto v = parse_number(f.substr(1), UINT64_MAX)) {
                e.vsize = *v;
            } else {
                problem(uid_list_errc::bad_extension);
            }
        } else {
            append_field(e.extensions, f);
        }
    }
    if (rest.empty()) return problem(uid_list_errc::bad_record);  // no ":<name>"
    rest.remove_prefix(1);
    if (rest.empty() || rest.find_first_of(std::string_view("/:\r\0", 4)) != std::string_view::npos) {
        return problem(uid_list_errc::bad_file_name);
    }
    e.base.assign(rest);

    auto [it, inserted] = by_base_.try_emplace(e.base, list.entries.size());
    if (!inserted) {
        problem(uid_list_errc::duplicate_file_name);
        list.entries[it->second].uid = 0;  // superseded: compacted in finish()
        ++dropped_;
        it->second = list.entries.size();
    }
    if (list.entries.size() - dropped_ >= limits_.max_records) return fail(uid_list_errc::too_many_records);
    list.entries.push_back(std::move(e));
}

uid_list_parse_result uid_list_parser::finish() {
    if (!result_.fatal && (skipping_ || !partial_.empty())) {
        // A line too long was reported when it was found; only an unterminated one is new here.
        if (!skipping_) problem(uid_list_errc::unterminated_line);
        if (!have_header_) fail(uid_list_errc::missing_header);
    }
    if (!result_.fatal && !have_header_) fail(uid_list_errc::missing_header);
    partial_.clear();
    by_base_.clear();
    if (!result_.fatal) {
        auto& entries = result_.list.entries;
        if (dropped_ > 0) std::erase_if(entries, [](const uid_list_entry& e) { return e.uid == 0; });
        // next_uid is above every listed uid (Dovecot corrects it the same way).
        if (!entries.empty() && result_.list.next_uid <= entries.back().uid) {
            result_.list.next_uid = entries.back().uid + 1;
        }
    }
    return std::move(result_);
}

uid_list_parse_result parse_uid_list(std::string_view text, const uid_list_limits& limits) {
    uid_list_parser p(limits);
    p.put(text);
    return p.finish();
}

std::string format_uid_list(const uid_list& list) {
    static constexpr char hex[] = "0123456789abcdef";
    std::string out;
    out.reserve(64 + list.entries.size() * 80);
    out += "3 V" + std::to_string(list.uid_validity) + " N" + std::to_string(list.next_uid) + " G";
    for (std::uint8_t b : list.guid) {
        out += hex[b >> 4];
        out += hex[b & 15];
    }
    if (!list.header_extensions.empty()) out += ' ' + list.header_extensions;
    out += '\n';
    for (const auto& e : list.entries) {
        out += std::to_string(e.uid);
        if (e.vsize) out += " W" + std::to_string(*e.vsize);
        if (!e.extensions.empty()) out += ' ' + e.extensions;
        out += " :";
        out += e.base;
        out += '\n';
    }
    return out;
}

uid_list new_uid_list(std::uint32_t previous_uid_validity) {
    uid_list l;
    const auto now = static_cast<std::uint64_t>(std::time(nullptr));
    std::uint64_t v = std::max<std::uint64_t>(now, std::uint64_t{previous_uid_validity} + 1);
    if (v > 0xffffffff || v == 0) v = 1;
    l.uid_validity = static_cast<std::uint32_t>(v);
    l.next_uid = 1;
    l.guid = random_guid();
    return l;
}

// ---- files ------------------------------------------------------------------------------------

namespace {

std::string local_hostname() {
    char buf[256] = {};
    if (::gethostname(buf, sizeof buf - 1) != 0) return "localhost";
    return buf;
}

// Dovecot's check_lock(): the holder's pid when the lock says "<pid>:<our host>".
std::optional<pid_t> local_lock_pid(const std::filesystem::path& lock, std::string_view host) {
    unique_fd fd(::open(lock.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
    if (!fd) return std::nullopt;
    char buf[512];
    const ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n <= 0) return std::nullopt;
    std::string_view s(buf, static_cast<std::size_t>(n));
    if (s.back() == '\n') s.remove_suffix(1);
    const auto colon = s.find(':');
    if (colon == std::string_view::npos || s.substr(colon + 1) != host) return std::nullopt;
    const auto pid = parse_number(s.substr(0, colon), 0x7fffffff);
    if (!pid || *pid == 0) return std::nullopt;
    return static_cast<pid_t>(*pid);
}

}  // namespace

boost::system::result<uid_list_lock, std::error_code> uid_list_lock::acquire(const std::filesystem::path& dir,
                                                                             const uid_list_lock_settings& settings) {
    using clock = std::chrono::steady_clock;
    const auto path = dir / uid_list_lock_name;
    const auto list_path = dir / uid_list_file_name;
    const std::string host = settings.hostname.empty() ? local_hostname() : settings.hostname;
    const auto deadline = clock::now() + settings.timeout;
    std::minstd_rand jitter(static_cast<unsigned>(::getpid()) ^ static_cast<unsigned>(clock::now().time_since_epoch().count()));
    std::chrono::milliseconds wait{2};

    for (;;) {
        unique_fd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600));
        if (fd) {
            const std::string who = std::to_string(::getpid()) + ":" + host;
            // As Dovecot: a lock that cannot say who holds it is still a lock.
            if (detail::write_all(fd.get(), who)) (void)::ftruncate(fd.get(), 0);
            uid_list_lock lock;
            lock.path_ = path;
            lock.fd_ = std::move(fd);
            return lock;
        }
        if (errno != EEXIST) return last_error();

        // Someone holds it. Take it over when its holder is gone (a dead process of this host,
        // checked only once the lock is 2 s old so that its content is written), or when neither
        // the lock nor the list has changed for stale_timeout.
        struct stat st {};
        if (::lstat(path.c_str(), &st) != 0) {
            if (errno == ENOENT) continue;  // released meanwhile
            return last_error();
        }
        const std::time_t now = std::time(nullptr);
        bool stale = false;
        if (now - st.st_mtime >= 2) {
            if (auto pid = local_lock_pid(path, host); pid && *pid != ::getpid()) {
                stale = ::kill(*pid, 0) != 0 && errno == ESRCH;
            }
        }
        if (!stale) {
            // mtime, not ctime: Dovecot touches (utime) a lock it holds for long.
            std::time_t last_change = st.st_mtime;
            struct stat lst {};
            if (::stat(list_path.c_str(), &lst) == 0) last_change = std::max(last_change, lst.st_mtime);
            stale = now - last_change > settings.stale_timeout.count();
        }
        if (stale) {
            struct stat again {};
            if (::lstat(path.c_str(), &again) == 0 && again.st_ino == st.st_ino && again.st_dev == st.st_dev &&
                again.st_mtime == st.st_mtime) {
                ::unlink(path.c_str());
                // As Dovecot: pause after overriding, so that another process overriding the
                // same stale lock does not remove the one we are about to create.
                std::this_thread::sleep_for(std::chrono::milliseconds(100 + jitter() % 100));
            }
            continue;
        }
        if (clock::now() >= deadline) return make_error_code(uid_list_errc::lock_timeout);
        std::this_thread::sleep_for(wait + std::chrono::milliseconds(jitter() % (wait.count() + 1)));
        wait = std::min(wait * 2, std::chrono::milliseconds(200));
    }
}

uid_list_lock& uid_list_lock::operator=(uid_list_lock&& o) noexcept {
    if (this != &o) {
        release();
        path_ = std::move(o.path_);
        fd_ = std::move(o.fd_);
    }
    return *this;
}

uid_list_lock::~uid_list_lock() { release(); }

void uid_list_lock::release() noexcept {
    if (!fd_) return;
    // Remove the lock only if it is still the file we created (it may have been taken over as
    // stale, and then belongs to someone else).
    struct stat mine {}, there {};
    if (::fstat(fd_.get(), &mine) == 0 && ::lstat(path_.c_str(), &there) == 0 && mine.st_ino == there.st_ino &&
        mine.st_dev == there.st_dev) {
        ::unlink(path_.c_str());
    }
    fd_.reset();
}

boost::system::result<std::optional<uid_list_parse_result>, std::error_code> read_uid_list_file(
    const std::filesystem::path& dir, const uid_list_file_limits& limits) {
    const auto path = dir / uid_list_file_name;
    unique_fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
    if (!fd) {
        if (errno == ENOENT) return std::optional<uid_list_parse_result>();
        return last_error();
    }
    struct stat st {};
    if (::fstat(fd.get(), &st) != 0) return last_error();
    if (static_cast<std::uint64_t>(st.st_size) > limits.max_file_size) {
        uid_list_parse_result r;
        r.fatal = uid_list_errc::file_too_large;
        return std::optional<uid_list_parse_result>(std::move(r));
    }
    uid_list_parser parser(limits);
    char buf[65536];
    std::uint64_t total = 0;
    for (;;) {
        const ssize_t n = ::read(fd.get(), buf, sizeof buf);
        if (n < 0) {
            if (errno == EINTR) continue;
            return last_error();
        }
        if (n == 0) break;
        total += static_cast<std::uint64_t>(n);
        if (total > limits.max_file_size) {  // grew while we read
            uid_list_parse_result r;
            r.fatal = uid_list_errc::file_too_large;
            return std::optional<uid_list_parse_result>(std::move(r));
        }
        parser.put({buf, static_cast<std::size_t>(n)});
    }
    return std::optional<uid_list_parse_result>(parser.finish());
}

bool has_guid(const uid_list& list) noexcept {
    return std::any_of(list.guid.begin(), list.guid.end(), [](std::uint8_t b) { return b != 0; });
}

std::error_code write_uid_list_file(const std::filesystem::path& dir, const uid_list& list, bool durable) {
    if (!has_guid(list)) {
        uid_list copy = list;
        copy.guid = random_guid();
        return detail::write_file_atomic(dir / uid_list_file_name, format_uid_list(copy), 0600, durable);
    }
    return detail::write_file_atomic(dir / uid_list_file_name, format_uid_list(list), 0600, durable);
}

}  // namespace mailharness::refmaild::store

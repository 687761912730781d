#include "mailharness/refmaild/queue/spool.hpp"

#include "mailharness/refmaild/detail/durable_file.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <future>
#include <map>
#include <utility>

namespace mailharness::refmaild::queue {

using mailharness::refmaild::detail::last_error;
using mailharness::refmaild::detail::make_dirs_durable;
using mailharness::refmaild::detail::rename_noreplace;
using mailharness::refmaild::detail::unique_fd;
using mailharness::refmaild::detail::write_all;
using mailharness::refmaild::detail::fsync_dir;

namespace {

struct spool_category_impl final : std::error_category {
    const char* name() const noexcept override { return "mailharness.refmaild.queue.spool"; }
    std::string message(int ev) const override {
        switch (static_cast<spool_errc>(ev)) {
            case spool_errc::invalid_id: return "invalid queue ID";
            case spool_errc::not_found: return "no such message in the queue";
            case spool_errc::busy: return "message is being delivered or deleted right now";
            case spool_errc::stopped: return "spool stopped";
            case spool_errc::invalid_request: return "message without body or recipients";
            case spool_errc::exists: return "queue ID already in use";
        }
        return "unknown spool error";
    }
};

// Reads the whole of an open file, at most `max` octets.
std::error_code read_fd(int fd, std::string& out, std::uint64_t max) {
    struct stat st {};
    if (::fstat(fd, &st) != 0) return last_error();
    if (static_cast<std::uint64_t>(st.st_size) > max) return std::make_error_code(std::errc::file_too_large);
    out.clear();
    out.reserve(static_cast<std::size_t>(st.st_size));
    char buf[65536];
    off_t off = 0;
    for (;;) {
        ssize_t n = ::pread(fd, buf, sizeof buf, off);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return last_error();
        if (n == 0) break;
        if (out.size() + static_cast<std::size_t>(n) > max) return std::make_error_code(std::errc::file_too_large);
        out.append(buf, static_cast<std::size_t>(n));
        off += n;
    }
    return {};
}

bool ends_with(std::string_view s, std::string_view suffix) {
    return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

}  // namespace

const std::error_category& spool_category() noexcept {
    static const spool_category_impl cat;
    return cat;
}

std::error_code make_error_code(spool_errc e) noexcept { return {static_cast<int>(e), spool_category()}; }

// ---- spool_lock ----

spool_lock::spool_lock(spool_lock&& o) noexcept : fd_(std::exchange(o.fd_, -1)), id_(std::move(o.id_)) {}

spool_lock& spool_lock::operator=(spool_lock&& o) noexcept {
    if (this != &o) {
        if (fd_ >= 0) ::close(fd_);
        fd_ = std::exchange(o.fd_, -1);
        id_ = std::move(o.id_);
    }
    return *this;
}

spool_lock::~spool_lock() {
    if (fd_ >= 0) ::close(fd_);  // closing the descriptor releases the flock
}

boost::system::result<std::string, std::error_code> spool_lock::read_message(std::uint64_t max) const {
    if (fd_ < 0) return make_error_code(spool_errc::not_found);
    std::string out;
    if (auto ec = read_fd(fd_, out, max)) return ec;
    return out;
}

// ---- spool ----

struct spool::counters {
    std::atomic<std::uint64_t> enqueued{0}, updated{0}, removed{0}, failed{0}, batches{0}, file_syncs{0},
        dir_syncs{0}, seq{0}, tmp_seq{0};
    void add(std::atomic<std::uint64_t>& c, std::uint64_t n = 1) { c.fetch_add(n, std::memory_order_relaxed); }
};

spool::spool(spool_settings settings) : settings_(std::move(settings)), counters_(std::make_unique<counters>()) {
    if (settings_.max_batch == 0) settings_.max_batch = 1;
    committer_ = std::thread([this] { run(); });
}

spool::~spool() { stop(); }

std::error_code spool::prepare() {
    if (settings_.dir.empty()) return std::make_error_code(std::errc::invalid_argument);
    if (auto ec = make_dirs_durable(settings_.dir)) return ec;
    return make_dirs_durable(settings_.dir / "corrupt");
}

std::string spool::new_id() {
    timeval tv{};
    ::gettimeofday(&tv, nullptr);
    auto micros = static_cast<unsigned long long>(tv.tv_sec) * 1000000ull + static_cast<unsigned long long>(tv.tv_usec);
    auto seq = counters_->seq.fetch_add(1, std::memory_order_relaxed);
    char buf[32];
    std::snprintf(buf, sizeof buf, "%014llX%06X%04X", micros & 0xFFFFFFFFFFFFFFull,
                  static_cast<unsigned>(::getpid()) & 0xFFFFFFu, static_cast<unsigned>(seq & 0xFFFF));
    return buf;
}

void spool::stop() {
    {
        std::lock_guard lock(mutex_);
        stopping_ = true;
    }
    wake_.notify_all();
    std::lock_guard lock(join_mutex_);
    if (committer_.joinable() && committer_.get_id() != std::this_thread::get_id()) committer_.join();
}

void spool::submit(op o) {
    {
        std::lock_guard lock(mutex_);
        if (!stopping_) {
            queue_.push_back(std::move(o));
            if (queue_.size() == 1) wake_.notify_one();
            return;
        }
    }
    counters_->add(counters_->failed);
    o.done(make_error_code(spool_errc::stopped));
}

void spool::enqueue_async(queued_message m, spool_handler done) {
    if (!valid_queue_id(m.env.id)) return done(make_error_code(spool_errc::invalid_id));
    if (!m.body || m.env.recipients.empty()) return done(make_error_code(spool_errc::invalid_request));
    submit({op_kind::enqueue, std::move(m), std::move(done)});
}

void spool::update_async(envelope e, spool_handler done) {
    if (!valid_queue_id(e.id)) return done(make_error_code(spool_errc::invalid_id));
    queued_message m;
    m.env = std::move(e);
    submit({op_kind::update, std::move(m), std::move(done)});
}

void spool::remove_async(std::string id, spool_handler done) {
    if (!valid_queue_id(id)) return done(make_error_code(spool_errc::invalid_id));
    queued_message m;
    m.env.id = std::move(id);
    submit({op_kind::remove, std::move(m), std::move(done)});
}

namespace {
template <class F>
std::error_code wait_for(F&& start) {
    std::promise<std::error_code> p;
    auto f = p.get_future();
    start([&p](std::error_code ec) { p.set_value(ec); });
    return f.get();
}
}  // namespace

std::error_code spool::enqueue(queued_message m) {
    return wait_for([&](spool_handler h) { enqueue_async(std::move(m), std::move(h)); });
}
std::error_code spool::update(envelope e) {
    return wait_for([&](spool_handler h) { update_async(std::move(e), std::move(h)); });
}
std::error_code spool::remove(std::string id) {
    return wait_for([&](spool_handler h) { remove_async(std::move(id), std::move(h)); });
}

spool_stats spool::stats() const noexcept {
    auto get = [](const std::atomic<std::uint64_t>& c) { return c.load(std::memory_order_relaxed); };
    const counters& c = *counters_;
    return {.enqueued = get(c.enqueued),
            .updated = get(c.updated),
            .removed = get(c.removed),
            .failed = get(c.failed),
            .batches = get(c.batches),
            .file_syncs = get(c.file_syncs),
            .dir_syncs = get(c.dir_syncs)};
}

void spool::run() {
    counters& stats = *counters_;
    for (;;) {
        std::vector<op> batch;
        {
            std::unique_lock lock(mutex_);
            wake_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
            if (queue_.empty()) return;
            std::size_t n = std::min(queue_.size(), settings_.max_batch);
            for (std::size_t i = 0; i < n; ++i) {
                batch.push_back(std::move(queue_.front()));
                queue_.pop_front();
            }
        }

        struct work {
            std::error_code ec;
            unique_fd msg_fd, env_fd;
            std::string msg_tmp, env_tmp;  // temporary names, empty when not created
            bool msg_in_place = false, env_in_place = false;
        };
        std::vector<work> items(batch.size());
        unique_fd dir(::open(settings_.dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
        std::error_code dir_error = dir ? std::error_code{} : last_error();

        // 1. Write temporary files.
        auto create = [&](const std::string& name, unique_fd& fd) -> std::error_code {
            fd = unique_fd(::openat(dir.get(), name.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600));
            return fd ? std::error_code{} : last_error();
        };
        for (std::size_t i = 0; i < batch.size(); ++i) {
            op& o = batch[i];
            work& w = items[i];
            if (dir_error) {
                w.ec = dir_error;
                continue;
            }
            const std::string& id = o.msg.env.id;
            if (o.kind == op_kind::enqueue) {
                struct stat st {};
                if (::fstatat(dir.get(), (id + ".env").c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0) {
                    w.ec = spool_errc::exists;
                    continue;
                }
                w.msg_tmp = id + ".msg.tmp";
                if ((w.ec = create(w.msg_tmp, w.msg_fd))) {
                    w.msg_tmp.clear();
                    continue;
                }
                w.ec = write_all(w.msg_fd.get(), o.msg.header, *o.msg.body);
                if (!w.ec) ::sync_file_range(w.msg_fd.get(), 0, 0, SYNC_FILE_RANGE_WRITE);
            }
            if (o.kind == op_kind::enqueue || o.kind == op_kind::update) {
                if (w.ec) continue;
                w.env_tmp = id + ".env." + std::to_string(stats.tmp_seq.fetch_add(1)) + ".tmp";
                if ((w.ec = create(w.env_tmp, w.env_fd))) {
                    w.env_tmp.clear();
                    continue;
                }
                w.ec = write_all(w.env_fd.get(), serialize(o.msg.env));
            }
        }

        // 2. Sync the data of every file written.
        for (auto& w : items) {
            for (unique_fd* fd : {&w.msg_fd, &w.env_fd}) {
                if (w.ec || !*fd) continue;
                stats.add(stats.file_syncs);
                if (::fdatasync(fd->get()) != 0) w.ec = last_error();
            }
            for (unique_fd* fd : {&w.msg_fd, &w.env_fd}) {
                if (*fd && ::close(fd->release()) != 0 && !w.ec) w.ec = last_error();
            }
        }

        // 3. Rename into place (message before envelope), or unlink (envelope before message).
        bool changed = false;
        for (std::size_t i = 0; i < batch.size(); ++i) {
            op& o = batch[i];
            work& w = items[i];
            const std::string& id = o.msg.env.id;
            if (!w.ec && o.kind == op_kind::enqueue) {
                if (rename_noreplace(dir.get(), w.msg_tmp.c_str(), dir.get(), (id + ".msg").c_str()) != 0) {
                    w.ec = last_error();
                } else {
                    w.msg_in_place = true;
                    w.msg_tmp.clear();
                    changed = true;
                    if (rename_noreplace(dir.get(), w.env_tmp.c_str(), dir.get(), (id + ".env").c_str()) != 0) {
                        w.ec = last_error();
                    } else {
                        w.env_in_place = true;
                        w.env_tmp.clear();
                    }
                }
            } else if (!w.ec && o.kind == op_kind::update) {
                // Only an envelope that still exists is replaced: a message removed meanwhile
                // stays removed.
                struct stat st {};
                if (::fstatat(dir.get(), (id + ".env").c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
                    w.ec = errno == ENOENT ? std::error_code(spool_errc::not_found) : last_error();
                } else if (::renameat(dir.get(), w.env_tmp.c_str(), dir.get(), (id + ".env").c_str()) != 0) {
                    w.ec = last_error();
                } else {
                    w.env_tmp.clear();
                    changed = true;
                }
            } else if (!w.ec && o.kind == op_kind::remove) {
                bool any = false;
                for (const char* ext : {".env", ".msg"}) {
                    if (::unlinkat(dir.get(), (id + ext).c_str(), 0) == 0) {
                        any = true;
                    } else if (errno != ENOENT && !w.ec) {
                        w.ec = last_error();
                    }
                }
                if (!any && !w.ec) w.ec = spool_errc::not_found;
                changed = changed || any;
            }
            for (auto* tmp : {&w.msg_tmp, &w.env_tmp}) {
                if (!tmp->empty()) ::unlinkat(dir.get(), tmp->c_str(), 0);
            }
        }

        // 4. One directory sync for the whole batch.
        if (changed) {
            stats.add(stats.dir_syncs);
            if (::fsync(dir.get()) != 0) {
                std::error_code ec = last_error();
                for (std::size_t i = 0; i < batch.size(); ++i) {
                    if (!items[i].ec) items[i].ec = ec;
                }
            }
        }
        // A failed enqueue leaves nothing behind (the client gets a 4xx and sends again).
        for (std::size_t i = 0; i < batch.size(); ++i) {
            work& w = items[i];
            if (w.ec && batch[i].kind == op_kind::enqueue) {
                const std::string& id = batch[i].msg.env.id;
                if (w.env_in_place) ::unlinkat(dir.get(), (id + ".env").c_str(), 0);
                if (w.msg_in_place) ::unlinkat(dir.get(), (id + ".msg").c_str(), 0);
            }
        }

        // 5. Report.
        stats.add(stats.batches);
        for (std::size_t i = 0; i < batch.size(); ++i) {
            std::error_code ec = items[i].ec;
            if (ec) {
                stats.add(stats.failed);
            } else {
                stats.add(batch[i].kind == op_kind::enqueue  ? stats.enqueued
                          : batch[i].kind == op_kind::update ? stats.updated
                                                             : stats.removed);
            }
            batch[i].done(ec);
        }
    }
}

boost::system::result<envelope, std::error_code> spool::read_envelope(std::string_view id) const {
    if (!valid_queue_id(id)) return make_error_code(spool_errc::invalid_id);
    unique_fd fd(::open((settings_.dir / (std::string(id) + ".env")).c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
    if (!fd) return errno == ENOENT ? make_error_code(spool_errc::not_found) : last_error();
    std::string text;
    if (auto ec = read_fd(fd.get(), text, settings_.limits.max_size)) {
        if (ec == std::errc::file_too_large) return make_error_code(envelope_errc::file_too_big);
        return ec;
    }
    envelope e;
    if (auto ec = parse_envelope(text, e, settings_.limits)) return ec;
    if (e.id != id) return make_error_code(envelope_errc::bad_value);  // a file renamed by hand
    return e;
}

boost::system::result<spool_lock, std::error_code> spool::try_lock(std::string_view id) const {
    if (!valid_queue_id(id)) return make_error_code(spool_errc::invalid_id);
    unique_fd fd(::open((settings_.dir / (std::string(id) + ".msg")).c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
    if (!fd) return errno == ENOENT ? make_error_code(spool_errc::not_found) : last_error();
    if (::flock(fd.get(), LOCK_EX | LOCK_NB) != 0) {
        return errno == EWOULDBLOCK ? make_error_code(spool_errc::busy) : last_error();
    }
    // The previous holder may have removed the message before letting go of the lock.
    struct stat st {};
    if (::fstat(fd.get(), &st) != 0) return last_error();
    if (st.st_nlink == 0) return make_error_code(spool_errc::not_found);
    return spool_lock(fd.release(), std::string(id));
}

boost::system::result<spool_lock, std::error_code> spool::lock(std::string_view id, std::chrono::milliseconds timeout) const {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
        auto r = try_lock(id);
        if (r || r.error() != spool_errc::busy || std::chrono::steady_clock::now() >= deadline) return r;
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
}

std::error_code spool::quarantine(std::string_view id) {
    if (!valid_queue_id(id)) return spool_errc::invalid_id;
    auto corrupt = settings_.dir / "corrupt";
    if (auto ec = make_dirs_durable(corrupt)) return ec;
    bool moved = false;
    for (const char* ext : {".env", ".msg"}) {
        std::string name = std::string(id) + ext;
        if (::rename((settings_.dir / name).c_str(), (corrupt / name).c_str()) == 0) {
            moved = true;
        } else if (errno != ENOENT) {
            return last_error();
        }
    }
    if (!moved) return spool_errc::not_found;
    if (auto ec = fsync_dir(corrupt)) return ec;
    return fsync_dir(settings_.dir);
}

std::error_code spool::request_flush() {
    auto file = settings_.dir / "flush";
    unique_fd fd(::open(file.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600));
    if (!fd) return last_error();
    fd.reset();
    return fsync_dir(settings_.dir);
}

bool spool::take_flush_request() {
    return ::unlink((settings_.dir / "flush").c_str()) == 0;
}

scan_result spool::scan(scan_mode mode) {
    scan_result out;
    const bool recover = mode == scan_mode::recover;
    std::map<std::string, int> ids;  // bit 1: .env, bit 2: .msg
    std::vector<std::string> temps;
    {
        DIR* d = ::opendir(settings_.dir.c_str());
        if (!d) {
            if (errno != ENOENT) out.problems.push_back({".", "cannot read the spool directory: " + last_error().message()});
            return out;
        }
        while (dirent* e = ::readdir(d)) {
            std::string_view name = e->d_name;
            if (name == "." || name == ".." || name == "flush" || name == "corrupt") continue;
            if (ends_with(name, ".tmp")) {
                temps.emplace_back(name);
            } else if (ends_with(name, ".env") && valid_queue_id(name.substr(0, name.size() - 4))) {
                ids[std::string(name.substr(0, name.size() - 4))] |= 1;
            } else if (ends_with(name, ".msg") && valid_queue_id(name.substr(0, name.size() - 4))) {
                ids[std::string(name.substr(0, name.size() - 4))] |= 2;
            } else {
                out.problems.push_back({std::string(name), "not a spool file; left alone"});
            }
        }
        ::closedir(d);
    }
    bool changed = false;
    for (const auto& t : temps) {
        if (recover) {
            ::unlink((settings_.dir / t).c_str());
            changed = true;
            out.problems.push_back({t, "unfinished write; removed"});
        }
    }
    for (const auto& [id, bits] : ids) {
        if (bits == 2) {
            out.problems.push_back({id + ".msg", recover ? "message file without envelope (never acknowledged, or already "
                                                           "delivered); removed"
                                                         : "message file without envelope"});
            if (recover) {
                ::unlink((settings_.dir / (id + ".msg")).c_str());
                changed = true;
            }
            continue;
        }
        if (bits == 1) {
            out.problems.push_back({id + ".env", recover ? "envelope without message file; removed" : "envelope without message file"});
            if (recover) {
                ::unlink((settings_.dir / (id + ".env")).c_str());
                changed = true;
            }
            continue;
        }
        auto env = read_envelope(id);
        if (!env) {
            if (env.error() == spool_errc::not_found) continue;  // removed while we looked
            std::string what = env.error().message();
            if (recover) {
                auto qec = quarantine(id);
                what += qec ? "; could not move it aside: " + qec.message() : "; moved to corrupt/";
            }
            out.problems.push_back({id + ".env", what});
            continue;
        }
        struct stat st {};
        std::uint64_t size = ::stat((settings_.dir / (id + ".msg")).c_str(), &st) == 0 ? static_cast<std::uint64_t>(st.st_size) : 0;
        out.entries.push_back({std::move(*env), size});
    }
    if (changed) fsync_dir(settings_.dir);
    std::sort(out.entries.begin(), out.entries.end(), [](const scan_entry& a, const scan_entry& b) {
        return a.env.created != b.env.created ? a.env.created < b.env.created : a.env.id < b.env.id;
    });
    return out;
}

}  // namespace mailharness::refmaild::queue

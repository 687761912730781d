#include "mailharness/refmaild/maildir_store.hpp"

#include "mailharness/refmaild/detail/durable_file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <future>
#include <map>
#include <utility>
#include <vector>

namespace mailharness::refmaild::store {

using mailharness::refmaild::detail::last_error;
using mailharness::refmaild::detail::make_dirs_durable;
using mailharness::refmaild::detail::rename_noreplace;
using mailharness::refmaild::detail::unique_fd;
using mailharness::refmaild::detail::write_all;
using mailharness::refmaild::detail::fsync_dir;

namespace {

struct store_category_impl final : std::error_category {
    const char* name() const noexcept override { return "mailharness.refmaild.store"; }
    std::string message(int ev) const override {
        switch (static_cast<store_errc>(ev)) {
            case store_errc::invalid_mailbox: return "invalid mailbox name";
            case store_errc::invalid_request: return "delivery request has no body";
            case store_errc::stopped: return "store stopped";
        }
        return "unknown store error";
    }
};

// A name the store accepts as one path component.
bool valid_component(std::string_view s) {
    if (s.empty() || s.size() > 255 || s.front() == '.') return false;
    for (unsigned char c : s) {
        if (c < 0x20 || c == 0x7f || c == '/') return false;
    }
    return true;
}

std::string lower_ascii(std::string_view s) {
    std::string out(s);
    for (char& c : out) {
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    }
    return out;
}

std::string escape_host(std::string_view host) {
    std::string out;
    for (char c : host) {
        switch (c) {
            case '/': out += "\\057"; break;
            case ':': out += "\\072"; break;
            case ',': out += "\\054"; break;
            default: out += c;
        }
    }
    return out.empty() ? std::string("localhost") : out;
}

std::string system_hostname() {
    char buf[256] = {};
    if (::gethostname(buf, sizeof buf - 1) != 0) return "localhost";
    return buf;
}


}  // namespace

const std::error_category& store_category() noexcept {
    static const store_category_impl cat;
    return cat;
}

std::error_code make_error_code(store_errc e) noexcept { return {static_cast<int>(e), store_category()}; }

struct maildir_store::counters {
    std::atomic<std::uint64_t> delivered{0}, failed{0}, batches{0}, largest_batch{0}, file_syncs{0},
        dir_syncs{0}, fs_syncs{0}, seq{0};
    void add(std::atomic<std::uint64_t>& c, std::uint64_t n = 1) { c.fetch_add(n, std::memory_order_relaxed); }
};

namespace {

// tmp/ and new/ of one Maildir, opened for one batch.
struct maildir_dirs {
    std::error_code open_error;  // why tmp/ or new/ could not be opened
    unique_fd tmp;
    unique_fd new_;
    bool touched = false;  // a file was renamed into new/ in this batch
};

// One delivery while its batch is committed.
struct work_item {
    maildir_dirs* dirs = nullptr;
    std::string name;
    unique_fd fd;
    bool in_new = false;
    std::error_code ec;
};

}  // namespace

maildir_store::maildir_store(store_settings settings)
    : settings_(std::move(settings)),
      host_(escape_host(settings_.hostname.empty() ? system_hostname() : settings_.hostname)),
      counters_(std::make_unique<counters>()) {
    if (settings_.max_batch == 0) settings_.max_batch = 1;
    committer_ = std::thread([this] { run(); });
}

maildir_store::~maildir_store() { stop(); }

void maildir_store::stop() {
    {
        std::lock_guard lock(mutex_);
        stopping_ = true;
    }
    wake_.notify_all();
    std::lock_guard lock(join_mutex_);
    if (committer_.joinable() && committer_.get_id() != std::this_thread::get_id()) committer_.join();
}

void maildir_store::deliver_async(delivery_request request, delivery_handler on_done) {
    {
        std::lock_guard lock(mutex_);
        if (!stopping_) {
            queue_.push_back({std::move(request), std::move(on_done)});
            // The committer waits for the first delivery, or (during batch_delay) for a full batch.
            if (queue_.size() == 1 || queue_.size() >= settings_.max_batch) wake_.notify_one();
            return;
        }
    }
    counters_->add(counters_->failed);
    on_done(make_error_code(store_errc::stopped), {});
}

boost::system::result<std::string, std::error_code> maildir_store::deliver(delivery_request request) {
    std::promise<std::pair<std::error_code, std::string>> done;
    auto fut = done.get_future();
    deliver_async(std::move(request), [&done](std::error_code ec, std::string name) {
        done.set_value({ec, std::move(name)});
    });
    auto [ec, name] = fut.get();
    if (ec) return ec;
    return name;
}

store_stats maildir_store::stats() const noexcept {
    auto get = [](const std::atomic<std::uint64_t>& c) { return c.load(std::memory_order_relaxed); };
    const counters& c = *counters_;
    return {.delivered = get(c.delivered),
            .failed = get(c.failed),
            .batches = get(c.batches),
            .largest_batch = get(c.largest_batch),
            .file_syncs = get(c.file_syncs),
            .dir_syncs = get(c.dir_syncs),
            .fs_syncs = get(c.fs_syncs)};
}

boost::system::result<std::filesystem::path, std::error_code> maildir_store::maildir_path(
    const mailbox_id& mailbox) const {
    std::string domain = lower_ascii(mailbox.domain);
    if (!valid_component(domain) || !valid_component(mailbox.user)) {
        return make_error_code(store_errc::invalid_mailbox);
    }
    auto maildir = settings_.root / domain / mailbox.user / "Maildir";
    if (mailbox.folder.empty()) return maildir;
    // Maildir++: Maildir/.A.B for folder A/B; every part must be a name of its own.
    std::string_view rest = mailbox.folder;
    for (;;) {
        auto dot = rest.find('.');
        if (!valid_component(rest.substr(0, dot))) return make_error_code(store_errc::invalid_mailbox);
        if (dot == std::string_view::npos) break;
        rest.remove_prefix(dot + 1);
    }
    return maildir / ("." + mailbox.folder);
}

namespace {

// Opens tmp/ and new/ of a Maildir, creating the Maildir (with cur/) when it is missing.
std::error_code open_maildir(const std::filesystem::path& maildir, maildir_dirs& out, std::uint64_t& dir_syncs) {
    auto open_dir = [](const std::filesystem::path& p) {
        return unique_fd(::open(p.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    };
    out.tmp = open_dir(maildir / "tmp");
    out.new_ = open_dir(maildir / "new");
    if (out.tmp && out.new_) return {};
    if (errno != ENOENT) return last_error();
    for (const char* sub : {"tmp", "new", "cur"}) {
        if (auto ec = make_dirs_durable(maildir / sub, &dir_syncs)) return ec;
    }
    out.tmp = open_dir(maildir / "tmp");
    if (!out.tmp) return last_error();
    out.new_ = open_dir(maildir / "new");
    if (!out.new_) return last_error();
    return {};
}

}  // namespace

void maildir_store::run() {
    counters& stats = *counters_;
    for (;;) {
        std::vector<queued> batch;
        {
            std::unique_lock lock(mutex_);
            wake_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
            if (queue_.empty()) return;  // stopping and drained
            if (settings_.batch_delay.count() > 0 && !stopping_ && queue_.size() < settings_.max_batch) {
                wake_.wait_for(lock, settings_.batch_delay,
                               [&] { return stopping_ || queue_.size() >= settings_.max_batch; });
            }
            std::size_t n = std::min(queue_.size(), settings_.max_batch);
            batch.reserve(n);
            for (std::size_t i = 0; i < n; ++i) {
                batch.push_back(std::move(queue_.front()));
                queue_.pop_front();
            }
        }

        std::uint64_t dir_syncs = 0;
        std::map<std::string, maildir_dirs> dirs;
        std::vector<work_item> items(batch.size());

        // 1. Write every message into tmp/.
        for (std::size_t i = 0; i < batch.size(); ++i) {
            const delivery_request& req = batch[i].request;
            work_item& w = items[i];
            if (!req.body) {
                w.ec = store_errc::invalid_request;
                continue;
            }
            auto maildir = maildir_path(req.mailbox);
            if (!maildir) {
                w.ec = maildir.error();
                continue;
            }
            auto [it, inserted] = dirs.try_emplace(maildir->string());
            if (inserted) {
                if (auto ec = open_maildir(*maildir, it->second, dir_syncs)) {
                    it->second = {};
                    it->second.open_error = ec;
                }
            }
            w.dirs = &it->second;
            if (w.dirs->open_error) {
                w.ec = w.dirs->open_error;
                continue;
            }

            // A name clash (same pid, usec and sequence after a pid wrap-around) is retried with the
            // next sequence number rather than failed.
            std::size_t size = req.header.size() + req.body->size();
            for (int attempt = 0; attempt < 3 && !w.fd; ++attempt) {
                timeval tv{};
                ::gettimeofday(&tv, nullptr);
                std::uint64_t seq = stats.seq.fetch_add(1, std::memory_order_relaxed);
                char prefix[96];
                std::snprintf(prefix, sizeof prefix, "%lld.M%06ldP%ldQ%llu.", static_cast<long long>(tv.tv_sec),
                              static_cast<long>(tv.tv_usec), static_cast<long>(::getpid()),
                              static_cast<unsigned long long>(seq));
                w.name = prefix + host_ + ",S=" + std::to_string(size);
                w.fd = unique_fd(::openat(w.dirs->tmp.get(), w.name.c_str(),
                                          O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600));
                if (!w.fd && errno != EEXIST) break;
            }
            if (!w.fd) {
                w.ec = last_error();
                continue;
            }
            w.ec = write_all(w.fd.get(), req.header, *req.body);
            // Start write-back now, so the per-file syncs below find the data of the whole batch
            // already on its way to the disk instead of writing it out one file at a time.
            if (!w.ec && settings_.sync == sync_mode::per_file) {
                ::sync_file_range(w.fd.get(), 0, 0, SYNC_FILE_RANGE_WRITE);
            }
        }

        // 2. Make the data durable.
        auto fail_live = [&](std::error_code ec) {
            for (auto& w : items) {
                if (!w.ec && w.fd) w.ec = ec;
            }
        };
        if (settings_.sync == sync_mode::syncfs) {
            for (auto& w : items) {
                if (w.ec || !w.fd) continue;
                stats.add(stats.fs_syncs);
                if (::syncfs(w.fd.get()) != 0) fail_live(last_error());
                break;
            }
        } else {
            for (auto& w : items) {
                if (w.ec || !w.fd) continue;
                stats.add(stats.file_syncs);
                if (::fdatasync(w.fd.get()) != 0) w.ec = last_error();
            }
        }

        // 3. Move into new/ (or clean tmp/ up).
        for (auto& w : items) {
            if (!w.fd) continue;  // never created
            if (::close(w.fd.release()) != 0 && !w.ec) {
                // close() cannot fail after a successful sync on Linux file systems that matter
                // here, but if it does the data is suspect.
                w.ec = last_error();
            }
            if (!w.ec) {
                if (rename_noreplace(w.dirs->tmp.get(), w.name.c_str(), w.dirs->new_.get(), w.name.c_str()) == 0) {
                    w.in_new = true;
                    w.dirs->touched = true;
                    continue;
                }
                w.ec = last_error();
            }
            ::unlinkat(w.dirs->tmp.get(), w.name.c_str(), 0);
        }

        // 4. Make the new/ entries durable: one sync per touched directory (or one syncfs).
        auto fail_in_new = [&](maildir_dirs* d, std::error_code ec) {
            for (auto& w : items) {
                if (w.in_new && !w.ec && (d == nullptr || w.dirs == d)) {
                    w.ec = ec;
                    ::unlinkat(w.dirs->new_.get(), w.name.c_str(), 0);
                    w.in_new = false;
                }
            }
        };
        if (settings_.sync == sync_mode::syncfs) {
            for (auto& [key, d] : dirs) {
                if (!d.touched) continue;
                stats.add(stats.fs_syncs);
                if (::syncfs(d.new_.get()) != 0) fail_in_new(nullptr, last_error());
                break;
            }
        } else {
            for (auto& [key, d] : dirs) {
                if (!d.touched) continue;
                ++dir_syncs;
                if (::fsync(d.new_.get()) != 0) fail_in_new(&d, last_error());
            }
        }
        dirs.clear();

        // 5. Report.
        std::uint64_t ok = 0;
        for (auto& w : items) ok += w.ec ? 0 : 1;
        stats.add(stats.delivered, ok);
        stats.add(stats.failed, items.size() - ok);
        stats.add(stats.dir_syncs, dir_syncs);
        stats.add(stats.batches);
        std::uint64_t size = items.size();
        std::uint64_t largest = stats.largest_batch.load(std::memory_order_relaxed);
        while (size > largest && !stats.largest_batch.compare_exchange_weak(largest, size)) {
        }
        for (std::size_t i = 0; i < batch.size(); ++i) {
            auto& w = items[i];
            if (w.ec) {
                batch[i].on_done(w.ec, {});
            } else {
                batch[i].on_done({}, std::move(w.name));
            }
        }
    }
}

}  // namespace mailharness::refmaild::store

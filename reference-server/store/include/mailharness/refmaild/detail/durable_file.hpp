// POSIX file helpers shared by the Maildir store and the outbound spool: both write a file, sync
// it, rename it into place and sync the directory before they report success. Errors come back as
// errno values in std::system_category.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string_view>
#include <system_error>
#include <utility>

namespace mailharness::refmaild::detail {

/// errno as a std::error_code.
std::error_code last_error() noexcept;

/// Owns a file descriptor (closed on destruction).
class unique_fd {
public:
    unique_fd() = default;
    explicit unique_fd(int fd) noexcept : fd_(fd) {}
    unique_fd(unique_fd&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
    unique_fd& operator=(unique_fd&& o) noexcept {
        if (this != &o) {
            reset();
            fd_ = std::exchange(o.fd_, -1);
        }
        return *this;
    }
    unique_fd(const unique_fd&) = delete;
    unique_fd& operator=(const unique_fd&) = delete;
    ~unique_fd() { reset(); }
    int get() const noexcept { return fd_; }
    int release() noexcept { return std::exchange(fd_, -1); }
    explicit operator bool() const noexcept { return fd_ >= 0; }
    void reset() noexcept;

private:
    int fd_ = -1;
};

/// fsync(2) of a directory, so that entries created or renamed in it survive a crash.
std::error_code fsync_dir(const std::filesystem::path& dir);

/// Writes `a` then `b` completely (writev, retried on EINTR and short writes).
std::error_code write_all(int fd, std::string_view a, std::string_view b = {});

/// renameat2(RENAME_NOREPLACE): 0, or -1 with errno (EEXIST when `to` exists). Where the flag is
/// not supported, link()+unlink() (the classic Maildir way) gives the same guarantee.
int rename_noreplace(int from_dir, const char* from, int to_dir, const char* to);

/// Replaces `path` durably with `content`: writes a temp file (mkostemp, `.<name>.XXXXXX`) in the
/// same directory with `mode`, fsyncs it, renames it over `path` and fsyncs the directory. On
/// error the temp file is removed and `path` is left as it was (old content or absent). The one
/// helper for every small file that must be replaced atomically (UID lists, state files).
std::error_code write_file_durable(const std::filesystem::path& path, std::string_view content,
                                   unsigned mode = 0600);

/// write_file_durable() with the two fsyncs only when `sync`: without them the replacement is
/// still atomic for readers and survives a process crash (kill -9), not a power loss.
std::error_code write_file_atomic(const std::filesystem::path& path, std::string_view content, unsigned mode,
                                  bool sync);

/// Creates `dir` (mode 0700) and any missing parent, syncing the parent of each directory it
/// creates; `dir_syncs`, when given, counts those syncs. Existing directories are left alone; a
/// non-directory in the way is not_a_directory.
std::error_code make_dirs_durable(const std::filesystem::path& dir, std::uint64_t* dir_syncs = nullptr);

}  // namespace mailharness::refmaild::detail

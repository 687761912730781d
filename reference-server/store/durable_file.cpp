#include "mailharness/refmaild/detail/durable_file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <string>

namespace mailharness::refmaild::detail {

std::error_code last_error() noexcept { return {errno, std::system_category()}; }

void unique_fd::reset() noexcept {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
}

std::error_code fsync_dir(const std::filesystem::path& dir) {
    unique_fd fd(::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!fd) return last_error();
    if (::fsync(fd.get()) != 0) return last_error();
    return {};
}

std::error_code write_all(int fd, std::string_view a, std::string_view b) {
    while (!a.empty() || !b.empty()) {
        iovec iov[2];
        int n = 0;
        if (!a.empty()) iov[n++] = {const_cast<char*>(a.data()), a.size()};
        if (!b.empty()) iov[n++] = {const_cast<char*>(b.data()), b.size()};
        ssize_t w = ::writev(fd, iov, n);
        if (w < 0) {
            if (errno == EINTR) continue;
            return last_error();
        }
        auto done = static_cast<std::size_t>(w);
        std::size_t from_a = std::min(done, a.size());
        a.remove_prefix(from_a);
        b.remove_prefix(done - from_a);
    }
    return {};
}

int rename_noreplace(int from_dir, const char* from, int to_dir, const char* to) {
    if (::renameat2(from_dir, from, to_dir, to, RENAME_NOREPLACE) == 0) return 0;
    if (errno != EINVAL && errno != ENOSYS) return -1;
    if (::linkat(from_dir, from, to_dir, to, 0) != 0) return -1;
    ::unlinkat(from_dir, from, 0);
    return 0;
}

std::error_code write_file_durable(const std::filesystem::path& path, std::string_view content, unsigned mode) {
    return write_file_atomic(path, content, mode, true);
}

std::error_code write_file_atomic(const std::filesystem::path& path, std::string_view content, unsigned mode,
                                  bool sync) {
    const auto dir = path.has_parent_path() ? path.parent_path() : std::filesystem::path(".");
    std::string tmpl = (dir / ("." + path.filename().string() + ".XXXXXX")).string();
    unique_fd fd(::mkostemp(tmpl.data(), O_CLOEXEC));
    if (!fd) return last_error();
    auto fail = [&](std::error_code ec) {
        ::unlink(tmpl.c_str());
        return ec;
    };
    if (::fchmod(fd.get(), static_cast<mode_t>(mode)) != 0) return fail(last_error());
    if (auto ec = write_all(fd.get(), content)) return fail(ec);
    if (sync && ::fsync(fd.get()) != 0) return fail(last_error());
    if (::close(fd.release()) != 0) return fail(last_error());
    if (::rename(tmpl.c_str(), path.c_str()) != 0) return fail(last_error());
    return sync ? fsync_dir(dir) : std::error_code{};
}

std::error_code make_dirs_durable(const std::filesystem::path& dir, std::uint64_t* dir_syncs) {
    auto created = [&]() {
        if (dir_syncs) ++*dir_syncs;
        return fsync_dir(dir.parent_path());
    };
    if (::mkdir(dir.c_str(), 0700) == 0) return created();
    if (errno == EEXIST) {
        struct stat st {};
        if (::stat(dir.c_str(), &st) != 0) return last_error();
        if (!S_ISDIR(st.st_mode)) return std::make_error_code(std::errc::not_a_directory);
        return {};
    }
    if (errno != ENOENT || !dir.has_parent_path() || dir.parent_path() == dir) return last_error();
    if (auto ec = make_dirs_durable(dir.parent_path(), dir_syncs)) return ec;
    if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) return last_error();
    return created();
}

}  // namespace mailharness::refmaild::detail

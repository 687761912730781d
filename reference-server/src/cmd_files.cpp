// Small file helpers of the command line.
#include <fcntl.h>
#include <openssl/rand.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "mailharness/refmaild/detail/durable_file.hpp"

#include "cli.hpp"

namespace mailharness::refmaild::cli {

void write_file_atomic(const fs::path& file, const std::string& text, mode_t mode) {
    // The one durable-file helper: temp file with `mode`, fsync, rename, fsync of the directory.
    if (auto ec = detail::write_file_durable(file, text, mode)) fail("cannot write " + file.string() + ": " + ec.message());
}

/// A random password of letters and digits (nothing a passwd-file or a shell would mind).
std::string random_password(std::size_t length) {
    static constexpr char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    constexpr unsigned n = sizeof alphabet - 1;  // 62
    std::string out;
    while (out.size() < length) {
        unsigned char buf[32];
        if (RAND_bytes(buf, sizeof buf) != 1) fail("RAND_bytes failed");
        for (unsigned char b : buf) {
            if (b >= 256 - 256 % n) continue;  // rejection sampling keeps the choice uniform
            out += alphabet[b % n];
            if (out.size() == length) break;
        }
    }
    return out;
}

}  // namespace mailharness::refmaild::cli

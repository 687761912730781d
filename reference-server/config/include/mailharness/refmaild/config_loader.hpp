// Loading and checking refmaild's YAML configuration (yaml-cpp).
//
// The file is a map of sections named like the members of refmaild_settings (server, listeners,
// tls, auth, store, smtp, local_domains, policy, queue, metrics, log); reference-server/README.md
// lists every key with its default. Omitted keys keep their defaults. Unknown and duplicate keys
// are errors.
//
// Value syntax:
//   - booleans: true / false (not yes/no/on/off);
//   - durations: a number with a unit, "250ms", "30s", "5m", "1h" (a bare number is an error,
//     because nobody can tell whether it means seconds or milliseconds);
//   - sizes: a number of octets, optionally with a binary suffix: "512K", "25M", "1G" (KiB, MiB,
//     GiB also accepted);
//   - paths: relative paths are resolved against the directory of the configuration file.
//
// Every problem names the file, the 1-based YAML line when there is one, and the dotted key, e.g.
//   refmaild.yaml:12: error: tls.min_version: expected "1.2" or "1.3", got "1.1"
//
// This is the one place in refmaild where exceptions are used: load_config_or_throw() for start-up.
#pragma once

#include "mailharness/refmaild/settings.hpp"

#include <cstddef>
#include <filesystem>
#include <map>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace mailharness::refmaild::config {

struct config_problem {
    enum class severity { error, warning };
    severity level = severity::error;
    /// The configuration file, or the file it refers to (e.g. a passwd-file line problem).
    std::string file;
    /// 1-based line in `file`; 0 when the problem is not tied to a line.
    int line = 0;
    /// Dotted key, e.g. "tls.min_version"; empty for file-level problems (YAML syntax, unreadable).
    std::string key;
    std::string message;

    bool is_error() const noexcept { return level == severity::error; }
    /// "file:line: error: key: message" (parts that are empty are left out).
    std::string to_string() const;
};

struct config_result {
    /// Defaults overridden by every value that parsed; meaningful only when ok().
    refmaild_settings settings;
    /// Errors and warnings, in file order, then semantic checks.
    std::vector<config_problem> problems;
    /// Line of every key seen, by dotted key (used to put line numbers on later checks).
    std::map<std::string, int, std::less<>> key_lines;

    /// No errors (warnings allowed).
    bool ok() const noexcept;
};

/// The largest configuration parse_config() and load_config() accept (yaml-cpp takes some 70 times
/// the text's size in memory). Nesting is bounded by yaml-cpp (a few hundred levels).
inline constexpr std::size_t max_config_size = std::size_t{4} << 20;

/// Parses YAML text and runs validate(). `source_name` is used in problems; relative paths are
/// resolved against `base_dir` (left relative when empty). Text over max_config_size is one error.
config_result parse_config(std::string_view yaml, std::string_view source_name = "<config>",
                           const std::filesystem::path& base_dir = {});

/// Reads `file` and parses it (base_dir = the file's directory). An unreadable file is one error.
config_result load_config(const std::filesystem::path& file);

/// Semantic checks that need no file-system access: value ranges, cross-field rules (smtps needs
/// a certificate, client_cert needs ca_file, listeners must not collide, ...), and whether OpenSSL
/// accepts tls.ciphers / ciphersuites / groups. `key_lines` (from config_result) adds line numbers.
std::vector<config_problem> validate(const refmaild_settings& settings, std::string_view source_name = "<config>",
                                     const std::map<std::string, int, std::less<>>& key_lines = {});

/// What `refmaild --check-config` reports: load_config(), then the files the settings refer to:
/// certificate and key readable, matching, not expired (a warning within tls.expiry_warning_days);
/// ca_file readable; passwd-file readable with every line valid (problems carry the passwd-file's
/// own line numbers); store directories usable; at least one local domain.
std::vector<config_problem> check_config(const std::filesystem::path& file);

/// Thrown by load_config_or_throw(); what() lists every error, one per line.
class config_error : public std::runtime_error {
public:
    explicit config_error(std::vector<config_problem> problems);
    const std::vector<config_problem>& problems() const noexcept { return problems_; }

private:
    std::vector<config_problem> problems_;
};

/// load_config() for start-up code: the settings, or config_error when there is any error.
refmaild_settings load_config_or_throw(const std::filesystem::path& file);

/// Every dotted key the loader accepts ("server.hostname", "listeners.smtp.port", ...,
/// "local_domains"), in documentation order.
const std::vector<std::string>& known_keys();

}  // namespace mailharness::refmaild::config

// The refmaild user database: a Dovecot-style passwd-file.
//
// Format, one user per line:
//
//     user@domain:{SCHEME}secret[:more fields...]
//
// '#' starts a comment line; blank lines are ignored; a trailing CR is ignored. Fields after the
// second ':' (Dovecot's uid:gid:gecos:home:shell:extra) are kept verbatim for save() but not used.
// As in Dovecot, a secret cannot contain ':'.
//
// Schemes (names as Dovecot spells them, matched case-insensitively):
//   {SHA512-CRYPT}  "$6$[rounds=N$]salt$hash", checked with libxcrypt crypt_r().
//   {ARGON2ID}      "$argon2id$v=19$m=<KiB>,t=<passes>,p=<lanes>$<salt b64>$<hash b64>" (the PHC
//                   string libargon2 and Dovecot write), checked with argon2id_verify().
//   {PLAIN}         the password itself.
//   {CRAM-MD5}      the password itself. NOTE: Dovecot's {CRAM-MD5} holds the 64-hex-digit HMAC-MD5
//                   context instead; refmaild stores the plaintext so that CRAM-MD5, APOP and SCRAM
//                   can all be served from one entry. Either way the secret is plaintext-equivalent:
//                   protect the file (mode 0600, as save() writes it).
//
// Thread safety: a user_db is a value. Concurrent const calls are safe; reload on SIGHUP by
// loading a new user_db and swapping a std::shared_ptr<const user_db>.
#pragma once

#include <boost/system/result.hpp>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <unordered_map>
#include <utility>
#include <vector>

namespace mailharness::refmaild::users {

enum class users_errc {
    /// The line has no ':' after the user name, or its fields after the password hold NUL or CR.
    malformed_line = 1,
    /// The user name is not "local@domain" with a valid domain and a local part without
    /// whitespace, control characters, '/' or a leading '.' (it becomes a Maildir path component)
    /// or '#' (the line would be a comment).
    invalid_address,
    /// The password field does not start with "{SCHEME}".
    missing_scheme,
    /// The scheme is not one of SHA512-CRYPT, ARGON2ID, PLAIN, CRAM-MD5.
    unknown_scheme,
    /// The secret is empty, or is not a well-formed hash of its scheme.
    invalid_secret,
    /// The user appears on an earlier line; the later line is ignored.
    duplicate_user,
    /// A password given to hash_password() cannot be stored: for PLAIN / CRAM-MD5 it is empty or
    /// contains ':', CR, LF or NUL (the file format cannot hold them); for SHA512-CRYPT it contains
    /// NUL (crypt(3) cannot hash it).
    unstorable_password,
    /// libxcrypt or libargon2 failed to produce a hash.
    hashing_failed,
};

const std::error_category& users_category() noexcept;
std::error_code make_error_code(users_errc e) noexcept;

enum class password_scheme { sha512_crypt, argon2id, plain, cram_md5 };

/// "SHA512-CRYPT", "ARGON2ID", "PLAIN", "CRAM-MD5".
std::string_view scheme_name(password_scheme scheme) noexcept;

/// Parses a scheme name without braces, case-insensitively.
std::optional<password_scheme> parse_scheme(std::string_view name) noexcept;

/// True for schemes whose secret is the plaintext password (PLAIN, CRAM-MD5).
constexpr bool stores_plaintext(password_scheme s) noexcept {
    return s == password_scheme::plain || s == password_scheme::cram_md5;
}

struct user_entry {
    /// Local part, as written in the file (compared case-sensitively).
    std::string user;
    /// Domain, in ASCII lower case.
    std::string domain;
    password_scheme scheme = password_scheme::sha512_crypt;
    /// What follows "{SCHEME}": the hash, or the plaintext for PLAIN / CRAM-MD5.
    std::string secret;
    /// Everything after the password field (without its leading ':'), kept for save().
    std::string extra_fields;
    /// 1-based line in the file it was loaded from; 0 when added with user_db::set().
    std::size_t line = 0;

    /// "user@domain".
    std::string address() const { return user + '@' + domain; }
};

/// One rejected line. The line is skipped; the rest of the file still loads.
struct passwd_problem {
    std::size_t line = 0;  ///< 1-based
    std::error_code code;  ///< a users_errc
    std::string message;   ///< human-readable, names the offending part (never the secret)
};

enum class verify_result {
    ok,
    /// No such user. The same work as for a real user was done (against a decoy hash), so the
    /// answer takes as long as a wrong password would.
    unknown_user,
    wrong_password,
    /// The stored hash could not be checked (corrupt entry). Treat as a failed login and log it.
    hash_error,
};

struct passwd_load_result;

class user_db {
public:
    /// Reads and parses a passwd-file. An unreadable file sets passwd_load_result::error.
    static passwd_load_result load(const std::filesystem::path& file);

    /// Parses passwd-file text.
    static passwd_load_result parse(std::string_view text);

    /// The entry for "user@domain" (domain compared case-insensitively, user exactly), or null.
    /// The pointer is valid until the user_db is modified or destroyed.
    const user_entry* lookup(std::string_view address) const;

    /// Checks a password. Comparisons are constant-time for equal-length inputs (PLAIN compares
    /// SHA-256 digests, so not even the length leaks); unknown users cost as much as known ones.
    verify_result verify_password(std::string_view address, std::string_view password) const;

    /// The plaintext password for PLAIN and CRAM-MD5 entries (needed by CRAM-MD5, APOP, SCRAM);
    /// nullopt for unknown users and hashed schemes.
    std::optional<std::string> plaintext_secret(std::string_view address) const;

    /// Adds or replaces the entry for entry.address() (the domain is lower-cased). Fails, changing
    /// nothing, with invalid_address, invalid_secret, or malformed_line (extra_fields holding CR,
    /// LF or NUL) when the entry could not be loaded back from a saved file.
    std::error_code set(user_entry entry);

    /// Removes a user; returns false if there was none.
    bool remove(std::string_view address);

    /// Entries in file order (then in order of set()).
    const std::vector<user_entry>& entries() const noexcept { return entries_; }

    /// Domains of all users, lower case, sorted, without duplicates.
    std::vector<std::string> domains() const;

    /// Writes the database atomically: a temporary file beside `file` (mode 0600), fsync, rename
    /// over `file`, fsync of the directory. Comments and blank lines of a loaded file are not kept.
    std::error_code save(const std::filesystem::path& file) const;

private:
    void reindex();

    std::vector<user_entry> entries_;
    std::unordered_map<std::string, std::size_t> index_;  // address() -> entries_ index
    std::size_t decoy_ = 0;  // entry whose hash is checked for unknown users (see verify_password)
};

struct passwd_load_result {
    /// Users from every well-formed line.
    user_db db;
    /// Rejected lines.
    std::vector<passwd_problem> problems;
    /// Set when the file could not be read (then db is empty).
    std::error_code error;

    bool ok() const noexcept { return !error && problems.empty(); }
};

/// Cost parameters for new hashes. Verification always uses the parameters stored in the hash.
struct hash_options {
    /// SHA512-CRYPT rounds; 0 means the scheme default (5000, which is then not written out).
    unsigned long sha512_rounds = 0;
    /// ARGON2ID passes (t).
    std::uint32_t argon2_passes = 3;
    /// ARGON2ID memory in KiB (m); 65536 = 64 MiB, as RFC 9106's second recommended option.
    std::uint32_t argon2_memory_kib = 65536;
    /// ARGON2ID lanes (p).
    std::uint32_t argon2_lanes = 1;
};

/// Makes the password field for a new entry, "{SCHEME}secret", with a fresh random salt for the
/// hashed schemes. For PLAIN / CRAM-MD5 the secret is the password itself.
boost::system::result<std::string, std::error_code> hash_password(password_scheme scheme, std::string_view password,
                                                                  const hash_options& options = {});

/// Splits a password field "{SCHEME}secret" (as hash_password() returns it) and checks the secret
/// with valid_secret(). Errors: missing_scheme, unknown_scheme, invalid_secret.
boost::system::result<std::pair<password_scheme, std::string>, std::error_code> parse_password_field(
    std::string_view field);

/// Checks a password against one entry's secret (what user_db::verify_password does after lookup).
verify_result verify_secret(const user_entry& entry, std::string_view password);

/// Checks that `secret` is a well-formed value for `scheme` (what parse() checks per line).
bool valid_secret(password_scheme scheme, std::string_view secret);

/// The local domains of the server: the domains of all users plus `configured`, lower case,
/// sorted, without duplicates.
std::vector<std::string> local_domains(const user_db& db, std::span<const std::string> configured);

}  // namespace mailharness::refmaild::users

template <>
struct std::is_error_code_enum<mailharness::refmaild::users::users_errc> : std::true_type {};

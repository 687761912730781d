#include "mailharness/refmaild/detail/durable_file.hpp"
#include "mailharness/refmaild/passwd_file.hpp"

#include <argon2.h>
#include <crypt.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <map>
#include <memory>
#include <set>

namespace mailharness::refmaild::users {

namespace {

struct users_category_impl final : std::error_category {
    const char* name() const noexcept override { return "mailharness.refmaild.users"; }
    std::string message(int ev) const override {
        switch (static_cast<users_errc>(ev)) {
            case users_errc::malformed_line: return "malformed passwd-file line";
            case users_errc::invalid_address: return "invalid user address";
            case users_errc::missing_scheme: return "password has no {SCHEME} prefix";
            case users_errc::unknown_scheme: return "unknown password scheme";
            case users_errc::invalid_secret: return "malformed password secret";
            case users_errc::duplicate_user: return "duplicate user";
            case users_errc::unstorable_password: return "password cannot be stored in a passwd-file";
            case users_errc::hashing_failed: return "password hashing failed";
        }
        return "unknown users error";
    }
};

constexpr std::array<std::pair<password_scheme, std::string_view>, 4> scheme_names{{
    {password_scheme::sha512_crypt, "SHA512-CRYPT"},
    {password_scheme::argon2id, "ARGON2ID"},
    {password_scheme::plain, "PLAIN"},
    {password_scheme::cram_md5, "CRAM-MD5"},
}};

char lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

std::string lower_ascii(std::string_view s) {
    std::string out(s);
    std::transform(out.begin(), out.end(), out.begin(), lower);
    return out;
}

bool iequals(std::string_view a, std::string_view b) {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
               return lower(x) == lower(y);
           });
}

bool is_alnum(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'); }

// RFC 1035 host name syntax (letters, digits, hyphens; labels of 1..63; 253 in all).
bool valid_domain(std::string_view d) {
    if (d.empty() || d.size() > 253 || d.back() == '.') return false;
    std::size_t label = 0;
    for (std::size_t i = 0; i < d.size(); ++i) {
        char c = d[i];
        if (c == '.') {
            if (label == 0 || d[i - 1] == '-') return false;
            label = 0;
            continue;
        }
        if (!is_alnum(c) && c != '-') return false;
        if (c == '-' && label == 0) return false;
        if (++label > 63) return false;
    }
    return d.back() != '-';
}

bool valid_local_part(std::string_view u) {
    // A leading '#' would make the saved line a comment.
    if (u.empty() || u.size() > 64 || u.front() == '.' || u.front() == '#') return false;
    for (unsigned char c : u) {
        if (c <= 0x20 || c == 0x7f || c == '/' || c == ':') return false;
    }
    return true;
}

// Splits "user@domain" at the last '@'; the domain is lower-cased.
std::optional<std::pair<std::string, std::string>> split_address(std::string_view address) {
    auto at = address.rfind('@');
    if (at == std::string_view::npos) return std::nullopt;
    std::string user(address.substr(0, at));
    std::string domain = lower_ascii(address.substr(at + 1));
    if (!valid_local_part(user) || !valid_domain(domain)) return std::nullopt;
    return std::pair{std::move(user), std::move(domain)};
}

bool crypt_alphabet(char c) { return is_alnum(c) || c == '.' || c == '/'; }

bool b64_alphabet(char c) { return is_alnum(c) || c == '+' || c == '/'; }

std::optional<std::uint64_t> parse_number(std::string_view s) {
    std::uint64_t v = 0;
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc{} || p != s.data() + s.size() || s.empty()) return std::nullopt;
    return v;
}

// "$6$[rounds=N$]salt$hash": salt up to 16 characters, hash 86 characters of the crypt alphabet.
bool valid_sha512_crypt(std::string_view s) {
    if (!s.starts_with("$6$")) return false;
    s.remove_prefix(3);
    if (s.starts_with("rounds=")) {
        auto end = s.find('$');
        if (end == std::string_view::npos) return false;
        auto rounds = parse_number(s.substr(7, end - 7));
        if (!rounds || *rounds < 1000 || *rounds > 999999999) return false;
        s.remove_prefix(end + 1);
    }
    auto end = s.find('$');
    if (end == std::string_view::npos || end > 16) return false;
    for (char c : s.substr(0, end)) {
        if (c == ':' || static_cast<unsigned char>(c) <= 0x20) return false;
    }
    std::string_view hash = s.substr(end + 1);
    return hash.size() == 86 && std::all_of(hash.begin(), hash.end(), crypt_alphabet);
}

// Limits on stored Argon2 parameters, so that a corrupt entry cannot make a login allocate
// gigabytes or spin for minutes.
constexpr std::uint64_t argon2_max_memory_kib = 4u << 20;  // 4 GiB
constexpr std::uint64_t argon2_max_passes = 1024;
constexpr std::uint64_t argon2_max_lanes = 255;

bool valid_b64(std::string_view s, std::size_t min_bytes) {
    if (s.size() % 4 == 1 || !std::all_of(s.begin(), s.end(), b64_alphabet)) return false;
    return s.size() * 3 / 4 >= min_bytes;
}

// "$argon2id$v=19$m=M,t=T,p=P$salt$hash" (v= may be missing: version 0x10), base64 without padding.
bool valid_argon2id(std::string_view s) {
    if (!s.starts_with("$argon2id$")) return false;
    s.remove_prefix(10);
    if (s.starts_with("v=")) {
        auto end = s.find('$');
        if (end == std::string_view::npos) return false;
        auto v = parse_number(s.substr(2, end - 2));
        if (!v || (*v != 16 && *v != 19)) return false;
        s.remove_prefix(end + 1);
    }
    auto end = s.find('$');
    if (end == std::string_view::npos) return false;
    std::string_view params = s.substr(0, end);
    s.remove_prefix(end + 1);
    std::uint64_t m = 0, t = 0, p = 0;
    for (auto [key, out] : {std::pair{"m=", &m}, std::pair{"t=", &t}, std::pair{"p=", &p}}) {
        if (!params.starts_with(key)) return false;
        params.remove_prefix(2);
        auto comma = params.find(',');
        auto v = parse_number(params.substr(0, comma));
        if (!v) return false;
        *out = *v;
        params = comma == std::string_view::npos ? std::string_view{} : params.substr(comma + 1);
    }
    if (!params.empty()) return false;
    if (p < 1 || p > argon2_max_lanes || t < 1 || t > argon2_max_passes || m < 8 * p || m > argon2_max_memory_kib) {
        return false;
    }
    end = s.find('$');
    if (end == std::string_view::npos) return false;
    return valid_b64(s.substr(0, end), ARGON2_MIN_SALT_LENGTH) && valid_b64(s.substr(end + 1), 4);
}

bool storable_plaintext(std::string_view s) {
    return std::none_of(s.begin(), s.end(), [](char c) { return c == ':' || c == '\n' || c == '\r' || c == '\0'; });
}

std::array<unsigned char, SHA256_DIGEST_LENGTH> sha256(std::string_view s) {
    std::array<unsigned char, SHA256_DIGEST_LENGTH> out{};
    SHA256(reinterpret_cast<const unsigned char*>(s.data()), s.size(), out.data());
    return out;
}

verify_result verify_sha512_crypt(const std::string& hash, std::string_view password) {
    // crypt_r needs a NUL-terminated password; one with a NUL in it cannot match, but still does
    // the work so that the answer takes as long.
    bool has_nul = password.find('\0') != std::string_view::npos;
    std::string pw(password.substr(0, password.find('\0')));
    auto data = std::make_unique<crypt_data>();  // zeroed, as crypt_r requires on first use
    const char* out = ::crypt_r(pw.c_str(), hash.c_str(), data.get());
    OPENSSL_cleanse(pw.data(), pw.size());
    if (out == nullptr || out[0] == '*') return verify_result::hash_error;
    std::string_view computed(out);
    bool same = computed.size() == hash.size() && CRYPTO_memcmp(computed.data(), hash.data(), hash.size()) == 0;
    OPENSSL_cleanse(data.get(), sizeof(crypt_data));
    return same && !has_nul ? verify_result::ok : verify_result::wrong_password;
}

verify_result verify_argon2id(const std::string& encoded, std::string_view password) {
    int rc = ::argon2id_verify(encoded.c_str(), password.data(), password.size());
    if (rc == ARGON2_OK) return verify_result::ok;
    if (rc == ARGON2_VERIFY_MISMATCH) return verify_result::wrong_password;
    return verify_result::hash_error;
}

}  // namespace

const std::error_category& users_category() noexcept {
    static const users_category_impl cat;
    return cat;
}

std::error_code make_error_code(users_errc e) noexcept { return {static_cast<int>(e), users_category()}; }

std::string_view scheme_name(password_scheme scheme) noexcept {
    for (auto [s, name] : scheme_names) {
        if (s == scheme) return name;
    }
    return "?";
}

std::optional<password_scheme> parse_scheme(std::string_view name) noexcept {
    for (auto [s, n] : scheme_names) {
        if (iequals(n, name)) return s;
    }
    return std::nullopt;
}

bool valid_secret(password_scheme scheme, std::string_view secret) {
    if (secret.empty()) return false;
    switch (scheme) {
        case password_scheme::sha512_crypt: return valid_sha512_crypt(secret);
        case password_scheme::argon2id: return valid_argon2id(secret);
        case password_scheme::plain:
        case password_scheme::cram_md5: return storable_plaintext(secret);
    }
    return false;
}

boost::system::result<std::pair<password_scheme, std::string>, std::error_code> parse_password_field(
    std::string_view field) {
    if (!field.starts_with('{')) return make_error_code(users_errc::missing_scheme);
    auto close = field.find('}');
    if (close == std::string_view::npos) return make_error_code(users_errc::missing_scheme);
    auto scheme = parse_scheme(field.substr(1, close - 1));
    if (!scheme) return make_error_code(users_errc::unknown_scheme);
    std::string_view secret = field.substr(close + 1);
    if (!valid_secret(*scheme, secret)) return make_error_code(users_errc::invalid_secret);
    return std::pair{*scheme, std::string(secret)};
}

verify_result verify_secret(const user_entry& entry, std::string_view password) {
    switch (entry.scheme) {
        case password_scheme::sha512_crypt: return verify_sha512_crypt(entry.secret, password);
        case password_scheme::argon2id: return verify_argon2id(entry.secret, password);
        case password_scheme::plain:
        case password_scheme::cram_md5: {
            auto a = sha256(entry.secret);
            auto b = sha256(password);
            return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0 ? verify_result::ok
                                                                     : verify_result::wrong_password;
        }
    }
    return verify_result::hash_error;
}

boost::system::result<std::string, std::error_code> hash_password(password_scheme scheme, std::string_view password,
                                                                  const hash_options& options) {
    if (stores_plaintext(scheme) ? (password.empty() || !storable_plaintext(password))
                                 : (scheme == password_scheme::sha512_crypt && password.find('\0') != std::string_view::npos)) {
        return make_error_code(users_errc::unstorable_password);
    }
    std::string prefix = "{" + std::string(scheme_name(scheme)) + "}";
    switch (scheme) {
        case password_scheme::plain:
        case password_scheme::cram_md5: return prefix + std::string(password);
        case password_scheme::sha512_crypt: {
            char setting[CRYPT_GENSALT_OUTPUT_SIZE];
            // A null random-bytes pointer makes libxcrypt take the salt from the OS.
            if (::crypt_gensalt_rn("$6$", options.sha512_rounds, nullptr, 0, setting, sizeof setting) == nullptr) {
                return make_error_code(users_errc::hashing_failed);
            }
            std::string pw(password);
            auto data = std::make_unique<crypt_data>();
            const char* out = ::crypt_r(pw.c_str(), setting, data.get());
            OPENSSL_cleanse(pw.data(), pw.size());
            if (out == nullptr || out[0] == '*') return make_error_code(users_errc::hashing_failed);
            std::string hash(out);
            OPENSSL_cleanse(data.get(), sizeof(crypt_data));
            if (!valid_sha512_crypt(hash)) return make_error_code(users_errc::hashing_failed);
            return prefix + hash;
        }
        case password_scheme::argon2id: {
            const std::uint32_t t = options.argon2_passes, m = options.argon2_memory_kib, p = options.argon2_lanes;
            if (p < 1 || p > argon2_max_lanes || t < 1 || t > argon2_max_passes || m < 8 * p ||
                m > argon2_max_memory_kib) {
                return make_error_code(users_errc::hashing_failed);
            }
            constexpr std::size_t salt_len = 16, hash_len = 32;
            unsigned char salt[salt_len];
            if (RAND_bytes(salt, salt_len) != 1) return make_error_code(users_errc::hashing_failed);
            std::string encoded(::argon2_encodedlen(t, m, p, salt_len, hash_len, Argon2_id), '\0');
            int rc = ::argon2id_hash_encoded(t, m, p, password.data(), password.size(), salt, salt_len, hash_len,
                                             encoded.data(), encoded.size());
            if (rc != ARGON2_OK) return make_error_code(users_errc::hashing_failed);
            encoded.resize(encoded.find('\0'));
            return prefix + encoded;
        }
    }
    return make_error_code(users_errc::hashing_failed);
}

passwd_load_result user_db::parse(std::string_view text) {
    passwd_load_result result;
    std::size_t line_no = 0;
    auto problem = [&](users_errc code, std::string message) {
        result.problems.push_back({line_no, make_error_code(code), std::move(message)});
    };
    while (!text.empty()) {
        ++line_no;
        auto nl = text.find('\n');
        std::string_view line = text.substr(0, nl);
        text = nl == std::string_view::npos ? std::string_view{} : text.substr(nl + 1);
        if (line.ends_with('\r')) line.remove_suffix(1);
        auto first = line.find_first_not_of(" \t");
        if (first == std::string_view::npos || line[first] == '#') continue;

        auto colon = line.find(':');
        if (colon == std::string_view::npos) {
            problem(users_errc::malformed_line, "expected user@domain:{SCHEME}secret");
            continue;
        }
        std::string_view address = line.substr(0, colon);
        std::string_view rest = line.substr(colon + 1);
        auto colon2 = rest.find(':');
        std::string_view field = rest.substr(0, colon2);
        std::string_view extra = colon2 == std::string_view::npos ? std::string_view{} : rest.substr(colon2 + 1);

        auto parts = split_address(address);
        if (!parts) {
            problem(users_errc::invalid_address, "invalid user name \"" + std::string(address) +
                                                     "\": expected local-part@domain");
            continue;
        }
        auto parsed = parse_password_field(field);
        if (!parsed) {
            std::string who = parts->first + "@" + parts->second;
            if (parsed.error() == users_errc::missing_scheme) {
                problem(users_errc::missing_scheme, who + ": password must start with {SCHEME}");
            } else if (parsed.error() == users_errc::unknown_scheme) {
                auto close = field.find('}');
                problem(users_errc::unknown_scheme,
                        who + ": unknown scheme {" + std::string(field.substr(1, close - 1)) +
                            "} (supported: SHA512-CRYPT, ARGON2ID, PLAIN, CRAM-MD5)");
            } else {
                auto close = field.find('}');
                problem(users_errc::invalid_secret,
                        who + ": empty or malformed " + std::string(field.substr(0, close + 1)) + " secret");
            }
            continue;
        }
        // What set() refuses and save() could not write back (a trailing CR would be lost).
        if (extra.find_first_of(std::string_view("\0\r", 2)) != std::string_view::npos) {
            problem(users_errc::malformed_line, parts->first + "@" + parts->second + ": NUL or CR in the fields after the password");
            continue;
        }
        user_entry entry{.user = std::move(parts->first),
                         .domain = std::move(parts->second),
                         .scheme = parsed->first,
                         .secret = std::move(parsed->second),
                         .extra_fields = std::string(extra),
                         .line = line_no};
        std::string key = entry.address();
        if (auto it = result.db.index_.find(key); it != result.db.index_.end()) {
            problem(users_errc::duplicate_user,
                    key + ": already defined on line " + std::to_string(result.db.entries_[it->second].line));
            continue;
        }
        result.db.index_.emplace(std::move(key), result.db.entries_.size());
        result.db.entries_.push_back(std::move(entry));
    }
    result.db.reindex();
    return result;
}

passwd_load_result user_db::load(const std::filesystem::path& file) {
    passwd_load_result r;
    int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        r.error = std::error_code(errno, std::system_category());
        return r;
    }
    std::string text;
    char buf[16384];
    for (;;) {
        ssize_t n = ::read(fd, buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) r.error = std::error_code(errno, std::system_category());
        if (n <= 0) break;
        text.append(buf, static_cast<std::size_t>(n));
    }
    ::close(fd);
    if (r.error) return r;
    return parse(text);
}

void user_db::reindex() {
    index_.clear();
    std::map<password_scheme, std::size_t> count;
    for (std::size_t i = 0; i < entries_.size(); ++i) {
        index_.emplace(entries_[i].address(), i);
        ++count[entries_[i].scheme];
    }
    // The decoy is an entry of the most common scheme, so an unknown user costs what a typical
    // known user costs.
    decoy_ = 0;
    if (!count.empty()) {
        auto common = std::max_element(count.begin(), count.end(),
                                       [](const auto& a, const auto& b) { return a.second < b.second; })
                          ->first;
        for (std::size_t i = 0; i < entries_.size(); ++i) {
            if (entries_[i].scheme == common) {
                decoy_ = i;
                break;
            }
        }
    }
}

const user_entry* user_db::lookup(std::string_view address) const {
    auto at = address.rfind('@');
    if (at == std::string_view::npos) return nullptr;
    std::string key(address.substr(0, at + 1));
    key += lower_ascii(address.substr(at + 1));
    auto it = index_.find(key);
    return it == index_.end() ? nullptr : &entries_[it->second];
}

verify_result user_db::verify_password(std::string_view address, std::string_view password) const {
    if (const user_entry* e = lookup(address)) return verify_secret(*e, password);
    if (!entries_.empty()) (void)verify_secret(entries_[decoy_], password);
    return verify_result::unknown_user;
}

std::optional<std::string> user_db::plaintext_secret(std::string_view address) const {
    const user_entry* e = lookup(address);
    if (e == nullptr || !stores_plaintext(e->scheme)) return std::nullopt;
    return e->secret;
}

std::error_code user_db::set(user_entry entry) {
    entry.domain = lower_ascii(entry.domain);
    if (!valid_local_part(entry.user) || !valid_domain(entry.domain)) return users_errc::invalid_address;
    if (!valid_secret(entry.scheme, entry.secret)) return users_errc::invalid_secret;
    if (entry.extra_fields.find_first_of(std::string_view("\0\r\n", 3)) != std::string::npos) {
        return users_errc::malformed_line;
    }
    if (auto it = index_.find(entry.address()); it != index_.end()) {
        entries_[it->second] = std::move(entry);
    } else {
        entries_.push_back(std::move(entry));
    }
    reindex();
    return {};
}

bool user_db::remove(std::string_view address) {
    const user_entry* e = lookup(address);
    if (e == nullptr) return false;
    entries_.erase(entries_.begin() + (e - entries_.data()));
    reindex();
    return true;
}

std::vector<std::string> user_db::domains() const {
    std::set<std::string> d;
    for (const auto& e : entries_) d.insert(e.domain);
    return {d.begin(), d.end()};
}

std::error_code user_db::save(const std::filesystem::path& file) const {
    std::string text = "# refmaild passwd-file: user@domain:{SCHEME}secret\n";
    for (const auto& e : entries_) {
        text += e.address();
        text += ":{";
        text += scheme_name(e.scheme);
        text += '}';
        text += e.secret;
        if (!e.extra_fields.empty()) {
            text += ':';
            text += e.extra_fields;
        }
        text += '\n';
    }

    // Mode 0600 even over an older file: the secrets are never readable by others.
    return detail::write_file_durable(file, text, 0600);
}

std::vector<std::string> local_domains(const user_db& db, std::span<const std::string> configured) {
    std::set<std::string> d;
    for (const auto& e : db.entries()) d.insert(e.domain);
    for (const auto& c : configured) d.insert(lower_ascii(c));
    return {d.begin(), d.end()};
}

}  // namespace mailharness::refmaild::users

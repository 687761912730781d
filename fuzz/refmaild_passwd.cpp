// Fuzz target: refmaild's passwd-file parser (reference-server/users user_db::parse). Every line is
// an entry, a problem, or blank/comment; each entry is one user_db::set() accepts and can be found
// by lookup(); the text save() writes parses back to the same entries. The first line, split at
// its colons, is also tried as a user_entry for set(): whatever set() accepts must survive the
// same save-and-parse round trip.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "mailharness/refmaild/passwd_file.hpp"

namespace users = mailharness::refmaild::users;

namespace {

// The text user_db::save() writes, without the file handling.
std::string serialize(const users::user_db& db) {
    std::string text = "# refmaild passwd-file: user@domain:{SCHEME}secret\n";
    for (const auto& e : db.entries()) {
        text += e.address() + ":{" + std::string(users::scheme_name(e.scheme)) + "}" + e.secret;
        if (!e.extra_fields.empty()) text += ":" + e.extra_fields;
        text += '\n';
    }
    return text;
}

bool same_entries(const users::user_db& a, const users::user_db& b) {
    if (a.entries().size() != b.entries().size()) return false;
    for (std::size_t i = 0; i < a.entries().size(); ++i) {
        const auto &x = a.entries()[i], &y = b.entries()[i];
        if (x.user != y.user || x.domain != y.domain || x.scheme != y.scheme || x.secret != y.secret ||
            x.extra_fields != y.extra_fields) {
            return false;
        }
    }
    return true;
}

void check_round_trip(const users::user_db& db) {
    auto back = users::user_db::parse(serialize(db));
    if (!back.ok() || !same_entries(db, back.db)) __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view in(reinterpret_cast<const char*>(data), size);
    auto result = users::user_db::parse(in);
    if (result.error) __builtin_trap();

    std::size_t lines = 0;
    for (std::string_view rest = in; !rest.empty(); ++lines) {
        const auto nl = rest.find('\n');
        rest.remove_prefix(nl == std::string_view::npos ? rest.size() : nl + 1);
    }
    const auto& db = result.db;
    if (db.entries().size() + result.problems.size() > lines) __builtin_trap();
    for (std::size_t i = 0; i < result.problems.size(); ++i) {
        const auto& p = result.problems[i];
        if (p.line < 1 || p.line > lines || p.code.category() != users::users_category() || p.message.empty()) {
            __builtin_trap();
        }
        if (i > 0 && p.line <= result.problems[i - 1].line) __builtin_trap();
    }
    for (const auto& e : db.entries()) {
        if (e.line < 1 || e.line > lines || db.lookup(e.address()) != &e) __builtin_trap();
        if (!users::valid_secret(e.scheme, e.secret)) __builtin_trap();
        users::user_db one;
        if (one.set(e)) __builtin_trap();  // parse() and set() accept the same entries
        // Only the plaintext schemes are verified here: a hash's cost comes from the input.
        if (users::stores_plaintext(e.scheme) &&
            (db.verify_password(e.address(), e.secret) != users::verify_result::ok || db.plaintext_secret(e.address()) != e.secret)) {
            __builtin_trap();
        }
    }
    check_round_trip(db);

    // The first line's fields as an entry given to set().
    const std::string_view first = in.substr(0, in.find('\n'));
    std::string_view f[4];  // user '@' domain ':' secret ':' extra fields
    std::string_view rest = first;
    for (int i = 0; i < 3; ++i) {
        const auto c = rest.find(i == 0 ? '@' : ':');
        f[i] = rest.substr(0, c);
        rest = c == std::string_view::npos ? std::string_view{} : rest.substr(c + 1);
    }
    f[3] = rest;
    users::user_entry entry{.user = std::string(f[0]),
                            .domain = std::string(f[1]),
                            .scheme = static_cast<users::password_scheme>(size % 4),
                            .secret = std::string(f[2]),
                            .extra_fields = std::string(f[3])};
    users::user_db made;
    if (!made.set(entry)) {
        if (made.entries().size() != 1 || !made.lookup(entry.user + "@" + entry.domain)) __builtin_trap();
        check_round_trip(made);
    }
    return 0;
}

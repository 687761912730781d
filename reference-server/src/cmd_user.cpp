// refmaild user add|passwd|del|list: edit a passwd-file.
#include <iostream>
#include <memory>

#include "mailharness/refmaild/passwd_file.hpp"
#include "cli.hpp"

namespace mailharness::refmaild::cli {
namespace users = mailharness::refmaild::users;

namespace {

struct user_args {
    std::string address;
    /// Empty: SHA512-CRYPT for a new user, the current scheme for a password change.
    std::string scheme;
    std::optional<std::string> password;
    bool password_stdin = false;
    std::string file;
};

/// The passwd-file, or an empty database when it does not exist yet. Refuses a file with bad
/// lines, because saving would drop them.
users::user_db load_for_edit(const fs::path& file) {
    if (!fs::exists(file)) return {};
    auto loaded = users::user_db::load(file);
    if (loaded.error) fail(file.string() + ": " + loaded.error.message());
    if (!loaded.problems.empty()) {
        std::string msg = file.string() + " has invalid lines; fix them first (saving would drop them):";
        for (const auto& p : loaded.problems) msg += "\n  line " + std::to_string(p.line) + ": " + p.message;
        fail(msg);
    }
    return std::move(loaded.db);
}

/// The new password: --password, one line of stdin, or a generated one (printed, since nobody
/// else knows it).
std::string obtain_password(const user_args& a) {
    if (a.password) return *a.password;
    if (a.password_stdin) {
        std::string line;
        if (!std::getline(std::cin, line)) fail("--password-stdin: no password on standard input");
        if (!line.empty() && line.back() == '\r') line.pop_back();
        return line;
    }
    std::string pw = random_password();
    std::cout << "generated password for " << a.address << ": " << pw << '\n';
    return pw;
}

/// Adds a user (`adding`) or changes the password of an existing one.
int user_set(const user_args& a, bool adding) {
    auto db = load_for_edit(a.file);
    const users::user_entry* existing = db.lookup(a.address);
    if (adding && existing) fail(a.address + " already exists in " + a.file + " (use: refmaild user passwd)");
    if (!adding && !existing) fail("no user " + a.address + " in " + a.file);
    std::optional<users::password_scheme> scheme =
        a.scheme.empty() ? (existing ? existing->scheme : users::password_scheme::sha512_crypt) : users::parse_scheme(a.scheme);
    if (!scheme) fail("--scheme: expected SHA512-CRYPT, ARGON2ID, PLAIN or CRAM-MD5, got " + a.scheme);

    auto at = a.address.rfind('@');
    if (at == std::string::npos || at == 0 || at + 1 == a.address.size())
        fail("expected an address user@domain, got \"" + a.address + "\"");
    users::user_entry entry;
    if (existing) entry = *existing;
    entry.user = a.address.substr(0, at);
    entry.domain = a.address.substr(at + 1);

    auto field = users::hash_password(*scheme, obtain_password(a));
    if (!field) fail("cannot store this password: " + field.error().message());
    auto parsed = users::parse_password_field(*field);
    if (!parsed) fail("internal: unreadable password field: " + parsed.error().message());
    entry.scheme = parsed->first;
    entry.secret = parsed->second;
    if (auto ec = db.set(entry)) fail(a.address + ": " + ec.message());
    if (auto ec = db.save(a.file)) fail("cannot save " + a.file + ": " + ec.message());
    std::cout << (adding ? "added " : "changed password of ") << a.address << " ({" << users::scheme_name(*scheme)
              << "}) in " << a.file << '\n';
    return exit_ok;
}

int user_del(const user_args& a) {
    auto db = load_for_edit(a.file);
    if (!db.remove(a.address)) fail("no user " + a.address + " in " + a.file);
    if (auto ec = db.save(a.file)) fail("cannot save " + a.file + ": " + ec.message());
    std::cout << "removed " << a.address << " from " << a.file << '\n';
    return exit_ok;
}

/// One "address scheme" per user; never the secret. Bad lines go to stderr with their numbers.
int user_list(const user_args& a) {
    auto loaded = users::user_db::load(a.file);
    if (loaded.error) fail(a.file + ": " + loaded.error.message());
    for (const auto& e : loaded.db.entries()) std::cout << e.address() << ' ' << users::scheme_name(e.scheme) << '\n';
    for (const auto& p : loaded.problems)
        std::cerr << a.file << ':' << p.line << ": " << p.message << '\n';
    return loaded.problems.empty() ? exit_ok : exit_failure;
}


}  // namespace

void add_user_command(CLI::App& app, action& chosen) {
    auto* user_cmd = app.add_subcommand("user", "edit a passwd-file (user@domain:{SCHEME}secret)");
    user_cmd->require_subcommand(1);
    auto ua = std::make_shared<user_args>();
    auto add_password_options = [ua](CLI::App* sub) {
        sub->add_option("address", ua->address, "user@domain")->required();
        sub->add_option("--scheme", ua->scheme,
                        "SHA512-CRYPT (default for new users), ARGON2ID, PLAIN or CRAM-MD5 (PLAIN and CRAM-MD5 store the "
                        "password itself, which CRAM-MD5 and SCRAM need)");
        auto* p = sub->add_option("--password", ua->password, "the password (visible to other local users in ps)");
        auto* ps = sub->add_flag("--password-stdin", ua->password_stdin, "read the password from one line of stdin");
        p->excludes(ps);
        sub->add_option("--file", ua->file, "the passwd-file (created with mode 0600 if missing)")->required();
    };
    auto* user_add = user_cmd->add_subcommand("add", "add a user (password generated and printed if none given)");
    add_password_options(user_add);
    auto* user_passwd = user_cmd->add_subcommand("passwd", "change a user's password");
    add_password_options(user_passwd);
    auto* user_delete = user_cmd->add_subcommand("del", "remove a user");
    user_delete->add_option("address", ua->address, "user@domain")->required();
    user_delete->add_option("--file", ua->file, "the passwd-file")->required();
    auto* user_ls = user_cmd->add_subcommand("list", "list users and their schemes (never secrets)");
    user_ls->add_option("--file", ua->file, "the passwd-file")->required();

    user_add->callback([ua, &chosen] { chosen = [ua] { return user_set(*ua, true); }; });
    user_passwd->callback([ua, &chosen] { chosen = [ua] { return user_set(*ua, false); }; });
    user_delete->callback([ua, &chosen] { chosen = [ua] { return user_del(*ua); }; });
    user_ls->callback([ua, &chosen] { chosen = [ua] { return user_list(*ua); }; });
}

}  // namespace mailharness::refmaild::cli

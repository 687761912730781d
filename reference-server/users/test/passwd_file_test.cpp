#include "mailharness/refmaild/passwd_file.hpp"

#include <gtest/gtest.h>

#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <sstream>

namespace fs = std::filesystem;
using namespace mailharness::refmaild::users;

namespace {

// `openssl passwd -6 -salt saltsalt secret` (OpenSSL 3.0).
constexpr const char* openssl_sha512 =
    "$6$saltsalt$TVLlQcbpFVof5W3Yz4DTP6gRstiNuHwwTt6GLc1E5n0U0aDehy0S5knV8wiOQSpT0Y77vwPZN.Pq.H91p5hVO1";
// Test vectors of the Argon2 reference implementation (phc-winner-argon2 src/test.c), password "password".
constexpr const char* argon2id_ref_64m =
    "$argon2id$v=19$m=65536,t=2,p=1$c29tZXNhbHQ$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc";
constexpr const char* argon2id_ref_256k =
    "$argon2id$v=19$m=256,t=2,p=1$c29tZXNhbHQ$nf65EOgLrQMR/uIPnA4rEsF5h7TKyQwu9U1bMCHGi/4";

// Cheap Argon2 parameters so tests stay fast under sanitizers.
const hash_options cheap{.argon2_passes = 1, .argon2_memory_kib = 1024, .argon2_lanes = 1};

struct temp_dir {
    fs::path path;
    temp_dir() {
        std::string tmpl = (fs::temp_directory_path() / "mh-users-XXXXXX").string();
        path = ::mkdtemp(tmpl.data());
    }
    ~temp_dir() {
        std::error_code ec;
        fs::remove_all(path, ec);
    }
};

std::string run(const std::string& cmd) {
    FILE* p = ::popen(cmd.c_str(), "r");
    if (p == nullptr) return {};
    std::string out;
    char buf[512];
    while (std::fgets(buf, sizeof buf, p)) out += buf;
    if (::pclose(p) != 0) return "<failed>";
    if (!out.empty() && out.back() == '\n') out.pop_back();
    return out;
}

std::string read_file(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}

}  // namespace

TEST(passwd_file, parses_every_scheme_with_comments_blanks_crlf_and_extra_fields) {
    std::string text = std::string("# users of example.com\n") + "\n" + "   \n" +
                       "alice@example.com:{SHA512-CRYPT}" + openssl_sha512 + "\n" +
                       "bob@Example.COM:{ARGON2ID}" + argon2id_ref_256k + ":1000:1000::/home/bob::\r\n" +
                       "  # indented comment\n" + "carol@example.org:{PLAIN}carol pw\n" +
                       "dave@example.org:{cram-md5}tanstaaftanstaaf";  // no final newline
    auto r = user_db::parse(text);
    EXPECT_TRUE(r.ok());
    ASSERT_TRUE(r.problems.empty()) << r.problems[0].line << ": " << r.problems[0].message;
    ASSERT_EQ(r.db.entries().size(), 4u);

    const user_entry* bob = r.db.lookup("bob@example.com");
    ASSERT_NE(bob, nullptr);
    EXPECT_EQ(bob->domain, "example.com");
    EXPECT_EQ(bob->scheme, password_scheme::argon2id);
    EXPECT_EQ(bob->secret, argon2id_ref_256k);
    EXPECT_EQ(bob->extra_fields, "1000:1000::/home/bob::");
    EXPECT_EQ(bob->line, 5u);
    EXPECT_EQ(r.db.lookup("alice@example.com")->line, 4u);
    EXPECT_EQ(r.db.lookup("dave@example.org")->scheme, password_scheme::cram_md5);
    EXPECT_EQ(r.db.lookup("carol@example.org")->secret, "carol pw");

    EXPECT_EQ(r.db.verify_password("alice@example.com", "secret"), verify_result::ok);
    EXPECT_EQ(r.db.verify_password("bob@example.com", "password"), verify_result::ok);
    EXPECT_EQ(r.db.verify_password("carol@example.org", "carol pw"), verify_result::ok);
    EXPECT_EQ(r.db.verify_password("dave@example.org", "tanstaaftanstaaf"), verify_result::ok);
    EXPECT_EQ(r.db.domains(), (std::vector<std::string>{"example.com", "example.org"}));
}

TEST(passwd_file, lookup_ignores_domain_case_but_not_user_case) {
    auto r = user_db::parse("Alice@Example.Com:{PLAIN}pw\n");
    ASSERT_TRUE(r.ok());
    EXPECT_NE(r.db.lookup("Alice@example.com"), nullptr);
    EXPECT_NE(r.db.lookup("Alice@EXAMPLE.COM"), nullptr);
    EXPECT_EQ(r.db.lookup("alice@example.com"), nullptr);
    EXPECT_EQ(r.db.lookup("Alice"), nullptr);
    EXPECT_EQ(r.db.lookup("Alice@example.net"), nullptr);
    EXPECT_EQ(r.db.lookup("Alice@example.com")->address(), "Alice@example.com");
}

TEST(passwd_file, sha512_crypt_hash_from_openssl_verifies) {
    user_entry e{.user = "u", .domain = "d.example", .scheme = password_scheme::sha512_crypt, .secret = openssl_sha512};
    EXPECT_EQ(verify_secret(e, "secret"), verify_result::ok);
    EXPECT_EQ(verify_secret(e, "Secret"), verify_result::wrong_password);
    EXPECT_EQ(verify_secret(e, ""), verify_result::wrong_password);
    EXPECT_EQ(verify_secret(e, std::string("secret\0x", 8)), verify_result::wrong_password);
}

TEST(passwd_file, sha512_crypt_hashes_match_what_openssl_computes) {
    // Our hash, recomputed by `openssl passwd` from the same salt, must be the same string.
    auto field = hash_password(password_scheme::sha512_crypt, "correct horse");
    ASSERT_TRUE(field) << field.error().message();
    ASSERT_TRUE(field->starts_with("{SHA512-CRYPT}$6$"));
    auto parsed = parse_password_field(*field);
    ASSERT_TRUE(parsed);
    const std::string& hash = parsed->second;
    std::string salt = hash.substr(3, hash.find('$', 3) - 3);
    ASSERT_EQ(salt.size(), 16u);
    std::string theirs = run("openssl passwd -6 -salt '" + salt + "' 'correct horse'");
    EXPECT_EQ(theirs, hash);

    user_entry e{.user = "u", .domain = "d.example", .scheme = parsed->first, .secret = hash};
    EXPECT_EQ(verify_secret(e, "correct horse"), verify_result::ok);
    EXPECT_EQ(verify_secret(e, "correct horse "), verify_result::wrong_password);

    // Two hashes of one password differ (fresh salt).
    EXPECT_NE(*hash_password(password_scheme::sha512_crypt, "correct horse"), *field);
}

TEST(passwd_file, sha512_crypt_with_rounds) {
    auto field = hash_password(password_scheme::sha512_crypt, "pw", {.sha512_rounds = 10000});
    ASSERT_TRUE(field) << field.error().message();
    EXPECT_TRUE(field->starts_with("{SHA512-CRYPT}$6$rounds=10000$")) << *field;
    auto r = user_db::parse("u@d.example:" + *field + "\n");
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r.db.verify_password("u@d.example", "pw"), verify_result::ok);
    EXPECT_EQ(r.db.verify_password("u@d.example", "pW"), verify_result::wrong_password);
}

TEST(passwd_file, argon2id_reference_vectors_verify) {
    for (const char* hash : {argon2id_ref_64m, argon2id_ref_256k}) {
        user_entry e{.user = "u", .domain = "d.example", .scheme = password_scheme::argon2id, .secret = hash};
        ASSERT_TRUE(valid_secret(password_scheme::argon2id, hash)) << hash;
        EXPECT_EQ(verify_secret(e, "password"), verify_result::ok) << hash;
        EXPECT_EQ(verify_secret(e, "passwore"), verify_result::wrong_password) << hash;
    }
}

TEST(passwd_file, argon2id_hash_round_trip) {
    auto field = hash_password(password_scheme::argon2id, std::string("p\0w:\xc3\xa9", 6), cheap);
    ASSERT_TRUE(field) << field.error().message();
    EXPECT_TRUE(field->starts_with("{ARGON2ID}$argon2id$v=19$m=1024,t=1,p=1$")) << *field;
    auto r = user_db::parse("u@d.example:" + *field + "\n");
    ASSERT_TRUE(r.ok()) << r.problems[0].message;
    EXPECT_EQ(r.db.verify_password("u@d.example", std::string("p\0w:\xc3\xa9", 6)), verify_result::ok);
    EXPECT_EQ(r.db.verify_password("u@d.example", "p"), verify_result::wrong_password);

    auto defaults = hash_password(password_scheme::argon2id, "x");
    ASSERT_TRUE(defaults);
    EXPECT_NE(defaults->find("$m=65536,t=3,p=1$"), std::string::npos) << *defaults;
    EXPECT_FALSE(hash_password(password_scheme::argon2id, "x", {.argon2_memory_kib = 4}));  // < 8 * lanes
}

TEST(passwd_file, plaintext_schemes_and_plaintext_secret) {
    auto r = user_db::parse(
        "p@x.org:{PLAIN}open sesame\n"
        "c@x.org:{CRAM-MD5}tanstaaftanstaaf\n"
        "s@x.org:{SHA512-CRYPT}" +
        std::string(openssl_sha512) + "\n");
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r.db.plaintext_secret("p@x.org"), "open sesame");
    EXPECT_EQ(r.db.plaintext_secret("c@X.ORG"), "tanstaaftanstaaf");
    EXPECT_EQ(r.db.plaintext_secret("s@x.org"), std::nullopt);
    EXPECT_EQ(r.db.plaintext_secret("nobody@x.org"), std::nullopt);
    EXPECT_EQ(r.db.verify_password("p@x.org", "open sesame"), verify_result::ok);
    EXPECT_EQ(r.db.verify_password("p@x.org", "open sesam"), verify_result::wrong_password);
    EXPECT_EQ(r.db.verify_password("p@x.org", "open sesame!"), verify_result::wrong_password);
    EXPECT_EQ(*hash_password(password_scheme::plain, "pw"), "{PLAIN}pw");
    EXPECT_EQ(*hash_password(password_scheme::cram_md5, "pw"), "{CRAM-MD5}pw");
}

TEST(passwd_file, unknown_users_are_reported_as_such) {
    auto r = user_db::parse("a@x.org:{PLAIN}pw\n");
    EXPECT_EQ(r.db.verify_password("b@x.org", "pw"), verify_result::unknown_user);
    EXPECT_EQ(r.db.verify_password("not-an-address", "pw"), verify_result::unknown_user);
    user_db empty;
    EXPECT_EQ(empty.verify_password("a@x.org", "pw"), verify_result::unknown_user);
}

TEST(passwd_file, malformed_lines_are_reported_with_line_numbers_and_skipped) {
    struct bad_line {
        std::string line;
        users_errc code;
    };
    const std::vector<bad_line> table = {
        {"no-colon-here", users_errc::malformed_line},
        {"alice:{PLAIN}pw", users_errc::invalid_address},
        {"@example.com:{PLAIN}pw", users_errc::invalid_address},
        {"alice@:{PLAIN}pw", users_errc::invalid_address},
        {"alice@exa mple.com:{PLAIN}pw", users_errc::invalid_address},
        {"al ice@example.com:{PLAIN}pw", users_errc::invalid_address},
        {"a/b@example.com:{PLAIN}pw", users_errc::invalid_address},
        {".alice@example.com:{PLAIN}pw", users_errc::invalid_address},
        {"alice@-example.com:{PLAIN}pw", users_errc::invalid_address},
        {"alice@example..com:{PLAIN}pw", users_errc::invalid_address},
        {"alice@example.com:pw", users_errc::missing_scheme},
        {"alice@example.com:{PLAIN", users_errc::missing_scheme},
        {"alice@example.com:", users_errc::missing_scheme},
        {"alice@example.com:{MD5-CRYPT}$1$abc$def", users_errc::unknown_scheme},
        {"alice@example.com:{SSHA}abc", users_errc::unknown_scheme},
        {"alice@example.com:{}abc", users_errc::unknown_scheme},
        {"alice@example.com:{PLAIN}", users_errc::invalid_secret},
        {"alice@example.com:{SHA512-CRYPT}", users_errc::invalid_secret},
        {"alice@example.com:{SHA512-CRYPT}$5$saltsalt$abc", users_errc::invalid_secret},
        {"alice@example.com:{SHA512-CRYPT}$6$saltsalt$tooshort", users_errc::invalid_secret},
        {"alice@example.com:{SHA512-CRYPT}$6$rounds=10$salt$" + std::string(86, 'a'), users_errc::invalid_secret},
        {"alice@example.com:{ARGON2ID}$argon2i$v=19$m=256,t=2,p=1$c29tZXNhbHQ$nf65EOgLrQMR/uIPnA4rEsF5h7TKyQwu9U1bMCHGi/4",
         users_errc::invalid_secret},
        {"alice@example.com:{ARGON2ID}$argon2id$v=19$m=256,t=2$c29tZXNhbHQ$nf65EOgLrQMR", users_errc::invalid_secret},
        {"alice@example.com:{ARGON2ID}$argon2id$v=19$m=99999999,t=2,p=1$c29tZXNhbHQ$nf65EOgLrQMR",
         users_errc::invalid_secret},
        {"alice@example.com:{ARGON2ID}$argon2id$v=19$m=256,t=2,p=1$c2FsdA$nf65EOgLrQMR", users_errc::invalid_secret},
        {"alice@example.com:{ARGON2ID}$argon2id$v=19$m=256,t=2,p=1$c29tZXNhbHQ$nf6!", users_errc::invalid_secret},
    };
    for (const auto& c : table) {
        auto r = user_db::parse("# header\nok@example.com:{PLAIN}pw\n" + c.line + "\nok2@example.com:{PLAIN}pw\n");
        ASSERT_EQ(r.problems.size(), 1u) << c.line;
        EXPECT_EQ(r.problems[0].line, 3u) << c.line;
        EXPECT_EQ(r.problems[0].code, c.code) << c.line << " -> " << r.problems[0].message;
        EXPECT_FALSE(r.problems[0].message.empty());
        EXPECT_EQ(r.db.entries().size(), 2u) << c.line;
        EXPECT_FALSE(r.ok());
    }
}

// Found by fuzz/refmaild_passwd (seed nul_in_extra_fields): parse() kept extra fields holding NUL
// or CR that set() refuses and that save() cannot always write back (a trailing CR is lost).
TEST(passwd_file, nul_or_cr_in_extra_fields_is_a_malformed_line) {
    for (const std::string line : {std::string("i@m.example:{PLAIN}x:\0", 22), std::string("i@m.example:{PLAIN}x:a\rb"),
                                   std::string("i@m.example:{PLAIN}x:1000:\r\r")}) {
        auto r = user_db::parse("ok@example.com:{PLAIN}pw\n" + line + "\n");
        ASSERT_EQ(r.problems.size(), 1u) << line;
        EXPECT_EQ(r.problems[0].line, 2u);
        EXPECT_EQ(r.problems[0].code, users_errc::malformed_line);
        EXPECT_NE(r.problems[0].message.find("i@m.example"), std::string::npos) << r.problems[0].message;
        EXPECT_EQ(r.db.entries().size(), 1u);
    }
    // One CR before the LF is the line ending, as everywhere else.
    auto r = user_db::parse("i@m.example:{PLAIN}x:1000:1000\r\n");
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r.db.entries()[0].extra_fields, "1000:1000");
    user_db db;
    EXPECT_FALSE(db.set(r.db.entries()[0]));
}

TEST(passwd_file, problem_messages_name_the_user_and_scheme_but_not_the_secret) {
    auto r = user_db::parse("alice@example.com:{SSHA}topsecret\nbob@example.com:{SHA512-CRYPT}topsecret\n");
    ASSERT_EQ(r.problems.size(), 2u);
    EXPECT_NE(r.problems[0].message.find("alice@example.com"), std::string::npos);
    EXPECT_NE(r.problems[0].message.find("{SSHA}"), std::string::npos);
    EXPECT_NE(r.problems[1].message.find("{SHA512-CRYPT}"), std::string::npos);
    for (const auto& p : r.problems) EXPECT_EQ(p.message.find("topsecret"), std::string::npos) << p.message;
}

TEST(passwd_file, duplicate_users_keep_the_first_line) {
    auto r = user_db::parse("a@x.org:{PLAIN}first\nA@y.org:{PLAIN}other\na@X.ORG:{PLAIN}second\n");
    ASSERT_EQ(r.problems.size(), 1u);
    EXPECT_EQ(r.problems[0].line, 3u);
    EXPECT_EQ(r.problems[0].code, users_errc::duplicate_user);
    EXPECT_NE(r.problems[0].message.find("line 1"), std::string::npos) << r.problems[0].message;
    EXPECT_EQ(r.db.plaintext_secret("a@x.org"), "first");
    EXPECT_EQ(r.db.entries().size(), 2u);
}

TEST(passwd_file, scheme_names) {
    EXPECT_EQ(parse_scheme("sha512-crypt"), password_scheme::sha512_crypt);
    EXPECT_EQ(parse_scheme("Argon2id"), password_scheme::argon2id);
    EXPECT_EQ(parse_scheme("PLAIN"), password_scheme::plain);
    EXPECT_EQ(parse_scheme("CRAM-MD5"), password_scheme::cram_md5);
    EXPECT_EQ(parse_scheme("SHA512"), std::nullopt);
    EXPECT_EQ(parse_scheme(""), std::nullopt);
    for (auto s : {password_scheme::sha512_crypt, password_scheme::argon2id, password_scheme::plain,
                   password_scheme::cram_md5}) {
        EXPECT_EQ(parse_scheme(scheme_name(s)), s);
    }
    EXPECT_EQ(parse_password_field("{PLAIN}x")->second, "x");
    EXPECT_EQ(parse_password_field("PLAIN}x").error(), users_errc::missing_scheme);
    EXPECT_EQ(parse_password_field("{NOPE}x").error(), users_errc::unknown_scheme);
    EXPECT_EQ(parse_password_field("{ARGON2ID}x").error(), users_errc::invalid_secret);
}

TEST(passwd_file, hash_password_refuses_unstorable_passwords) {
    for (const std::string& pw : {std::string("a:b"), std::string("a\nb"), std::string("a\rb"), std::string("a\0b", 3),
                                  std::string()}) {
        EXPECT_EQ(hash_password(password_scheme::plain, pw).error(), users_errc::unstorable_password);
        EXPECT_EQ(hash_password(password_scheme::cram_md5, pw).error(), users_errc::unstorable_password);
    }
    EXPECT_EQ(hash_password(password_scheme::sha512_crypt, std::string("a\0b", 3)).error(),
              users_errc::unstorable_password);
    EXPECT_TRUE(hash_password(password_scheme::sha512_crypt, "a:b\nc"));  // hashed, so storable
}

// Found by fuzz/refmaild_passwd (seed set_hash_user): set() took a user whose local part starts
// with '#'; save() wrote it, and the next load read the line as a comment, losing the user.
TEST(passwd_file, set_refuses_a_user_that_would_load_back_as_a_comment) {
    user_db db;
    EXPECT_EQ(db.set({.user = "#alice", .domain = "example.com", .scheme = password_scheme::plain, .secret = "pw"}),
              users_errc::invalid_address);
    EXPECT_FALSE(db.set({.user = "al#ice", .domain = "example.com", .scheme = password_scheme::plain, .secret = "pw"}));
    auto r = user_db::parse("al#ice@example.com:{PLAIN}pw\n#bob@example.com:{PLAIN}pw\n");
    ASSERT_TRUE(r.ok());
    ASSERT_EQ(r.db.entries().size(), 1u);
    EXPECT_EQ(r.db.entries()[0].user, "al#ice");
}

TEST(passwd_file, set_remove_and_local_domains) {
    user_db db;
    auto field = parse_password_field(*hash_password(password_scheme::plain, "pw"));
    ASSERT_TRUE(field);
    EXPECT_FALSE(db.set({.user = "a", .domain = "X.org", .scheme = field->first, .secret = field->second}));
    EXPECT_FALSE(db.set({.user = "b", .domain = "y.org", .scheme = password_scheme::plain, .secret = "pw2"}));
    EXPECT_EQ(db.set({.user = "c", .domain = "bad domain", .scheme = password_scheme::plain, .secret = "x"}),
              users_errc::invalid_address);
    EXPECT_EQ(db.set({.user = "c", .domain = "z.org", .scheme = password_scheme::sha512_crypt, .secret = "x"}),
              users_errc::invalid_secret);
    EXPECT_EQ(db.set({.user = "c", .domain = "z.org", .scheme = password_scheme::plain, .secret = "x",
                      .extra_fields = "a\nb"}),
              users_errc::malformed_line);
    EXPECT_EQ(db.entries().size(), 2u);
    EXPECT_EQ(db.verify_password("a@x.org", "pw"), verify_result::ok);

    // Replace keeps one entry per address.
    EXPECT_FALSE(db.set({.user = "a", .domain = "x.org", .scheme = password_scheme::plain, .secret = "new"}));
    EXPECT_EQ(db.entries().size(), 2u);
    EXPECT_EQ(db.verify_password("a@x.org", "new"), verify_result::ok);

    const std::vector<std::string> configured = {"Z.org", "x.org", "w.org"};
    EXPECT_EQ(local_domains(db, configured), (std::vector<std::string>{"w.org", "x.org", "y.org", "z.org"}));

    EXPECT_TRUE(db.remove("b@Y.ORG"));
    EXPECT_FALSE(db.remove("b@y.org"));
    EXPECT_EQ(db.lookup("b@y.org"), nullptr);
    EXPECT_EQ(db.verify_password("a@x.org", "new"), verify_result::ok);
    EXPECT_EQ(db.domains(), (std::vector<std::string>{"x.org"}));
}

TEST(passwd_file, save_is_atomic_private_and_loads_back) {
    temp_dir tmp;
    fs::path file = tmp.path / "passwd";
    {
        std::ofstream(file) << "old@x.org:{PLAIN}old\n";
        fs::permissions(file, fs::perms::owner_read | fs::perms::owner_write | fs::perms::group_read |
                                  fs::perms::others_read);
    }
    auto argon = hash_password(password_scheme::argon2id, "pw-a", cheap);
    auto sha = hash_password(password_scheme::sha512_crypt, "pw-s");
    ASSERT_TRUE(argon && sha);
    auto r = user_db::parse("a@x.org:" + *argon + ":1000:1000\ns@x.org:" + *sha + "\np@y.org:{PLAIN}pw-p\n");
    ASSERT_TRUE(r.ok());
    ASSERT_FALSE(r.db.save(file));

    struct stat st {};
    ASSERT_EQ(::stat(file.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0600u);
    EXPECT_EQ(std::distance(fs::directory_iterator(tmp.path), fs::directory_iterator{}), 1);  // no temp file left

    auto back = user_db::load(file);
    ASSERT_TRUE(back.ok());
    ASSERT_EQ(back.db.entries().size(), 3u);
    EXPECT_EQ(back.db.lookup("old@x.org"), nullptr);
    EXPECT_EQ(back.db.lookup("a@x.org")->extra_fields, "1000:1000");
    EXPECT_EQ(back.db.verify_password("a@x.org", "pw-a"), verify_result::ok);
    EXPECT_EQ(back.db.verify_password("s@x.org", "pw-s"), verify_result::ok);
    EXPECT_EQ(back.db.verify_password("p@y.org", "pw-p"), verify_result::ok);
    EXPECT_NE(read_file(file).find("p@y.org:{PLAIN}pw-p\n"), std::string::npos);

    EXPECT_TRUE(r.db.save(tmp.path / "missing-dir" / "passwd"));  // error, not a crash
}

TEST(passwd_file, load_reports_unreadable_files) {
    auto r = user_db::load("/nonexistent/refmaild/passwd");
    EXPECT_EQ(r.error, std::errc::no_such_file_or_directory);
    EXPECT_FALSE(r.ok());
    EXPECT_TRUE(r.db.entries().empty());
    temp_dir tmp;
    auto d = user_db::load(tmp.path);  // a directory
    EXPECT_TRUE(d.error);
}

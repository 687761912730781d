#include "mailharness/refmaild/uid_list.hpp"

#include "split_feed.hpp"

#include <gtest/gtest.h>

#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <thread>

namespace fs = std::filesystem;
using namespace mailharness::refmaild::store;

namespace {

// Written by Dovecot 2.3.19 (doveadm save / flags / expunge on a Maildir): the header's N is
// stale because Dovecot appends records without rewriting the header.
constexpr std::string_view dovecot_sample =
    "3 V1796321809 N1 G48cd461d11b2116b7f2d000083ecc375\n"
    "1 :1700000000.M5P9Q1.host,S=22\n"
    "2 :1700000001.M1P1.host\n";

// Dovecot after the expunge of uid 1 and a save (a recreated list).
constexpr std::string_view dovecot_sample2 =
    "3 V1796321809 N4 G48cd461d11b2116b7f2d000083ecc375\n"
    "2 :1700000001.M1P1.host\n"
    "3 :1796321814.M208879P11693.vm,S=26,W=29\n";

// Extension fields as Dovecot writes them (maildir-uidlist.h: S, W, P, O, G) and a header
// extension (P = POP3 UIDL format).
constexpr std::string_view dovecot_ext_sample =
    "3 V1234567890 N100 G0123456789abcdef0123456789ABCDEF P%08Xu%08Xv\n"
    "7 W1234 S1200 :1234567890.M1P2.host\n"
    "8 P000000010000000a O1 GABCDEF :1234567891.M1P2.host,S=5\n"
    "99 W5 :1234567892.M1P2.host,S=5\n";

// Parses `text` split at every offset; every split must give the same result as the whole.
uid_list_parse_result parse_every_split(std::string_view text, uid_list_limits limits = {}) {
    const auto whole = parse_uid_list(text, limits);
    mailharness::test::for_each_split(text, [&](const std::vector<std::string_view>& chunks) {
        uid_list_parser p(limits);
        for (auto c : chunks) p.put(c);
        const auto r = p.finish();
        EXPECT_EQ(r.fatal, whole.fatal);
        EXPECT_EQ(r.list, whole.list);
        ASSERT_EQ(r.problems.size(), whole.problems.size());
        for (std::size_t i = 0; i < r.problems.size(); ++i) {
            EXPECT_EQ(r.problems[i].line, whole.problems[i].line);
            EXPECT_EQ(r.problems[i].code, whole.problems[i].code);
        }
    });
    return whole;
}

struct temp_dir {
    fs::path path;
    temp_dir() {
        std::string tmpl = (fs::temp_directory_path() / "mh-uidlist-XXXXXX").string();
        path = ::mkdtemp(tmpl.data());
    }
    ~temp_dir() {
        std::error_code ec;
        fs::remove_all(path, ec);
    }
};

std::string slurp(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}

}  // namespace

TEST(uid_list, parses_dovecot_samples) {
    auto r = parse_every_split(dovecot_sample);
    ASSERT_TRUE(r.ok()) << r.fatal.message();
    EXPECT_TRUE(r.problems.empty());
    EXPECT_EQ(r.list.uid_validity, 1796321809u);
    EXPECT_EQ(r.list.next_uid, 3u);  // corrected above the last record, as Dovecot does
    EXPECT_EQ(r.list.guid[0], 0x48);
    EXPECT_EQ(r.list.guid[15], 0x75);
    ASSERT_EQ(r.list.entries.size(), 2u);
    EXPECT_EQ(r.list.entries[0].uid, 1u);
    EXPECT_EQ(r.list.entries[0].base, "1700000000.M5P9Q1.host,S=22");
    EXPECT_EQ(r.list.entries[1].base, "1700000001.M1P1.host");

    r = parse_every_split(dovecot_sample2);
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r.list.next_uid, 4u);
    EXPECT_EQ(format_uid_list(r.list), dovecot_sample2);  // byte for byte what Dovecot wrote

    r = parse_every_split(dovecot_ext_sample);
    ASSERT_TRUE(r.ok());
    EXPECT_TRUE(r.problems.empty());
    EXPECT_EQ(r.list.header_extensions, "P%08Xu%08Xv");
    ASSERT_EQ(r.list.entries.size(), 3u);
    EXPECT_EQ(r.list.entries[0].vsize, 1234u);
    EXPECT_EQ(r.list.entries[0].extensions, "S1200");
    EXPECT_FALSE(r.list.entries[1].vsize);
    EXPECT_EQ(r.list.entries[1].extensions, "P000000010000000a O1 GABCDEF");
    EXPECT_EQ(r.list.entries[2].uid, 99u);
    EXPECT_EQ(r.list.next_uid, 100u);
    // Round trip: what we write parses back to the same list.
    const auto again = parse_uid_list(format_uid_list(r.list));
    EXPECT_TRUE(again.ok());
    EXPECT_TRUE(again.problems.empty());
    EXPECT_EQ(again.list, r.list);
}

TEST(uid_list, crlf_and_file_names_with_spaces) {
    auto r = parse_every_split("3 V1 N2 G00000000000000000000000000000000\r\n1 :a b c\r\n");
    ASSERT_TRUE(r.ok());
    ASSERT_EQ(r.list.entries.size(), 1u);
    EXPECT_EQ(r.list.entries[0].base, "a b c");
}

TEST(uid_list, fatal_header_problems) {
    struct fatal_case {
        std::string text;
        uid_list_errc code;
    };
    const std::vector<fatal_case> cases = {
        {"", uid_list_errc::missing_header},
        {"3 V1 N2", uid_list_errc::missing_header},  // unterminated header
        {"\n", uid_list_errc::bad_header},
        {"3\n", uid_list_errc::bad_header},
        {"x V1 N1\n", uid_list_errc::bad_header},
        {"1 123 456\n1 foo\n", uid_list_errc::unsupported_version},
        {"2 V1 N1\n", uid_list_errc::unsupported_version},
        {"3 N5\n", uid_list_errc::bad_header},
        {"3 V5\n", uid_list_errc::bad_header},
        {"3 V0 N5\n", uid_list_errc::bad_header},
        {"3 V5 N0\n", uid_list_errc::bad_header},
        {"3 V4294967296 N5\n", uid_list_errc::bad_header},
        {"3 V12x N5\n", uid_list_errc::bad_header},
        {"3 V1 N1 " + std::string(5000, 'X') + "\n", uid_list_errc::bad_header},
    };
    for (const auto& c : cases) {
        SCOPED_TRACE(c.text.substr(0, 40));
        const auto r = parse_every_split(c.text);
        EXPECT_EQ(r.fatal, make_error_code(c.code));
        EXPECT_TRUE(is_fatal(c.code));
        EXPECT_TRUE(r.list.entries.empty());
        EXPECT_TRUE(r.needs_rewrite());
    }
}

TEST(uid_list, bad_lines_are_reported_and_left_out) {
    const std::string text =
        "3 V7 N10 Gnothex\n"                  // 1: bad guid, list still used
        "1 :a\n"                              // 2
        "x :b\n"                              // 3: bad record
        "0 :c\n"                              // 4: uid 0
        "4294967295 :d\n"                     // 5: uid too high
        "1 :e\n"                              // 6: not ascending
        "5 :\n"                               // 7: empty name
        "6 :x/y\n"                            // 8: '/' in name
        "7 W12 w3 Wx :f\n"                    // 9: two bad fields, W12 kept
        "8 W3\n"                              // 10: no ':' name
        "9 :a\n"                              // 11: duplicate of line 2: later wins
        "12 " + std::string(5000, 'z') + "\n" // 12: too long
        "13 :g\n"                             // 13
        "14 :unterminated";                   // 14
    const auto r = parse_every_split(text);
    ASSERT_TRUE(r.ok()) << r.fatal.message();
    const std::vector<std::pair<std::size_t, uid_list_errc>> expected = {
        {1, uid_list_errc::bad_guid},           {3, uid_list_errc::bad_record},
        {4, uid_list_errc::bad_record},         {5, uid_list_errc::bad_record},
        {6, uid_list_errc::uid_not_ascending},  {7, uid_list_errc::bad_file_name},
        {8, uid_list_errc::bad_file_name},      {9, uid_list_errc::bad_extension},
        {9, uid_list_errc::bad_extension},      {10, uid_list_errc::bad_record},
        {11, uid_list_errc::duplicate_file_name}, {12, uid_list_errc::line_too_long},
        {14, uid_list_errc::unterminated_line},
    };
    ASSERT_EQ(r.problems.size(), expected.size());
    for (std::size_t i = 0; i < expected.size(); ++i) {
        EXPECT_EQ(r.problems[i].line, expected[i].first) << i;
        EXPECT_EQ(r.problems[i].code, expected[i].second) << i;
        EXPECT_FALSE(is_fatal(expected[i].second));
    }
    ASSERT_EQ(r.list.entries.size(), 3u);
    EXPECT_EQ(r.list.entries[0].uid, 7u);
    EXPECT_EQ(r.list.entries[0].base, "f");
    EXPECT_EQ(r.list.entries[0].vsize, 12u);
    EXPECT_EQ(r.list.entries[1].uid, 9u);
    EXPECT_EQ(r.list.entries[1].base, "a");
    EXPECT_EQ(r.list.entries[2].uid, 13u);
    EXPECT_EQ(r.list.next_uid, 14u);
    EXPECT_FALSE(has_guid(r.list));  // the writer gives it a new one
    EXPECT_TRUE(r.needs_rewrite());
}

TEST(uid_list, limits) {
    uid_list_limits small{.max_line = 20, .max_records = 2, .max_problems = 1};
    auto r = parse_every_split("3 V1 N1\n1 :a\n2 :b\n", small);
    EXPECT_TRUE(r.ok());
    r = parse_every_split("3 V1 N1\n1 :a\n2 :b\n3 :c\n", small);
    EXPECT_EQ(r.fatal, make_error_code(uid_list_errc::too_many_records));
    // A duplicate does not count twice.
    r = parse_every_split("3 V1 N1\n1 :a\n2 :a\n3 :c\n", small);
    EXPECT_TRUE(r.ok());
    EXPECT_EQ(r.list.entries.size(), 2u);
    // Problems beyond max_problems are only counted.
    r = parse_every_split("3 V1 N1\nx\ny\nz\n", small);
    EXPECT_EQ(r.problems.size(), 1u);
    EXPECT_EQ(r.problems_dropped, 2u);
    // Exactly max_line octets is fine; one more is too long.
    r = parse_every_split("3 V1 N1\n1 :" + std::string(17, 'a') + "\n", small);
    EXPECT_TRUE(r.problems.empty());
    r = parse_every_split("3 V1 N1\n1 :" + std::string(18, 'a') + "\n", small);
    ASSERT_EQ(r.problems.size(), 1u);
    EXPECT_EQ(r.problems[0].code, uid_list_errc::line_too_long);
}

TEST(uid_list, garbage_never_crashes) {
    // Deterministic pseudo-random bytes biased towards the format's characters.
    const std::string alphabet = "3 VNGW:0123456789\n\r/aZ\x00\xff";
    std::uint32_t seed = 12345;
    for (int round = 0; round < 300; ++round) {
        std::string text = round % 2 ? "3 V1 N1\n" : "";
        for (int i = 0; i < 200; ++i) {
            seed = seed * 1103515245 + 12345;
            text += alphabet[(seed >> 16) % alphabet.size()];
        }
        const auto r = parse_uid_list(text);
        if (!r.ok()) continue;
        for (std::size_t i = 1; i < r.list.entries.size(); ++i) {
            EXPECT_LT(r.list.entries[i - 1].uid, r.list.entries[i].uid);
        }
        EXPECT_EQ(parse_uid_list(format_uid_list(r.list)).list, r.list);
    }
}

TEST(uid_list, new_list_uid_validity_is_time_and_grows) {
    const auto a = new_uid_list();
    EXPECT_NEAR(static_cast<double>(a.uid_validity), static_cast<double>(std::time(nullptr)), 5);
    EXPECT_EQ(a.next_uid, 1u);
    const auto b = new_uid_list(a.uid_validity + 1000);
    EXPECT_EQ(b.uid_validity, a.uid_validity + 1001);
    EXPECT_NE(a.guid, b.guid);
}

TEST(uid_list_file, write_then_read_durably) {
    temp_dir tmp;
    auto missing = read_uid_list_file(tmp.path);
    ASSERT_TRUE(missing);
    EXPECT_FALSE(missing->has_value());

    auto l = parse_uid_list(dovecot_ext_sample).list;
    ASSERT_FALSE(write_uid_list_file(tmp.path, l));
    EXPECT_EQ(slurp(tmp.path / "dovecot-uidlist"), format_uid_list(l));
    auto back = read_uid_list_file(tmp.path);
    ASSERT_TRUE(back && back->has_value());
    EXPECT_EQ((*back)->list, l);
    // No temp file left behind.
    std::size_t files = 0;
    for (const auto& e : fs::directory_iterator(tmp.path)) files += e.is_regular_file() ? 1 : 0;
    EXPECT_EQ(files, 1u);

    // Too large is fatal (without reading it all).
    uid_list_file_limits tiny;
    tiny.max_file_size = 10;
    auto big = read_uid_list_file(tmp.path, tiny);
    ASSERT_TRUE(big && big->has_value());
    EXPECT_EQ((*big)->fatal, make_error_code(uid_list_errc::file_too_large));
}

TEST(uid_list_lock, excludes_and_releases) {
    temp_dir tmp;
    const auto lock_path = tmp.path / "dovecot-uidlist.lock";
    {
        auto a = uid_list_lock::acquire(tmp.path);
        ASSERT_TRUE(a) << a.error().message();
        EXPECT_TRUE(fs::exists(lock_path));
        const std::string content = slurp(lock_path);
        EXPECT_EQ(content.substr(0, content.find(':')), std::to_string(::getpid()));  // "<pid>:<host>"
        auto b = uid_list_lock::acquire(tmp.path, {.timeout = std::chrono::milliseconds(50)});
        ASSERT_FALSE(b);
        EXPECT_EQ(b.error(), make_error_code(uid_list_errc::lock_timeout));
    }
    EXPECT_FALSE(fs::exists(lock_path));
    auto c = uid_list_lock::acquire(tmp.path);
    ASSERT_TRUE(c);
    c->release();
    EXPECT_FALSE(fs::exists(lock_path));

    // A waiter gets the lock once the holder releases it.
    auto held = uid_list_lock::acquire(tmp.path);
    ASSERT_TRUE(held);
    std::thread t([&] {
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
        held->release();
    });
    auto waited = uid_list_lock::acquire(tmp.path, {.timeout = std::chrono::seconds(5)});
    t.join();
    EXPECT_TRUE(waited);
}

TEST(uid_list_lock, stale_locks_are_taken_over) {
    temp_dir tmp;
    const auto lock_path = tmp.path / "dovecot-uidlist.lock";
    char host[256] = {};
    ::gethostname(host, sizeof host - 1);

    // Old and untouched: stale after stale_timeout.
    std::ofstream(lock_path) << "1:other-host";
    const auto old = fs::last_write_time(lock_path) - std::chrono::minutes(5);
    fs::last_write_time(lock_path, old);
    auto a = uid_list_lock::acquire(tmp.path, {.timeout = std::chrono::milliseconds(100)});
    ASSERT_TRUE(a) << a.error().message();
    a->release();

    // Fresh but written by a dead process of this host (pid from a child that has exited).
    pid_t dead = ::fork();
    if (dead == 0) ::_exit(0);
    int status = 0;
    ::waitpid(dead, &status, 0);
    std::ofstream(lock_path) << dead << ":" << host;
    fs::last_write_time(lock_path, fs::last_write_time(lock_path) - std::chrono::seconds(3));
    auto b = uid_list_lock::acquire(tmp.path, {.timeout = std::chrono::milliseconds(100)});
    ASSERT_TRUE(b) << b.error().message();
    b->release();

    // Fresh, held by a live process (our parent): not taken over.
    std::ofstream(lock_path) << ::getppid() << ":" << host;
    fs::last_write_time(lock_path, fs::last_write_time(lock_path) - std::chrono::seconds(3));
    auto c = uid_list_lock::acquire(tmp.path, {.timeout = std::chrono::milliseconds(100)});
    EXPECT_FALSE(c);
}

// Found by fuzz/refmaild_uid_list (seeds crash_*): what format_uid_list() writes must parse back
// to the same list.
TEST(uid_list, fuzz_findings_round_trip) {
    // A CR before the CRLF: every trailing CR goes, and a CR inside a name is refused.
    auto r = parse_every_split("3 V7 N10\n1 :a\r\r\n2 :b\rc\n");
    ASSERT_TRUE(r.ok());
    ASSERT_EQ(r.list.entries.size(), 1u);
    EXPECT_EQ(r.list.entries[0].base, "a");
    ASSERT_EQ(r.problems.size(), 1u);
    EXPECT_EQ(r.problems[0].code, uid_list_errc::bad_file_name);
    // A header extension with a CR is dropped (written last, it would end the line).
    r = parse_every_split("3 V7 N10 Xa\r \n");
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r.list.header_extensions, "");
    // Header extensions are capped at half a line, so the header written (with a G) still fits.
    const uid_list_limits limits{.max_line = 100};
    r = parse_every_split("3 V7 N10 X" + std::string(40, 'a') + " Y" + std::string(40, 'b') + "\n", limits);
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r.list.header_extensions, "X" + std::string(40, 'a'));
    for (auto* text : {"3 V7 N10\n1 :a\r\r\n", "3 V7 N10 Xa\r \n"}) {
        const auto once = parse_uid_list(text, limits);
        const auto back = parse_uid_list(format_uid_list(once.list), limits);
        EXPECT_TRUE(back.ok());
        EXPECT_TRUE(back.problems.empty());
        EXPECT_EQ(back.list, once.list);
    }
}

#include "mailharness/refmaild/maildir_folder.hpp"
#include "mailharness/refmaild/maildir_store.hpp"

#include <gtest/gtest.h>

#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <set>
#include <sstream>

namespace fs = std::filesystem;
using namespace mailharness::refmaild::store;

namespace {

struct temp_dir {
    fs::path path;
    temp_dir() {
        std::string tmpl = (fs::temp_directory_path() / "mh-folder-XXXXXX").string();
        path = ::mkdtemp(tmpl.data());
    }
    ~temp_dir() {
        std::error_code ec;
        fs::remove_all(path, ec);
    }
};

void write(const fs::path& p, std::string_view content) {
    std::ofstream out(p, std::ios::binary);
    out << content;
}

std::string slurp(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}

std::string read_fd(int fd) {
    std::string out;
    char buf[4096];
    ssize_t n;
    while ((n = ::read(fd, buf, sizeof buf)) > 0) out.append(buf, static_cast<std::size_t>(n));
    return out;
}

std::vector<std::string> names_in(const fs::path& dir) {
    std::vector<std::string> out;
    for (const auto& e : fs::directory_iterator(dir)) out.push_back(e.path().filename().string());
    std::sort(out.begin(), out.end());
    return out;
}

std::vector<std::uint32_t> uids(const maildir_folder& f) {
    std::vector<std::uint32_t> out;
    for (const auto& m : f.messages()) out.push_back(m.uid);
    return out;
}

uid_list read_list(const fs::path& dir) {
    auto r = read_uid_list_file(dir);
    EXPECT_TRUE(r && r->has_value());
    EXPECT_TRUE((*r)->ok());
    return (*r)->list;
}

const std::string crlf_msg = "Subject: x\r\n\r\nbody\r\n";  // 20 octets

}  // namespace

TEST(maildir_folder, creates_missing_directories) {
    temp_dir tmp;
    auto f = maildir_folder::open(tmp.path / "a" / "Maildir");
    ASSERT_TRUE(f) << f.error().message();
    for (const char* sub : {"cur", "new", "tmp"}) EXPECT_TRUE(fs::is_directory(tmp.path / "a" / "Maildir" / sub));
    EXPECT_TRUE(f->messages().empty());
    EXPECT_EQ(f->uid_next(), 1u);
    EXPECT_NEAR(static_cast<double>(f->uid_validity()), static_cast<double>(std::time(nullptr)), 5);
    EXPECT_TRUE(f->last_sync().list_recreated);
    EXPECT_TRUE(fs::exists(tmp.path / "a" / "Maildir" / "dovecot-uidlist"));
    EXPECT_FALSE(fs::exists(tmp.path / "a" / "Maildir" / "dovecot-uidlist.lock"));
}

TEST(maildir_folder, moves_new_to_cur_and_assigns_uids_in_dovecot_order) {
    temp_dir tmp;
    const fs::path md = tmp.path / "Maildir";
    ASSERT_TRUE(maildir_folder::open(md));
    // Written out of order; Dovecot's order is by time, then microseconds.
    write(md / "new" / "1700000010.M2P1Q1.h,S=20", crlf_msg);
    write(md / "new" / "1700000009.M999P1Q2.h,S=20", crlf_msg);
    write(md / "new" / "1700000010.M10P1Q3.h,S=20", crlf_msg);
    write(md / "new" / "1700000011.M1P1.h:2,S", crlf_msg);  // already has an info: kept
    write(md / "new" / ".hidden", "x");                     // dot files are not messages
    auto f = maildir_folder::open(md);
    ASSERT_TRUE(f) << f.error().message();
    EXPECT_EQ(f->last_sync().moved_from_new, 4u);
    EXPECT_EQ(f->last_sync().new_messages, 4u);
    EXPECT_EQ(names_in(md / "new"), std::vector<std::string>{".hidden"});
    EXPECT_EQ(names_in(md / "cur"),
              (std::vector<std::string>{"1700000009.M999P1Q2.h,S=20:2,", "1700000010.M10P1Q3.h,S=20:2,",
                                        "1700000010.M2P1Q1.h,S=20:2,", "1700000011.M1P1.h:2,S"}));
    ASSERT_EQ(f->messages().size(), 4u);
    EXPECT_EQ(uids(*f), (std::vector<std::uint32_t>{1, 2, 3, 4}));
    EXPECT_EQ(f->messages()[0].path, "cur/1700000009.M999P1Q2.h,S=20:2,");
    EXPECT_EQ(f->messages()[1].path, "cur/1700000010.M2P1Q1.h,S=20:2,");
    EXPECT_EQ(f->messages()[2].path, "cur/1700000010.M10P1Q3.h,S=20:2,");
    EXPECT_EQ(f->messages()[3].name(), "1700000011.M1P1.h:2,S");
    EXPECT_EQ(f->messages()[3].flags, flag_seen);
    EXPECT_EQ(f->uid_next(), 5u);
    for (const auto& m : f->messages()) EXPECT_EQ(m.size, 20u);
    // Sizes: refmaild's S= trusted; the foreign file (no S=, CRLF) read and cached.
    EXPECT_EQ(f->last_sync().sizes_computed, 1u);
    const auto list = read_list(md);
    EXPECT_EQ(list.entries.back().vsize, 20u);
    EXPECT_FALSE(list.entries.front().vsize);
}

TEST(maildir_folder, delivered_by_maildir_store) {
    temp_dir tmp;
    maildir_store store({.root = tmp.path, .hostname = "mx.example"});
    std::vector<std::string> names;
    for (int i = 0; i < 3; ++i) {
        auto n = store.deliver({.mailbox = {.user = "bob", .domain = "example.org"},
                                .header = "Received: x\r\n",
                                .body = std::make_shared<const std::string>(crlf_msg + std::to_string(i))});
        ASSERT_TRUE(n);
        names.push_back(*n);
    }
    auto f = maildir_folder::open(*store.maildir_path({.user = "bob", .domain = "example.org"}));
    ASSERT_TRUE(f) << f.error().message();
    ASSERT_EQ(f->messages().size(), 3u);
    for (std::size_t i = 0; i < 3; ++i) {
        EXPECT_EQ(f->messages()[i].name(), names[i] + ":2,");  // delivery order = UID order
        EXPECT_EQ(f->messages()[i].size, 13u + 20u + 1u);
        auto fd = f->open_message(i);
        ASSERT_TRUE(fd);
        EXPECT_EQ(read_fd(fd->get()), "Received: x\r\n" + crlf_msg + std::to_string(i));
    }
    EXPECT_EQ(f->last_sync().sizes_computed, 0u);  // S= of refmaild's names is trusted
}

TEST(maildir_folder, uids_stable_across_reopen_and_never_reused) {
    temp_dir tmp;
    const fs::path md = tmp.path / "Maildir";
    ASSERT_TRUE(maildir_folder::open(md));
    for (int i = 1; i <= 3; ++i) write(md / "new" / ("17000000" + std::to_string(i) + ".M1P1Q1.h,S=20"), crlf_msg);
    auto f = maildir_folder::open(md);
    ASSERT_TRUE(f);
    const auto validity = f->uid_validity();
    EXPECT_EQ(uids(*f), (std::vector<std::uint32_t>{1, 2, 3}));

    // Reopen: same UIDs, same UIDVALIDITY, nothing rewritten.
    const auto before = slurp(md / "dovecot-uidlist");
    auto g = maildir_folder::open(md);
    ASSERT_TRUE(g);
    EXPECT_EQ(uids(*g), (std::vector<std::uint32_t>{1, 2, 3}));
    EXPECT_EQ(g->uid_validity(), validity);
    EXPECT_FALSE(g->last_sync().list_written);
    EXPECT_EQ(slurp(md / "dovecot-uidlist"), before);

    // Remove the last message; a new one gets UID 4, not 3.
    const std::size_t last[] = {2};
    ASSERT_FALSE(g->remove(last));
    EXPECT_TRUE(g->messages()[2].removed);
    write(md / "new" / "1700000009.M1P1Q1.h,S=20", crlf_msg);
    auto h = maildir_folder::open(md);
    ASSERT_TRUE(h);
    EXPECT_EQ(uids(*h), (std::vector<std::uint32_t>{1, 2, 4}));
    EXPECT_EQ(h->last_sync().dropped_entries, 1u);
    EXPECT_EQ(h->uid_next(), 5u);
    EXPECT_EQ(h->uid_validity(), validity);

    // Even when every message is gone, UIDNEXT stays.
    const std::size_t all[] = {0, 1, 2};
    ASSERT_FALSE(h->remove(all));
    auto k = maildir_folder::open(md);
    ASSERT_TRUE(k);
    EXPECT_TRUE(k->messages().empty());
    EXPECT_EQ(k->uid_next(), 5u);
    EXPECT_EQ(read_list(md).next_uid, 5u);
}

TEST(maildir_folder, listed_file_gone_and_foreign_file_appearing) {
    temp_dir tmp;
    const fs::path md = tmp.path / "Maildir";
    ASSERT_TRUE(maildir_folder::open(md));
    fs::create_directories(md / "cur");
    write(md / "cur" / "1700000001.M1P1Q1.h,S=20:2,S", crlf_msg);
    // A list written by Dovecot naming one file that is gone and one that is there.
    write(md / "dovecot-uidlist",
          "3 V1234 N8 G0123456789abcdef0123456789abcdef\n5 :1700000000.M1P1.gone\n6 :1700000001.M1P1Q1.h,S=20\n");
    // A file another program delivered straight into cur/.
    write(md / "cur" / "1700000002.M5P77.other:2,", "a\nb\n");
    auto f = maildir_folder::open(md);
    ASSERT_TRUE(f) << f.error().message();
    EXPECT_EQ(f->uid_validity(), 1234u);
    EXPECT_EQ(uids(*f), (std::vector<std::uint32_t>{6, 8}));
    EXPECT_EQ(f->messages()[0].flags, flag_seen);
    EXPECT_EQ(f->messages()[1].size, 6u);  // two bare LFs counted as CRLF
    EXPECT_EQ(f->last_sync().dropped_entries, 1u);
    const auto list = read_list(md);
    EXPECT_EQ(list.next_uid, 9u);
    ASSERT_EQ(list.entries.size(), 2u);
    EXPECT_EQ(list.entries[1].base, "1700000002.M5P77.other");
    EXPECT_EQ(list.entries[1].vsize, 6u);  // cached
    EXPECT_EQ(format_uid_list(list).substr(0, 50), "3 V1234 N9 G0123456789abcdef0123456789abcdef\n6 :17");
}

TEST(maildir_folder, lf_only_file_size_computed_once_and_cached) {
    temp_dir tmp;
    const fs::path md = tmp.path / "Maildir";
    ASSERT_TRUE(maildir_folder::open(md));
    // Dovecot-style S= (LF content) without W=: S= must not be trusted for a foreign name.
    write(md / "new" / "1700000001.M1P2.host,S=15", "Subject: a\n\nb\n");  // 14 octets, 3 LFs
    auto f = maildir_folder::open(md);
    ASSERT_TRUE(f);
    ASSERT_EQ(f->messages().size(), 1u);
    EXPECT_EQ(f->messages()[0].size, 17u);
    EXPECT_EQ(f->last_sync().sizes_computed, 1u);
    EXPECT_TRUE(f->last_sync().list_written);
    // Second open: from the cache; nothing read, nothing written.
    auto g = maildir_folder::open(md);
    ASSERT_TRUE(g);
    EXPECT_EQ(g->messages()[0].size, 17u);
    EXPECT_EQ(g->last_sync().sizes_computed, 0u);
    EXPECT_FALSE(g->last_sync().list_written);
    // ,W= wins over everything.
    write(md / "new" / "1700000002.M1P2.host,S=26,W=29", "whatever");
    auto h = maildir_folder::open(md);
    ASSERT_TRUE(h);
    EXPECT_EQ(h->messages()[1].size, 29u);
    EXPECT_EQ(h->last_sync().sizes_computed, 0u);
    // A setting can distrust S= everywhere.
    write(md / "new" / "1700000003.M1P1Q1.h,S=999", "a\nb");
    auto k = maildir_folder::open(md, {.trust_s_size = nullptr});
    ASSERT_TRUE(k);
    EXPECT_EQ(k->messages()[2].size, 4u);
}

TEST(maildir_folder, open_message_follows_a_rename) {
    temp_dir tmp;
    const fs::path md = tmp.path / "Maildir";
    ASSERT_TRUE(maildir_folder::open(md));
    write(md / "new" / "1700000001.M1P1Q1.h,S=20", crlf_msg);
    auto f = maildir_folder::open(md);
    ASSERT_TRUE(f);
    // Another session sets \Seen.
    fs::rename(md / "cur" / "1700000001.M1P1Q1.h,S=20:2,", md / "cur" / "1700000001.M1P1Q1.h,S=20:2,S");
    auto fd = f->open_message(0);
    ASSERT_TRUE(fd) << fd.error().message();
    EXPECT_EQ(read_fd(fd->get()), crlf_msg);
    EXPECT_EQ(f->messages()[0].name(), "1700000001.M1P1Q1.h,S=20:2,S");
    EXPECT_EQ(f->messages()[0].flags, flag_seen);
    // Gone for good.
    fs::remove(md / "cur" / "1700000001.M1P1Q1.h,S=20:2,S");
    auto gone = f->open_message(0);
    ASSERT_FALSE(gone);
    EXPECT_EQ(gone.error(), std::errc::no_such_file_or_directory);
    EXPECT_EQ(f->open_message(7).error(), std::errc::invalid_argument);
}

TEST(maildir_folder, remove_is_durable_and_tolerates_gone_files) {
    temp_dir tmp;
    const fs::path md = tmp.path / "Maildir";
    ASSERT_TRUE(maildir_folder::open(md));
    for (int i = 1; i <= 4; ++i) write(md / "new" / ("170000000" + std::to_string(i) + ".M1P1Q1.h,S=20"), crlf_msg);
    auto f = maildir_folder::open(md);
    ASSERT_TRUE(f);
    // 0: removed by another session already; 1: renamed by another session; 2: normal.
    fs::remove(md / f->messages()[0].path);
    fs::rename(md / f->messages()[1].path, md / "cur" / "1700000002.M1P1Q1.h,S=20:2,T");
    const std::size_t which[] = {0, 1, 2};
    EXPECT_FALSE(f->remove(which));
    EXPECT_EQ(names_in(md / "cur"), std::vector<std::string>{"1700000004.M1P1Q1.h,S=20:2,"});
    for (std::size_t i : which) EXPECT_TRUE(f->messages()[i].removed);
    EXPECT_FALSE(f->messages()[3].removed);
    EXPECT_EQ(f->open_message(2).error(), std::errc::no_such_file_or_directory);
    // Removing again is a no-op; a bad index is reported but the rest is still done.
    const std::size_t bad[] = {99, 3};
    EXPECT_EQ(f->remove(bad), std::errc::invalid_argument);
    EXPECT_TRUE(names_in(md / "cur").empty());
}

TEST(maildir_folder, broken_list_is_replaced_with_new_uidvalidity) {
    temp_dir tmp;
    const fs::path md = tmp.path / "Maildir";
    ASSERT_TRUE(maildir_folder::open(md));
    write(md / "new" / "1700000001.M1P1Q1.h,S=20", crlf_msg);
    write(md / "dovecot-uidlist", "garbage header\n1 :x\n");
    auto f = maildir_folder::open(md);
    ASSERT_TRUE(f);
    EXPECT_TRUE(f->last_sync().list_recreated);
    EXPECT_EQ(uids(*f), std::vector<std::uint32_t>{1});
    EXPECT_TRUE(read_list(md).uid_validity != 0);
    // Bad lines only: kept list, lost entries get new UIDs above UIDNEXT.
    write(md / "new" / "1700000002.M1P1Q1.h,S=20", crlf_msg);
    write(md / "dovecot-uidlist", "3 V77 N10 G0123456789abcdef0123456789abcdef\n3 :1700000001.M1P1Q1.h,S=20\nbad\n");
    auto g = maildir_folder::open(md);
    ASSERT_TRUE(g);
    EXPECT_EQ(g->uid_validity(), 77u);
    EXPECT_EQ(uids(*g), (std::vector<std::uint32_t>{3, 10}));
    EXPECT_EQ(g->last_sync().list_problems, 1u);
    EXPECT_TRUE(g->last_sync().list_written);
}

TEST(maildir_folder, waits_for_the_lock) {
    temp_dir tmp;
    const fs::path md = tmp.path / "Maildir";
    ASSERT_TRUE(maildir_folder::open(md));
    auto held = uid_list_lock::acquire(md);
    ASSERT_TRUE(held);
    auto f = maildir_folder::open(md, {.lock = {.timeout = std::chrono::milliseconds(50)}});
    ASSERT_FALSE(f);
    EXPECT_EQ(f.error(), make_error_code(uid_list_errc::lock_timeout));
    held->release();
    EXPECT_TRUE(maildir_folder::open(md));
}

TEST(maildir_folder, clean_tmp_removes_only_old_files) {
    temp_dir tmp;
    const fs::path md = tmp.path / "Maildir";
    auto f = maildir_folder::open(md);
    ASSERT_TRUE(f);
    write(md / "tmp" / "old", "x");
    write(md / "tmp" / "fresh", "x");
    // ctime cannot be set back, so fresh files are checked against 36 h (kept) and, a second
    // later, against 0 s (removed).
    auto r = f->clean_tmp(std::chrono::hours(36));
    ASSERT_TRUE(r);
    EXPECT_EQ(*r, 0u);
    ::sleep(1);
    r = f->clean_tmp(std::chrono::seconds(0));
    ASSERT_TRUE(r);
    EXPECT_EQ(*r, 2u);
    EXPECT_TRUE(names_in(md / "tmp").empty());
}

TEST(maildir_folder, clean_own_tmp_removes_only_refmaild_leftovers) {
    temp_dir tmp;
    const fs::path md = tmp.path / "example.org" / "bob" / "Maildir";
    ASSERT_TRUE(maildir_folder::open(md));
    ASSERT_TRUE(maildir_folder::open(md / ".Junk"));
    pid_t dead = ::fork();
    if (dead == 0) ::_exit(0);
    int status = 0;
    ::waitpid(dead, &status, 0);
    const std::string d = std::to_string(dead), me = std::to_string(::getpid()), parent = std::to_string(::getppid());
    write(md / "tmp" / ("1700000001.M1P" + d + "Q1.mx,S=5"), "x");        // ours, dead writer: removed
    write(md / ".Junk" / "tmp" / ("1700000001.M1P" + d + "Q2.mx,S=5"), "x");  // in a folder: removed
    write(md / "tmp" / ("1700000001.M1P" + me + "Q3.mx,S=5"), "x");       // this process: kept
    write(md / "tmp" / ("1700000001.M1P" + parent + "Q4.mx,S=5"), "x");   // a live writer: kept
    write(md / "tmp" / ("1700000001.M1P" + d + "Q5.other,S=5"), "x");     // another host: kept
    write(md / "tmp" / ("1700000001.M1P" + d + ".mx"), "x");              // Dovecot's name: kept
    auto r = clean_own_tmp_tree(tmp.path, "mx", ::getpid());
    ASSERT_TRUE(r) << r.error().message();
    EXPECT_EQ(*r, 2u);
    EXPECT_EQ(names_in(md / "tmp").size(), 4u);
    EXPECT_TRUE(names_in(md / ".Junk" / "tmp").empty());
    auto none = clean_own_tmp(tmp.path / "missing", "mx", ::getpid());
    ASSERT_TRUE(none);
    EXPECT_EQ(*none, 0u);
}

TEST(maildir_folder, the_tree_walk_also_removes_any_program_s_files_past_the_age) {
    temp_dir tmp;
    const fs::path md = tmp.path / "example.org" / "bob" / "Maildir";
    ASSERT_TRUE(maildir_folder::open(md));
    write(md / "tmp" / "1700000001.M1P1.other", "x");  // another program's file
    // Kept at 36 h; removed, a second later, when everything older than 1 s goes.
    auto r = clean_own_tmp_tree(tmp.path, "mx", ::getpid(), std::chrono::hours(36));
    ASSERT_TRUE(r);
    EXPECT_EQ(*r, 0u);
    ::sleep(2);
    r = clean_own_tmp_tree(tmp.path, "mx", ::getpid(), std::chrono::seconds(1));
    ASSERT_TRUE(r);
    EXPECT_EQ(*r, 1u);
    EXPECT_TRUE(names_in(md / "tmp").empty());
    auto none = clean_old_tmp(tmp.path / "missing", std::chrono::seconds(1));
    ASSERT_TRUE(none);
    EXPECT_EQ(*none, 0u);
}

TEST(maildir_folder, refmaild_delivery_names) {
    EXPECT_TRUE(is_refmaild_delivery_name("1700000000.M123456P42Q7.mx.example,S=1234"));
    EXPECT_FALSE(is_refmaild_delivery_name("1700000000.M123456P42.mx.example,S=1234"));    // Dovecot
    EXPECT_FALSE(is_refmaild_delivery_name("1700000000.M123456P42Q7.mx.example"));          // no S=
    EXPECT_FALSE(is_refmaild_delivery_name("1700000000.V801I12M5P42Q7.mx,S=1"));            // other form
    EXPECT_FALSE(is_refmaild_delivery_name("x.M1P1Q1.h,S=1"));
    EXPECT_FALSE(is_refmaild_delivery_name(""));
}

// Interop: Dovecot (doveadm, as installed by the project's setup) reads a Maildir our code synced
// and reports the same UIDs, message GUIDs (= base names for Maildir) and CRLF sizes. Dovecot
// refuses to run mail access as root, so the test hands the folder to nobody (65534) and needs
// root for that; it is skipped without root or without doveadm.
TEST(maildir_folder, dovecot_reads_the_same_uids) {
    if (::geteuid() != 0 || ::access("/usr/bin/doveadm", X_OK) != 0) GTEST_SKIP() << "needs root and doveadm";
    temp_dir tmp;
    ::chmod(tmp.path.c_str(), 0755);
    const fs::path md = tmp.path / "Maildir";
    ASSERT_TRUE(maildir_folder::open(md));
    write(md / "new" / "1700000002.M5P1Q2.mx,S=20", crlf_msg);
    write(md / "new" / "1700000001.M9P1Q1.mx,S=20", crlf_msg);
    write(md / "new" / "1700000003.M1P7.other", "Subject: lf\n\nbody\n");  // LF only: 18 + 3
    auto f = maildir_folder::open(md);
    ASSERT_TRUE(f) << f.error().message();
    ASSERT_EQ(f->messages().size(), 3u);

    fs::create_directories(tmp.path / "run");
    write(tmp.path / "dovecot.conf", "base_dir = " + (tmp.path / "run").string() + "\nstate_dir = " +
                                         (tmp.path / "run").string() + "\nlog_path = " +
                                         (tmp.path / "dovecot.log").string() + "\nmail_location = maildir:" +
                                         md.string() + "\nmail_uid = 65534\nmail_gid = 65534\n");
    const std::string q = "'" + tmp.path.string() + "'";
    ASSERT_EQ(std::system(("chown -R 65534:65534 " + q).c_str()), 0);
    const std::string cmd = "HOME=" + q + " USER=nobody timeout 30 doveadm -c " + q +
                            "/dovecot.conf fetch 'uid guid size.virtual' all 2>&1";
    std::string out;
    if (FILE* p = ::popen(cmd.c_str(), "r")) {
        char buf[4096];
        std::size_t n;
        while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
        ::pclose(p);
    }
    std::string expected;
    for (const auto& m : f->messages()) {
        expected += "uid: " + std::to_string(m.uid) + "\nguid: " + std::string(maildir_base(m.name())) +
                    "\nsize.virtual: " + std::to_string(m.size) + "\n";
    }
    // doveadm separates records with a form feed line
    std::string got;
    std::istringstream lines(out);
    for (std::string line; std::getline(lines, line);) {
        if (!line.empty() && line != "\f") got += line + "\n";
    }
    EXPECT_EQ(got, expected) << out;
    EXPECT_EQ(f->messages()[2].size, 21u);

    // And after Dovecot has been there, our reading of its list gives the same UIDs.
    auto g = maildir_folder::open(md);
    ASSERT_TRUE(g) << g.error().message();
    EXPECT_EQ(uids(*g), uids(*f));
    EXPECT_EQ(g->uid_validity(), f->uid_validity());
}

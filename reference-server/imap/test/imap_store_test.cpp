// The IMAP server's store parts without the network: shared folders (UIDs, flags in names,
// keywords, modseq, APPEND/COPY/EXPUNGE on disk), the Maildir++ tree and LIST matching.
#include "mail_folder.hpp"
#include "mailbox_tree.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

namespace fs = std::filesystem;
using namespace mailharness::refmaild;
using imap_store::folder;
using imap_store::folder_state;

namespace {

class imap_store_test : public ::testing::Test {
protected:
    void SetUp() override {
        std::random_device rd;
        dir_ = fs::temp_directory_path() / ("imap-store-" + std::to_string(rd()));
        fs::create_directories(dir_);
    }
    void TearDown() override { fs::remove_all(dir_); }

    // A message file dropped into new/ as an MTA would.
    void deliver(const fs::path& maildir, const std::string& name, const std::string& text) {
        fs::create_directories(maildir / "new");
        std::ofstream(maildir / "new" / name, std::ios::binary) << text;
    }
    std::uint32_t append(folder& f, const std::string& text, store::flag_set flags = {}) {
        std::string name;
        auto fd = f.create_tmp(name);
        EXPECT_TRUE(fd);
        EXPECT_EQ(::write(*fd, text.data(), text.size()), static_cast<ssize_t>(text.size()));
        auto uid = f.commit_tmp(*fd, name, text.size(), flags, 1700000000);
        EXPECT_TRUE(uid) << uid.error().message();
        return uid ? *uid : 0;
    }
    folder_state state(folder& f) {
        folder_state s;
        f.read([&](const folder_state& st) { s = st; });
        return s;
    }
    static std::string slurp(const fs::path& p) {
        std::ifstream in(p, std::ios::binary);
        std::stringstream ss;
        ss << in.rdbuf();
        return ss.str();
    }
    fs::path dir_;
};

TEST_F(imap_store_test, uids_follow_delivery_order_and_survive_reopen) {
    const auto box = dir_ / "Maildir";
    deliver(box, "1700000001.M1P1.host", "Subject: a\r\n\r\na\r\n");
    deliver(box, "1700000002.M1P1.host", "Subject: b\n\nb\n");
    std::uint32_t validity = 0;
    {
        auto f = folder::open(box, true);
        ASSERT_TRUE(f);
        auto s = state(**f);
        ASSERT_EQ(s.messages.size(), 2u);
        EXPECT_EQ(s.messages[0].uid, 1u);
        EXPECT_EQ(s.messages[1].uid, 2u);
        EXPECT_EQ(s.messages[1].size, 17u);  // 14 octets, 3 bare LFs counted as CRLF
        EXPECT_EQ(s.uid_next, 3u);
        EXPECT_EQ(s.recent_from, 1u);
        validity = s.uid_validity;
        EXPECT_TRUE(fs::is_empty(box / "new"));
    }
    auto f = folder::open(box, false);
    ASSERT_TRUE(f);
    auto s = state(**f);
    EXPECT_EQ(s.uid_validity, validity);
    ASSERT_EQ(s.messages.size(), 2u);
    EXPECT_EQ(s.messages[1].uid, 2u);
}

TEST_F(imap_store_test, store_renames_files_and_raises_modseq_persistently) {
    const auto box = dir_ / "Maildir";
    deliver(box, "1700000001.M1P1.host", "Subject: a\r\n\r\na\r\n");
    std::uint64_t after = 0;
    {
        auto f = folder::open(box, true);
        ASSERT_TRUE(f);
        const auto before = state(**f).highest_modseq;
        std::vector<std::uint32_t> uids{1};
        auto changed = (*f)->store(uids, imap_store::store_mode::add, store::flag_seen | store::flag_flagged, std::nullopt, nullptr);
        ASSERT_TRUE(changed);
        EXPECT_EQ(*changed, uids);
        auto s = state(**f);
        EXPECT_GT(s.highest_modseq, before);
        EXPECT_EQ(s.messages[0].modseq, s.highest_modseq);
        EXPECT_NE(s.messages[0].name.find(":2,FS"), std::string::npos) << s.messages[0].name;
        EXPECT_TRUE(fs::exists(box / "cur" / s.messages[0].name));
        after = s.highest_modseq;
        // UNCHANGEDSINCE below the message's modseq: refused, reported as failed.
        std::vector<std::uint32_t> failed;
        auto c2 = (*f)->store(uids, imap_store::store_mode::remove, store::flag_seen, after - 1, &failed);
        ASSERT_TRUE(c2);
        EXPECT_TRUE(c2->empty());
        EXPECT_EQ(failed, uids);
    }
    // The uid list keeps the modseqs: a new process sees the same values.
    EXPECT_NE(slurp(box / "dovecot-uidlist").find(" M" + std::to_string(after)), std::string::npos);
    auto f = folder::open(box, false);
    ASSERT_TRUE(f);
    EXPECT_EQ(state(**f).highest_modseq, after);
    EXPECT_EQ(state(**f).messages[0].modseq, after);
}

TEST_F(imap_store_test, a_flag_change_by_another_program_gets_a_new_modseq) {
    const auto box = dir_ / "Maildir";
    deliver(box, "1700000001.M1P1.host", "Subject: a\r\n\r\na\r\n");
    auto f = folder::open(box, true);
    ASSERT_TRUE(f);
    auto s = state(**f);
    const auto name = s.messages[0].name;
    fs::rename(box / "cur" / name, box / "cur" / (name.substr(0, name.find(':')) + ":2,S"));
    ASSERT_FALSE((*f)->refresh(true));
    auto t = state(**f);
    EXPECT_TRUE(t.messages[0].flags.has('S'));
    EXPECT_GT(t.messages[0].modseq, s.messages[0].modseq);
    EXPECT_GT(t.generation, s.generation);
}

TEST_F(imap_store_test, keywords_use_dovecot_keywords_letters) {
    const auto box = dir_ / "Maildir";
    auto f = folder::open(box, true);
    ASSERT_TRUE(f);
    std::vector<std::string_view> names{"$Forwarded", "Work"};
    auto letters = (*f)->keyword_letters(names, true);
    ASSERT_EQ(letters.size(), 2u);
    EXPECT_EQ(letters[0], 'a');
    EXPECT_EQ(letters[1], 'b');
    EXPECT_EQ(slurp(box / "dovecot-keywords"), "0 $Forwarded\n1 Work\n");
    std::vector<std::string_view> again{"work"};  // flags match case-insensitively
    EXPECT_EQ((*f)->keyword_letters(again, false)[0], 'b');
    const auto uid = append(**f, "Subject: k\r\n\r\nk\r\n", store::flag_set::of('b'));
    auto s = state(**f);
    ASSERT_EQ(s.messages.size(), 1u);
    EXPECT_EQ(s.messages[0].uid, uid);
    EXPECT_TRUE(s.messages[0].flags.has('b'));
}

TEST_F(imap_store_test, append_copy_expunge_on_disk) {
    const auto box = dir_ / "Maildir";
    auto inbox = folder::open(box, true);
    auto other = folder::open(box / ".Archive", true);
    ASSERT_TRUE(inbox);
    ASSERT_TRUE(other);
    const std::string text = "Subject: x\nDate: Tue, 14 Nov 2023 22:13:20 +0000\n\nline\n";
    const auto uid = append(**inbox, text, store::flag_seen);
    EXPECT_EQ(uid, 1u);
    auto s = state(**inbox);
    ASSERT_EQ(s.messages.size(), 1u);
    EXPECT_EQ(s.messages[0].internal_date, 1700000000);
    EXPECT_EQ(slurp(box / "cur" / s.messages[0].name), text);  // byte for byte
    EXPECT_TRUE(fs::is_empty(box / "tmp"));

    std::vector<std::uint32_t> uids{uid};
    auto placed = (*inbox)->copy_to(**other, uids);
    ASSERT_TRUE(placed);
    ASSERT_EQ(placed->size(), 1u);
    EXPECT_EQ((*placed)[0].source_uid, uid);
    EXPECT_EQ((*placed)[0].uid, 1u);
    auto o = state(**other);
    ASSERT_EQ(o.messages.size(), 1u);
    EXPECT_TRUE(o.messages[0].flags.has('S'));
    EXPECT_EQ(slurp(box / ".Archive" / "cur" / o.messages[0].name), text);

    const auto highest = state(**inbox).highest_modseq;
    auto removed = (*inbox)->expunge(uids);
    ASSERT_TRUE(removed);
    EXPECT_EQ(*removed, uids);
    auto after = state(**inbox);
    EXPECT_TRUE(after.messages.empty());
    EXPECT_GT(after.highest_modseq, highest);  // RFC 7162 3.1.2.1: expunges raise it
    EXPECT_EQ(after.uid_next, 2u);              // the UID is never given again
    EXPECT_EQ(append(**inbox, "Subject: y\r\n\r\ny\r\n"), 2u);
}

TEST_F(imap_store_test, watchers_wake_on_changes_by_anyone) {
    const auto box = dir_ / "Maildir";
    auto f = folder::open(box, true);
    ASSERT_TRUE(f);
    std::atomic<int> woken{0};
    const auto id = (*f)->watch([&] { ++woken; });
    deliver(box, "1700000009.M1P1.host", "Subject: z\r\n\r\nz\r\n");  // another program (inotify)
    for (int i = 0; i < 200 && woken == 0; ++i) ::usleep(5000);
    EXPECT_GT(woken.load(), 0);
    (*f)->unwatch(id);
}

TEST(imap_mailbox_tree, list_match_follows_rfc3501) {
    using imap_store::list_match;
    EXPECT_TRUE(list_match("*", "a.b.c"));
    EXPECT_TRUE(list_match("%", "a"));
    EXPECT_FALSE(list_match("%", "a.b"));
    EXPECT_TRUE(list_match("a.%", "a.b"));
    EXPECT_FALSE(list_match("a.%", "a.b.c"));
    EXPECT_TRUE(list_match("a*c", "a.b.c"));
    EXPECT_TRUE(list_match("inbox", "INBOX"));
    EXPECT_TRUE(list_match("Inbox.%", "INBOX.x"));
    EXPECT_FALSE(list_match("inbox", "Inboxes"));
    EXPECT_FALSE(list_match("Sent", "sent"));  // only INBOX is case-insensitive
    EXPECT_TRUE(list_match(std::string(60, '*') + "x", std::string(200, 'a') + "x"));  // no blow-up
}

TEST_F(imap_store_test, tree_create_rename_delete_and_subscriptions) {
    imap_store::mailbox_tree tree(dir_ / "Maildir");
    ASSERT_FALSE(tree.ensure_defaults());
    auto names = [&] {
        std::vector<std::string> n;
        for (const auto& e : tree.list()) n.push_back(e.name + (e.selectable ? "" : "!") + (e.has_children ? "+" : ""));
        return n;
    };
    EXPECT_EQ(names(), (std::vector<std::string>{"INBOX", "Drafts", "Junk", "Sent", "Trash"}));
    EXPECT_EQ(tree.subscriptions().size(), 4u);
    EXPECT_FALSE(tree.create("Work.Projects.Ünïcode"));
    EXPECT_TRUE(fs::is_directory(dir_ / "Maildir" / ".Work.Projects.&ANw-n&AO8-code" / "cur"));
    EXPECT_TRUE(tree.exists("Work"));  // superiors are created
    EXPECT_EQ(tree.create("Work"), std::errc::file_exists);
    EXPECT_FALSE(tree.subscribe("Work.Projects", true));
    EXPECT_FALSE(tree.rename("Work", "Job"));
    EXPECT_TRUE(tree.exists("Job.Projects.Ünïcode"));
    EXPECT_FALSE(tree.exists("Work"));
    auto subs = tree.subscriptions();
    EXPECT_NE(std::find(subs.begin(), subs.end(), "Job.Projects"), subs.end());
    EXPECT_FALSE(tree.remove("Job.Projects.Ünïcode"));
    EXPECT_FALSE(tree.exists("Job.Projects.Ünïcode"));
    EXPECT_TRUE(tree.remove("INBOX"));
    EXPECT_FALSE(tree.path_of("a..b"));
    EXPECT_FALSE(tree.path_of("a/b"));
    EXPECT_FALSE(tree.path_of(".hidden"));
    EXPECT_FALSE(tree.path_of("x*"));
}

}  // namespace

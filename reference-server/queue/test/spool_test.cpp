#include "mailharness/refmaild/queue/spool.hpp"

#include <gtest/gtest.h>

#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <future>
#include <set>
#include <sstream>
#include <thread>

namespace fs = std::filesystem;
using namespace mailharness::refmaild::queue;
using namespace std::chrono_literals;

namespace {

struct temp_dir {
    fs::path path;
    temp_dir() {
        std::string tmpl = (fs::temp_directory_path() / "mh-spool-XXXXXX").string();
        path = ::mkdtemp(tmpl.data());
    }
    ~temp_dir() {
        std::error_code ec;
        fs::remove_all(path, ec);
    }
};

std::string read_file(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}

void write_file(const fs::path& p, const std::string& text) {
    std::ofstream out(p, std::ios::binary | std::ios::trunc);
    out << text;
}

queued_message message(spool& sp, std::string body = "Subject: hi\r\n\r\nhello\r\n") {
    queued_message m;
    m.env.id = sp.new_id();
    m.env.created = 1000;
    m.env.next_attempt = 1000;
    m.env.sender = "alice@example.test";
    m.env.recipients.push_back({"carol@remote.test", rcpt_state::pending, {}});
    m.header = "Received: from test\r\n";
    m.body = std::make_shared<const std::string>(std::move(body));
    return m;
}

std::set<std::string> names(const fs::path& dir) {
    std::set<std::string> out;
    for (const auto& e : fs::directory_iterator(dir)) out.insert(e.path().filename().string());
    return out;
}

}  // namespace

TEST(queue_spool, enqueue_writes_message_and_envelope_with_private_modes) {
    temp_dir tmp;
    spool sp({.dir = tmp.path / "queue"});
    ASSERT_FALSE(sp.prepare());
    struct stat st {};
    ASSERT_EQ(::stat((tmp.path / "queue").c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0700u);

    auto m = message(sp);
    const std::string id = m.env.id;
    const envelope env = m.env;
    ASSERT_FALSE(sp.enqueue(m));
    EXPECT_EQ(names(tmp.path / "queue"), (std::set<std::string>{"corrupt", id + ".env", id + ".msg"}));
    EXPECT_EQ(read_file(tmp.path / "queue" / (id + ".msg")), "Received: from test\r\nSubject: hi\r\n\r\nhello\r\n");
    EXPECT_EQ(read_file(tmp.path / "queue" / (id + ".env")), serialize(env));
    ASSERT_EQ(::stat((tmp.path / "queue" / (id + ".msg")).c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0600u);

    auto back = sp.read_envelope(id);
    ASSERT_TRUE(back);
    EXPECT_EQ(*back, env);
    auto s = sp.stats();
    EXPECT_EQ(s.enqueued, 1u);
    EXPECT_EQ(s.file_syncs, 2u) << "message and envelope";
    EXPECT_EQ(s.dir_syncs, 1u) << "one directory sync commits both files";
}

TEST(queue_spool, enqueue_refuses_bad_requests_and_duplicate_ids) {
    temp_dir tmp;
    spool sp({.dir = tmp.path});
    ASSERT_FALSE(sp.prepare());
    auto m = message(sp);
    m.env.id = "../x";
    EXPECT_EQ(sp.enqueue(m), make_error_code(spool_errc::invalid_id));
    m = message(sp);
    m.body.reset();
    EXPECT_EQ(sp.enqueue(m), make_error_code(spool_errc::invalid_request));
    m = message(sp);
    m.env.recipients.clear();
    EXPECT_EQ(sp.enqueue(m), make_error_code(spool_errc::invalid_request));
    m = message(sp);
    ASSERT_FALSE(sp.enqueue(m));
    EXPECT_EQ(sp.enqueue(m), make_error_code(spool_errc::exists));
    EXPECT_EQ(names(tmp.path).size(), 3u) << "nothing left behind by the refusals";
}

TEST(queue_spool, ids_are_unique_and_increasing) {
    temp_dir tmp;
    spool sp({.dir = tmp.path});
    std::string prev;
    std::set<std::string> seen;
    for (int i = 0; i < 10000; ++i) {
        std::string id = sp.new_id();
        EXPECT_TRUE(valid_queue_id(id));
        EXPECT_EQ(id.size(), 24u);
        EXPECT_TRUE(seen.insert(id).second) << id;
        EXPECT_GE(id.substr(0, 14), prev.substr(0, std::min<std::size_t>(prev.size(), 14))) << "time part";
        prev = id;
    }
}

TEST(queue_spool, concurrent_enqueues_share_directory_syncs) {
    temp_dir tmp;
    spool sp({.dir = tmp.path, .max_batch = 64});
    ASSERT_FALSE(sp.prepare());
    constexpr int n = 200;
    std::vector<std::promise<std::error_code>> done(n);
    for (int i = 0; i < n; ++i) {
        sp.enqueue_async(message(sp, "body " + std::to_string(i) + "\r\n"), [&done, i](std::error_code ec) { done[i].set_value(ec); });
    }
    for (auto& d : done) EXPECT_FALSE(d.get_future().get());
    auto s = sp.stats();
    EXPECT_EQ(s.enqueued, static_cast<std::uint64_t>(n));
    EXPECT_LT(s.dir_syncs, static_cast<std::uint64_t>(n)) << "group commit";
    EXPECT_EQ(sp.scan(scan_mode::read_only).entries.size(), static_cast<std::size_t>(n));
}

TEST(queue_spool, update_replaces_the_envelope_and_remove_deletes_both_files) {
    temp_dir tmp;
    spool sp({.dir = tmp.path});
    ASSERT_FALSE(sp.prepare());
    auto m = message(sp);
    envelope env = m.env;
    ASSERT_FALSE(sp.enqueue(m));
    env.attempts = 3;
    env.next_attempt = 99999;
    env.recipients[0].last = {451, "4.3.0", "mx.remote.test", "later"};
    ASSERT_FALSE(sp.update(env));
    EXPECT_EQ(*sp.read_envelope(env.id), env);
    EXPECT_EQ(names(tmp.path).size(), 3u) << "no temporary file left";

    ASSERT_FALSE(sp.remove(env.id));
    EXPECT_EQ(names(tmp.path), (std::set<std::string>{"corrupt"}));
    EXPECT_EQ(sp.read_envelope(env.id).error(), make_error_code(spool_errc::not_found));
    EXPECT_EQ(sp.remove(env.id), make_error_code(spool_errc::not_found));
    EXPECT_EQ(sp.update(env), make_error_code(spool_errc::not_found)) << "an update never resurrects a removed message";
    EXPECT_EQ(names(tmp.path), (std::set<std::string>{"corrupt"}));
}

TEST(queue_spool, stopped_spool_refuses_changes) {
    temp_dir tmp;
    spool sp({.dir = tmp.path});
    ASSERT_FALSE(sp.prepare());
    sp.stop();
    EXPECT_EQ(sp.enqueue(message(sp)), make_error_code(spool_errc::stopped));
}

TEST(queue_spool, recovering_scan_cleans_up_and_moves_corrupt_envelopes_aside) {
    temp_dir tmp;
    spool sp({.dir = tmp.path});
    ASSERT_FALSE(sp.prepare());
    auto good = message(sp);
    auto bad = message(sp);
    auto orphan_env = message(sp);
    ASSERT_FALSE(sp.enqueue(good));
    ASSERT_FALSE(sp.enqueue(bad));
    ASSERT_FALSE(sp.enqueue(orphan_env));
    write_file(tmp.path / (bad.env.id + ".env"), "refmaild-queue-envelope 1\nid " + bad.env.id + "\ngarbage\n");
    fs::remove(tmp.path / (orphan_env.env.id + ".msg"));
    write_file(tmp.path / "ABC.msg", "never acknowledged");          // message without envelope
    write_file(tmp.path / "ABC.msg.tmp", "half written");            // interrupted write
    write_file(tmp.path / "notes.txt", "someone's file");             // not ours

    auto ro = sp.scan(scan_mode::read_only);
    ASSERT_EQ(ro.entries.size(), 1u);
    EXPECT_EQ(ro.entries[0].env.id, good.env.id);
    EXPECT_EQ(ro.entries[0].size, good.header.size() + good.body->size());
    EXPECT_EQ(ro.problems.size(), 4u);
    EXPECT_EQ(names(tmp.path).size(), 9u) << "read_only changes nothing";

    auto rec = sp.scan(scan_mode::recover);
    ASSERT_EQ(rec.entries.size(), 1u);
    EXPECT_EQ(rec.problems.size(), 5u);
    EXPECT_EQ(names(tmp.path), (std::set<std::string>{"corrupt", "notes.txt", good.env.id + ".env", good.env.id + ".msg"}));
    EXPECT_EQ(names(tmp.path / "corrupt"), (std::set<std::string>{bad.env.id + ".env", bad.env.id + ".msg"}));
    EXPECT_EQ(sp.scan(scan_mode::recover).problems.size(), 1u) << "only notes.txt is left to mention";
}

TEST(queue_spool, envelope_with_another_id_is_refused) {
    temp_dir tmp;
    spool sp({.dir = tmp.path});
    ASSERT_FALSE(sp.prepare());
    auto m = message(sp);
    ASSERT_FALSE(sp.enqueue(m));
    fs::rename(tmp.path / (m.env.id + ".env"), tmp.path / "OTHER.env");
    fs::rename(tmp.path / (m.env.id + ".msg"), tmp.path / "OTHER.msg");
    EXPECT_EQ(sp.read_envelope("OTHER").error(), make_error_code(envelope_errc::bad_value));
}

TEST(queue_spool, lock_excludes_other_processes_and_sees_removal) {
    temp_dir tmp;
    spool sp({.dir = tmp.path});
    ASSERT_FALSE(sp.prepare());
    auto m = message(sp);
    const std::string id = m.env.id;
    ASSERT_FALSE(sp.enqueue(m));
    EXPECT_EQ(sp.try_lock("NOSUCH").error(), make_error_code(spool_errc::not_found));
    EXPECT_EQ(sp.try_lock("../etc").error(), make_error_code(spool_errc::invalid_id));

    auto held = sp.try_lock(id);
    ASSERT_TRUE(held);
    EXPECT_EQ(held->read_message().value(), m.header + *m.body);
    // flock is per open file description: a second open in this process is excluded as well,
    // and so is another process.
    EXPECT_EQ(sp.try_lock(id).error(), make_error_code(spool_errc::busy));
    pid_t child = ::fork();
    if (child == 0) {
        spool other({.dir = tmp.path});
        auto r = other.try_lock(id);
        ::_exit(!r && r.error() == spool_errc::busy ? 0 : 1);
    }
    int status = 0;
    ::waitpid(child, &status, 0);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "another process sees the lock";

    // A waiter gets the lock once the holder removes the message and lets go, and sees it gone.
    auto waiter = std::async(std::launch::async, [&] { return sp.lock(id, 5s); });
    std::this_thread::sleep_for(100ms);
    ASSERT_FALSE(sp.remove(id));
    *held = spool_lock();
    auto got = waiter.get();
    EXPECT_EQ(got.error(), make_error_code(spool_errc::not_found));
}

TEST(queue_spool, lock_wait_times_out_while_busy) {
    temp_dir tmp;
    spool sp({.dir = tmp.path});
    ASSERT_FALSE(sp.prepare());
    auto m = message(sp);
    ASSERT_FALSE(sp.enqueue(m));
    auto held = sp.try_lock(m.env.id);
    ASSERT_TRUE(held);
    auto start = std::chrono::steady_clock::now();
    EXPECT_EQ(sp.lock(m.env.id, 200ms).error(), make_error_code(spool_errc::busy));
    EXPECT_GE(std::chrono::steady_clock::now() - start, 200ms);
}

TEST(queue_spool, flush_request_is_taken_once) {
    temp_dir tmp;
    spool sp({.dir = tmp.path});
    ASSERT_FALSE(sp.prepare());
    EXPECT_FALSE(sp.take_flush_request());
    ASSERT_FALSE(sp.request_flush());
    EXPECT_TRUE(fs::exists(tmp.path / "flush"));
    EXPECT_TRUE(sp.take_flush_request());
    EXPECT_FALSE(sp.take_flush_request());
}

TEST(queue_spool, prepare_reports_a_file_in_the_way) {
    temp_dir tmp;
    write_file(tmp.path / "queue", "not a directory");
    spool sp({.dir = tmp.path / "queue"});
    EXPECT_EQ(sp.prepare(), std::make_error_code(std::errc::not_a_directory));
    spool deep({.dir = tmp.path / "a" / "b" / "queue"});
    EXPECT_FALSE(deep.prepare()) << "parents are created";
}

#include "mailharness/refmaild/maildir_store.hpp"

#include <gtest/gtest.h>

#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <future>
#include <latch>
#include <mutex>
#include <regex>
#include <set>
#include <sstream>
#include <thread>
#include <vector>

namespace fs = std::filesystem;
using namespace mailharness::refmaild::store;

namespace {

struct temp_dir {
    fs::path path;
    temp_dir() {
        std::string tmpl = (fs::temp_directory_path() / "mh-store-XXXXXX").string();
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

std::vector<fs::path> files_in(const fs::path& dir) {
    std::vector<fs::path> out;
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(dir, ec)) out.push_back(e.path());
    return out;
}

delivery_request make_request(std::string user, std::string domain, std::string header, std::string body) {
    return {.mailbox = {.user = std::move(user), .domain = std::move(domain)},
            .header = std::move(header),
            .body = std::make_shared<const std::string>(std::move(body))};
}

unsigned mode_of(const fs::path& p) {
    struct stat st {};
    EXPECT_EQ(::stat(p.c_str(), &st), 0) << p;
    return st.st_mode & 07777;
}

}  // namespace

TEST(maildir_store, delivery_lands_byte_identical_in_new) {
    temp_dir tmp;
    maildir_store store({.root = tmp.path / "mail", .hostname = "mx.example"});
    std::string header = "Received: from client by mx.example; Mon, 1 Jan 2024 00:00:00 +0000\r\n";
    const char raw[] = "Subject: hi\r\n\r\nbinary \0 bytes\xff\r\n.\r\nend\n";
    std::string body(raw, sizeof raw - 1);
    ASSERT_EQ(body.size(), 39u);
    auto name = store.deliver(make_request("alice", "Example.COM", header, body));
    ASSERT_TRUE(name) << name.error().message();

    fs::path maildir = tmp.path / "mail" / "example.com" / "alice" / "Maildir";
    EXPECT_EQ(*store.maildir_path({.user = "alice", .domain = "EXAMPLE.com"}), maildir);
    ASSERT_TRUE(fs::exists(maildir / "new" / *name));
    EXPECT_EQ(read_file(maildir / "new" / *name), header + body);
    EXPECT_TRUE(files_in(maildir / "tmp").empty());
    EXPECT_TRUE(fs::is_directory(maildir / "cur"));
    EXPECT_EQ(mode_of(maildir / "new" / *name), 0600u);
    for (const fs::path& d : {tmp.path / "mail", tmp.path / "mail" / "example.com", maildir.parent_path(), maildir,
                              maildir / "tmp", maildir / "new", maildir / "cur"}) {
        EXPECT_EQ(mode_of(d), 0700u) << d;
    }

    // time.M<usec>P<pid>Q<seq>.host,S=<size>
    std::smatch m;
    ASSERT_TRUE(std::regex_match(*name, m, std::regex(R"((\d+)\.M(\d{6})P(\d+)Q(\d+)\.mx\.example,S=(\d+))")))
        << *name;
    EXPECT_EQ(std::stoul(m[3]), static_cast<unsigned long>(::getpid()));
    EXPECT_EQ(std::stoul(m[5]), header.size() + body.size());

    auto s = store.stats();
    EXPECT_EQ(s.delivered, 1u);
    EXPECT_EQ(s.failed, 0u);
    EXPECT_EQ(s.batches, 1u);
    EXPECT_EQ(s.file_syncs, 1u);
    EXPECT_GE(s.dir_syncs, 8u);  // 7 directories created (each syncs its parent) + new/
}

TEST(maildir_store, empty_header_and_empty_body) {
    temp_dir tmp;
    maildir_store store({.root = tmp.path});
    auto name = store.deliver(make_request("bob", "example.org", "", ""));
    ASSERT_TRUE(name) << name.error().message();
    fs::path file = tmp.path / "example.org" / "bob" / "Maildir" / "new" / *name;
    EXPECT_EQ(fs::file_size(file), 0u);
    EXPECT_TRUE(name->ends_with(",S=0"));
}

TEST(maildir_store, host_part_is_escaped) {
    temp_dir tmp;
    maildir_store store({.root = tmp.path, .hostname = "a/b:c,d"});
    auto name = store.deliver(make_request("u", "d.example", "", "x"));
    ASSERT_TRUE(name);
    EXPECT_NE(name->find(R"(.a\057b\072c\054d,S=1)"), std::string::npos) << *name;
}

TEST(maildir_store, refuses_unsafe_mailbox_names) {
    temp_dir tmp;
    maildir_store store({.root = tmp.path / "root"});
    const std::vector<mailbox_id> bad = {
        {"", "example.com"},   {"alice", ""},          {"..", "example.com"}, {"alice", ".."},
        {"a/b", "example.com"}, {"alice", "ex/ample"}, {".hidden", "x.org"},  {std::string("a\0b", 3), "x.org"},
        {"a\nb", "x.org"},      {std::string(256, 'a'), "x.org"},
    };
    for (const auto& mb : bad) {
        auto r = store.deliver({.mailbox = mb, .body = std::make_shared<const std::string>("x")});
        ASSERT_FALSE(r) << mb.user << "@" << mb.domain;
        EXPECT_EQ(r.error(), store_errc::invalid_mailbox);
        EXPECT_EQ(store.maildir_path(mb).error(), store_errc::invalid_mailbox);
    }
    EXPECT_FALSE(fs::exists(tmp.path / "root"));
    EXPECT_EQ(store.stats().failed, bad.size());
}

TEST(maildir_store, folder_delivery_goes_to_a_maildirplusplus_folder) {
    temp_dir tmp;
    maildir_store store({.root = tmp.path});
    auto r = store.deliver({.mailbox = {"alice", "Example.com", "Lists.dev"},
                            .body = std::make_shared<const std::string>("x\r\n")});
    ASSERT_TRUE(r) << r.error().message();
    auto dir = tmp.path / "example.com" / "alice" / "Maildir" / ".Lists.dev";
    EXPECT_EQ(read_file(dir / "new" / *r), "x\r\n");
    EXPECT_TRUE(fs::is_directory(dir / "cur"));
    for (const std::string& bad : std::vector<std::string>{".Junk", "Junk.", "a..b", "a/b", std::string("a\0b", 3)}) {
        auto b = store.deliver({.mailbox = {"alice", "example.com", bad}, .body = std::make_shared<const std::string>("x")});
        ASSERT_FALSE(b) << bad;
        EXPECT_EQ(b.error(), store_errc::invalid_mailbox) << bad;
    }
}

TEST(maildir_store, refuses_missing_body) {
    temp_dir tmp;
    maildir_store store({.root = tmp.path});
    auto r = store.deliver({.mailbox = {"alice", "example.com"}, .header = "X: y\r\n"});
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error(), store_errc::invalid_request);
}

TEST(maildir_store, concurrent_deliveries_from_many_threads_all_land) {
    temp_dir tmp;
    maildir_store store({.root = tmp.path});
    constexpr int threads = 8, per_thread = 40;
    std::mutex mutex;
    std::map<fs::path, std::string> expected;  // file -> content
    std::vector<std::thread> workers;
    for (int t = 0; t < threads; ++t) {
        workers.emplace_back([&, t] {
            for (int i = 0; i < per_thread; ++i) {
                std::string user = "user" + std::to_string((t + i) % 4);
                std::string body = "Subject: " + std::to_string(t) + "/" + std::to_string(i) + "\r\n\r\n" +
                                   std::string(static_cast<std::size_t>(i * 97), 'x') + "\r\n";
                auto name = store.deliver(make_request(user, "example.com", "Received: t\r\n", body));
                ASSERT_TRUE(name) << name.error().message();
                std::lock_guard lock(mutex);
                auto file = tmp.path / "example.com" / user / "Maildir" / "new" / *name;
                EXPECT_TRUE(expected.emplace(file, "Received: t\r\n" + body).second) << "duplicate " << *name;
            }
        });
    }
    for (auto& w : workers) w.join();

    ASSERT_EQ(expected.size(), static_cast<std::size_t>(threads * per_thread));
    std::size_t on_disk = 0;
    for (int u = 0; u < 4; ++u) {
        auto maildir = tmp.path / "example.com" / ("user" + std::to_string(u)) / "Maildir";
        on_disk += files_in(maildir / "new").size();
        EXPECT_TRUE(files_in(maildir / "tmp").empty());
    }
    EXPECT_EQ(on_disk, expected.size());
    for (const auto& [file, content] : expected) EXPECT_EQ(read_file(file), content) << file;

    auto s = store.stats();
    EXPECT_EQ(s.delivered, expected.size());
    EXPECT_EQ(s.failed, 0u);
    EXPECT_EQ(s.file_syncs, expected.size());
    EXPECT_LE(s.batches, expected.size());
    EXPECT_GE(s.largest_batch, 1u);
    std::printf("[ info     ] %llu deliveries in %llu batches (largest %llu), %llu directory syncs\n",
                static_cast<unsigned long long>(s.delivered), static_cast<unsigned long long>(s.batches),
                static_cast<unsigned long long>(s.largest_batch), static_cast<unsigned long long>(s.dir_syncs));
}

// Deterministic group commit: the first delivery's completion holds the committer thread while 60
// more deliveries queue up from 6 threads; they must then be committed as one batch that syncs each
// of the 3 new/ directories once.
TEST(maildir_store, queued_deliveries_share_one_batch_and_directory_syncs) {
    temp_dir tmp;
    maildir_store store({.root = tmp.path});
    for (const char* user : {"a", "b", "c"}) ASSERT_TRUE(store.deliver(make_request(user, "x.org", "", "warm-up")));
    const store_stats before = store.stats();

    std::promise<void> release;
    std::shared_future<void> released = release.get_future().share();
    std::promise<void> holding;
    store.deliver_async(make_request("a", "x.org", "", "first"), [&](std::error_code ec, std::string) {
        EXPECT_FALSE(ec);
        holding.set_value();
        released.wait();  // keeps the committer busy: everything below queues up
    });
    holding.get_future().wait();

    constexpr int producers = 6, each = 10;
    std::latch done(producers * each);
    std::atomic<int> failures{0};
    std::vector<std::thread> workers;
    for (int t = 0; t < producers; ++t) {
        workers.emplace_back([&, t] {
            for (int i = 0; i < each; ++i) {
                const char* user = (i % 3 == 0) ? "a" : (i % 3 == 1) ? "b" : "c";
                store.deliver_async(make_request(user, "x.org", "", "m" + std::to_string(t * each + i)),
                                    [&](std::error_code ec, std::string) {
                                        if (ec) ++failures;
                                        done.count_down();
                                    });
            }
        });
    }
    for (auto& w : workers) w.join();  // all 60 are queued now
    release.set_value();
    done.wait();

    const store_stats after = store.stats();
    EXPECT_EQ(failures.load(), 0);
    EXPECT_EQ(after.delivered - before.delivered, 61u);
    EXPECT_EQ(after.batches - before.batches, 2u);  // "first", then the 60 together
    EXPECT_EQ(after.largest_batch, 60u);
    EXPECT_EQ(after.file_syncs - before.file_syncs, 61u);
    EXPECT_EQ(after.dir_syncs - before.dir_syncs, 1u + 3u);  // new/ of "a" for "first", then a, b, c once
    std::size_t total = 0;
    for (const char* user : {"a", "b", "c"}) total += files_in(tmp.path / "x.org" / user / "Maildir" / "new").size();
    EXPECT_EQ(total, 3u + 61u);
}

TEST(maildir_store, batch_delay_gathers_deliveries) {
    temp_dir tmp;
    maildir_store store({.root = tmp.path, .batch_delay = std::chrono::milliseconds(300)});
    ASSERT_TRUE(store.deliver(make_request("a", "x.org", "", "warm-up")));
    const store_stats before = store.stats();
    constexpr int n = 40;
    std::latch done(n);
    for (int i = 0; i < n; ++i) {
        store.deliver_async(make_request("a", "x.org", "", std::to_string(i)), [&](std::error_code ec, std::string) {
            EXPECT_FALSE(ec);
            done.count_down();
        });
    }
    done.wait();
    const store_stats after = store.stats();
    EXPECT_EQ(after.delivered - before.delivered, static_cast<std::uint64_t>(n));
    // Queuing 40 requests takes far less than 300 ms; allow one split for a slow machine.
    EXPECT_LE(after.batches - before.batches, 2u);
    EXPECT_EQ(after.dir_syncs - before.dir_syncs, after.batches - before.batches);
}

TEST(maildir_store, a_full_batch_does_not_wait_for_the_delay) {
    temp_dir tmp;
    maildir_store store({.root = tmp.path, .max_batch = 10, .batch_delay = std::chrono::seconds(5)});
    auto start = std::chrono::steady_clock::now();
    std::latch done(10);
    for (int i = 0; i < 10; ++i) {
        store.deliver_async(make_request("a", "x.org", "", std::to_string(i)), [&](std::error_code ec, std::string) {
            EXPECT_FALSE(ec);
            done.count_down();
        });
    }
    done.wait();
    EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(4));
    EXPECT_EQ(store.stats().batches, 1u);
    EXPECT_EQ(store.stats().largest_batch, 10u);
}

TEST(maildir_store, syncfs_mode_uses_two_syncs_per_batch) {
    temp_dir tmp;
    maildir_store store({.root = tmp.path, .sync = sync_mode::syncfs});
    ASSERT_TRUE(store.deliver(make_request("a", "x.org", "H: 1\r\n", "body")));
    auto s = store.stats();
    EXPECT_EQ(s.fs_syncs, 2u);
    EXPECT_EQ(s.file_syncs, 0u);
    auto files = files_in(tmp.path / "x.org" / "a" / "Maildir" / "new");
    ASSERT_EQ(files.size(), 1u);
    EXPECT_EQ(read_file(files[0]), "H: 1\r\nbody");
}

TEST(maildir_store, unwritable_root_reports_an_error) {
    // Permission bits do not stop root, so make the root a regular file: every mkdir below fails.
    temp_dir tmp;
    std::ofstream(tmp.path / "file") << "not a directory";
    maildir_store store({.root = tmp.path / "file" / "mail"});
    auto r = store.deliver(make_request("alice", "example.com", "", "x"));
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error(), std::errc::not_a_directory) << r.error().message();
    EXPECT_EQ(store.stats().failed, 1u);
    EXPECT_EQ(read_file(tmp.path / "file"), "not a directory");
}

TEST(maildir_store, broken_maildir_reports_an_error_and_others_still_deliver) {
    temp_dir tmp;
    fs::create_directories(tmp.path / "x.org" / "bad" / "Maildir" / "tmp");
    std::ofstream(tmp.path / "x.org" / "bad" / "Maildir" / "new") << "a file where new/ should be";
    maildir_store store({.root = tmp.path});

    std::promise<void> p1, p2;
    std::error_code bad_ec, good_ec;
    store.deliver_async(make_request("bad", "x.org", "", "1"), [&](std::error_code ec, std::string) {
        bad_ec = ec;
        p1.set_value();
    });
    store.deliver_async(make_request("good", "x.org", "", "2"), [&](std::error_code ec, std::string) {
        good_ec = ec;
        p2.set_value();
    });
    p1.get_future().wait();
    p2.get_future().wait();
    EXPECT_TRUE(bad_ec);
    EXPECT_FALSE(good_ec) << good_ec.message();
    EXPECT_TRUE(files_in(tmp.path / "x.org" / "bad" / "Maildir" / "tmp").empty());
    EXPECT_EQ(files_in(tmp.path / "x.org" / "good" / "Maildir" / "new").size(), 1u);
}

TEST(maildir_store, failed_write_removes_the_tmp_file) {
    // RLIMIT_FSIZE makes write(2) fail with EFBIG half way through the message, even for root.
    temp_dir tmp;
    maildir_store store({.root = tmp.path});
    ASSERT_TRUE(store.deliver(make_request("a", "x.org", "", "warm-up")));

    auto old_handler = std::signal(SIGXFSZ, SIG_IGN);
    rlimit old_limit{};
    ASSERT_EQ(::getrlimit(RLIMIT_FSIZE, &old_limit), 0);
    rlimit small = old_limit;
    small.rlim_cur = 4096;
    ASSERT_EQ(::setrlimit(RLIMIT_FSIZE, &small), 0);
    auto r = store.deliver(make_request("a", "x.org", "Received: x\r\n", std::string(100000, 'z')));
    ASSERT_EQ(::setrlimit(RLIMIT_FSIZE, &old_limit), 0);
    std::signal(SIGXFSZ, old_handler);

    ASSERT_FALSE(r);
    EXPECT_EQ(r.error(), std::errc::file_too_large) << r.error().message();
    EXPECT_TRUE(files_in(tmp.path / "x.org" / "a" / "Maildir" / "tmp").empty());
    EXPECT_EQ(files_in(tmp.path / "x.org" / "a" / "Maildir" / "new").size(), 1u);  // only the warm-up
}

TEST(maildir_store, stop_drains_the_queue_then_refuses) {
    temp_dir tmp;
    auto store = std::make_unique<maildir_store>(store_settings{.root = tmp.path});
    std::atomic<int> ok{0};
    for (int i = 0; i < 25; ++i) {
        store->deliver_async(make_request("a", "x.org", "", std::to_string(i)), [&](std::error_code ec, std::string) {
            if (!ec) ++ok;
        });
    }
    store->stop();
    EXPECT_EQ(ok.load(), 25);
    bool called = false;
    store->deliver_async(make_request("a", "x.org", "", "late"), [&](std::error_code ec, std::string name) {
        EXPECT_EQ(ec, store_errc::stopped);
        EXPECT_TRUE(name.empty());
        called = true;
    });
    EXPECT_TRUE(called);
    store->stop();  // idempotent
    store.reset();
    EXPECT_EQ(files_in(tmp.path / "x.org" / "a" / "Maildir" / "new").size(), 25u);
}

TEST(maildir_store, python_mailbox_module_reads_the_store) {
    // A Maildir reader nobody here wrote.
    if (std::system("python3 -c 'import mailbox' >/dev/null 2>&1") != 0) GTEST_SKIP() << "python3 not available";
    temp_dir tmp;
    maildir_store store({.root = tmp.path});
    for (int i = 0; i < 3; ++i) {
        ASSERT_TRUE(store.deliver(make_request("alice", "example.com", "Received: by test\n",
                                               "Subject: message " + std::to_string(i) + "\n\nbody\n")));
    }
    auto maildir = tmp.path / "example.com" / "alice" / "Maildir";
    std::string cmd = "python3 -c \"import mailbox,sys; md=mailbox.Maildir(sys.argv[1], create=False); "
                      "print(','.join(sorted(m['Subject'] for m in md)))\" '" +
                      maildir.string() + "'";
    FILE* p = ::popen(cmd.c_str(), "r");
    ASSERT_NE(p, nullptr);
    char buf[256] = {};
    std::string out;
    while (std::fgets(buf, sizeof buf, p)) out += buf;
    ASSERT_EQ(::pclose(p), 0);
    EXPECT_EQ(out, "message 0,message 1,message 2\n");
}

#include "mailharness/refmaild/delivery/router.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <future>
#include <sstream>

namespace fs = std::filesystem;
using namespace mailharness::refmaild;

namespace {

std::string read_only_file(const fs::path& dir) {
    for (const auto& e : fs::directory_iterator(dir)) {
        std::ifstream in(e.path(), std::ios::binary);
        std::stringstream ss;
        ss << in.rdbuf();
        return ss.str();
    }
    return {};
}

}  // namespace

TEST(return_path, strips_fields_and_their_folded_lines_from_the_header_only) {
    std::string m = "Return-Path: <a@b>\r\nSubject: x\r\nreturn-path:\r\n <c@d>\r\n\r\nReturn-Path: <body@stays>\r\n";
    EXPECT_TRUE(delivery::strip_return_path(m));
    EXPECT_EQ(m, "Subject: x\r\n\r\nReturn-Path: <body@stays>\r\n");
    std::string none = "Subject: y\r\n\r\nbody\r\n";
    EXPECT_FALSE(delivery::strip_return_path(none));
    EXPECT_EQ(delivery::return_path_line(""), "Return-Path: <>\r\n");
}

TEST(router, local_delivery_puts_one_return_path_first) {
    auto root = fs::temp_directory_path() / ("router_test_" + std::to_string(::getpid()));
    fs::remove_all(root);
    {
        store::maildir_store st({.root = root, .hostname = "test.example"});
        delivery::router r(st, nullptr);
        delivery::message m;
        m.sender = "alice@example.test";
        m.recipients = {"bob@example.test"};
        m.local = {true};
        m.trace = "Received: from x\r\n";
        m.body = std::make_shared<const std::string>("Return-Path: <forged@evil>\r\nSubject: hi\r\n\r\nbody\r\n");
        std::promise<delivery::outcome> p;
        r.deliver(std::move(m), [&p](delivery::outcome o) { p.set_value(std::move(o)); });
        auto o = p.get_future().get();
        EXPECT_FALSE(o.ec) << o.ec.message();
        EXPECT_EQ(o.stored, 1u);
        EXPECT_FALSE(o.queued);
        st.stop();
    }
    auto content = read_only_file(root / "example.test" / "bob" / "Maildir" / "new");
    EXPECT_EQ(content, "Return-Path: <alice@example.test>\r\nReceived: from x\r\nSubject: hi\r\n\r\nbody\r\n");
    fs::remove_all(root);
}

TEST(router, remote_recipients_without_a_spool_fail) {
    auto root = fs::temp_directory_path() / ("router_test2_" + std::to_string(::getpid()));
    store::maildir_store st({.root = root, .hostname = "test.example"});
    delivery::router r(st, nullptr);
    delivery::message m;
    m.sender = "";
    m.recipients = {"carol@remote.example"};
    m.local = {false};
    m.body = std::make_shared<const std::string>("x\r\n");
    std::promise<delivery::outcome> p;
    r.deliver(std::move(m), [&p](delivery::outcome o) { p.set_value(std::move(o)); });
    EXPECT_TRUE(p.get_future().get().ec);
    st.stop();
    fs::remove_all(root);
}

#include "mailharness/refmaild/queue/envelope.hpp"

#include <gtest/gtest.h>

#include "split_feed.hpp"

using namespace mailharness::refmaild::queue;
using namespace std::chrono_literals;

namespace {

envelope sample() {
    envelope e;
    e.id = "0190F3A2B1C4D5E6F7A8B9C0";
    e.created = 1717000000123;
    e.next_attempt = 1717000300123;
    e.attempts = 2;
    e.sender = "alice@example.test";
    e.arrival_from = "client.example ([192.0.2.1]) auth=alice@example.test";
    e.recipients.push_back({"carol@remote.test", rcpt_state::pending, {451, "4.3.0", "mx.remote.test", "try again later"}});
    e.recipients.push_back({"dave@remote.test", rcpt_state::delivered, {250, "2.0.0", "mx.remote.test", "ok queued as 12"}});
    e.recipients.push_back({"\"odd user\"@remote.test", rcpt_state::failed, {550, "5.1.1", "mx.remote.test", "no such user"}});
    e.recipients.push_back({"new@remote.test", rcpt_state::pending, {}});
    return e;
}

// Parses `text` fed in the given chunks.
std::error_code parse_chunks(const std::vector<std::string_view>& chunks, envelope& out, const envelope_limits& limits = {}) {
    envelope_parser p(limits);
    std::error_code ec;
    for (auto c : chunks) {
        std::size_t n = p.put(c, ec);
        if (ec) return ec;
        EXPECT_EQ(n, c.size());
    }
    p.finish(ec);
    if (!ec) out = p.release();
    return ec;
}

}  // namespace

TEST(queue_envelope, serialize_then_parse_round_trips) {
    envelope e = sample();
    std::string text = serialize(e);
    EXPECT_TRUE(text.starts_with("refmaild-queue-envelope 1\nid 0190F3A2B1C4D5E6F7A8B9C0\n"));
    EXPECT_NE(text.find("rcpt pending carol@remote.test 451 4.3.0 mx.remote.test try%20again%20later\n"), std::string::npos);
    EXPECT_NE(text.find("rcpt pending new@remote.test 0 - - -\n"), std::string::npos);
    EXPECT_NE(text.find("rcpt failed \"odd%20user\"@remote.test"), std::string::npos);
    EXPECT_TRUE(text.ends_with("end\n"));
    envelope back;
    ASSERT_FALSE(parse_envelope(text, back)) << text;
    EXPECT_EQ(back, e);
}

TEST(queue_envelope, null_sender_and_every_byte_in_fields_round_trip) {
    envelope e = sample();
    e.sender.clear();
    std::string all;
    for (int c = 0; c < 256; ++c) all += static_cast<char>(c);
    e.recipients[0].last.diagnostic = all;
    e.arrival_from = "-";
    e.recipients[1].mailbox = "%41@x.test";
    envelope back;
    std::string text = serialize(e);
    EXPECT_NE(text.find("sender -\n"), std::string::npos);
    for (char c : text) EXPECT_TRUE(c == '\n' || (c > 0x20 && c < 0x7f) || c == ' ') << int(c);
    ASSERT_FALSE(parse_envelope(text, back));
    EXPECT_EQ(back, e);
    EXPECT_TRUE(back.null_sender());
}

TEST(queue_envelope, same_result_whole_and_split_at_every_byte) {
    const std::string text = serialize(sample());
    mailharness::test::for_each_split(text, [&](const std::vector<std::string_view>& chunks) {
        envelope out;
        ASSERT_FALSE(parse_chunks(chunks, out));
        EXPECT_EQ(out, sample());
    });
}

TEST(queue_envelope, errors_are_the_same_whole_and_split) {
    const std::string good = serialize(sample());
    struct bad_case {
        std::string text;
        envelope_errc expected;
    };
    auto replace = [&](std::string_view from, std::string_view to) {
        std::string t = good;
        auto pos = t.find(from);
        EXPECT_NE(pos, std::string::npos) << from;
        return t.replace(pos, from.size(), to);
    };
    const std::vector<bad_case> cases = {
        {"", envelope_errc::truncated},
        {"refmaild-queue-envelope 2\n", envelope_errc::bad_magic},
        {"hello\n", envelope_errc::bad_magic},
        {good.substr(0, good.size() - 4), envelope_errc::truncated},                    // no "end"
        {good.substr(0, good.size() - 1), envelope_errc::truncated},                    // "end" without LF
        {good + "x", envelope_errc::data_after_end},
        {good + "end\n", envelope_errc::data_after_end},
        {replace("attempts 2\n", "attempts 2\nattempts 3\n"), envelope_errc::duplicate_key},
        {replace("attempts 2\n", ""), envelope_errc::missing_field},
        {replace("sender alice@example.test\n", ""), envelope_errc::missing_field},
        {replace("attempts 2\n", "attempts -2\n"), envelope_errc::bad_value},
        {replace("attempts 2\n", "attempts 02\n"), envelope_errc::bad_value},
        {replace("attempts 2\n", "attempts 99999999999\n"), envelope_errc::bad_value},
        {replace("attempts 2\n", "attempts\n"), envelope_errc::bad_value},
        {replace("created 1717000000123\n", "created 1e9\n"), envelope_errc::bad_value},
        {replace("id 0190F3A2B1C4D5E6F7A8B9C0\n", "id ../../etc/passwd\n"), envelope_errc::bad_value},
        {replace("id 0190F3A2B1C4D5E6F7A8B9C0\n", "id -\n"), envelope_errc::bad_value},
        {replace("attempts 2\n", "colour blue\n"), envelope_errc::unknown_key},
        {replace("attempts 2\n", "\n"), envelope_errc::unknown_key},
        {replace("rcpt pending new", "rcpt later new"), envelope_errc::bad_value},
        {replace("rcpt pending new@remote.test 0 - - -", "rcpt pending new@remote.test 0 - -"), envelope_errc::bad_value},
        {replace("rcpt pending new@remote.test 0 - - -", "rcpt pending new@remote.test 0 - - - -"), envelope_errc::bad_value},
        {replace("rcpt pending new@remote.test 0 - - -", "rcpt pending - 0 - - -"), envelope_errc::bad_value},
        {replace("rcpt pending new@remote.test 0 - - -", "rcpt pending new@remote.test 999 - - -"), envelope_errc::bad_value},
        {replace("rcpt pending new@remote.test 0 - - -", "rcpt pending new@remote.test 0 5.1 - -"), envelope_errc::bad_value},
        {replace("rcpt pending new@remote.test 0 - - -", "rcpt pending new@remote.test 0 - - %4"), envelope_errc::bad_value},
        {replace("rcpt pending new@remote.test 0 - - -", "rcpt pending new@remote.test 0 - - %zz"), envelope_errc::bad_value},
        {replace("rcpt pending new@remote.test", "rcpt pending new@remote.test\r"), envelope_errc::bad_value},
        {replace("rcpt pending new@remote.test", "rcpt  pending new@remote.test"), envelope_errc::bad_value},
        {replace("try%20again", "try again"), envelope_errc::bad_value},
        {"refmaild-queue-envelope 1\nid A\ncreated 1\nnext-attempt 1\nattempts 0\nsender -\nend\n", envelope_errc::missing_field},
    };
    for (const auto& c : cases) {
        mailharness::test::for_each_split(c.text, [&](const std::vector<std::string_view>& chunks) {
            envelope out;
            EXPECT_EQ(parse_chunks(chunks, out), make_error_code(c.expected)) << c.text;
        });
    }
}

TEST(queue_envelope, limits_bound_lines_size_recipients_and_fields) {
    envelope e = sample();
    std::string text = serialize(e);
    envelope out;
    EXPECT_EQ(parse_envelope(text, out, {.max_size = text.size() - 1}), make_error_code(envelope_errc::file_too_big));
    EXPECT_FALSE(parse_envelope(text, out, {.max_size = text.size()}));
    EXPECT_EQ(parse_envelope(text, out, {.max_line = 40}), make_error_code(envelope_errc::line_too_long));
    EXPECT_EQ(parse_envelope(text, out, {.max_recipients = 3}), make_error_code(envelope_errc::too_many_recipients));
    EXPECT_EQ(parse_envelope(text, out, {.max_field = 10}), make_error_code(envelope_errc::bad_value));
    // A long line without LF is refused as soon as it passes the limit, not buffered.
    envelope_parser p({.max_line = 100});
    std::error_code ec;
    p.put("refmaild-queue-envelope 1\n", ec);
    ASSERT_FALSE(ec);
    std::string junk(1000, 'x');
    EXPECT_EQ(p.put(junk, ec), 0u);
    EXPECT_EQ(ec, make_error_code(envelope_errc::line_too_long));
    p.put("more", ec);
    EXPECT_EQ(ec, make_error_code(envelope_errc::line_too_long)) << "errors are sticky";
    p.finish(ec);
    EXPECT_EQ(ec, make_error_code(envelope_errc::line_too_long));
}

TEST(queue_envelope, tokens_encode_and_decode) {
    EXPECT_EQ(encode_token(""), "-");
    EXPECT_EQ(encode_token("-"), "%2D");
    EXPECT_EQ(encode_token("a b%c\n"), "a%20b%25c%0A");
    EXPECT_EQ(encode_token("\xc3\xa9"), "%C3%A9");
    std::string out;
    EXPECT_TRUE(decode_token("-", out));
    EXPECT_EQ(out, "");
    EXPECT_TRUE(decode_token("%2D", out));
    EXPECT_EQ(out, "-");
    EXPECT_TRUE(decode_token("a%20b%25c%0a", out));
    EXPECT_EQ(out, "a b%c\n");
    for (std::string_view bad : {"", "%", "%2", "%G0", "a b", "a\x01", "\xc3\xa9", "x%"}) {
        EXPECT_FALSE(decode_token(bad, out)) << bad;
    }
}

TEST(queue_envelope, queue_ids_are_file_name_safe) {
    EXPECT_TRUE(valid_queue_id("0190F3A2B1C4D5E6F7A8B9C0"));
    EXPECT_TRUE(valid_queue_id("a"));
    EXPECT_FALSE(valid_queue_id(""));
    EXPECT_FALSE(valid_queue_id(std::string(65, 'A')));
    for (std::string_view bad : {"..", "a/b", "a.b", "a b", "A-B", "a\n"}) EXPECT_FALSE(valid_queue_id(bad)) << bad;
}

TEST(queue_backoff, doubles_from_min_up_to_max) {
    retry_schedule s{.min = 1s, .max = 10s, .max_lifetime = 1h};
    EXPECT_EQ(backoff(s, 0), 1s);
    EXPECT_EQ(backoff(s, 1), 1s);
    EXPECT_EQ(backoff(s, 2), 2s);
    EXPECT_EQ(backoff(s, 3), 4s);
    EXPECT_EQ(backoff(s, 4), 8s);
    EXPECT_EQ(backoff(s, 5), 10s);
    EXPECT_EQ(backoff(s, 4000000000u), 10s);
    retry_schedule huge{.min = 1ms, .max = std::chrono::milliseconds::max()};
    EXPECT_EQ(backoff(huge, 4000000000u), std::chrono::milliseconds::max()) << "no overflow";
    retry_schedule inverted{.min = 5s, .max = 1s};
    EXPECT_EQ(backoff(inverted, 3), 5s) << "min wins over a smaller max";
}

TEST(queue_backoff, expiry_after_max_lifetime) {
    retry_schedule s{.min = 1s, .max = 10s, .max_lifetime = 5s};
    EXPECT_FALSE(expired(s, 1000, 5999));
    EXPECT_TRUE(expired(s, 1000, 6000));
    EXPECT_EQ(retry_schedule{}.max_lifetime, std::chrono::hours(120)) << "RFC 5321 4.5.4.1: give up after 4-5 days";
}

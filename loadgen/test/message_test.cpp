#include "mailharness/load/message.hpp"

#include <gtest/gtest.h>

#include "mailharness/smtp/data.hpp"

using namespace mailharness::load;

namespace {

std::string join(const message_parts& p) {
    return std::string(p.head) + std::string(p.body) + std::string(p.tail);
}

// Every line ends with CRLF, none is longer than 998 octets, none starts with '.'.
void check_lines(const std::string& m) {
    ASSERT_GE(m.size(), 2u);
    ASSERT_EQ(m.substr(m.size() - 2), "\r\n");
    std::size_t start = 0;
    while (start < m.size()) {
        const auto end = m.find("\r\n", start);
        ASSERT_NE(end, std::string::npos);
        ASSERT_LE(end - start, 998u);
        if (end > start) {
            ASSERT_NE(m[start], '.');
        }
        ASSERT_EQ(m.substr(start, end - start).find_first_of("\r\n"), std::string::npos);
        start = end + 2;
    }
}

}  // namespace

TEST(message_source, exact_sizes_for_every_size) {
    message_spec spec;
    spec.distribution = size_distribution::uniform;
    spec.min = 64;
    spec.max = 4000;
    std::string error;
    auto src = message_source::make(spec, 1, error);
    ASSERT_TRUE(src) << error;
    rng r(5);
    std::string scratch;
    for (std::uint64_t size = 400; size < 1200; ++size) {  // the layout repeats every 78 octets
        message_spec fixed = spec;
        fixed.distribution = size_distribution::fixed;
        fixed.size = size;
        auto f = message_source::make(fixed, 1, error);
        const auto p = f->build(r, "a@example.test", "b@example.test", size, scratch, true);
        ASSERT_EQ(p.size(), size);
        const auto m = join(p);
        check_lines(m);
        // DATA form needs no stuffing: encoding it only appends the end marker.
        ASSERT_EQ(mailharness::smtp::encode_data(m), m + ".\r\n");
    }
    for (int i = 0; i < 1000; ++i) {
        const auto p = src->build(r, "a@example.test", "b@example.test", i, scratch, true);
        ASSERT_GE(p.size(), 64u);
        ASSERT_LE(p.size(), 4000u + 300);  // sizes below the headers' length are rounded up
        check_lines(join(p));
    }
}

TEST(message_source, lognormal_median) {
    message_spec spec;
    spec.distribution = size_distribution::lognormal;
    spec.median = 8192;
    spec.sigma = 0.5;
    spec.min = 512;
    spec.max = 1 << 20;
    std::string error;
    auto src = message_source::make(spec, 1, error);
    rng r(1);
    std::string scratch;
    std::vector<std::uint64_t> sizes;
    for (int i = 0; i < 5001; ++i) sizes.push_back(src->build(r, "a@x", "b@x", i, scratch, false).size());
    std::nth_element(sizes.begin(), sizes.begin() + 2500, sizes.end());
    EXPECT_NEAR(static_cast<double>(sizes[2500]), 8192.0, 8192 * 0.05);
    // the body is shared text, not a copy
    const auto p = src->build(r, "a@x", "b@x", 1, scratch, false);
    EXPECT_LT(scratch.size(), 1000u);
    EXPECT_GT(p.body.size(), 0u);
}

TEST(message_source, eml_folder) {
    message_spec spec;
    spec.eml_dir = std::string(MH_LOAD_FIXTURE_DIR) + "/eml";
    std::string error;
    auto src = message_source::make(spec, 1, error);
    ASSERT_TRUE(src) << error;
    rng r(1);
    std::string scratch;
    bool saw_one = false, saw_two = false;
    for (int i = 0; i < 50; ++i) {
        const auto raw = join(src->build(r, "", "", i, scratch, false));
        check_lines(raw.find("\r\n.") == std::string::npos ? raw : "x\r\n");
        if (raw.find("fixture one") != std::string::npos) {
            saw_one = true;
            // LF became CRLF; the raw (BDAT) form keeps the leading dot
            EXPECT_NE(raw.find("\r\n.leading dot line\r\n"), std::string::npos);
        }
        if (raw.find("fixture two") != std::string::npos) saw_two = true;
    }
    EXPECT_TRUE(saw_one);
    EXPECT_TRUE(saw_two);
    rng r2(1);
    bool stuffed_ok = false;
    for (int i = 0; i < 50; ++i) {
        const auto s = join(src->build(r2, "", "", i, scratch, true));
        if (s.find("fixture one") != std::string::npos) stuffed_ok = s.find("\r\n..leading dot line\r\n") != std::string::npos;
    }
    EXPECT_TRUE(stuffed_ok);

    message_spec none;
    none.eml_dir = "/nonexistent-dir";
    EXPECT_FALSE(message_source::make(none, 1, error));
    EXPECT_FALSE(error.empty());
}

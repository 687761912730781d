#include "mailharness/mime/message.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <string>

namespace imap = mailharness::imap;
namespace mime = mailharness::mime;

namespace {

mime::message parse_lf(std::string_view lf_text) {
    std::string crlf;
    mime::to_crlf(lf_text, crlf);
    return mime::message::parse(std::move(crlf));
}

std::string envelope(const mime::message& m) {
    std::string out;
    imap::write_value(out, imap::to_value(m.envelope()));
    return out;
}

std::string bodystructure(const mime::message& m, bool extensible = true) {
    std::string out;
    imap::write_value(out, imap::to_value(m.body_structure(), extensible));
    return out;
}

imap::section sec(std::vector<std::uint32_t> part, imap::section_text text = imap::section_text::none,
                  std::vector<std::string_view> fields = {}) {
    return imap::section{std::move(part), text, std::move(fields)};
}

std::string section(const mime::message& m, const imap::section& s) {
    std::string storage;
    auto r = m.section(s, storage);
    return r ? std::string(*r) : std::string("<none>");
}

std::string crlf(std::string_view lf) {
    std::string out;
    mime::to_crlf(lf, out);
    return out;
}

// RFC 3501 7.4.2 / 6.4.5 style message: multipart/mixed with a text part, an alternative inside,
// a message/rfc822 attachment and a base64 attachment.
constexpr std::string_view mixed =
    "From: \"Joe Q. Public\" <john.q.public@example.com>\n"
    "To: Mary Smith <mary@x.test>, jdoe@example.org\n"
    "Subject: =?ISO-8859-1?Q?Gr=FC=DFe?= aus\n"
    " Berlin\n"
    "Date: Tue, 1 Jul 2003 10:52:37 +0200\n"
    "Message-ID: <1234@local.machine.example>\n"
    "MIME-Version: 1.0\n"
    "Content-Type: multipart/mixed; boundary=\"outer\"\n"
    "\n"
    "This is a multi-part message in MIME format.\n"
    "--outer\n"
    "Content-Type: multipart/alternative; boundary=inner\n"
    "\n"
    "--inner\n"
    "Content-Type: text/plain; charset=utf-8\n"
    "Content-Transfer-Encoding: base64\n"
    "\n"
    "R1LDnMOfRSBhdXMgQmVybGlu\n"
    "--inner\n"
    "Content-Type: text/html; charset=iso-8859-1\n"
    "Content-Transfer-Encoding: quoted-printable\n"
    "\n"
    "<p>Gr=FC=DFe</p>\n"
    "--inner--\n"
    "\n"
    "--outer\n"
    "Content-Type: message/rfc822\n"
    "Content-Description: forwarded\n"
    "\n"
    "From: Bob <bob@b.test>\n"
    "Subject: inner\n"
    "\n"
    "inner body\n"
    "two\n"
    "--outer\n"
    "Content-Type: application/pdf; name=\"a.pdf\"\n"
    "Content-Disposition: attachment; filename=\"a.pdf\"\n"
    "Content-Language: en, de\n"
    "Content-Location: http://x.test/a.pdf\n"
    "Content-ID: <part4@x.test>\n"
    "Content-Transfer-Encoding: base64\n"
    "\n"
    "JVBERi0xLjQK\n"
    "--outer--\n"
    "epilogue\n";

}  // namespace

TEST(mime_to_crlf, converts_bare_lf_and_cr) {
    std::string out = "x";
    mime::to_crlf("a\nb\r\nc\rd\r", out);
    EXPECT_EQ(out, "xa\r\nb\r\nc\r\nd\r\n");
}

TEST(mime_contains_ci, ascii_and_unicode) {
    EXPECT_TRUE(mime::contains_ci("Hello World", "WORLD"));
    EXPECT_FALSE(mime::contains_ci("Hello", "help"));
    EXPECT_TRUE(mime::contains_ci("x", ""));
    EXPECT_TRUE(mime::contains_ci("Viele GRÜßE aus Berlin", "grüße"));
    EXPECT_TRUE(mime::contains_ci("grüße", "GRÜSSE"));
    EXPECT_TRUE(mime::contains_ci("ΣΟΦΙΑ", "σοφια"));
    EXPECT_TRUE(mime::contains_ci("Привет", "ПРИВЕТ"));
    EXPECT_TRUE(mime::contains_ci("ŁÓDŹ", "łódź"));
    EXPECT_TRUE(mime::contains_ci("Caf\xc3\xa9", "CAFE\xcc\x81"));  // composed vs decomposed
    EXPECT_FALSE(mime::contains_ci("\xff\xfe", "a"));                 // invalid UTF-8 is not a crash
}

TEST(mime_message, plain_text_envelope_and_body) {
    auto m = parse_lf("From: a@b.test\nSubject: hi\nDate: Wed, 17 Jul 1996 02:23:25 -0700 (PDT)\n\nline 1\nline 2\n");
    EXPECT_EQ(envelope(m),
              "(\"Wed, 17 Jul 1996 02:23:25 -0700 (PDT)\" \"hi\" ((NIL NIL \"a\" \"b.test\")) ((NIL NIL \"a\" "
              "\"b.test\")) ((NIL NIL \"a\" \"b.test\")) NIL NIL NIL NIL NIL)");
    EXPECT_EQ(bodystructure(m), "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 16 2 NIL NIL NIL NIL)");
    EXPECT_EQ(bodystructure(m, false), "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 16 2)");
    EXPECT_EQ(m.size(), m.text().size());
    EXPECT_EQ(section(m, sec({1})), "line 1\r\nline 2\r\n");
    EXPECT_EQ(section(m, sec({}, imap::section_text::text)), "line 1\r\nline 2\r\n");
    EXPECT_EQ(section(m, sec({2})), "<none>");
    EXPECT_EQ(section(m, sec({1, 1})), "<none>");
    EXPECT_EQ(section(m, sec({1}, imap::section_text::header)), "<none>");
    auto d = m.sent_date();
    ASSERT_TRUE(d);
    EXPECT_EQ(*d, (imap::date{1996, 7, 17}));
}

TEST(mime_message, sent_date_is_in_its_own_zone) {
    auto m = parse_lf("Date: Fri, 31 Dec 2021 23:30:00 -0800\n\n");
    ASSERT_TRUE(m.sent_date());
    EXPECT_EQ(*m.sent_date(), (imap::date{2021, 12, 31}));
    EXPECT_FALSE(parse_lf("Subject: x\n\n").sent_date());
}

TEST(mime_message, no_content_type_and_content_type_without_charset) {
    auto m = parse_lf("Subject: x\nContent-Transfer-Encoding: 8bit\n\nabc");
    EXPECT_EQ(bodystructure(m), "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"8bit\" 3 0 NIL NIL NIL NIL)");
    auto h = parse_lf("Content-Type: TEXT/HTML\n\n<p>\n");
    EXPECT_EQ(bodystructure(h), "(\"TEXT\" \"HTML\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 5 1 NIL NIL NIL NIL)");
}

TEST(mime_message, empty_input) {
    auto m = mime::message::parse("");
    EXPECT_EQ(envelope(m), "(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)");
    EXPECT_EQ(bodystructure(m), "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 0 0 NIL NIL NIL NIL)");
    EXPECT_EQ(section(m, sec({})), "");
    EXPECT_EQ(section(m, sec({1})), "");
}

TEST(mime_message, multipart_envelope_and_bodystructure) {
    auto m = parse_lf(mixed);
    EXPECT_EQ(envelope(m),
              "(\"Tue, 1 Jul 2003 10:52:37 +0200\" \"=?ISO-8859-1?Q?Gr=FC=DFe?= aus Berlin\" ((\"Joe Q. Public\" NIL "
              "\"john.q.public\" \"example.com\")) ((\"Joe Q. Public\" NIL \"john.q.public\" \"example.com\")) ((\"Joe "
              "Q. Public\" NIL \"john.q.public\" \"example.com\")) ((\"Mary Smith\" NIL \"mary\" \"x.test\") (NIL NIL "
              "\"jdoe\" \"example.org\")) NIL NIL NIL \"<1234@local.machine.example>\")");
    EXPECT_EQ(bodystructure(m),
              "(((\"text\" \"plain\" (\"charset\" \"utf-8\") NIL NIL \"base64\" 24 0 NIL NIL NIL NIL) (\"text\" \"html\" "
              "(\"charset\" \"iso-8859-1\") NIL NIL \"quoted-printable\" 16 0 NIL NIL NIL NIL) \"alternative\" "
              "(\"boundary\" \"inner\") NIL NIL NIL) (\"message\" \"rfc822\" NIL NIL \"forwarded\" \"7bit\" 57 (NIL "
              "\"inner\" ((\"Bob\" NIL \"bob\" \"b.test\")) ((\"Bob\" NIL \"bob\" \"b.test\")) ((\"Bob\" NIL \"bob\" "
              "\"b.test\")) NIL NIL NIL NIL NIL) (\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 15 1 "
              "NIL NIL NIL NIL) 4 NIL NIL NIL NIL) (\"application\" \"pdf\" (\"name\" \"a.pdf\") \"<part4@x.test>\" NIL "
              "\"base64\" 12 NIL (\"attachment\" (\"filename\" \"a.pdf\")) (\"en\" \"de\") \"http://x.test/a.pdf\") "
              "\"mixed\" (\"boundary\" \"outer\") NIL NIL NIL)");
    EXPECT_EQ(bodystructure(m, false),
              "(((\"text\" \"plain\" (\"charset\" \"utf-8\") NIL NIL \"base64\" 24 0) (\"text\" \"html\" (\"charset\" "
              "\"iso-8859-1\") NIL NIL \"quoted-printable\" 16 0) \"alternative\") (\"message\" \"rfc822\" NIL NIL "
              "\"forwarded\" \"7bit\" 57 (NIL \"inner\" ((\"Bob\" NIL \"bob\" \"b.test\")) ((\"Bob\" NIL \"bob\" "
              "\"b.test\")) ((\"Bob\" NIL \"bob\" \"b.test\")) NIL NIL NIL NIL NIL) (\"text\" \"plain\" (\"charset\" "
              "\"us-ascii\") NIL NIL \"7bit\" 15 1) 4) (\"application\" \"pdf\" (\"name\" \"a.pdf\") \"<part4@x.test>\" "
              "NIL \"base64\" 12) \"mixed\")");
}

TEST(mime_message, sections) {
    auto m = parse_lf(mixed);
    EXPECT_EQ(section(m, sec({1, 1})), "R1LDnMOfRSBhdXMgQmVybGlu");
    EXPECT_EQ(section(m, sec({1, 2})), "<p>Gr=FC=DFe</p>");
    EXPECT_EQ(section(m, sec({1, 2}, imap::section_text::mime)),
              crlf("Content-Type: text/html; charset=iso-8859-1\nContent-Transfer-Encoding: quoted-printable\n\n"));
    EXPECT_EQ(section(m, sec({1}, imap::section_text::mime)),
              crlf("Content-Type: multipart/alternative; boundary=inner\n\n"));
    EXPECT_EQ(section(m, sec({1})),
              crlf("--inner\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: base64\n\n"
                   "R1LDnMOfRSBhdXMgQmVybGlu\n--inner\nContent-Type: text/html; charset=iso-8859-1\n"
                   "Content-Transfer-Encoding: quoted-printable\n\n<p>Gr=FC=DFe</p>\n--inner--\n"));
    EXPECT_EQ(section(m, sec({2})), crlf("From: Bob <bob@b.test>\nSubject: inner\n\ninner body\ntwo"));
    EXPECT_EQ(section(m, sec({2}, imap::section_text::header)), crlf("From: Bob <bob@b.test>\nSubject: inner\n\n"));
    EXPECT_EQ(section(m, sec({2}, imap::section_text::text)), crlf("inner body\ntwo"));
    EXPECT_EQ(section(m, sec({2, 1})), crlf("inner body\ntwo"));
    EXPECT_EQ(section(m, sec({2}, imap::section_text::header_fields, {"subject"})), crlf("Subject: inner\n\n"));
    EXPECT_EQ(section(m, sec({2, 2})), "<none>");
    EXPECT_EQ(section(m, sec({3})), "JVBERi0xLjQK");
    EXPECT_EQ(section(m, sec({3}, imap::section_text::header)), "<none>");
    EXPECT_EQ(section(m, sec({4})), "<none>");
    EXPECT_EQ(section(m, sec({0})), "<none>");
    EXPECT_EQ(section(m, sec({}, imap::section_text::mime)), "<none>");
    EXPECT_EQ(section(m, sec({}, imap::section_text::header_fields, {"Subject", "FROM"})),
              crlf("From: \"Joe Q. Public\" <john.q.public@example.com>\nSubject: =?ISO-8859-1?Q?Gr=FC=DFe?= aus\n"
                   " Berlin\n\n"));
    EXPECT_EQ(section(m, sec({}, imap::section_text::header_fields, {"X-None"})), "\r\n");
    EXPECT_EQ(section(m, sec({}, imap::section_text::header_fields_not,
                             {"from", "to", "subject", "date", "mime-version", "content-type"})),
              crlf("Message-ID: <1234@local.machine.example>\n\n"));
    std::string header = section(m, sec({}, imap::section_text::header));
    EXPECT_EQ(header.substr(header.size() - 4), "\r\n\r\n");
    EXPECT_EQ(header + section(m, sec({}, imap::section_text::text)), m.text());
    EXPECT_EQ(section(m, sec({})), m.text());
}

TEST(mime_message, search) {
    auto m = parse_lf(mixed);
    EXPECT_TRUE(m.header_contains("subject", "GRÜSSE aus"));  // decoded, unfolded with its blank
    EXPECT_TRUE(m.header_contains("Subject", "grüße AUS berlin"));
    EXPECT_FALSE(m.header_contains("subject", "=?ISO"));
    EXPECT_TRUE(m.header_contains("FROM", "public"));
    EXPECT_TRUE(m.header_contains("from", "john.q.public@example"));
    EXPECT_TRUE(m.header_contains("to", ""));
    EXPECT_FALSE(m.header_contains("cc", ""));
    EXPECT_TRUE(m.body_contains("grüße aus BERLIN"));  // base64 UTF-8 text part
    EXPECT_TRUE(m.body_contains("<P>GRÜSSE"));         // QP ISO-8859-1 html part
    EXPECT_TRUE(m.body_contains("inner body"));        // text inside message/rfc822
    EXPECT_FALSE(m.body_contains("JVBERi0"));          // not a text part
    EXPECT_FALSE(m.body_contains("Mary"));
    EXPECT_TRUE(m.text_contains("Mary"));
    EXPECT_TRUE(m.text_contains("inner BODY"));
    EXPECT_FALSE(m.text_contains("nowhere"));
}

TEST(mime_message, groups_and_encoded_names) {
    auto m = parse_lf(
        "From: =?utf-8?q?J=C3=B6rg?= <j@x.test>\n"
        "To: A Group:Ed Jones <c@a.test>,joe@where.test,John <jdoe@one.test>;, Undisclosed recipients:;\n"
        "Cc: \"=?utf-8?b?SsO2cmc=?=\" <k@x.test>, nodomain\n"
        "Reply-To: r@x.test\n"
        "Sender: s@x.test\n"
        "In-Reply-To: <a@b>\n"
        "\n");
    EXPECT_EQ(envelope(m),
              "(NIL NIL ((\"=?utf-8?q?J=C3=B6rg?=\" NIL \"j\" \"x.test\")) ((NIL NIL \"s\" \"x.test\")) ((NIL NIL \"r\" "
              "\"x.test\")) ((NIL NIL \"A Group\" NIL) (\"Ed Jones\" NIL \"c\" \"a.test\") (NIL NIL \"joe\" "
              "\"where.test\") (\"John\" NIL \"jdoe\" \"one.test\") (NIL NIL NIL NIL) (NIL NIL \"Undisclosed "
              "recipients\" NIL) (NIL NIL NIL NIL)) ((\"=?utf-8?b?SsO2cmc=?=\" NIL \"k\" \"x.test\") (NIL NIL "
              "\"nodomain\" \"MISSING_DOMAIN\")) NIL \"<a@b>\" NIL)");
    EXPECT_TRUE(m.header_contains("from", "JÖRG"));
    EXPECT_TRUE(m.header_contains("cc", "jörg"));
}

TEST(mime_message, rfc822_attachment_with_multipart_inside) {
    auto m = parse_lf(
        "Content-Type: multipart/mixed; boundary=a\n\n"
        "--a\n\nfirst\n"
        "--a\nContent-Type: message/rfc822\n\n"
        "Subject: fwd\nContent-Type: multipart/alternative; boundary=b\n\n"
        "--b\n\none\n--b\nContent-Type: text/html\n\n<b>two</b>\n--b--\n"
        "--a--\n");
    EXPECT_EQ(bodystructure(m, false),
              "((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 5 0) (\"message\" \"rfc822\" NIL NIL "
              "NIL \"7bit\" 126 (NIL \"fwd\" NIL NIL NIL NIL NIL NIL NIL NIL) ((\"text\" \"plain\" (\"charset\" "
              "\"us-ascii\") NIL NIL \"7bit\" 3 0) (\"text\" \"html\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 10 0) "
              "\"alternative\") 10) \"mixed\")");
    EXPECT_EQ(section(m, sec({1})), "first");
    EXPECT_EQ(section(m, sec({1}, imap::section_text::mime)), "\r\n");
    EXPECT_EQ(section(m, sec({2, 1})), "one");
    EXPECT_EQ(section(m, sec({2, 2})), "<b>two</b>");
    EXPECT_EQ(section(m, sec({2, 2}, imap::section_text::mime)), crlf("Content-Type: text/html\n\n"));
    EXPECT_EQ(section(m, sec({2, 3})), "<none>");
    EXPECT_EQ(section(m, sec({2}, imap::section_text::header)),
              crlf("Subject: fwd\nContent-Type: multipart/alternative; boundary=b\n\n"));
    EXPECT_EQ(section(m, sec({2}, imap::section_text::text)),
              crlf("--b\n\none\n--b\nContent-Type: text/html\n\n<b>two</b>\n--b--"));
}

TEST(mime_message, missing_final_boundary) {
    auto m = parse_lf("Content-Type: multipart/mixed; boundary=x\n\n--x\n\nfirst\n--x\nContent-Type: text/html\n\ncut off");
    EXPECT_EQ(bodystructure(m, false),
              "((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 5 0) (\"text\" \"html\" (\"charset\" "
              "\"us-ascii\") NIL NIL \"7bit\" 7 0) \"mixed\")");
    EXPECT_EQ(section(m, sec({2})), "cut off");
    // An inner multipart cut off by the outer boundary.
    auto n = parse_lf(
        "Content-Type: multipart/mixed; boundary=o\n\n--o\nContent-Type: multipart/mixed; boundary=i\n\n"
        "--i\n\ninner\n--o\n\nsecond\n--o--\n");
    EXPECT_EQ(bodystructure(n, false),
              "(((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 5 0) \"mixed\") (\"text\" \"plain\" "
              "(\"charset\" \"us-ascii\") NIL NIL \"7bit\" 6 0) \"mixed\")");
    EXPECT_EQ(section(n, sec({1})), crlf("--i\n\ninner"));
    EXPECT_EQ(section(n, sec({2})), "second");
}

TEST(mime_message, multipart_without_parts_is_one_empty_text_part) {
    auto m = parse_lf("Content-Type: multipart/mixed; boundary=x\n\nno parts here\n");
    EXPECT_EQ(bodystructure(m),
              "((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 0 0 NIL NIL NIL NIL) \"mixed\" "
              "(\"boundary\" \"x\") NIL NIL NIL)");
    EXPECT_EQ(section(m, sec({1})), "<none>");
}

TEST(mime_message, lf_only_input_is_counted_as_crlf) {
    auto m = parse_lf("Subject: s\n\na\nb\n");
    EXPECT_EQ(m.text(), "Subject: s\r\n\r\na\r\nb\r\n");
    EXPECT_EQ(bodystructure(m, false), "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 6 2)");
}

TEST(mime_message, deep_nesting_is_bounded) {
    std::string lf = "Subject: deep\n";
    const int depth = 60;
    for (int i = 0; i < depth; ++i)
        lf += "Content-Type: multipart/mixed; boundary=b" + std::to_string(i) + "\n\n--b" + std::to_string(i) + "\n";
    lf += "Content-Type: text/plain\n\nleaf\n";
    for (int i = depth - 1; i >= 0; --i) lf += "--b" + std::to_string(i) + "--\n";
    auto m = parse_lf(lf);
    std::string bs = bodystructure(m);
    EXPECT_FALSE(bs.empty());
    std::vector<std::uint32_t> path(40, 1);
    EXPECT_EQ(section(m, sec(path)), "<none>");
    EXPECT_NE(section(m, sec({1, 1, 1})), "<none>");
}

TEST(mime_message, large_message_parses_fast) {
    std::string lf = "Subject: big\nContent-Type: multipart/mixed; boundary=zz\n\n";
    std::string line(76, 'A');
    line += "\n";
    for (int i = 0; i < 100; ++i) {
        lf += "--zz\nContent-Type: application/octet-stream\nContent-Transfer-Encoding: base64\n\n";
        for (int j = 0; j < 1300; ++j) lf += line;
    }
    lf += "--zz--\n";
    std::string text;
    mime::to_crlf(lf, text);
    ASSERT_GT(text.size(), 10'000'000u);
    auto start = std::chrono::steady_clock::now();
    auto m = mime::message::parse(std::move(text));
    auto bs = m.body_structure();
    auto elapsed = std::chrono::steady_clock::now() - start;
    EXPECT_EQ(bs.parts.size(), 100u);
    EXPECT_EQ(bs.parts[99].size, 1300u * 78u - 2u);
    EXPECT_LT(std::chrono::duration_cast<std::chrono::milliseconds>(elapsed).count(), 1000);
}

TEST(mime_message, copies_and_moves_keep_the_structure) {
    auto m = parse_lf(mixed);
    mime::message copy = m;
    mime::message moved = std::move(m);
    EXPECT_EQ(section(copy, sec({3})), "JVBERi0xLjQK");
    EXPECT_EQ(section(moved, sec({3})), "JVBERi0xLjQK");
    EXPECT_EQ(section(m, sec({})), "");  // moved-from is an empty message
}

// RFC 3501 7.4.2 (ENVELOPE and BODY of the FETCH example) and 6.4.5 (HEADER.FIELDS).
TEST(mime_message, rfc3501_examples) {
    auto m = parse_lf(
        "Date: Wed, 17 Jul 1996 02:23:25 -0700 (PDT)\n"
        "From: Terry Gray <gray@cac.washington.edu>\n"
        "Subject: IMAP4rev1 WG mtg summary and minutes\n"
        "To: imap@cac.washington.edu\n"
        "cc: minutes@CNRI.Reston.VA.US, John Klensin <KLENSIN@MIT.EDU>\n"
        "Message-Id: <B27397-0100000@cac.washington.edu>\n"
        "MIME-Version: 1.0\n"
        "Content-Type: TEXT/PLAIN; CHARSET=US-ASCII\n"
        "\n"
        "one\ntwo\n");
    EXPECT_EQ(envelope(m),
              "(\"Wed, 17 Jul 1996 02:23:25 -0700 (PDT)\" \"IMAP4rev1 WG mtg summary and minutes\" ((\"Terry Gray\" NIL "
              "\"gray\" \"cac.washington.edu\")) ((\"Terry Gray\" NIL \"gray\" \"cac.washington.edu\")) ((\"Terry Gray\" "
              "NIL \"gray\" \"cac.washington.edu\")) ((NIL NIL \"imap\" \"cac.washington.edu\")) ((NIL NIL \"minutes\" "
              "\"CNRI.Reston.VA.US\") (\"John Klensin\" NIL \"KLENSIN\" \"MIT.EDU\")) NIL NIL "
              "\"<B27397-0100000@cac.washington.edu>\")");
    EXPECT_EQ(bodystructure(m, false), "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7bit\" 10 2)");
    EXPECT_EQ(section(m, sec({}, imap::section_text::header_fields, {"DATE", "FROM"})),
              crlf("Date: Wed, 17 Jul 1996 02:23:25 -0700 (PDT)\nFrom: Terry Gray <gray@cac.washington.edu>\n\n"));
    EXPECT_EQ(section(m, sec({1}, imap::section_text::mime)), section(m, sec({}, imap::section_text::header)));
}

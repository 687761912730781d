// Benchmarks for the IMAP codec on realistic inputs:
//  - the command parser on a typical client mix (commands/s),
//  - the response parser on a FETCH response carrying a 1 MiB BODY[] literal, fed in 16 KiB reads
//    (a socket's worth) or whole, streamed (the default) or buffered (bytes/s),
//  - the response parser on many small FETCH responses (FLAGS UID ENVELOPE), as a client syncing
//    a mailbox sees them (responses/s).
#include <benchmark/benchmark.h>

#include <string>

#include "mailharness/imap/command.hpp"
#include "mailharness/imap/response.hpp"

namespace {

using namespace mailharness;

// What a desktop client sends in a session, with a small APPEND.
std::string client_mix() {
    std::string append_body(1024, 'x');
    return "a1 CAPABILITY\r\n"
           "a2 LOGIN alice@example.com \"s3cret pass\"\r\n"
           "a3 ENABLE CONDSTORE\r\n"
           "a4 LIST \"\" \"*\"\r\n"
           "a5 STATUS Sent (MESSAGES UIDNEXT UNSEEN HIGHESTMODSEQ)\r\n"
           "a6 SELECT INBOX (CONDSTORE)\r\n"
           "a7 UID FETCH 1:* (FLAGS UID) (CHANGEDSINCE 41200)\r\n"
           "a8 UID FETCH 4810:4830 (UID RFC822.SIZE FLAGS BODY.PEEK[HEADER.FIELDS (From To Cc Subject Date "
           "Message-ID Priority X-Priority References Newsgroups In-Reply-To Content-Type Reply-To)])\r\n"
           "a9 UID FETCH 4827 BODY.PEEK[]\r\n"
           "a10 UID STORE 4827 +FLAGS.SILENT (\\Seen)\r\n"
           "a11 UID SEARCH UNDELETED UNSEEN SINCE 1-Feb-2026\r\n"
           "a12 UID SEARCH RETURN (MIN COUNT) OR FROM \"bob@example.org\" SUBJECT \"quarterly\"\r\n"
           "a13 APPEND Sent (\\Seen) {1024+}\r\n" + append_body + "\r\n"
           "a14 UID COPY 4810:4812 Archive\r\n"
           "a15 UID MOVE 4813 Trash\r\n"
           "a16 NOOP\r\n"
           "a17 IDLE\r\nDONE\r\n"
           "a18 LOGOUT\r\n";
}
constexpr std::int64_t mix_commands = 18;

void bm_imap_command_mix(benchmark::State& state) {
    std::string wire = client_mix();
    imap::command_parser p;
    std::int64_t commands = 0;
    for (auto _ : state) {
        std::string_view in = wire;
        while (!in.empty()) {
            auto [n, ev] = p.put(in);
            in.remove_prefix(n);
            if (ev == imap::event::command) {
                ++commands;
                if (p.get().verb == imap::verb::idle) p.expect_line();
            } else if (ev == imap::event::line) {
                ++commands;  // DONE ends the IDLE command
            } else if (ev == imap::event::error) {
                state.SkipWithError("parse error");
                return;
            }
        }
    }
    if (commands != state.iterations() * (mix_commands + 1)) state.SkipWithError("wrong command count");
    state.SetItemsProcessed(state.iterations() * mix_commands);
    state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(wire.size()));
}
BENCHMARK(bm_imap_command_mix);

std::string fetch_response(std::size_t body_size) {
    std::string body;
    body.reserve(body_size);
    static const char line[] = "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor\r\n";
    while (body.size() < body_size) body.append(line, std::min(sizeof line - 1, body_size - body.size()));
    return "* 4827 FETCH (UID 4827 RFC822.SIZE " + std::to_string(body_size) + " FLAGS (\\Seen) BODY[] {" +
           std::to_string(body_size) + "}\r\n" + body + ")\r\na9 OK Fetch completed (0.001 + 0.000 secs).\r\n";
}

// Arg 0: read size (0 = the whole response in one buffer). Arg 1: 1 = buffer the literal.
void bm_imap_fetch_response_1mib(benchmark::State& state) {
    std::string wire = fetch_response(1 << 20);
    const std::size_t read = state.range(0) ? static_cast<std::size_t>(state.range(0)) : wire.size();
    imap::response_limits limits;
    if (state.range(1)) limits.max_buffered_literal = 2 << 20;
    imap::response_parser p(limits);
    std::size_t body = 0;
    for (auto _ : state) {
        std::string_view all = wire;
        int responses = 0;
        while (!all.empty()) {
            std::string_view in = all.substr(0, read);
            all.remove_prefix(in.size());
            while (!in.empty()) {
                auto [n, ev] = p.put(in);
                in.remove_prefix(n);
                if (ev == imap::response_event::literal_data) body += p.literal_data().size();
                if (ev == imap::response_event::response) ++responses;
                if (ev == imap::response_event::error) {
                    state.SkipWithError("parse error");
                    return;
                }
            }
        }
        if (responses != 2) state.SkipWithError("wrong response count");
    }
    benchmark::DoNotOptimize(body);
    state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(wire.size()));
}
BENCHMARK(bm_imap_fetch_response_1mib)
    ->ArgNames({"read", "buffered"})
    ->Args({16384, 0})
    ->Args({0, 0})
    ->Args({16384, 1});

void bm_imap_fetch_response_headers(benchmark::State& state) {
    std::string wire;
    for (int i = 1; i <= 100; ++i) {
        wire += "* " + std::to_string(i) + " FETCH (UID " + std::to_string(4000 + i) +
                " FLAGS (\\Seen $Junk) RFC822.SIZE 4286 ENVELOPE (\"Wed, 17 Jul 1996 02:23:25 -0700 (PDT)\" "
                "\"IMAP4rev1 WG mtg summary and minutes\" ((\"Terry Gray\" NIL \"gray\" \"cac.washington.edu\")) "
                "((\"Terry Gray\" NIL \"gray\" \"cac.washington.edu\")) ((\"Terry Gray\" NIL \"gray\" "
                "\"cac.washington.edu\")) ((NIL NIL \"imap\" \"cac.washington.edu\")) NIL NIL NIL "
                "\"<B27397-0100000@cac.washington.edu>\"))\r\n";
    }
    imap::response_parser p;
    for (auto _ : state) {
        std::string_view in = wire;
        while (!in.empty()) {
            auto [n, ev] = p.put(in);
            in.remove_prefix(n);
            if (ev == imap::response_event::error) {
                state.SkipWithError("parse error");
                return;
            }
        }
    }
    state.SetItemsProcessed(state.iterations() * 100);
    state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(wire.size()));
}
BENCHMARK(bm_imap_fetch_response_headers);

}  // namespace

BENCHMARK_MAIN();

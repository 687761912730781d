// Benchmarks for the hot paths of the protocol core on realistic inputs:
//  - SMTP command lines (framing + parsing) of a typical session,
//  - the DATA decoder on 1 KiB, 100 KiB and 10 MiB messages (72-76 octet lines, some dot-stuffed),
//  - the POP3 response parser on a RETR of the same messages.
// Throughput is reported as items/s (commands) or bytes/s (data).
#include <benchmark/benchmark.h>

#include <random>
#include <string>
#include <vector>

#include "mailharness/line_framer.hpp"
#include "mailharness/pop3/response.hpp"
#include "mailharness/smtp/command.hpp"
#include "mailharness/smtp/data.hpp"

namespace {

using namespace mailharness;

// A message of about `size` octets: RFC 5322 header then base64-like and text body lines.
std::string make_message(std::size_t size) {
    std::mt19937 rng(42);
    std::string m =
        "Received: from client.example (client.example [192.0.2.7])\r\n\tby mx.example with ESMTP id 4f2a\r\n"
        "From: Alice <alice@example.com>\r\nTo: Bob <bob@example.org>\r\nSubject: quarterly figures\r\n"
        "Date: Mon, 23 Nov 2026 09:40:00 +0000\r\nMessage-ID: <20261123094000.4f2a@example.com>\r\n"
        "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n";
    static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789 .,";
    while (m.size() < size) {
        std::size_t len = 60 + rng() % 17;
        if (rng() % 50 == 0) m.push_back('.');  // lines that need dot-stuffing
        for (std::size_t i = 0; i < len; ++i) m.push_back(alphabet[rng() % (sizeof alphabet - 1)]);
        m.append("\r\n");
    }
    return m;
}

void bm_smtp_commands(benchmark::State& state) {
    std::string wire =
        "EHLO client.example.com\r\nMAIL FROM:<alice@example.com> SIZE=4096 BODY=8BITMIME\r\n"
        "RCPT TO:<bob@example.org>\r\nRCPT TO:<carol@example.org>\r\nDATA\r\nRSET\r\nNOOP\r\nQUIT\r\n";
    const std::size_t per_pass = 8;
    line_framer framer({.max_line_length = 510});
    smtp::command cmd;
    std::size_t errors = 0;
    for (auto _ : state) {
        std::string_view in = wire;
        while (!in.empty()) {
            std::error_code ec;
            in.remove_prefix(framer.put(in, ec));
            if (framer.has_line()) errors += static_cast<bool>(smtp::parse_command(framer.line(), cmd));
        }
        benchmark::DoNotOptimize(cmd);
    }
    if (errors) state.SkipWithError("parse errors");
    state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * per_pass));
}
BENCHMARK(bm_smtp_commands);

void bm_smtp_command_parse_only(benchmark::State& state) {
    std::vector<std::string> lines = {"EHLO client.example.com", "MAIL FROM:<alice@example.com> SIZE=4096",
                                      "RCPT TO:<bob@example.org>", "DATA", "RSET", "NOOP", "QUIT",
                                      "RCPT TO:<carol@example.org>"};
    smtp::command cmd;
    for (auto _ : state) {
        for (const auto& l : lines) benchmark::DoNotOptimize(smtp::parse_command(l, cmd));
    }
    state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * lines.size()));
}
BENCHMARK(bm_smtp_command_parse_only);

void bm_data_decoder(benchmark::State& state) {
    std::string wire = smtp::encode_data(make_message(static_cast<std::size_t>(state.range(0))));
    smtp::data_decoder dec({.max_message_size = 0});
    std::string out;
    out.reserve(wire.size());
    for (auto _ : state) {
        dec.reset();
        out.clear();
        // Socket-sized reads, as a server sees them.
        std::string_view in = wire;
        while (!in.empty() && !dec.done()) in.remove_prefix(dec.put(in.substr(0, 65536), out));
        benchmark::DoNotOptimize(out.data());
    }
    if (!dec.done() || dec.result()) state.SkipWithError("decode failed");
    state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * wire.size()));
}
BENCHMARK(bm_data_decoder)->Arg(1024)->Arg(100 * 1024)->Arg(10 * 1024 * 1024);

void bm_pop3_retr_response(benchmark::State& state) {
    std::string msg = make_message(static_cast<std::size_t>(state.range(0)));
    std::string wire = "+OK " + std::to_string(msg.size()) + " octets\r\n" + smtp::encode_data(msg);
    pop3::response_parser p;
    std::size_t body = 0;
    for (auto _ : state) {
        p.start(pop3::expect::multi_line);
        std::string_view in = wire;
        body = 0;
        while (!in.empty() && !p.done()) {
            std::error_code ec;
            in.remove_prefix(p.put(in, ec));
            if (ec) break;
            body += p.body_chunk().size();
        }
        benchmark::DoNotOptimize(body);
    }
    if (!p.done()) state.SkipWithError("parse failed");
    state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * wire.size()));
}
BENCHMARK(bm_pop3_retr_response)->Arg(1024)->Arg(100 * 1024)->Arg(10 * 1024 * 1024);

void bm_pop3_status_lines(benchmark::State& state) {
    std::string wire = "+OK 2 320\r\n";
    pop3::response_parser p;
    for (auto _ : state) {
        p.start(pop3::expect::single_line);
        std::error_code ec;
        benchmark::DoNotOptimize(p.put(wire, ec));
    }
    state.SetItemsProcessed(state.iterations());
}
BENCHMARK(bm_pop3_status_lines);

}  // namespace

BENCHMARK_MAIN();

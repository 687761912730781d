// Runs conformance cases against a target, sequentially, with blocking sockets and OpenSSL.
// Every connect, read, write and TLS handshake is bounded by target::timeout.
#pragma once

#include <chrono>
#include <iosfwd>
#include <set>
#include <string>
#include <vector>

#include "mailharness/conform/target.hpp"
#include "mailharness/conform/test_case.hpp"

namespace mailharness::conform {

enum class outcome { passed, failed, skipped };
const char* to_string(outcome o) noexcept;

struct case_result {
    const test_case* tc = nullptr;  ///< points into the suite given to run_cases
    conform::outcome outcome = outcome::skipped;
    std::string message;  ///< why it failed or was skipped; empty when passed
    int line = 0;         ///< line of the failing step in tc->file, 0 when not a step
    std::chrono::milliseconds duration{0};
    std::string transcript;  ///< "C: ..." / "S: ..." lines of the conversation
    /// For a failure: the transcript lines that decided it, from the last step that sent
    /// something, opened or closed a connection or shook hands, to the end (at most
    /// max_decisive_lines, the last ones). Empty otherwise.
    std::vector<std::string> decisive;
};

inline constexpr std::size_t max_decisive_lines = 12;

struct run_options {
    /// Run cases marked destructive.
    bool allow_destructive = false;
    /// Keep only cases matching any of these (id, tag, protocol or category name); empty: all.
    std::vector<std::string> only;
    /// Drop cases matching any of these (id, tag, protocol or category name).
    std::vector<std::string> exclude;
};

/// True when `c` passes the only/exclude filters.
bool selected(const test_case& c, const run_options& options);

/// The EHLO keywords the target advertises (upper case), from one probe connection: greeting,
/// EHLO local_domain, QUIT; over TLS when the target is implicit TLS. Throws std::runtime_error when
/// the probe fails.
std::set<std::string> probe_smtp_capabilities(const target& t);

/// Runs one case. `caps` is what probe_smtp_capabilities returned (for requires).
case_result run_case(const test_case& c, const target& t, const std::set<std::string>& caps,
                     const run_options& options);

/// Runs the selected cases in order; writes one line per case to `progress` when not null.
/// Sets SIGPIPE to be ignored, process-wide (TLS writes to a closed socket must fail, not kill).
/// The capability probe runs once, only when some selected case requires capabilities; if it
/// fails, those cases fail with the probe's error.
std::vector<case_result> run_cases(const std::vector<test_case>& cases, const target& t,
                                   const run_options& options, std::ostream* progress);

}  // namespace mailharness::conform

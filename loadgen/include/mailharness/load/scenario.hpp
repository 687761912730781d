// The scenario model of mailload: what a load test runs, independent of YAML and of the network.
//
// A scenario has named targets (servers), user pools, message generators and one or more
// workloads that run at the same time. Each workload has
//   - an executor: closed model (a number of virtual users, each running the flow again and again,
//     with ramping stages) or open model (iterations start at a given arrival rate, Poisson or
//     evenly spaced, whatever the server's latency: the test keeps its schedule);
//   - a flow: the steps of one iteration (one session), actions of one protocol with think times
//     and probabilities;
//   - thresholds, pass/fail criteria on the results.
//
// The model is protocol-neutral: an action is an action_kind from the registry (actions.hpp) and
// a protocol's parameters; the engine runs each protocol's actions with that protocol's session
// driver. SMTP is implemented; POP3 and IMAP add kinds, parameter structs and drivers.
//
// scenario_loader.hpp builds it from YAML and validates it; schedule.hpp turns executors into
// timetables.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "mailharness/load/threshold.hpp"
#include "mailharness/load/units.hpp"

namespace mailharness::load {

enum class protocol : std::uint8_t { smtp, pop3, imap };
const char* to_string(protocol p) noexcept;

enum class tls_mode : std::uint8_t {
    none,      ///< plaintext only
    starttls,  ///< plaintext connect; the flow upgrades with a starttls action
    implicit,  ///< TLS from the first byte (RFC 8314: ports 465, 993, 995)
};
const char* to_string(tls_mode m) noexcept;

/// A server to load.
struct target {
    std::string name;
    std::string host = "127.0.0.1";
    std::uint16_t port = 25;
    tls_mode tls = tls_mode::none;
    /// Server name sent in the TLS ClientHello (SNI) and checked against the certificate when
    /// verify is on. Empty: host, unless host is an IP address (then no SNI is sent).
    std::string sni;
    /// Verify the server certificate chain and name. Off for self-signed test servers.
    bool verify = true;
    /// PEM CA certificates to verify with; empty: the system store.
    std::filesystem::path ca_file;
    /// PEM client certificate (chain) and key for servers that ask for one (mutual TLS).
    std::filesystem::path client_cert;
    std::filesystem::path client_key;
    /// Local addresses to connect from, used in turn (beyond about 28,000 connections to one
    /// server port, one source address runs out of ephemeral ports). Empty: the kernel picks.
    std::vector<std::string> source_addresses;
    /// Bound on the TCP connect.
    usec connect_timeout = std::chrono::seconds(10);
    /// Bound on every read and write (each reply, each TLS handshake).
    usec timeout = std::chrono::seconds(30);
};

struct user {
    std::string address;
    std::string password;
};

/// Accounts for AUTH, senders and recipients. Either a pattern ("user%d@example.test" with %d
/// replaced by start .. start+count-1, and the same in password), or an explicit list (from the
/// scenario or from a file of "address [password]" lines).
struct user_pool {
    std::string name;
    std::string pattern;
    std::string password;  ///< pattern form: may contain %d too
    std::uint64_t start = 1;
    std::uint64_t count = 0;
    std::vector<user> users;  ///< list form (addresses: or file:)

    std::uint64_t size() const noexcept { return pattern.empty() ? users.size() : count; }
    bool has_passwords() const noexcept;
    /// Address of member i (i < size()) into `out` (reusing its memory).
    void address(std::uint64_t i, std::string& out) const;
    void password_of(std::uint64_t i, std::string& out) const;
};

enum class size_distribution : std::uint8_t {
    fixed,      ///< always `size`
    uniform,    ///< evenly in [min, max]
    lognormal,  ///< median and sigma (of the log), clamped to [min, max]
};

/// How many of something per message (recipients): uniform in [min, max].
struct count_range {
    std::uint32_t min = 1;
    std::uint32_t max = 1;
};

/// Messages to send: generated (headers plus a body of printable lines, of a size drawn from a
/// distribution) or taken from a folder of .eml files.
struct message_spec {
    std::string name;
    size_distribution distribution = size_distribution::fixed;
    std::uint64_t size = 4096;     ///< fixed size; whole message, headers included
    std::uint64_t min = 512;       ///< uniform / lognormal bounds
    std::uint64_t max = 1 << 20;
    double median = 4096;          ///< lognormal median, octets
    double sigma = 0.5;            ///< lognormal sigma of ln(size)
    std::filesystem::path eml_dir; ///< non-empty: send these files instead of generated ones
    count_range recipients;
    /// Recipient pool name, or one address (contains '@'). Empty: the workload's users.
    std::string to;
    /// Sender pool name or one address. Empty: the authenticated user, else the workload's users.
    std::string from;
    std::string subject = "mailload test message";
};

/// A stage of a ramping executor: over `duration`, move linearly to `target` (virtual users for
/// the closed model, iterations per second for the open model).
struct stage {
    usec duration{0};
    double target = 0;
};

enum class executor_kind : std::uint8_t { closed, open };
enum class arrival_process : std::uint8_t {
    poisson,  ///< exponential gaps (a memoryless stream of independent clients)
    uniform,  ///< evenly spaced
};

struct executor {
    executor_kind kind = executor_kind::closed;
    /// Stages; a constant executor ("vus: 10, duration: 30s") is one stage at a constant level.
    std::vector<stage> stages;
    /// Level at time 0 (VUs or rate); the first stage moves from it.
    double start = 0;
    // closed model
    /// Iterations each virtual user runs at most (0: no limit, the stages decide).
    std::uint64_t iterations = 0;
    /// A VU that ramping-down stops must finish its iteration within this, or it is interrupted.
    usec graceful_ramp_down = std::chrono::seconds(10);
    // open model
    arrival_process arrivals = arrival_process::poisson;
    /// Iterations running at once at most; arrivals beyond wait (their latency still counts
    /// from the time they were due).
    std::uint32_t max_in_flight = 1000;
    /// Arrivals waiting at most; beyond, an arrival is dropped and counted.
    std::uint32_t max_backlog = 100000;
    // both
    /// Delay before this workload starts.
    usec start_after{0};
    /// After the last stage, iterations still running get this long, then are interrupted.
    usec graceful_stop = std::chrono::seconds(10);

    /// Sum of the stage durations.
    usec duration() const noexcept;
};

/// Think time: a pause. fixed: `min`; uniform: in [min, max]; exponential: mean `min`.
struct think_time {
    enum class kind : std::uint8_t { none, fixed, uniform, exponential } type = kind::none;
    usec min{0};
    usec max{0};
};

// ---- actions ----

/// Every action the flow interpreter knows. Protocol-neutral ones first; each protocol's block is
/// contiguous. actions.hpp has the registry (names, metric names, parameter parsers).
enum class action_kind : std::uint8_t {
    think,   ///< pause (think_time in params)
    group,   ///< repeat nested steps
    smtp_connect,   ///< TCP connect (+ TLS handshake for implicit TLS) and the 220 greeting
    smtp_ehlo,
    smtp_helo,
    smtp_starttls,  ///< STARTTLS, TLS handshake (RFC 3207); EHLO must be sent again
    smtp_auth,      ///< AUTH with a SASL mechanism (RFC 4954)
    smtp_mail,
    smtp_rcpt,
    smtp_data,      ///< DATA, the message, "." (RFC 5321 4.1.1.4)
    smtp_bdat,      ///< BDAT chunks (RFC 3030)
    smtp_send,      ///< whole transactions: MAIL, RCPT x k, DATA or BDAT, optionally pipelined
    smtp_rset,
    smtp_noop,
    smtp_quit,
};

enum class smtp_body : std::uint8_t { data, bdat };

struct smtp_params {
    std::string domain;                 ///< ehlo/helo: the client's name
    /// auth: SASL mechanisms, upper case; each session uses one, drawn at random.
    std::vector<std::string> mechanisms{"PLAIN"};
    bool initial_response = true;       ///< auth: send the first message with AUTH (RFC 4954 4)
    std::string users;                  ///< auth/mail: pool override
    std::string message;                ///< mail/data/bdat/send: message generator override
    std::string from;                   ///< mail/send: sender pool or address override
    std::string to;                     ///< rcpt/send: recipient pool or address override
    std::optional<count_range> rcpts;   ///< rcpt/send: recipients per message override
    smtp_body body = smtp_body::data;   ///< send
    bool pipelining = true;             ///< send: one write for MAIL, RCPTs and DATA/BDAT (RFC 2920)
    std::uint64_t chunk_size = 0;       ///< bdat/send: octets per BDAT chunk, 0 = one chunk
    count_range messages{1, 1};         ///< send: transactions per step, on one connection
};

struct think_params {
    think_time think;
};

/// Parameters of a step, by protocol. POP3 and IMAP add their structs here.
using action_params = std::variant<std::monostate, think_params, smtp_params>;

struct step {
    action_kind kind = action_kind::think;
    action_params params;
    /// Chance that this step runs in an iteration (skipped otherwise), in [0, 1].
    double probability = 1;
    /// Pause after the step.
    think_time think_after;
    /// group: the nested steps, run `repeat` times (a count drawn from the range).
    std::vector<step> steps;
    count_range repeat{1, 1};
    /// Where the step is in the scenario file (1-based; 0 unknown), for messages.
    int line = 0;
};

struct workload {
    std::string name;
    protocol proto = protocol::smtp;
    std::string target;    ///< target name
    std::string users;     ///< default pool for AUTH and senders
    std::string message;   ///< default message generator
    executor exec;
    std::vector<step> flow;
    /// Thresholds on this workload's metrics only.
    std::vector<threshold> thresholds;
};

struct scenario {
    int version = 1;
    std::string name;
    std::string description;
    std::uint64_t seed = 1;
    /// Where the file is (paths in it are relative to this folder).
    std::filesystem::path file;
    std::vector<target> targets;
    std::vector<user_pool> pools;
    std::vector<message_spec> messages;
    std::vector<workload> workloads;
    /// Thresholds over all workloads (and workload-scoped ones given with metric{workload}).
    std::vector<threshold> thresholds;

    const target* find_target(std::string_view name) const noexcept;
    const user_pool* find_pool(std::string_view name) const noexcept;
    const message_spec* find_message(std::string_view name) const noexcept;
    /// Every threshold, the workloads' own with their workload set.
    std::vector<threshold> all_thresholds() const;
    /// Longest workload: start_after + stages (graceful stops not included).
    usec planned_duration() const noexcept;
};

/// Scales every workload's stages so that it lasts `d` (keeping their proportions), for
/// `mailload run --duration`. start_after is scaled too.
void scale_duration(scenario& s, usec d);

}  // namespace mailharness::load

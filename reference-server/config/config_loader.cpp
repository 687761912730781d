#include "mailharness/ip_literal.hpp"
#include "mailharness/refmaild/config_loader.hpp"

#include "mailharness/refmaild/access_list.hpp"
#include "mailharness/refmaild/cert_tool.hpp"
#include "mailharness/refmaild/passwd_file.hpp"
#include "mailharness/refmaild/rules.hpp"
#include "mailharness/mail/header.hpp"
#include "mailharness/refmaild/queue/dns.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <unistd.h>
#include <yaml-cpp/depthguard.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <functional>
#include <limits>
#include <optional>
#include <set>
#include <thread>

namespace mailharness::refmaild::config {

// ---------------------------------------------------------------------------------------------
// Small helpers shared by the loader and the checks.

namespace {

bool valid_host_name(std::string_view d) {
    if (d.empty() || d.size() > 253) return false;
    std::size_t start = 0;
    for (std::size_t i = 0; i <= d.size(); ++i) {
        if (i == d.size() || d[i] == '.') {
            std::string_view label = d.substr(start, i - start);
            if (label.empty() || label.size() > 63 || label.front() == '-' || label.back() == '-') return false;
            start = i + 1;
            continue;
        }
        char c = d[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-')) return false;
    }
    return true;
}

using mailharness::is_ip_literal;

bool is_wildcard_address(const std::string& s) { return s == "0.0.0.0" || s == "::"; }

std::string lower_ascii(std::string s) {
    for (char& c : s) {
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    }
    return s;
}

std::size_t edit_distance(std::string_view a, std::string_view b) {
    std::vector<std::size_t> row(b.size() + 1);
    for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
    for (std::size_t i = 1; i <= a.size(); ++i) {
        std::size_t diag = row[0];
        row[0] = i;
        for (std::size_t j = 1; j <= b.size(); ++j) {
            std::size_t up = row[j];
            row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] == b[j - 1] ? 0 : 1)});
            diag = up;
        }
    }
    return row[b.size()];
}

std::string in_quotes(std::string_view s) { return "\"" + std::string(s) + "\""; }

// True when a certificate DNS name matches `host` (RFC 6125 6.4: exact, or "*." standing for
// exactly one left-most label), case-insensitively.
bool names_host(const std::vector<std::string>& dns_names, const std::string& host) {
    std::string h = lower_ascii(host);
    for (const auto& name : dns_names) {
        std::string n = lower_ascii(name);
        if (n == h) return true;
        if (n.starts_with("*.")) {
            auto dot = h.find('.');
            if (dot != std::string::npos && dot > 0 && h.substr(dot) == n.substr(1)) return true;
        }
    }
    return false;
}

// Reads a whole file, or its first `max` + 1 bytes; errors as errno values.
std::error_code read_whole_file(const std::filesystem::path& file, std::string& out, std::size_t max) {
    int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return {errno, std::system_category()};
    char buf[16384];
    std::error_code ec;
    for (;;) {
        ssize_t n = ::read(fd, buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) ec = {errno, std::system_category()};
        if (n <= 0) break;
        out.append(buf, static_cast<std::size_t>(n));
        if (out.size() > max) break;
    }
    ::close(fd);
    return ec;
}

}  // namespace

std::string default_hostname() {
    char buf[256] = {};
    if (::gethostname(buf, sizeof buf - 1) == 0 && valid_host_name(buf)) return lower_ascii(buf);
    return "localhost";
}

unsigned default_io_threads() { return std::max(1u, std::thread::hardware_concurrency()); }

std::string config_problem::to_string() const {
    std::string out = file;
    if (line > 0) out += ":" + std::to_string(line);
    out += level == severity::error ? ": error: " : ": warning: ";
    if (!key.empty()) out += key + ": ";
    out += message;
    return out;
}

bool config_result::ok() const noexcept {
    return std::none_of(problems.begin(), problems.end(), [](const config_problem& p) { return p.is_error(); });
}

config_error::config_error(std::vector<config_problem> problems)
    : std::runtime_error([&] {
          std::string what;
          for (const auto& p : problems) {
              if (!p.is_error()) continue;
              if (!what.empty()) what += '\n';
              what += p.to_string();
          }
          return what.empty() ? std::string("invalid configuration") : what;
      }()),
      problems_(std::move(problems)) {}

// ---------------------------------------------------------------------------------------------
// YAML reading: typed readers that record a problem (with the node's line) instead of throwing.

namespace {

// Budget of the rules section (see reader::charge): a condition, action or rule counts this many
// units (about its size in memory), a text its length, a regex its program (rules::regex_size).
constexpr std::size_t max_rules_size = std::size_t{1} << 20;
constexpr std::size_t rule_node_units = 64;

class reader {
public:
    reader(config_result& result, std::string source, std::filesystem::path base_dir)
        : result_(result), source_(std::move(source)), base_dir_(std::move(base_dir)) {}

    static int line_of(const YAML::Node& n) {
        YAML::Mark m = n.Mark();
        return m.is_null() ? 0 : m.line + 1;
    }

    void error(int line, const std::string& key, std::string message) {
        result_.problems.push_back({config_problem::severity::error, source_, line, key, std::move(message)});
    }
    void error(const YAML::Node& n, std::string message) { error(line_of(n), key_, std::move(message)); }

    void set_key(std::string key) { key_ = std::move(key); }
    const std::string& key() const { return key_; }

    // The rules section is read within a budget: yaml-cpp shares an aliased node instead of copying
    // it, so a few hundred bytes of anchors and aliases can stand for billions of conditions.
    void start_budget(std::size_t units) { budget_ = units; }
    void stop_budget() { budget_.reset(); }
    // Takes `units` from the budget; false (after one error) once it is spent.
    bool charge(const YAML::Node& n, std::size_t units) {
        if (!budget_) return true;
        if (*budget_ == 0) return false;
        if (units < *budget_) {
            *budget_ -= units;
            return true;
        }
        *budget_ = 0;
        error(n, "the rules are too large (over " + std::to_string(max_rules_size >> 20) +
                     " MiB counted with every use of a YAML alias expanded)");
        return false;
    }

    // A single scalar, or a problem.
    bool scalar(const YAML::Node& n, std::string& out) {
        if (n.IsNull()) {
            error(n, "needs a value");
            return false;
        }
        if (!n.IsScalar()) {
            error(n, std::string("expected a single value, got a ") + (n.IsMap() ? "map" : "list"));
            return false;
        }
        if (!charge(n, n.Scalar().size())) return false;
        out = n.Scalar();
        return true;
    }

    void text(const YAML::Node& n, std::string& out) {
        std::string v;
        if (scalar(n, v)) out = std::move(v);
    }

    void path(const YAML::Node& n, std::filesystem::path& out) {
        std::string v;
        if (!scalar(n, v)) return;
        std::filesystem::path p(v);
        out = (p.empty() || p.is_absolute() || base_dir_.empty()) ? p : (base_dir_ / p).lexically_normal();
    }

    void boolean(const YAML::Node& n, bool& out) {
        std::string v;
        if (!scalar(n, v)) return;
        if (v == "true") {
            out = true;
        } else if (v == "false") {
            out = false;
        } else {
            error(n, "expected true or false, got " + in_quotes(v));
        }
    }

    template <class T>
    void integer(const YAML::Node& n, T& out) {
        std::string v;
        if (!scalar(n, v)) return;
        std::uint64_t x = 0;
        auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), x);
        if (ec != std::errc{} || p != v.data() + v.size() || v.empty() || x > std::numeric_limits<T>::max()) {
            error(n, "expected a whole number from 0 to " + std::to_string(std::numeric_limits<T>::max()) +
                         ", got " + in_quotes(v));
            return;
        }
        out = static_cast<T>(x);
    }

    template <class Rep, class Period>
    void duration(const YAML::Node& n, std::chrono::duration<Rep, Period>& out) {
        using target = std::chrono::duration<Rep, Period>;
        std::string v;
        if (!scalar(n, v)) return;
        std::uint64_t x = 0;
        auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), x);
        std::string_view unit(p, static_cast<std::size_t>(v.data() + v.size() - p));
        std::chrono::nanoseconds one{};  // one of the unit
        if (unit == "us") one = std::chrono::microseconds(1);
        if (unit == "ms") one = std::chrono::milliseconds(1);
        if (unit == "s") one = std::chrono::seconds(1);
        if (unit == "m") one = std::chrono::minutes(1);
        if (unit == "h") one = std::chrono::hours(1);
        const bool number = (ec == std::errc{} || ec == std::errc::result_out_of_range) && p != v.data();
        if (!number || one.count() == 0) {
            error(n, "expected a duration with a unit (ms, s, m, h), e.g. \"30s\", got " + in_quotes(v));
            return;
        }
        // Bounded in the unit, not in seconds, so that the nanoseconds below cannot overflow.
        const std::uint64_t ten_years = std::chrono::nanoseconds(std::chrono::hours(24 * 365 * 10)).count();
        if (ec != std::errc{} || x > ten_years / static_cast<std::uint64_t>(one.count())) {
            error(n, "duration " + in_quotes(v) + " is longer than ten years");
            return;
        }
        const std::chrono::nanoseconds ns = one * static_cast<std::int64_t>(x);
        auto converted = std::chrono::duration_cast<target>(ns);
        if (std::chrono::duration_cast<std::chrono::nanoseconds>(converted) != ns) {
            error(n, "duration " + in_quotes(v) + " is finer than this setting's resolution");
            return;
        }
        out = converted;
    }

    void size(const YAML::Node& n, std::uint64_t& out) {
        std::string v;
        if (!scalar(n, v)) return;
        std::uint64_t x = 0;
        auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), x);
        std::string unit(p, static_cast<std::size_t>(v.data() + v.size() - p));
        std::uint64_t mult = 0;
        if (unit.empty()) mult = 1;
        if (unit == "K" || unit == "k" || unit == "KiB") mult = 1ull << 10;
        if (unit == "M" || unit == "MiB") mult = 1ull << 20;
        if (unit == "G" || unit == "GiB") mult = 1ull << 30;
        if (ec != std::errc{} || p == v.data() || mult == 0 || x > (std::uint64_t{1} << 50) / mult) {
            error(n, "expected a size in octets, optionally with K, M or G (e.g. \"25M\"), got " + in_quotes(v));
            return;
        }
        out = x * mult;
    }

    template <class E>
    void choice(const YAML::Node& n, E& out, std::initializer_list<std::pair<std::string_view, E>> options) {
        std::string v;
        if (!scalar(n, v)) return;
        std::string names;
        for (const auto& [name, value] : options) {
            if (name == v) {
                out = value;
                return;
            }
            names += (names.empty() ? "" : ", ") + in_quotes(name);
        }
        error(n, "expected one of " + names + ", got " + in_quotes(v));
    }

    void string_list(const YAML::Node& n, std::vector<std::string>& out) {
        if (n.IsNull()) {
            out.clear();
            return;
        }
        if (!n.IsSequence()) {
            error(n, "expected a list, e.g. [example.com, example.org]");
            return;
        }
        std::vector<std::string> items;
        for (const auto& item : n) {
            std::string v;
            if (scalar(item, v)) items.push_back(std::move(v));
        }
        out = std::move(items);
    }

    config_result& result() { return result_; }

private:
    config_result& result_;
    std::string source_;
    std::filesystem::path base_dir_;
    std::string key_;  // dotted key of the value being read
    std::optional<std::size_t> budget_;  // set while reading the rules
};

// ---- processing rules (see rules.hpp) ----

constexpr int max_rule_depth = 16;

void read_condition(reader& r, const YAML::Node& n, const std::string& key, rules::condition& out, int depth);

void read_conditions(reader& r, const YAML::Node& n, const std::string& key, std::vector<rules::condition>& out, int depth) {
    r.set_key(key);
    if (!n.IsSequence() || n.size() == 0) {
        r.error(n, "expected a non-empty list of conditions");
        return;
    }
    for (std::size_t i = 0; i < n.size(); ++i) {
        out.emplace_back();
        read_condition(r, n[i], key + "[" + std::to_string(i) + "]", out.back(), depth + 1);
    }
}

void read_condition(reader& r, const YAML::Node& n, const std::string& key, rules::condition& out, int depth) {
    using k = rules::condition::kind;
    r.set_key(key);
    if (depth > max_rule_depth) {
        r.error(n, "conditions nested deeper than " + std::to_string(max_rule_depth));
        return;
    }
    if (!r.charge(n, rule_node_units)) return;
    if (!n.IsMap() || n.size() != 1) {
        r.error(n, "a condition is a map with one key: all, any, not, client_ip, authenticated, auth_user, "
                   "sender, recipient, header, size_over, size_under, tls or always");
        return;
    }
    const std::string name = n.begin()->first.as<std::string>();
    if (!r.charge(n, name.size())) return;
    const YAML::Node v = n.begin()->second;
    const std::string sub = key + "." + name;
    r.set_key(sub);
    auto pattern = [&](rules::condition& c) {
        std::string text;
        if (r.scalar(v, text)) c.pattern = lower_ascii(text);
    };
    if (name == "all" || name == "any") {
        out.type = name == "all" ? k::all : k::any;
        read_conditions(r, v, sub, out.children, depth);
    } else if (name == "not") {
        out.type = k::negate;
        out.children.emplace_back();
        read_condition(r, v, sub, out.children.back(), depth + 1);
    } else if (name == "client_ip") {
        out.type = k::client_ip;
        std::vector<std::string> nets;
        if (v.IsScalar()) {
            if (!r.charge(v, v.Scalar().size())) return;
            nets.push_back(v.Scalar());
        } else {
            r.string_list(v, nets);
        }
        for (const auto& t : nets) {
            if (auto net = policy::ip_network::parse(t)) {
                out.networks.push_back(*net);
            } else {
                r.error(v, in_quotes(t) + " is not an IP address or CIDR network");
            }
        }
    } else if (name == "authenticated" || name == "tls" || name == "always") {
        out.type = name == "authenticated" ? k::authenticated : name == "tls" ? k::tls : k::always;
        r.boolean(v, out.flag);
        if (out.type == k::always && !out.flag) out.type = k::negate;  // always: false never holds
    } else if (name == "auth_user" || name == "sender" || name == "recipient") {
        out.type = name == "auth_user" ? k::auth_user : name == "sender" ? k::sender : k::recipient;
        pattern(out);
    } else if (name == "size_over" || name == "size_under") {
        out.type = name == "size_over" ? k::size_over : k::size_under;
        r.size(v, out.size);
    } else if (name == "header") {
        out.type = k::header;
        if (!v.IsMap()) {
            r.error(v, "expected {name: Field-Name} with an optional matches: \"regex\"");
            return;
        }
        for (const auto& kv : v) {
            const std::string hk = kv.first.as<std::string>();
            if (!r.charge(kv.first, 1 + hk.size())) return;
            r.set_key(sub + "." + hk);
            if (hk == "name") {
                r.text(kv.second, out.header_name);
                if (!mail::is_field_name(out.header_name)) r.error(kv.second, in_quotes(out.header_name) + " is not a header field name");
            } else if (hk == "matches") {
                std::string re, err;
                if (!r.scalar(kv.second, re)) continue;
                out.regex = rules::compile_regex(re, err);
                if (!out.regex) r.error(kv.second, "bad regular expression " + in_quotes(re) + ": " + err);
                // Each use of an alias compiles again: the program counts, not only the text.
                if (out.regex && !r.charge(kv.second, rules::regex_size(*out.regex))) return;
            } else {
                r.error(kv.first, "unknown key " + in_quotes(hk) + "; keys of header are: name, matches");
            }
        }
        if (out.header_name.empty()) {
            r.set_key(sub);
            r.error(v, "needs name:");
        }
    } else {
        r.error(n, "unknown condition " + in_quotes(name) + "; conditions are: all, any, not, client_ip, authenticated, "
                   "auth_user, sender, recipient, header, size_over, size_under, tls, always");
    }
}

void read_action(reader& r, const YAML::Node& n, const std::string& key, rules::action& out) {
    using k = rules::action::kind;
    r.set_key(key);
    if (!r.charge(n, rule_node_units)) return;
    if (n.IsScalar() && (n.Scalar() == "discard" || n.Scalar() == "stop")) {
        out.type = n.Scalar() == "discard" ? k::discard : k::stop;
        return;
    }
    if (!n.IsMap() || n.size() != 1) {
        r.error(n, "an action is discard, stop, or a map with one key: reject, file_into or add_header");
        return;
    }
    const std::string name = n.begin()->first.as<std::string>();
    if (!r.charge(n, name.size())) return;
    const YAML::Node v = n.begin()->second;
    r.set_key(key + "." + name);
    std::string text;
    if (name == "reject") {
        if (r.scalar(v, text) && !rules::parse_reject(text, out)) {
            r.error(v, "expected a 4xx or 5xx reply such as \"550 5.7.1 Not accepted here\", got " + in_quotes(text));
        }
    } else if (name == "file_into") {
        out.type = k::file_into;
        if (r.scalar(v, text)) {
            if (!rules::valid_folder(text)) r.error(v, in_quotes(text) + " is not a valid folder name (Maildir++: parts separated by '.')");
            out.name = text;
        }
    } else if (name == "add_header") {
        out.type = k::add_header;
        if (r.scalar(v, text)) {
            auto colon = text.find(':');
            bool ok = colon != std::string::npos && mail::is_field_name(text.substr(0, colon)) &&
                      std::none_of(text.begin(), text.end(), [](char c) { return c == '\r' || c == '\n' || c == '\0'; });
            if (!ok) {
                r.error(v, "expected \"Field-Name: value\" on one line, got " + in_quotes(text));
            } else {
                out.name = text.substr(0, colon);
                out.text = std::string(mail::unfold(text.substr(colon + 1)));
            }
        }
    } else {
        r.error(n, "unknown action " + in_quotes(name) + "; actions are: reject, discard, file_into, add_header, stop");
    }
}

void read_rule_list(reader& r, const YAML::Node& n, const std::string& key, std::vector<rules::rule>& out, int depth) {
    // The whole section, from its top level down, is read within one budget (see reader::charge).
    struct budget_scope {
        reader& r;
        bool top;
        ~budget_scope() {
            if (top) r.stop_budget();
        }
    } scope{r, depth == 1};
    if (depth == 1) r.start_budget(max_rules_size);
    r.set_key(key);
    if (n.IsNull()) return;
    if (!n.IsSequence()) {
        r.error(n, "expected a list of rules");
        return;
    }
    if (depth > max_rule_depth) {
        r.error(n, "rules nested deeper than " + std::to_string(max_rule_depth));
        return;
    }
    for (std::size_t i = 0; i < n.size(); ++i) {
        const YAML::Node item = n[i];
        const std::string rk = key + "[" + std::to_string(i) + "]";
        r.set_key(rk);
        if (!r.charge(item, rule_node_units)) return;
        if (!item.IsMap()) {
            r.error(item, "a rule is a map with name, if, then and rules");
            continue;
        }
        rules::rule rule;
        bool has_body = false;
        for (const auto& kv : item) {
            const std::string k = kv.first.as<std::string>();
            if (!r.charge(kv.first, 1 + k.size())) return;
            const std::string sub = rk + "." + k;
            r.set_key(sub);
            if (k == "name") {
                r.text(kv.second, rule.name);
            } else if (k == "if") {
                read_condition(r, kv.second, sub, rule.when, 1);
            } else if (k == "then") {
                has_body = true;
                if (!kv.second.IsSequence()) {
                    r.error(kv.second, "expected a list of actions");
                    continue;
                }
                for (std::size_t j = 0; j < kv.second.size(); ++j) {
                    rule.actions.emplace_back();
                    read_action(r, kv.second[j], sub + "[" + std::to_string(j) + "]", rule.actions.back());
                }
            } else if (k == "rules") {
                has_body = true;
                read_rule_list(r, kv.second, sub, rule.rules, depth + 1);
            } else {
                r.error(kv.first, "unknown key " + in_quotes(k) + "; keys of a rule are: name, if, then, rules");
            }
        }
        if (!has_body) {
            r.set_key(rk);
            r.error(item, "a rule needs then: (actions) or rules: (nested rules)");
        }
        out.push_back(std::move(rule));
    }
}

// The schema: a tree of sections whose leaves read one value into the settings.
struct schema_node {
    std::string name;
    std::function<void(reader&, const YAML::Node&, refmaild_settings&)> read;  // set for leaves
    std::vector<schema_node> children;                                         // set for sections
};

using setter = std::function<void(reader&, const YAML::Node&, refmaild_settings&)>;

schema_node leaf(std::string name, setter read) { return {std::move(name), std::move(read), {}}; }
schema_node section(std::string name, std::vector<schema_node> children) {
    return {std::move(name), nullptr, std::move(children)};
}

schema_node listener(std::string name, listener_settings listeners_settings::*member) {
    return section(name, {
        leaf("enabled", [member](reader& r, const YAML::Node& n, refmaild_settings& s) {
            r.boolean(n, (s.listeners.*member).enabled);
        }),
        leaf("address", [member](reader& r, const YAML::Node& n, refmaild_settings& s) {
            r.text(n, (s.listeners.*member).address);
        }),
        leaf("port", [member](reader& r, const YAML::Node& n, refmaild_settings& s) {
            r.integer(n, (s.listeners.*member).port);
        }),
        leaf("banner", [member](reader& r, const YAML::Node& n, refmaild_settings& s) {
            r.text(n, (s.listeners.*member).banner);
        }),
        leaf("login_methods", [member](reader& r, const YAML::Node& n, refmaild_settings& s) {
            r.string_list(n, (s.listeners.*member).login_methods);
        }),
    });
}

const schema_node& schema() {
    using R = reader&;
    using N = const YAML::Node&;
    using S = refmaild_settings&;
    static const schema_node root = section("", {
        section("server", {
            leaf("hostname", [](R r, N n, S s) { r.text(n, s.server.hostname); }),
            leaf("io_threads", [](R r, N n, S s) { r.integer(n, s.server.io_threads); }),
            leaf("smtp_banner", [](R r, N n, S s) { r.text(n, s.server.smtp_banner); }),
            leaf("pop3_banner", [](R r, N n, S s) { r.text(n, s.server.pop3_banner); }),
            leaf("imap_banner", [](R r, N n, S s) { r.text(n, s.server.imap_banner); }),
        }),
        section("listeners", {
            listener("smtp", &listeners_settings::smtp),
            listener("submission", &listeners_settings::submission),
            listener("smtps", &listeners_settings::smtps),
            listener("pop3", &listeners_settings::pop3),
            listener("pop3s", &listeners_settings::pop3s),
            listener("imap", &listeners_settings::imap),
            listener("imaps", &listeners_settings::imaps),
        }),
        section("tls", {
            leaf("cert_file", [](R r, N n, S s) { r.path(n, s.tls.cert_file); }),
            leaf("key_file", [](R r, N n, S s) { r.path(n, s.tls.key_file); }),
            leaf("ca_file", [](R r, N n, S s) { r.path(n, s.tls.ca_file); }),
            leaf("min_version", [](R r, N n, S s) {
                r.choice(n, s.tls.min_version, {{"1.2", tls_version::v1_2}, {"1.3", tls_version::v1_3}});
            }),
            leaf("ciphers", [](R r, N n, S s) { r.text(n, s.tls.ciphers); }),
            leaf("ciphersuites", [](R r, N n, S s) { r.text(n, s.tls.ciphersuites); }),
            leaf("groups", [](R r, N n, S s) { r.text(n, s.tls.groups); }),
            leaf("client_cert", [](R r, N n, S s) {
                r.choice(n, s.tls.client_cert,
                         {{"none", client_cert_mode::none},
                          {"optional", client_cert_mode::optional},
                          {"required", client_cert_mode::required}});
            }),
            leaf("handshake_timeout", [](R r, N n, S s) { r.duration(n, s.tls.handshake_timeout); }),
            leaf("close_timeout", [](R r, N n, S s) { r.duration(n, s.tls.close_timeout); }),
            leaf("expiry_warning_days", [](R r, N n, S s) { r.integer(n, s.tls.expiry_warning_days); }),
        }),
        section("auth", {
            leaf("passwd_file", [](R r, N n, S s) { r.path(n, s.auth.passwd_file); }),
            leaf("allow_plaintext_auth", [](R r, N n, S s) { r.boolean(n, s.auth.allow_plaintext_auth); }),
            leaf("failure_delay_base", [](R r, N n, S s) { r.duration(n, s.auth.failure_delay_base); }),
            leaf("failure_delay_max", [](R r, N n, S s) { r.duration(n, s.auth.failure_delay_max); }),
        }),
        section("store", {
            leaf("maildir_root", [](R r, N n, S s) { r.path(n, s.store.maildir_root); }),
            leaf("data_dir", [](R r, N n, S s) { r.path(n, s.store.data_dir); }),
            leaf("sync", [](R r, N n, S s) {
                r.choice(n, s.store.sync, {{"per_file", store::sync_mode::per_file}, {"syncfs", store::sync_mode::syncfs}});
            }),
            leaf("batch_delay", [](R r, N n, S s) { r.duration(n, s.store.batch_delay); }),
            leaf("max_batch", [](R r, N n, S s) { r.integer(n, s.store.max_batch); }),
        }),
        section("smtp", {
            leaf("max_message_size", [](R r, N n, S s) { r.size(n, s.smtp.max_message_size); }),
            leaf("max_recipients", [](R r, N n, S s) { r.integer(n, s.smtp.max_recipients); }),
            leaf("max_line_length", [](R r, N n, S s) { r.integer(n, s.smtp.max_line_length); }),
            leaf("bare_lf", [](R r, N n, S s) {
                r.choice(n, s.smtp.bare_lf, {{"reject", bare_lf_policy::reject}, {"normalize", bare_lf_policy::normalize}});
            }),
            leaf("command_timeout", [](R r, N n, S s) { r.duration(n, s.smtp.command_timeout); }),
            leaf("data_timeout", [](R r, N n, S s) { r.duration(n, s.smtp.data_timeout); }),
            leaf("max_errors", [](R r, N n, S s) { r.integer(n, s.smtp.max_errors); }),
            leaf("error_delay_step", [](R r, N n, S s) { r.duration(n, s.smtp.error_delay_step); }),
            leaf("max_messages_per_session", [](R r, N n, S s) { r.integer(n, s.smtp.max_messages_per_session); }),
            leaf("max_connections", [](R r, N n, S s) { r.integer(n, s.smtp.max_connections); }),
            leaf("max_connections_per_ip", [](R r, N n, S s) { r.integer(n, s.smtp.max_connections_per_ip); }),
            leaf("max_commands_per_session", [](R r, N n, S s) { r.integer(n, s.smtp.max_commands_per_session); }),
            leaf("session_timeout", [](R r, N n, S s) { r.duration(n, s.smtp.session_timeout); }),
            leaf("max_header_size", [](R r, N n, S s) { r.size(n, s.smtp.max_header_size); }),
            leaf("max_hops", [](R r, N n, S s) { r.integer(n, s.smtp.max_hops); }),
            leaf("min_data_rate", [](R r, N n, S s) { r.size(n, s.smtp.min_data_rate); }),
            leaf("max_buffered_total", [](R r, N n, S s) { r.size(n, s.smtp.max_buffered_total); }),
            leaf("max_buffered_per_ip", [](R r, N n, S s) { r.size(n, s.smtp.max_buffered_per_ip); }),
            leaf("data_rate_grace", [](R r, N n, S s) { r.duration(n, s.smtp.data_rate_grace); }),
            leaf("unknown_recipient_limit", [](R r, N n, S s) { r.integer(n, s.smtp.unknown_recipient_limit); }),
            leaf("unknown_recipient_delay", [](R r, N n, S s) { r.duration(n, s.smtp.unknown_recipient_delay); }),
            leaf("unknown_recipient_ban_after", [](R r, N n, S s) { r.integer(n, s.smtp.unknown_recipient_ban_after); }),
            leaf("vrfy_reply", [](R r, N n, S s) { r.choice(n, s.smtp.vrfy_reply, {{"252", 252}, {"502", 502}}); }),
        }),
        section("imap", {
            leaf("max_line_length", [](R r, N n, S s) { r.integer(n, s.imap.max_line_length); }),
            leaf("ban_long_lines", [](R r, N n, S s) { r.boolean(n, s.imap.ban_long_lines); }),
            leaf("max_message_size", [](R r, N n, S s) { r.integer(n, s.imap.max_message_size); }),
            leaf("login_timeout", [](R r, N n, S s) { r.duration(n, s.imap.login_timeout); }),
            leaf("idle_timeout", [](R r, N n, S s) { r.duration(n, s.imap.idle_timeout); }),
            leaf("session_timeout", [](R r, N n, S s) { r.duration(n, s.imap.session_timeout); }),
            leaf("write_timeout", [](R r, N n, S s) { r.duration(n, s.imap.write_timeout); }),
            leaf("max_errors", [](R r, N n, S s) { r.integer(n, s.imap.max_errors); }),
            leaf("max_auth_failures", [](R r, N n, S s) { r.integer(n, s.imap.max_auth_failures); }),
            leaf("max_connections", [](R r, N n, S s) { r.integer(n, s.imap.max_connections); }),
            leaf("max_connections_per_ip", [](R r, N n, S s) { r.integer(n, s.imap.max_connections_per_ip); }),
            leaf("max_user_ip_connections", [](R r, N n, S s) { r.integer(n, s.imap.max_user_ip_connections); }),
        }),
        section("pop3", {
            leaf("max_line_length", [](R r, N n, S s) { r.integer(n, s.pop3.max_line_length); }),
            leaf("ban_long_lines", [](R r, N n, S s) { r.boolean(n, s.pop3.ban_long_lines); }),
            leaf("login_timeout", [](R r, N n, S s) { r.duration(n, s.pop3.login_timeout); }),
            leaf("command_timeout", [](R r, N n, S s) { r.duration(n, s.pop3.command_timeout); }),
            leaf("session_timeout", [](R r, N n, S s) { r.duration(n, s.pop3.session_timeout); }),
            leaf("write_timeout", [](R r, N n, S s) { r.duration(n, s.pop3.write_timeout); }),
            leaf("max_errors", [](R r, N n, S s) { r.integer(n, s.pop3.max_errors); }),
            leaf("max_auth_failures", [](R r, N n, S s) { r.integer(n, s.pop3.max_auth_failures); }),
            leaf("max_connections", [](R r, N n, S s) { r.integer(n, s.pop3.max_connections); }),
            leaf("max_connections_per_ip", [](R r, N n, S s) { r.integer(n, s.pop3.max_connections_per_ip); }),
        }),
        leaf("local_domains", [](R r, N n, S s) {
            r.string_list(n, s.local_domains);
            for (auto& d : s.local_domains) d = lower_ascii(d);
        }),
        section("policy", {
            leaf("trusted_networks", [](R r, N n, S s) { r.string_list(n, s.policy.trusted_networks); }),
            leaf("accept_file", [](R r, N n, S s) { r.path(n, s.policy.accept_file); }),
            leaf("null_sender", [](R r, N n, S s) {
                r.choice(n, s.policy.null_sender,
                         {{"local_only", null_sender_policy::local_only},
                          {"accept", null_sender_policy::accept},
                          {"refuse", null_sender_policy::refuse}});
            }),
            leaf("relay_requires_from", [](R r, N n, S s) { r.boolean(n, s.policy.relay_requires_from); }),
            leaf("kill_file", [](R r, N n, S s) { r.path(n, s.policy.kill_file); }),
            leaf("long_line_ban", [](R r, N n, S s) { r.duration(n, s.policy.long_line_ban); }),
            leaf("enumeration_ban", [](R r, N n, S s) { r.duration(n, s.policy.enumeration_ban); }),
        }),
        leaf("rules", [](R r, N n, S s) { read_rule_list(r, n, "rules", s.rules.rules, 1); }),
        section("queue", {
            leaf("spool_dir", [](R r, N n, S s) { r.path(n, s.queue.spool_dir); }),
            leaf("transport_map", [](R r, N n, S s) { r.path(n, s.queue.transport_map); }),
            leaf("retry_min", [](R r, N n, S s) { r.duration(n, s.queue.retry_min); }),
            leaf("retry_max", [](R r, N n, S s) { r.duration(n, s.queue.retry_max); }),
            leaf("max_lifetime", [](R r, N n, S s) { r.duration(n, s.queue.max_lifetime); }),
            leaf("concurrency", [](R r, N n, S s) { r.integer(n, s.queue.concurrency); }),
            leaf("connect_timeout", [](R r, N n, S s) { r.duration(n, s.queue.connect_timeout); }),
            leaf("greeting_timeout", [](R r, N n, S s) { r.duration(n, s.queue.greeting_timeout); }),
            leaf("command_timeout", [](R r, N n, S s) { r.duration(n, s.queue.command_timeout); }),
            leaf("data_init_timeout", [](R r, N n, S s) { r.duration(n, s.queue.data_init_timeout); }),
            leaf("data_block_timeout", [](R r, N n, S s) { r.duration(n, s.queue.data_block_timeout); }),
            leaf("data_end_timeout", [](R r, N n, S s) { r.duration(n, s.queue.data_end_timeout); }),
            leaf("default_tls", [](R r, N n, S s) {
                r.choice(n, s.queue.default_tls,
                         {{"none", queue::tls_policy::none},
                          {"opportunistic", queue::tls_policy::opportunistic},
                          {"required", queue::tls_policy::required}});
            }),
            leaf("tls_verify", [](R r, N n, S s) { r.boolean(n, s.queue.tls_verify); }),
            leaf("tls_ca_file", [](R r, N n, S s) { r.path(n, s.queue.tls_ca_file); }),
            leaf("poll_interval", [](R r, N n, S s) { r.duration(n, s.queue.poll_interval); }),
            leaf("mx_port", [](R r, N n, S s) { r.integer(n, s.queue.mx_port); }),
            leaf("dns_server", [](R r, N n, S s) { r.text(n, s.queue.dns_server); }),
        }),
        section("metrics", {
            leaf("enabled", [](R r, N n, S s) { r.boolean(n, s.metrics.enabled); }),
            leaf("address", [](R r, N n, S s) { r.text(n, s.metrics.address); }),
            leaf("port", [](R r, N n, S s) { r.integer(n, s.metrics.port); }),
        }),
        section("log", {
            leaf("level", [](R r, N n, S s) {
                r.choice(n, s.log.level,
                         {{"trace", log_level::trace}, {"debug", log_level::debug}, {"info", log_level::info},
                          {"warn", log_level::warn}, {"error", log_level::error}});
            }),
        }),
    });
    return root;
}

std::string join_key(const std::string& prefix, const std::string& name) {
    return prefix.empty() ? name : prefix + "." + name;
}

void read_section(reader& r, const schema_node& node, const YAML::Node& yaml, const std::string& prefix,
                  refmaild_settings& settings) {
    if (yaml.IsNull()) return;  // "tls:" with nothing under it keeps the defaults
    if (!yaml.IsMap()) {
        r.set_key(prefix);
        r.error(yaml, "expected a map of settings");
        return;
    }
    std::set<std::string> seen;
    for (const auto& kv : yaml) {
        const YAML::Node& k = kv.first;
        if (!k.IsScalar()) {
            r.error(reader::line_of(k), prefix, "keys must be plain names");
            continue;
        }
        const std::string& name = k.Scalar();
        std::string key = join_key(prefix, name);
        if (!seen.insert(name).second) {
            r.error(reader::line_of(k), key, "duplicate key (first defined on line " +
                                                 std::to_string(r.result().key_lines[key]) + ")");
            continue;
        }
        auto child = std::find_if(node.children.begin(), node.children.end(),
                                  [&](const schema_node& c) { return c.name == name; });
        if (child == node.children.end()) {
            std::string message = "unknown key " + in_quotes(name);
            std::string known, suggestion;
            for (const auto& c : node.children) {
                known += (known.empty() ? "" : ", ") + c.name;
                if (suggestion.empty() && edit_distance(c.name, name) <= 2) suggestion = c.name;
            }
            if (!suggestion.empty()) message += " (did you mean " + in_quotes(suggestion) + "?)";
            message += prefix.empty() ? "; top-level keys are: " : "; keys of " + prefix + " are: ";
            message += known;
            r.error(reader::line_of(k), prefix, message);
            continue;
        }
        r.result().key_lines[key] = reader::line_of(k);
        if (child->read) {
            r.set_key(key);
            child->read(r, kv.second, settings);
        } else {
            read_section(r, *child, kv.second, key, settings);
        }
    }
}

void collect_keys(const schema_node& node, const std::string& prefix, std::vector<std::string>& out) {
    for (const auto& c : node.children) {
        std::string key = join_key(prefix, c.name);
        if (c.read) {
            out.push_back(key);
        } else {
            collect_keys(c, key, out);
        }
    }
}

}  // namespace

const std::vector<std::string>& known_keys() {
    static const std::vector<std::string> keys = [] {
        std::vector<std::string> out;
        collect_keys(schema(), "", out);
        return out;
    }();
    return keys;
}

config_result parse_config(std::string_view yaml, std::string_view source_name, const std::filesystem::path& base_dir) {
    config_result result;
    reader r(result, std::string(source_name), base_dir);
    if (yaml.size() > max_config_size) {
        r.error(0, "", "larger than " + std::to_string(max_config_size >> 20) + " MiB");
        return result;
    }
    YAML::Node root;
    try {
        root = YAML::Load(std::string(yaml));
    } catch (const YAML::DeepRecursion& e) {
        // yaml-cpp's own depth limit, which keeps its recursive parser off the end of the stack;
        // its message is not helpful ("bad file").
        r.error(e.mark.is_null() ? 0 : e.mark.line + 1, "", "YAML nested too deeply");
        return result;
    } catch (const YAML::Exception& e) {
        r.error(e.mark.is_null() ? 0 : e.mark.line + 1, "", "YAML syntax: " + e.msg);
        return result;
    }
    if (!root.IsNull() && !root.IsMap()) {
        r.error(reader::line_of(root), "", "expected a map of sections (server:, listeners:, tls:, ...)");
        return result;
    }
    try {
        read_section(r, schema(), root, "", result.settings);
    } catch (const YAML::Exception& e) {
        // yaml-cpp builds nodes lazily; a malformed construct can still surface here.
        r.error(e.mark.is_null() ? 0 : e.mark.line + 1, r.key(), "YAML: " + e.msg);
        return result;
    }
    if (!result.ok()) return result;  // semantic checks on half-read settings only add noise
    auto semantic = validate(result.settings, source_name, result.key_lines);
    result.problems.insert(result.problems.end(), semantic.begin(), semantic.end());
    return result;
}

config_result load_config(const std::filesystem::path& file) {
    std::string text;
    if (auto ec = read_whole_file(file, text, max_config_size)) {
        config_result result;
        result.problems.push_back({config_problem::severity::error, file.string(), 0, "",
                                   "cannot read the configuration file: " + ec.message()});
        return result;
    }
    auto base = file.parent_path();
    if (base.empty()) base = ".";
    return parse_config(text, file.string(), std::filesystem::absolute(base).lexically_normal());
}

refmaild_settings load_config_or_throw(const std::filesystem::path& file) {
    auto result = load_config(file);
    if (!result.ok()) throw config_error(std::move(result.problems));
    return std::move(result.settings);
}

// ---------------------------------------------------------------------------------------------
// Semantic checks.

namespace {

class checker {
public:
    checker(std::string_view source, const std::map<std::string, int, std::less<>>& lines)
        : source_(source), lines_(lines) {}

    // Line of `key`, or of its closest enclosing section that the file mentions.
    int line_of(std::string_view key) const {
        std::string k(key);
        for (;;) {
            if (auto it = lines_.find(k); it != lines_.end()) return it->second;
            auto dot = k.rfind('.');
            if (dot == std::string::npos) return 0;
            k.resize(dot);
        }
    }
    void error(std::string_view key, std::string message) { add(config_problem::severity::error, key, std::move(message)); }
    void warning(std::string_view key, std::string message) {
        add(config_problem::severity::warning, key, std::move(message));
    }
    std::vector<config_problem> take() { return std::move(problems_); }

private:
    void add(config_problem::severity level, std::string_view key, std::string message) {
        problems_.push_back({level, source_, line_of(key), std::string(key), std::move(message)});
    }
    std::string source_;
    const std::map<std::string, int, std::less<>>& lines_;
    std::vector<config_problem> problems_;
};

void check_banner(checker& c, std::string_view key, const std::string& banner) {
    if (banner.size() > 200) c.error(key, "longer than 200 characters");
    if (std::any_of(banner.begin(), banner.end(), [](char ch) { return ch < 0x20 || ch > 0x7e; })) {
        c.error(key, "only printable ASCII is allowed (no CR, LF or control characters)");
        return;
    }
    std::string lower = lower_ascii(banner);
    bool version = false;
    for (std::size_t i = 0; i + 2 < banner.size(); ++i) {
        if (std::isdigit(static_cast<unsigned char>(banner[i])) && banner[i + 1] == '.' &&
            std::isdigit(static_cast<unsigned char>(banner[i + 2]))) {
            version = true;
        }
    }
    if (version || lower.find("refmaild") != std::string::npos || lower.find("mailharness") != std::string::npos) {
        c.warning(key, "the banner seems to name the software or its version, which helps attackers");
    }
}

// TLS parameter strings, judged by the OpenSSL that will use them.
void check_tls_strings(checker& c, const tls_settings& tls) {
    std::unique_ptr<SSL_CTX, decltype(&SSL_CTX_free)> ctx(SSL_CTX_new(TLS_method()), SSL_CTX_free);
    if (!ctx) {
        ERR_clear_error();
        return;
    }
    if (tls.ciphers.empty() || SSL_CTX_set_cipher_list(ctx.get(), tls.ciphers.c_str()) != 1) {
        c.error("tls.ciphers", "OpenSSL accepts no cipher from " + in_quotes(tls.ciphers));
    }
    if (tls.ciphersuites.empty() || SSL_CTX_set_ciphersuites(ctx.get(), tls.ciphersuites.c_str()) != 1) {
        c.error("tls.ciphersuites", "OpenSSL does not accept the TLS 1.3 cipher suites " + in_quotes(tls.ciphersuites));
    }
    if (tls.groups.empty() || SSL_CTX_set1_groups_list(ctx.get(), tls.groups.c_str()) != 1) {
        c.error("tls.groups", "OpenSSL does not accept the groups " + in_quotes(tls.groups));
    }
    ERR_clear_error();
}

}  // namespace

std::vector<config_problem> validate(const refmaild_settings& s, std::string_view source_name,
                                     const std::map<std::string, int, std::less<>>& key_lines) {
    checker c(source_name, key_lines);

    // server
    if (!valid_host_name(s.server.hostname)) {
        c.error("server.hostname", in_quotes(s.server.hostname) + " is not a valid host name");
    }
    if (s.server.io_threads < 1 || s.server.io_threads > 1024) c.error("server.io_threads", "must be 1 to 1024");
    check_banner(c, "server.smtp_banner", s.server.smtp_banner);
    check_banner(c, "server.pop3_banner", s.server.pop3_banner);
    check_banner(c, "server.imap_banner", s.server.imap_banner);

    // listeners (and the metrics listener, which shares the address space)
    struct bound {
        std::string key;
        std::string address;
        std::uint16_t port;
    };
    std::vector<bound> bound_sockets;
    auto check_listener = [&](const std::string& key, const listener_settings& l) {
        if (!is_ip_literal(l.address)) {
            c.error(key + ".address", in_quotes(l.address) + " is not an IPv4 or IPv6 address");
        } else if (l.enabled) {
            bound_sockets.push_back({key, l.address, l.port});
        }
    };
    check_listener("listeners.smtp", s.listeners.smtp);
    check_listener("listeners.submission", s.listeners.submission);
    check_listener("listeners.smtps", s.listeners.smtps);
    check_listener("listeners.pop3", s.listeners.pop3);
    check_listener("listeners.pop3s", s.listeners.pop3s);
    check_listener("listeners.imap", s.listeners.imap);
    check_listener("listeners.imaps", s.listeners.imaps);
    auto check_methods = [&](const std::string& key, const listener_settings& l, std::initializer_list<std::string_view> known) {
        for (const auto& m : l.login_methods) {
            if (std::find(known.begin(), known.end(), m) == known.end()) {
                std::string list;
                for (auto k : known) list += (list.empty() ? "" : ", ") + std::string(k);
                c.error(key + ".login_methods", in_quotes(m) + " is not a login method here; known: " + list);
            }
        }
        if (!l.banner.empty()) check_banner(c, key + ".banner", l.banner);
    };
    for (auto [key, l] : {std::pair<const char*, const listener_settings*>{"listeners.smtp", &s.listeners.smtp},
                          {"listeners.submission", &s.listeners.submission}, {"listeners.smtps", &s.listeners.smtps}}) {
        check_methods(key, *l, {"plain", "login", "cram-md5", "scram-sha-256"});
    }
    for (auto [key, l] : {std::pair<const char*, const listener_settings*>{"listeners.pop3", &s.listeners.pop3},
                          {"listeners.pop3s", &s.listeners.pop3s}}) {
        check_methods(key, *l, {"user", "apop", "plain", "login", "cram-md5", "scram-sha-256"});
    }
    for (auto [key, l] : {std::pair<const char*, const listener_settings*>{"listeners.imap", &s.listeners.imap},
                          {"listeners.imaps", &s.listeners.imaps}}) {
        check_methods(key, *l, {"user", "plain", "login", "cram-md5", "scram-sha-256"});
    }
    if (s.imap.max_line_length < 1000 || s.imap.max_line_length > 16u << 20) {
        c.error("imap.max_line_length", "must be 1000 to 16777216 (RFC 7162 4: at least 8192 is recommended)");
    }
    if (s.imap.max_message_size < 1024) c.error("imap.max_message_size", "must be at least 1024");
    if (s.pop3.max_line_length < 255 || s.pop3.max_line_length > 65536) {
        c.error("pop3.max_line_length", "must be 255 to 65536 (RFC 2449 4: at least 255)");
    }
    check_listener("metrics", {.enabled = s.metrics.enabled, .address = s.metrics.address, .port = s.metrics.port});
    for (std::size_t i = 0; i < bound_sockets.size(); ++i) {
        for (std::size_t j = 0; j < i; ++j) {
            const bound &a = bound_sockets[i], &b = bound_sockets[j];
            if (a.port == 0 || a.port != b.port) continue;
            if (a.address == b.address || is_wildcard_address(a.address) || is_wildcard_address(b.address)) {
                c.error(a.key + ".port", "port " + std::to_string(a.port) + " is already used by " + b.key);
            }
        }
    }

    // tls
    const tls_settings& tls = s.tls;
    bool has_cert = !tls.cert_file.empty();
    if (has_cert != !tls.key_file.empty()) {
        c.error(has_cert ? "tls.key_file" : "tls.cert_file", "tls.cert_file and tls.key_file must be set together");
    }
    if (s.listeners.imaps.enabled && !has_cert) {
        c.error("listeners.imaps.enabled", "implicit TLS needs tls.cert_file and tls.key_file");
    }
    if (s.listeners.pop3s.enabled && !has_cert) {
        c.error("listeners.pop3s.enabled", "implicit TLS needs tls.cert_file and tls.key_file");
    }
    if (s.listeners.smtps.enabled && !has_cert) {
        c.error("listeners.smtps.enabled", "implicit TLS needs tls.cert_file and tls.key_file");
    }
    if (tls.client_cert != client_cert_mode::none) {
        if (tls.ca_file.empty()) c.error("tls.client_cert", "asking for client certificates needs tls.ca_file");
        if (!has_cert) c.error("tls.client_cert", "asking for client certificates needs tls.cert_file");
    }
    if (tls.expiry_warning_days > 3650) c.error("tls.expiry_warning_days", "must be 0 to 3650");
    check_tls_strings(c, tls);

    // auth
    using namespace std::chrono_literals;
    if (s.auth.failure_delay_max > 5min) c.error("auth.failure_delay_max", "must be at most 5m");
    if (s.auth.failure_delay_base > s.auth.failure_delay_max) {
        c.error("auth.failure_delay_base", "must not exceed auth.failure_delay_max");
    }
    if (s.auth.passwd_file.empty() && (s.listeners.submission.enabled || s.listeners.smtps.enabled)) {
        c.warning("auth.passwd_file", "not set: AUTH is unavailable, so submission listeners accept no one");
    }
    if (s.auth.allow_plaintext_auth && !has_cert) {
        c.warning("auth.allow_plaintext_auth", "passwords will cross the network in clear (no TLS configured)");
    }

    // store
    if (s.store.maildir_root.empty()) c.error("store.maildir_root", "must be set");
    if (s.store.data_dir.empty()) c.error("store.data_dir", "must be set");
    if (s.store.max_batch < 1 || s.store.max_batch > 65536) c.error("store.max_batch", "must be 1 to 65536");
    if (s.store.batch_delay > 1s) c.error("store.batch_delay", "must be at most 1s (it delays every reply)");

    // smtp
    if (s.smtp.max_message_size < 1024 || s.smtp.max_message_size > (1ull << 30)) {
        c.error("smtp.max_message_size", "must be 1K to 1G (messages are held in memory until stored)");
    }
    if (s.smtp.max_recipients < 1 || s.smtp.max_recipients > 100000) {
        c.error("smtp.max_recipients", "must be 1 to 100000");
    } else if (s.smtp.max_recipients < 100) {
        c.warning("smtp.max_recipients", "RFC 5321 4.5.3.1.8 asks servers to accept at least 100 recipients");
    }
    if (s.smtp.max_line_length < 512 || s.smtp.max_line_length > 65536) {
        c.error("smtp.max_line_length", "must be 512 (the RFC 5321 minimum) to 65536");
    }
    for (auto [key, value, rfc] : {std::tuple{"smtp.command_timeout", s.smtp.command_timeout, std::chrono::milliseconds(5min)},
                                   std::tuple{"smtp.data_timeout", s.smtp.data_timeout, std::chrono::milliseconds(3min)}}) {
        if (value < 1s || value > 1h) {
            c.error(key, "must be 1s to 1h");
        } else if (value < rfc) {
            c.warning(key, "shorter than RFC 5321 4.5.3.2 asks for; fine for tests, unkind to slow clients");
        }
    }

    if (s.smtp.session_timeout.count() != 0 && s.smtp.session_timeout < std::max(s.smtp.command_timeout, s.smtp.data_timeout)) {
        c.error("smtp.session_timeout", "must be 0 (no limit) or at least smtp.command_timeout and smtp.data_timeout");
    }
    if (s.smtp.max_header_size != 0 && s.smtp.max_header_size < 1024) {
        c.error("smtp.max_header_size", "must be 0 (no limit) or at least 1K");
    }

    // policy
    for (const auto& net : s.policy.trusted_networks) {
        if (!policy::ip_network::parse(net)) {
            c.error("policy.trusted_networks", in_quotes(net) + " is not an IP address or CIDR network (host bits set?)");
        } else if (auto n = policy::ip_network::parse(net); n->prefix == 96 || n->prefix == 0) {
            c.warning("policy.trusted_networks", in_quotes(net) + " trusts every address: this server is an open relay");
        }
    }

    // queue
    const queue_settings& q = s.queue;
    if (q.retry_min < 1s || q.retry_min > 24h) c.error("queue.retry_min", "must be 1s to 24h");
    if (q.retry_max < q.retry_min || q.retry_max > 24h) c.error("queue.retry_max", "must be queue.retry_min to 24h");
    if (q.max_lifetime < 1s || q.max_lifetime > 24h * 30) {
        c.error("queue.max_lifetime", "must be 1s to 720h (30 days)");
    } else if (q.max_lifetime < 24h * 4) {
        c.warning("queue.max_lifetime", "RFC 5321 4.5.4.1 asks to keep trying for at least 4-5 days");
    }
    if (q.concurrency < 1 || q.concurrency > 1000) c.error("queue.concurrency", "must be 1 to 1000");
    if (q.connect_timeout < 1s || q.connect_timeout > 10min) c.error("queue.connect_timeout", "must be 1s to 10m");
    for (auto [key, value, rfc] : {std::tuple{"queue.greeting_timeout", q.greeting_timeout, std::chrono::milliseconds(5min)},
                                   std::tuple{"queue.command_timeout", q.command_timeout, std::chrono::milliseconds(5min)},
                                   std::tuple{"queue.data_init_timeout", q.data_init_timeout, std::chrono::milliseconds(2min)},
                                   std::tuple{"queue.data_block_timeout", q.data_block_timeout, std::chrono::milliseconds(3min)},
                                   std::tuple{"queue.data_end_timeout", q.data_end_timeout, std::chrono::milliseconds(10min)}}) {
        if (value < 1s || value > 1h) {
            c.error(key, "must be 1s to 1h");
        } else if (value < rfc) {
            c.warning(key, "shorter than RFC 5321 4.5.3.2 asks for; fine for tests, unkind to slow servers");
        }
    }
    if (q.poll_interval < 10ms || q.poll_interval > 1min) c.error("queue.poll_interval", "must be 10ms to 1m");
    if (q.mx_port == 0) c.error("queue.mx_port", "must be 1 to 65535");
    if (!q.dns_server.empty() && !queue::valid_nameserver(q.dns_server)) {
        c.error("queue.dns_server", "expected an IPv4 address with an optional port, e.g. \"127.0.0.1:5353\", got " +
                                        in_quotes(q.dns_server));
    }

    // local domains
    std::set<std::string> domains;
    for (const auto& d : s.local_domains) {
        if (!valid_host_name(d)) {
            c.error("local_domains", in_quotes(d) + " is not a valid domain name");
        } else if (!domains.insert(lower_ascii(d)).second) {
            c.warning("local_domains", in_quotes(d) + " is listed twice");
        }
    }

    return c.take();
}

// ---------------------------------------------------------------------------------------------
// --check-config: the settings plus the files they name.

std::vector<config_problem> check_config(const std::filesystem::path& file) {
    config_result loaded = load_config(file);
    std::vector<config_problem> problems = std::move(loaded.problems);
    bool syntax_ok = std::none_of(problems.begin(), problems.end(),
                                  [](const config_problem& p) { return p.is_error() && p.key.empty(); });
    if (!syntax_ok) return problems;

    const refmaild_settings& s = loaded.settings;
    checker c(file.string(), loaded.key_lines);
    auto describe = [](const std::filesystem::path& p, std::error_code ec) {
        return in_quotes(p.string()) + ": " + ec.message();
    };

    // Certificate, key and CA file.
    if (!s.tls.cert_file.empty()) {
        auto info = cert::check(s.tls.cert_file);
        if (!info) {
            c.error("tls.cert_file", describe(s.tls.cert_file, info.error()));
        } else {
            if (info->expired) {
                c.error("tls.cert_file", info->days_left == 0
                                             ? std::string("certificate expired less than a day ago")
                                             : "certificate expired " + std::to_string(-info->days_left) + " days ago");
            } else if (info->not_yet_valid) {
                c.error("tls.cert_file", "certificate is not valid yet");
            } else if (s.tls.expiry_warning_days > 0 &&
                       info->days_left < static_cast<long long>(s.tls.expiry_warning_days)) {
                c.warning("tls.cert_file", "certificate expires in " + std::to_string(info->days_left) +
                                               " days (warning threshold: " +
                                               std::to_string(s.tls.expiry_warning_days) + ")");
            }
            if (info->dns_names.empty() && info->ip_addresses.empty()) {
                c.warning("tls.cert_file", "certificate has no subjectAltName; clients will not match the host name");
            } else if (!names_host(info->dns_names, s.server.hostname)) {
                c.warning("tls.cert_file", "certificate does not name server.hostname " + in_quotes(s.server.hostname));
            }
        }
        if (!s.tls.key_file.empty() && info) {
            if (auto ec = cert::check_key_pair(s.tls.cert_file, s.tls.key_file)) {
                c.error("tls.key_file", describe(s.tls.key_file, ec));
            }
        }
    }
    if (!s.tls.ca_file.empty()) {
        if (auto info = cert::check(s.tls.ca_file); !info) c.error("tls.ca_file", describe(s.tls.ca_file, info.error()));
    }

    // Access lists: readable, every line valid.
    for (auto [key, list] : {std::pair{"policy.kill_file", &s.policy.kill_file}, std::pair{"policy.accept_file", &s.policy.accept_file}}) {
        if (list->empty()) continue;
        std::vector<policy::list_problem> list_problems;
        policy::access_list::load(*list, &list_problems);
        for (const auto& p : list_problems) {
            problems.push_back({config_problem::severity::error, list->string(), static_cast<int>(p.line), key, p.message});
        }
    }

    // Users.
    std::vector<std::string> user_domains;
    if (!s.auth.passwd_file.empty()) {
        auto users = users::user_db::load(s.auth.passwd_file);
        if (users.error) {
            c.error("auth.passwd_file", describe(s.auth.passwd_file, users.error));
        }
        for (const auto& p : users.problems) {
            problems.push_back({config_problem::severity::error, s.auth.passwd_file.string(), static_cast<int>(p.line),
                                "auth.passwd_file", p.message});
        }
        user_domains = users.db.domains();
    }
    if (s.local_domains.empty() && user_domains.empty()) {
        c.warning("local_domains", "no local domains (none configured, no users): all mail will be refused");
    }

    // Store directories: must be directories if they exist; created on demand otherwise.
    for (auto [key, dir] : {std::pair{"store.maildir_root", &s.store.maildir_root}, std::pair{"store.data_dir", &s.store.data_dir}}) {
        if (dir->empty()) continue;
        std::error_code ec;
        auto st = std::filesystem::status(*dir, ec);
        if (st.type() == std::filesystem::file_type::not_found) {
            c.warning(key, in_quotes(dir->string()) + " does not exist yet; it will be created");
        } else if (ec) {
            c.error(key, describe(*dir, ec));
        } else if (st.type() != std::filesystem::file_type::directory) {
            c.error(key, in_quotes(dir->string()) + " is not a directory");
        } else if (::access(dir->c_str(), W_OK | X_OK) != 0) {
            c.error(key, in_quotes(dir->string()) + " is not writable");
        }
    }

    // Queue: spool directory, transport map, CA file.
    {
        auto spool = queue_spool_dir(s);
        std::error_code ec;
        auto st = std::filesystem::status(spool, ec);
        if (st.type() == std::filesystem::file_type::not_found) {
            // created at start, like the store directories
        } else if (ec) {
            c.error("queue.spool_dir", describe(spool, ec));
        } else if (st.type() != std::filesystem::file_type::directory) {
            c.error("queue.spool_dir", in_quotes(spool.string()) + " is not a directory");
        } else if (::access(spool.c_str(), W_OK | X_OK) != 0) {
            c.error("queue.spool_dir", in_quotes(spool.string()) + " is not writable");
        }
    }
    if (!s.queue.transport_map.empty()) {
        std::error_code ec;
        std::vector<queue::transport_problem> map_problems;
        queue::transport_map::load(s.queue.transport_map, ec, &map_problems);
        if (ec) c.error("queue.transport_map", describe(s.queue.transport_map, ec));
        for (const auto& p : map_problems) {
            problems.push_back({config_problem::severity::error, s.queue.transport_map.string(), static_cast<int>(p.line),
                                "queue.transport_map", p.message});
        }
    }
    if (!s.queue.tls_ca_file.empty()) {
        if (auto info = cert::check(s.queue.tls_ca_file); !info) {
            c.error("queue.tls_ca_file", describe(s.queue.tls_ca_file, info.error()));
        }
    }

    auto files = c.take();
    problems.insert(problems.end(), files.begin(), files.end());
    return problems;
}

}  // namespace mailharness::refmaild::config

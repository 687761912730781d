#include "mailharness/load/scenario_loader.hpp"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <functional>
#include <initializer_list>
#include <set>
#include <sstream>

#include "mailharness/load/actions.hpp"

namespace mailharness::load {

std::string load_problem::to_string() const {
    std::string s = file;
    if (line > 0) s += ':' + std::to_string(line);
    return s + ": " + message;
}

namespace {

namespace fs = std::filesystem;
using keys = std::initializer_list<std::string_view>;

// Collects problems; every parse helper reports through it and returns false on a bad value,
// so that one run of the loader lists everything that is wrong.
struct context {
    std::string file;
    fs::path base;
    std::vector<load_problem>& problems;

    void fail(const YAML::Node& at, const std::string& where, const std::string& message) {
        int line = 0;
        if (at.IsDefined()) {
            const auto mark = at.Mark();
            if (!mark.is_null()) line = mark.line + 1;
        }
        problems.push_back({file, line, where.empty() ? message : where + ": " + message});
    }

    fs::path path(const std::string& p) const {
        fs::path f(p);
        return f.is_absolute() ? f : (base / f).lexically_normal();
    }

    // Reports keys of map `n` not in `known`.
    void check_keys(const YAML::Node& n, const std::string& where, keys known) {
        for (const auto& kv : n) {
            const std::string k = kv.first.as<std::string>("");
            if (std::find(known.begin(), known.end(), k) == known.end()) {
                std::string list;
                for (auto x : known) list += (list.empty() ? "" : ", ") + std::string(x);
                fail(kv.first, where, "unknown key '" + k + "' (known: " + list + ")");
            }
        }
    }

    bool is_map(const YAML::Node& n, const std::string& where) {
        if (n.IsMap()) return true;
        fail(n, where, "must be a map");
        return false;
    }

    bool str(const YAML::Node& n, const std::string& where, std::string& out) {
        if (!n.IsScalar()) {
            fail(n, where, "must be a string");
            return false;
        }
        out = n.Scalar();
        return true;
    }

    bool boolean(const YAML::Node& n, const std::string& where, bool& out) {
        bool v = false;
        if (!n.IsScalar() || !YAML::convert<bool>::decode(n, v)) {
            fail(n, where, "must be true or false");
            return false;
        }
        out = v;
        return true;
    }

    template <class T>
    bool integer(const YAML::Node& n, const std::string& where, T& out, std::uint64_t lo, std::uint64_t hi) {
        std::uint64_t v = 0;
        if (!n.IsScalar() || !YAML::convert<std::uint64_t>::decode(n, v) || n.Scalar().starts_with("-")) {
            fail(n, where, "must be a whole number");
            return false;
        }
        if (v < lo || v > hi) {
            fail(n, where, "must be between " + std::to_string(lo) + " and " + std::to_string(hi));
            return false;
        }
        out = static_cast<T>(v);
        return true;
    }

    bool number(const YAML::Node& n, const std::string& where, double& out, double lo, double hi) {
        double v = 0;
        if (!n.IsScalar() || !YAML::convert<double>::decode(n, v) || !std::isfinite(v)) {
            fail(n, where, "must be a number");
            return false;
        }
        if (v < lo || v > hi) {
            std::ostringstream s;
            s << "must be between " << lo << " and " << hi;
            fail(n, where, s.str());
            return false;
        }
        out = v;
        return true;
    }

    bool duration(const YAML::Node& n, const std::string& where, usec& out) {
        if (!n.IsScalar() || !parse_duration(n.Scalar(), out)) {
            fail(n, where, "must be a duration with a unit, e.g. 250ms, 10s, 1m30s");
            return false;
        }
        return true;
    }

    bool size(const YAML::Node& n, const std::string& where, std::uint64_t& out) {
        if (!n.IsScalar() || !parse_size(n.Scalar(), out)) {
            fail(n, where, "must be a size, e.g. 4096, 4KiB, 1.5MB");
            return false;
        }
        return true;
    }

    bool rate(const YAML::Node& n, const std::string& where, double& out) {
        if (!n.IsScalar() || !parse_rate(n.Scalar(), out)) {
            fail(n, where, "must be a rate, e.g. 100/s, 600/m, 25");
            return false;
        }
        return true;
    }

    // A count or {min, max}.
    bool range(const YAML::Node& n, const std::string& where, count_range& out, std::uint32_t lo, std::uint32_t hi) {
        if (n.IsScalar()) {
            std::uint32_t v = 0;
            if (!integer(n, where, v, lo, hi)) return false;
            out = {v, v};
            return true;
        }
        if (!n.IsMap()) {
            fail(n, where, "must be a number or {min, max}");
            return false;
        }
        check_keys(n, where, {"min", "max"});
        count_range r{lo, lo};
        bool ok = true;
        if (n["min"]) ok &= integer(n["min"], where + ".min", r.min, lo, hi);
        if (n["max"]) ok &= integer(n["max"], where + ".max", r.max, lo, hi);
        else r.max = r.min;
        if (ok && r.min > r.max) {
            fail(n, where, "min is greater than max");
            return false;
        }
        if (ok) out = r;
        return ok;
    }

    bool think(const YAML::Node& n, const std::string& where, think_time& out) {
        think_time t;
        if (n.IsScalar()) {
            if (!duration(n, where, t.min)) return false;
            t.type = think_time::kind::fixed;
            t.max = t.min;
            out = t;
            return true;
        }
        if (!n.IsMap()) {
            fail(n, where, "must be a duration or {min, max} or {mean, distribution: exponential}");
            return false;
        }
        check_keys(n, where, {"duration", "min", "max", "mean", "distribution"});
        bool ok = true;
        std::string dist = n["mean"] ? "exponential" : n["min"] ? "uniform" : "fixed";
        if (n["distribution"]) ok &= str(n["distribution"], where + ".distribution", dist);
        if (dist == "fixed") {
            if (!n["duration"]) {
                fail(n, where, "needs duration");
                return false;
            }
            ok &= duration(n["duration"], where + ".duration", t.min);
            t.max = t.min;
            t.type = think_time::kind::fixed;
        } else if (dist == "uniform") {
            if (!n["min"] || !n["max"]) {
                fail(n, where, "uniform think time needs min and max");
                return false;
            }
            ok &= duration(n["min"], where + ".min", t.min);
            ok &= duration(n["max"], where + ".max", t.max);
            if (ok && t.min > t.max) {
                fail(n, where, "min is greater than max");
                ok = false;
            }
            t.type = think_time::kind::uniform;
        } else if (dist == "exponential") {
            if (!n["mean"]) {
                fail(n, where, "exponential think time needs mean");
                return false;
            }
            ok &= duration(n["mean"], where + ".mean", t.min);
            t.max = t.min;
            t.type = think_time::kind::exponential;
        } else {
            fail(n["distribution"], where, "distribution must be fixed, uniform or exponential");
            return false;
        }
        if (ok) out = t;
        return ok;
    }
};

std::string item(const std::string& where, std::size_t i) { return where + "[" + std::to_string(i) + "]"; }

// ---- overrides ----

void apply_override(YAML::Node& root, const std::string& spec, context& c) {
    const auto eq = spec.find('=');
    if (eq == std::string::npos || eq == 0) {
        c.problems.push_back({c.file, 0, "--set " + spec + ": expected path=value"});
        return;
    }
    const std::string path = spec.substr(0, eq);
    YAML::Node value;
    try {
        value = YAML::Load(spec.substr(eq + 1));
    } catch (const YAML::Exception& e) {
        c.problems.push_back({c.file, 0, "--set " + path + ": value is not YAML: " + e.msg});
        return;
    }
    if (value.IsNull() && eq + 1 == spec.size()) value = YAML::Node(std::string());
    std::vector<std::string> segs;
    for (std::size_t p = 0; p <= path.size();) {
        auto dot = path.find('.', p);
        if (dot == std::string::npos) dot = path.size();
        segs.push_back(path.substr(p, dot - p));
        p = dot + 1;
    }
    YAML::Node cur = root;
    for (std::size_t i = 0; i < segs.size(); ++i) {
        const std::string& s = segs[i];
        if (s.empty()) {
            c.problems.push_back({c.file, 0, "--set " + path + ": empty path segment"});
            return;
        }
        const bool last = i + 1 == segs.size();
        if (cur.IsSequence()) {
            YAML::Node next;
            bool found = false;
            const bool numeric = std::all_of(s.begin(), s.end(), [](char ch) { return ch >= '0' && ch <= '9'; });
            if (numeric && std::stoull(s) < cur.size()) {
                next.reset(cur[std::stoull(s)]);
                found = true;
            } else {
                for (std::size_t k = 0; k < cur.size(); ++k) {
                    if (cur[k].IsMap() && cur[k]["name"] && cur[k]["name"].as<std::string>("") == s) {
                        next.reset(cur[k]);
                        found = true;
                        break;
                    }
                }
            }
            if (!found) {
                c.problems.push_back({c.file, 0, "--set " + path + ": no item '" + s + "' in the list"});
                return;
            }
            if (last) {
                next = value;  // assigns the content of the item
                return;
            }
            cur.reset(next);
            continue;
        }
        if (!cur.IsMap() && cur.IsDefined() && !cur.IsNull()) {
            c.problems.push_back({c.file, 0, "--set " + path + ": '" + s + "' is inside a value that is not a map"});
            return;
        }
        if (last) {
            cur[s] = value;
            return;
        }
        if (!cur[s] || cur[s].IsNull()) cur[s] = YAML::Node(YAML::NodeType::Map);
        YAML::Node next = cur[s];
        cur.reset(next);
    }
}

// ---- sections ----

void parse_targets(const YAML::Node& n, context& c, scenario& s) {
    if (!c.is_map(n, "targets")) return;
    for (const auto& kv : n) {
        const std::string name = kv.first.as<std::string>("");
        const std::string where = "targets." + name;
        const YAML::Node& t = kv.second;
        if (!c.is_map(t, where)) continue;
        c.check_keys(t, where, {"host", "port", "tls", "sni", "verify", "ca_file", "client_cert", "client_key",
                                "source_addresses", "connect_timeout", "timeout"});
        target x;
        x.name = name;
        if (t["host"]) c.str(t["host"], where + ".host", x.host);
        if (t["port"]) c.integer(t["port"], where + ".port", x.port, 1, 65535);
        else c.fail(t, where, "port is required");
        if (t["tls"]) {
            std::string m;
            if (c.str(t["tls"], where + ".tls", m)) {
                if (m == "none") x.tls = tls_mode::none;
                else if (m == "starttls") x.tls = tls_mode::starttls;
                else if (m == "implicit") x.tls = tls_mode::implicit;
                else c.fail(t["tls"], where + ".tls", "must be none, starttls or implicit, not '" + m + "'");
            }
        }
        if (t["sni"]) c.str(t["sni"], where + ".sni", x.sni);
        if (t["verify"]) c.boolean(t["verify"], where + ".verify", x.verify);
        std::string p;
        if (t["ca_file"] && c.str(t["ca_file"], where + ".ca_file", p)) x.ca_file = c.path(p);
        if (t["client_cert"] && c.str(t["client_cert"], where + ".client_cert", p)) x.client_cert = c.path(p);
        if (t["client_key"] && c.str(t["client_key"], where + ".client_key", p)) x.client_key = c.path(p);
        if (x.client_cert.empty() != x.client_key.empty()) c.fail(t, where, "client_cert and client_key go together");
        for (const auto* f : {&x.ca_file, &x.client_cert, &x.client_key}) {
            if (!f->empty() && !fs::is_regular_file(*f)) c.fail(t, where, "no such file: " + f->string());
        }
        if (t["source_addresses"]) {
            const auto& sa = t["source_addresses"];
            if (!sa.IsSequence()) c.fail(sa, where + ".source_addresses", "must be a list of addresses");
            else
                for (std::size_t i = 0; i < sa.size(); ++i) {
                    std::string a;
                    if (c.str(sa[i], item(where + ".source_addresses", i), a)) x.source_addresses.push_back(a);
                }
        }
        if (t["connect_timeout"]) c.duration(t["connect_timeout"], where + ".connect_timeout", x.connect_timeout);
        if (t["timeout"]) c.duration(t["timeout"], where + ".timeout", x.timeout);
        if (x.connect_timeout.count() <= 0 || x.timeout.count() <= 0) c.fail(t, where, "timeouts must be positive");
        if (x.tls == tls_mode::none && (t["sni"] || t["verify"] || t["ca_file"] || t["client_cert"]))
            c.fail(t, where, "TLS settings given but tls is none");
        s.targets.push_back(std::move(x));
    }
}

void load_user_file(const fs::path& file, const YAML::Node& at, const std::string& where, context& c, user_pool& p) {
    std::error_code ec;
    const auto size = fs::file_size(file, ec);
    if (ec) {
        c.fail(at, where, "cannot read " + file.string() + ": " + ec.message());
        return;
    }
    if (size > max_user_file_size) {
        c.fail(at, where, file.string() + " is larger than " + std::to_string(max_user_file_size) + " octets");
        return;
    }
    std::ifstream in(file);
    std::string line;
    int n = 0;
    while (std::getline(in, line)) {
        ++n;
        if (!line.empty() && line.back() == '\r') line.pop_back();
        const auto first = line.find_first_not_of(" \t");
        if (first == std::string::npos || line[first] == '#') continue;
        std::istringstream words(line);
        user u;
        std::string extra;
        words >> u.address >> u.password >> extra;
        if (!extra.empty() || u.address.find('@') == std::string::npos) {
            c.problems.push_back({file.string(), n, "expected 'address [password]'"});
            continue;
        }
        p.users.push_back(std::move(u));
    }
    if (p.users.empty()) c.fail(at, where, file.string() + " lists no users");
}

void parse_users(const YAML::Node& n, context& c, scenario& s) {
    if (!c.is_map(n, "users")) return;
    for (const auto& kv : n) {
        const std::string name = kv.first.as<std::string>("");
        const std::string where = "users." + name;
        const YAML::Node& u = kv.second;
        if (!c.is_map(u, where)) continue;
        c.check_keys(u, where, {"pattern", "count", "start", "password", "addresses", "file"});
        user_pool p;
        p.name = name;
        const int forms = (u["pattern"] ? 1 : 0) + (u["addresses"] ? 1 : 0) + (u["file"] ? 1 : 0);
        if (forms != 1) {
            c.fail(u, where, "needs exactly one of pattern (with count), addresses, file");
            continue;
        }
        if (u["pattern"]) {
            c.str(u["pattern"], where + ".pattern", p.pattern);
            if (!u["count"]) c.fail(u, where, "pattern needs count");
            else c.integer(u["count"], where + ".count", p.count, 1, 100'000'000);
            if (u["start"]) c.integer(u["start"], where + ".start", p.start, 0, 1'000'000'000'000ull);
            if (u["password"]) c.str(u["password"], where + ".password", p.password);
            if (p.pattern.find('@') == std::string::npos) c.fail(u["pattern"], where + ".pattern", "must be an address pattern such as user%d@example.test");
        } else if (u["addresses"]) {
            if (u["password"] || u["count"] || u["start"])
                c.fail(u, where, "password, count and start belong to the pattern form; give {address, password} items");
            const auto& a = u["addresses"];
            if (!a.IsSequence() || a.size() == 0) {
                c.fail(a, where + ".addresses", "must be a non-empty list");
                continue;
            }
            for (std::size_t i = 0; i < a.size(); ++i) {
                user x;
                const auto w = item(where + ".addresses", i);
                if (a[i].IsMap()) {
                    c.check_keys(a[i], w, {"address", "password"});
                    if (a[i]["address"]) c.str(a[i]["address"], w + ".address", x.address);
                    if (a[i]["password"]) c.str(a[i]["password"], w + ".password", x.password);
                } else {
                    c.str(a[i], w, x.address);
                }
                if (x.address.find('@') == std::string::npos) c.fail(a[i], w, "not an address");
                p.users.push_back(std::move(x));
            }
        } else {
            if (u["password"] || u["count"] || u["start"]) c.fail(u, where, "a user file gives its own passwords");
            std::string f;
            if (c.str(u["file"], where + ".file", f)) load_user_file(c.path(f), u["file"], where + ".file", c, p);
        }
        s.pools.push_back(std::move(p));
    }
}

void parse_messages(const YAML::Node& n, context& c, scenario& s) {
    if (!c.is_map(n, "messages")) return;
    for (const auto& kv : n) {
        const std::string name = kv.first.as<std::string>("");
        const std::string where = "messages." + name;
        const YAML::Node& m = kv.second;
        if (!c.is_map(m, where)) continue;
        c.check_keys(m, where, {"size", "eml_dir", "recipients", "to", "from", "subject"});
        message_spec x;
        x.name = name;
        if (m["size"] && m["eml_dir"]) c.fail(m, where, "size and eml_dir exclude each other");
        if (const auto& z = m["size"]; z) {
            if (z.IsScalar()) {
                c.size(z, where + ".size", x.size);
                x.distribution = size_distribution::fixed;
            } else if (c.is_map(z, where + ".size")) {
                c.check_keys(z, where + ".size", {"distribution", "size", "min", "max", "median", "sigma"});
                std::string d = "fixed";
                if (z["distribution"]) c.str(z["distribution"], where + ".size.distribution", d);
                if (z["size"]) c.size(z["size"], where + ".size.size", x.size);
                if (z["min"]) c.size(z["min"], where + ".size.min", x.min);
                if (z["max"]) c.size(z["max"], where + ".size.max", x.max);
                if (d == "fixed") {
                    x.distribution = size_distribution::fixed;
                    if (!z["size"]) c.fail(z, where + ".size", "fixed needs size");
                } else if (d == "uniform") {
                    x.distribution = size_distribution::uniform;
                    if (!z["min"] || !z["max"]) c.fail(z, where + ".size", "uniform needs min and max");
                } else if (d == "lognormal") {
                    x.distribution = size_distribution::lognormal;
                    std::uint64_t med = 0;
                    if (!z["median"]) c.fail(z, where + ".size", "lognormal needs median (and sigma)");
                    else if (c.size(z["median"], where + ".size.median", med)) x.median = static_cast<double>(med);
                    if (z["sigma"]) c.number(z["sigma"], where + ".size.sigma", x.sigma, 0.0, 5.0);
                } else {
                    c.fail(z["distribution"], where + ".size.distribution", "must be fixed, uniform or lognormal");
                }
                if (x.distribution != size_distribution::fixed && x.min > x.max) c.fail(z, where + ".size", "min is greater than max");
            }
        }
        if (x.size < 64 || x.size > (std::uint64_t{1} << 30) || x.min < 64 || x.max > (std::uint64_t{1} << 30))
            c.fail(m, where + ".size", "sizes must be between 64 octets and 1GiB (headers are part of the size)");
        if (m["eml_dir"]) {
            std::string d;
            if (c.str(m["eml_dir"], where + ".eml_dir", d)) {
                x.eml_dir = c.path(d);
                bool any = false;
                std::error_code ec;
                if (fs::is_directory(x.eml_dir, ec)) {
                    for (const auto& e : fs::directory_iterator(x.eml_dir, ec)) {
                        if (e.path().extension() == ".eml" && e.is_regular_file()) {
                            any = true;
                            break;
                        }
                    }
                }
                if (!any) c.fail(m["eml_dir"], where + ".eml_dir", "no .eml files in " + x.eml_dir.string());
            }
        }
        if (m["recipients"]) c.range(m["recipients"], where + ".recipients", x.recipients, 1, 1000);
        if (m["to"]) c.str(m["to"], where + ".to", x.to);
        if (m["from"]) c.str(m["from"], where + ".from", x.from);
        if (m["subject"]) c.str(m["subject"], where + ".subject", x.subject);
        s.messages.push_back(std::move(x));
    }
}

// Stages for a closed ("vus") or open ("rate") executor.
void parse_stages(const YAML::Node& e, const std::string& where, bool open, context& c, executor& x) {
    const char* level_key = open ? "rate" : "vus";
    const char* start_key = open ? "start_rate" : "start_vus";
    const double max_level = open ? 1e7 : 1e6;
    auto level = [&](const YAML::Node& n, const std::string& w, double& out) {
        if (open) return c.rate(n, w, out);
        std::uint32_t v = 0;
        if (!c.integer(n, w, v, 0, static_cast<std::uint64_t>(max_level))) return false;
        out = v;
        return true;
    };
    const bool constant = e[level_key].IsDefined();
    const bool ramping = e["stages"].IsDefined();
    if (constant == ramping) {
        c.fail(e, where, std::string("needs either ") + level_key + " with duration, or stages");
        return;
    }
    if (constant) {
        double v = 0;
        level(e[level_key], where + "." + level_key, v);
        usec d{0};
        if (!e["duration"]) c.fail(e, where, std::string(level_key) + " needs duration");
        else c.duration(e["duration"], where + ".duration", d);
        if (e[start_key]) c.fail(e[start_key], where, std::string(start_key) + " belongs with stages");
        x.start = v;
        x.stages = {{d, v}};
    } else {
        if (e["duration"]) c.fail(e["duration"], where, "duration belongs with a constant executor; stages have their own");
        if (e[start_key]) level(e[start_key], where + "." + start_key, x.start);
        const auto& st = e["stages"];
        if (!st.IsSequence() || st.size() == 0) {
            c.fail(st, where + ".stages", "must be a non-empty list of {duration, target}");
            return;
        }
        for (std::size_t i = 0; i < st.size(); ++i) {
            const auto w = item(where + ".stages", i);
            if (!c.is_map(st[i], w)) continue;
            c.check_keys(st[i], w, {"duration", "target"});
            stage s;
            if (!st[i]["duration"] || !st[i]["target"]) {
                c.fail(st[i], w, "needs duration and target");
                continue;
            }
            c.duration(st[i]["duration"], w + ".duration", s.duration);
            level(st[i]["target"], w + ".target", s.target);
            x.stages.push_back(s);
        }
    }
    if (x.duration().count() <= 0) c.fail(e, where, "lasts no time: give a positive duration");
    if (x.duration() > usec(std::chrono::hours(24 * 7))) c.fail(e, where, "lasts more than a week");
}

void parse_executor(const YAML::Node& e, const std::string& where, context& c, executor& x) {
    if (!c.is_map(e, where)) return;
    std::string type;
    if (!e["type"]) {
        c.fail(e, where, "needs type: closed or open");
        return;
    }
    c.str(e["type"], where + ".type", type);
    if (type == "closed") {
        x.kind = executor_kind::closed;
        c.check_keys(e, where, {"type", "vus", "duration", "stages", "start_vus", "iterations", "graceful_ramp_down",
                                "graceful_stop", "start_after"});
        parse_stages(e, where, false, c, x);
        if (e["iterations"]) c.integer(e["iterations"], where + ".iterations", x.iterations, 1, 1'000'000'000'000ull);
        if (e["graceful_ramp_down"]) c.duration(e["graceful_ramp_down"], where + ".graceful_ramp_down", x.graceful_ramp_down);
    } else if (type == "open") {
        x.kind = executor_kind::open;
        c.check_keys(e, where, {"type", "rate", "duration", "stages", "start_rate", "arrivals", "max_in_flight",
                                "max_backlog", "graceful_stop", "start_after"});
        parse_stages(e, where, true, c, x);
        if (e["arrivals"]) {
            std::string a;
            if (c.str(e["arrivals"], where + ".arrivals", a)) {
                if (a == "poisson") x.arrivals = arrival_process::poisson;
                else if (a == "uniform") x.arrivals = arrival_process::uniform;
                else c.fail(e["arrivals"], where + ".arrivals", "must be poisson or uniform");
            }
        }
        if (e["max_in_flight"]) c.integer(e["max_in_flight"], where + ".max_in_flight", x.max_in_flight, 1, 10'000'000);
        if (e["max_backlog"]) c.integer(e["max_backlog"], where + ".max_backlog", x.max_backlog, 0, 100'000'000);
    } else {
        c.fail(e["type"], where + ".type", "must be closed or open, not '" + type + "'");
        return;
    }
    if (e["graceful_stop"]) c.duration(e["graceful_stop"], where + ".graceful_stop", x.graceful_stop);
    if (e["start_after"]) c.duration(e["start_after"], where + ".start_after", x.start_after);
}

// Parameters of an SMTP action; `p` is the params map (may be undefined for defaults).
void parse_smtp_params(action_kind k, const YAML::Node& p, const std::string& where, context& c, smtp_params& x) {
    switch (k) {
        case action_kind::smtp_ehlo:
        case action_kind::smtp_helo:
            c.check_keys(p, where, {"domain", "probability", "think"});
            if (p["domain"]) c.str(p["domain"], where + ".domain", x.domain);
            break;
        case action_kind::smtp_auth: {
            c.check_keys(p, where, {"mechanism", "initial_response", "users", "probability", "think"});
            static const std::set<std::string> mechs{"PLAIN", "LOGIN", "CRAM-MD5", "SCRAM-SHA-256", "SCRAM-SHA-256-PLUS"};
            if (const auto& m = p["mechanism"]; m) {
                std::vector<YAML::Node> items;
                if (m.IsSequence() && m.size() > 0)
                    for (std::size_t i = 0; i < m.size(); ++i) items.push_back(m[i]);
                else items.push_back(m);
                x.mechanisms.clear();
                for (const auto& one : items) {
                    std::string name;
                    if (!c.str(one, where + ".mechanism", name)) continue;
                    std::transform(name.begin(), name.end(), name.begin(),
                                   [](unsigned char ch) { return static_cast<char>(std::toupper(ch)); });
                    if (!mechs.count(name))
                        c.fail(one, where + ".mechanism",
                               "'" + name + "' is not one of PLAIN, LOGIN, CRAM-MD5, SCRAM-SHA-256, SCRAM-SHA-256-PLUS");
                    x.mechanisms.push_back(name);
                }
            }
            if (p["initial_response"]) c.boolean(p["initial_response"], where + ".initial_response", x.initial_response);
            if (p["users"]) c.str(p["users"], where + ".users", x.users);
            break;
        }
        case action_kind::smtp_mail:
            c.check_keys(p, where, {"from", "message", "probability", "think"});
            if (p["from"]) c.str(p["from"], where + ".from", x.from);
            if (p["message"]) c.str(p["message"], where + ".message", x.message);
            break;
        case action_kind::smtp_rcpt:
            c.check_keys(p, where, {"to", "recipients", "probability", "think"});
            if (p["to"]) c.str(p["to"], where + ".to", x.to);
            if (p["recipients"]) {
                count_range r;
                if (c.range(p["recipients"], where + ".recipients", r, 1, 1000)) x.rcpts = r;
            }
            break;
        case action_kind::smtp_data:
            c.check_keys(p, where, {"probability", "think"});
            break;
        case action_kind::smtp_bdat:
            c.check_keys(p, where, {"chunk_size", "probability", "think"});
            if (p["chunk_size"]) c.size(p["chunk_size"], where + ".chunk_size", x.chunk_size);
            break;
        case action_kind::smtp_send: {
            c.check_keys(p, where, {"messages", "pipelining", "body", "chunk_size", "message", "from", "to", "recipients",
                                    "probability", "think"});
            if (p["messages"]) c.range(p["messages"], where + ".messages", x.messages, 1, 1'000'000);
            if (p["pipelining"]) c.boolean(p["pipelining"], where + ".pipelining", x.pipelining);
            if (p["body"]) {
                std::string b;
                if (c.str(p["body"], where + ".body", b)) {
                    if (b == "data") x.body = smtp_body::data;
                    else if (b == "bdat") x.body = smtp_body::bdat;
                    else c.fail(p["body"], where + ".body", "must be data or bdat");
                }
            }
            if (p["chunk_size"]) c.size(p["chunk_size"], where + ".chunk_size", x.chunk_size);
            if (p["message"]) c.str(p["message"], where + ".message", x.message);
            if (p["from"]) c.str(p["from"], where + ".from", x.from);
            if (p["to"]) c.str(p["to"], where + ".to", x.to);
            if (p["recipients"]) {
                count_range r;
                if (c.range(p["recipients"], where + ".recipients", r, 1, 1000)) x.rcpts = r;
            }
            break;
        }
        default:
            c.check_keys(p, where, {"probability", "think"});
            break;
    }
}

std::vector<step> parse_flow(const YAML::Node& f, const std::string& where, protocol proto, context& c, int depth);

bool parse_step(const YAML::Node& n, const std::string& where, protocol proto, context& c, int depth, step& out) {
    std::string name;
    YAML::Node params;
    YAML::Node common = n;  // where probability and think may sit as siblings
    if (n.IsScalar()) {
        name = n.Scalar();
    } else if (n.IsMap()) {
        // The action is the one key besides probability (and think, when think is not the
        // action itself but a pause after another action).
        std::vector<std::pair<std::string, YAML::Node>> candidates;
        for (const auto& kv : n) {
            const std::string k = kv.first.as<std::string>("");
            if (k != "probability") candidates.emplace_back(k, kv.second);
        }
        if (candidates.size() == 2) {
            std::erase_if(candidates, [](const auto& kv) { return kv.first == "think"; });
        }
        if (candidates.size() == 1) {
            name = candidates[0].first;
            params.reset(candidates[0].second);
        }
        if (candidates.size() != 1) {
            c.fail(n, where, "a step is one action name, or a map with one action and optional probability and think");
            return false;
        }
    } else {
        c.fail(n, where, "a step must be an action name or a map");
        return false;
    }
    const action_info* a = find_action(proto, name);
    if (!a) {
        std::string list;
        for (const auto& x : all_actions())
            if (x.neutral || x.proto == proto) list += (list.empty() ? "" : ", ") + std::string(x.name);
        c.fail(n, where, "unknown " + std::string(to_string(proto)) + " action '" + name + "' (known: " + list + ")");
        return false;
    }
    step s;
    s.kind = a->kind;
    s.line = n.Mark().is_null() ? 0 : n.Mark().line + 1;
    const std::string w = where + " (" + name + ")";
    // probability and think: as siblings of the action or inside its parameter map
    for (const YAML::Node* src : {&common, &params}) {
        if (!src->IsMap()) continue;
        if ((*src)["probability"]) c.number((*src)["probability"], w + ".probability", s.probability, 0.0, 1.0);
        if (a->kind != action_kind::think && (*src)["think"]) c.think((*src)["think"], w + ".think", s.think_after);
    }
    if (a->kind == action_kind::think) {
        think_params tp;
        if (!params.IsDefined() || params.IsNull()) c.fail(n, w, "needs a duration, e.g. think: 100ms");
        else if (params.IsMap() && params["probability"]) {
            YAML::Node copy = YAML::Clone(params);
            copy.remove("probability");
            c.think(copy, w, tp.think);
        } else c.think(params, w, tp.think);
        s.params = tp;
    } else if (a->kind == action_kind::group) {
        if (!params.IsMap()) {
            c.fail(n, w, "needs {count, steps}");
            return false;
        }
        c.check_keys(params, w, {"count", "steps", "probability", "think"});
        if (params["count"]) c.range(params["count"], w + ".count", s.repeat, 0, 1'000'000);
        if (depth >= 8) {
            c.fail(n, w, "repeat nested more than 8 deep");
            return false;
        }
        if (!params["steps"]) c.fail(params, w, "needs steps");
        else s.steps = parse_flow(params["steps"], w + ".steps", proto, c, depth + 1);
    } else {
        smtp_params sp;
        if (params.IsDefined() && !params.IsNull()) {
            if (!params.IsMap()) c.fail(params, w, "parameters must be a map");
            else parse_smtp_params(a->kind, params, w, c, sp);
        }
        s.params = sp;
    }
    out = std::move(s);
    return true;
}

std::vector<step> parse_flow(const YAML::Node& f, const std::string& where, protocol proto, context& c, int depth) {
    std::vector<step> flow;
    if (!f.IsSequence() || f.size() == 0) {
        c.fail(f, where, "must be a non-empty list of steps");
        return flow;
    }
    for (std::size_t i = 0; i < f.size(); ++i) {
        step s;
        if (parse_step(f[i], item(where, i), proto, c, depth, s)) flow.push_back(std::move(s));
    }
    return flow;
}

// ---- cross-checks ----

// Walks the flow in order (groups inline) to check that each SMTP action has what it needs
// before it; reports at the step's line.
struct flow_checker {
    context& c;
    const scenario& sc;
    const workload& w;
    const target* t;
    std::string where;
    bool connected = false, greeted = false, tls = false, upgraded = false, in_mail = false, have_rcpt = false;

    void fail(const step& s, const std::string& msg) { c.problems.push_back({c.file, s.line, where + ": " + msg}); }

    void pool_ref(const step& s, const std::string& name, const char* what, bool need_passwords = false) {
        if (name.empty() || name.find('@') != std::string::npos) return;
        const auto* p = sc.find_pool(name);
        if (!p) fail(s, std::string(what) + ": no user pool '" + name + "'");
        else if (need_passwords && !p->has_passwords()) fail(s, std::string(what) + ": pool '" + name + "' has no passwords");
    }

    void walk(const std::vector<step>& steps) {
        for (const auto& s : steps) {
            if (s.kind == action_kind::group) {
                walk(s.steps);
                continue;
            }
            if (s.kind == action_kind::think) continue;
            const auto* p = std::get_if<smtp_params>(&s.params);
            const std::string name(info(s.kind).name);
            if (s.kind != action_kind::smtp_connect && !connected) {
                fail(s, name + " before connect (a flow starts with connect)");
                connected = true;  // report once
            }
            switch (s.kind) {
                case action_kind::smtp_connect:
                    if (connected && greeted) fail(s, "connect while connected (quit first)");
                    connected = greeted = true;
                    tls = t && t->tls == tls_mode::implicit;
                    upgraded = false;
                    in_mail = have_rcpt = false;
                    break;
                case action_kind::smtp_starttls:
                    if (t && t->tls != tls_mode::starttls) fail(s, "starttls needs a target with tls: starttls");
                    if (tls) fail(s, "starttls on a connection that already has TLS");
                    tls = upgraded = true;
                    break;
                case action_kind::smtp_auth:
                    pool_ref(s, p->users.empty() ? w.users : p->users, "auth", true);
                    if ((p->users.empty() ? w.users : p->users).empty()) fail(s, "auth needs users (workload users: or auth users:)");
                    if (std::count(p->mechanisms.begin(), p->mechanisms.end(), "SCRAM-SHA-256-PLUS") && t &&
                        t->tls == tls_mode::none)
                        fail(s, "SCRAM-SHA-256-PLUS needs TLS (channel binding)");
                    break;
                case action_kind::smtp_mail:
                    in_mail = true;
                    have_rcpt = false;
                    pool_ref(s, p->from, "mail.from");
                    if (!p->message.empty() && !sc.find_message(p->message)) fail(s, "no message '" + p->message + "'");
                    if (p->message.empty() && w.message.empty()) fail(s, "mail needs a message generator (workload message:)");
                    break;
                case action_kind::smtp_rcpt:
                    if (!in_mail) fail(s, "rcpt without mail before it");
                    pool_ref(s, p->to, "rcpt.to");
                    have_rcpt = true;
                    break;
                case action_kind::smtp_data:
                case action_kind::smtp_bdat:
                    if (!have_rcpt) fail(s, name + " without rcpt before it");
                    in_mail = have_rcpt = false;
                    break;
                case action_kind::smtp_send:
                    pool_ref(s, p->from, "send.from");
                    pool_ref(s, p->to, "send.to");
                    if (!p->message.empty() && !sc.find_message(p->message)) fail(s, "no message '" + p->message + "'");
                    if (p->message.empty() && w.message.empty()) fail(s, "send needs a message generator (workload message:)");
                    break;
                case action_kind::smtp_quit:
                    connected = greeted = false;
                    break;
                default:
                    break;
            }
        }
    }
};

void check_workload(const workload& w, const std::string& where, int line, context& c, const scenario& sc) {
    const target* t = sc.find_target(w.target);
    if (!t) c.problems.push_back({c.file, line, where + ": no target '" + w.target + "'"});
    if (!w.users.empty() && !sc.find_pool(w.users)) c.problems.push_back({c.file, line, where + ": no user pool '" + w.users + "'"});
    if (!w.message.empty()) {
        const auto* m = sc.find_message(w.message);
        if (!m) c.problems.push_back({c.file, line, where + ": no message '" + w.message + "'"});
    }
    if (w.proto != protocol::smtp) {
        c.problems.push_back({c.file, line, where + ": protocol " + std::string(to_string(w.proto)) + " has no actions yet (smtp only)"});
        return;
    }
    flow_checker fc{c, sc, w, t, where + ".flow"};
    fc.walk(w.flow);
    if (t && t->tls == tls_mode::starttls) {
        bool has = false;
        std::function<void(const std::vector<step>&)> find = [&](const std::vector<step>& ss) {
            for (const auto& s : ss) {
                if (s.kind == action_kind::smtp_starttls) has = true;
                if (s.kind == action_kind::group) find(s.steps);
            }
        };
        find(w.flow);
        if (!has) c.problems.push_back({c.file, line, where + ": target '" + t->name + "' has tls: starttls but the flow never sends starttls"});
    }
}

// The latency metrics a workload can record.
void metrics_of(const workload& w, std::set<std::string>& out) {
    out.insert(std::string(metric_iteration));
    if (w.exec.kind == executor_kind::open) out.insert(std::string(metric_schedule_lag));
    std::function<void(const std::vector<step>&)> walk = [&](const std::vector<step>& ss) {
        for (const auto& s : ss) {
            for (auto m : info(s.kind).metrics)
                if (!m.empty()) out.insert(std::string(m));
            if (s.kind == action_kind::group) walk(s.steps);
        }
    };
    walk(w.flow);
}

void parse_thresholds(const YAML::Node& n, const std::string& where, context& c, std::vector<threshold>& out) {
    if (!n.IsSequence()) {
        c.fail(n, where, "must be a list of expressions such as 'smtp.data p99 < 200ms'");
        return;
    }
    for (std::size_t i = 0; i < n.size(); ++i) {
        const auto w = item(where, i);
        threshold t;
        std::string text;
        const YAML::Node& e = n[i];
        if (e.IsMap()) {
            c.check_keys(e, w, {"expr", "abort_on_fail", "delay"});
            if (!e["expr"]) {
                c.fail(e, w, "needs expr");
                continue;
            }
            c.str(e["expr"], w + ".expr", text);
            if (e["abort_on_fail"]) c.boolean(e["abort_on_fail"], w + ".abort_on_fail", t.abort_on_fail);
            if (e["delay"]) c.duration(e["delay"], w + ".delay", t.abort_delay);
        } else if (!c.str(e, w, text)) {
            continue;
        }
        std::string error;
        if (!parse_threshold(text, t, error)) {
            c.fail(e, w, "'" + text + "': " + error);
            continue;
        }
        out.push_back(std::move(t));
    }
}

void parse_root(const YAML::Node& root, context& c, scenario& s) {
    if (!root.IsMap()) {
        c.fail(root, "", "a scenario must be a YAML map");
        return;
    }
    c.check_keys(root, "scenario", {"version", "name", "description", "seed", "targets", "users", "messages", "workloads", "thresholds"});
    if (root["version"]) {
        c.integer(root["version"], "version", s.version, 1, 1000);
        if (s.version != 1) c.fail(root["version"], "version", "this mailload reads version 1 scenarios");
    }
    if (root["name"]) c.str(root["name"], "name", s.name);
    else s.name = fs::path(c.file).stem().string();
    if (root["description"]) c.str(root["description"], "description", s.description);
    if (root["seed"]) c.integer(root["seed"], "seed", s.seed, 0, UINT64_MAX);
    if (root["targets"]) parse_targets(root["targets"], c, s);
    if (s.targets.empty()) c.fail(root, "targets", "at least one target is required");
    if (root["users"]) parse_users(root["users"], c, s);
    if (root["messages"]) parse_messages(root["messages"], c, s);
    for (const auto& m : s.messages) {
        for (const auto* ref : {&m.to, &m.from}) {
            if (!ref->empty() && ref->find('@') == std::string::npos && !s.find_pool(*ref))
                c.fail(root["messages"][m.name], "messages." + m.name, "no user pool '" + *ref + "'");
        }
    }

    const auto& wl = root["workloads"];
    if (!wl || !wl.IsSequence() || wl.size() == 0) {
        c.fail(wl ? wl : root, "workloads", "must be a non-empty list");
        return;
    }
    std::set<std::string> names;
    std::vector<int> lines;
    for (std::size_t i = 0; i < wl.size(); ++i) {
        const auto& n = wl[i];
        std::string where = item("workloads", i);
        if (!c.is_map(n, where)) continue;
        c.check_keys(n, where, {"name", "protocol", "target", "users", "message", "executor", "flow", "thresholds"});
        workload w;
        w.name = "workload" + std::to_string(i + 1);
        if (n["name"]) c.str(n["name"], where + ".name", w.name);
        if (!names.insert(w.name).second) c.fail(n["name"], where + ".name", "duplicate workload name '" + w.name + "'");
        if (w.name.empty() || w.name.find_first_of(" {}/") != std::string::npos)
            c.fail(n["name"], where + ".name", "a workload name has no spaces, braces or slashes");
        where = "workloads." + w.name;
        if (n["protocol"]) {
            std::string p;
            if (c.str(n["protocol"], where + ".protocol", p)) {
                if (p == "smtp") w.proto = protocol::smtp;
                else if (p == "pop3") w.proto = protocol::pop3;
                else if (p == "imap") w.proto = protocol::imap;
                else c.fail(n["protocol"], where + ".protocol", "must be smtp, pop3 or imap");
            }
        }
        if (n["target"]) c.str(n["target"], where + ".target", w.target);
        else if (s.targets.size() == 1) w.target = s.targets[0].name;
        else c.fail(n, where, "target is required when the scenario has several");
        if (n["users"]) c.str(n["users"], where + ".users", w.users);
        if (n["message"]) c.str(n["message"], where + ".message", w.message);
        else if (s.messages.size() == 1) w.message = s.messages[0].name;
        if (!n["executor"]) c.fail(n, where, "executor is required");
        else parse_executor(n["executor"], where + ".executor", c, w.exec);
        if (!n["flow"]) c.fail(n, where, "flow is required");
        else w.flow = parse_flow(n["flow"], where + ".flow", w.proto, c, 0);
        if (n["thresholds"]) parse_thresholds(n["thresholds"], where + ".thresholds", c, w.thresholds);
        for (const auto& t : w.thresholds) {
            if (!t.workload.empty() && t.workload != w.name)
                c.fail(n["thresholds"], where + ".thresholds", "'" + t.expression + "' names another workload");
        }
        lines.push_back(n.Mark().is_null() ? 0 : n.Mark().line + 1);
        s.workloads.push_back(std::move(w));
    }
    if (root["thresholds"]) parse_thresholds(root["thresholds"], "thresholds", c, s.thresholds);
    if (!c.problems.empty()) return;  // the cross-checks below assume the parts parsed

    for (std::size_t i = 0; i < s.workloads.size(); ++i)
        check_workload(s.workloads[i], "workloads." + s.workloads[i].name, lines[i], c, s);
    // Thresholds must name a metric that a workload records (a typo would otherwise pass).
    for (const auto& t : s.all_thresholds()) {
        std::set<std::string> known;
        bool workload_found = t.workload.empty();
        for (const auto& w : s.workloads) {
            if (!t.workload.empty() && w.name != t.workload) continue;
            workload_found = true;
            metrics_of(w, known);
        }
        if (!workload_found) {
            c.fail(root["thresholds"], "thresholds", "'" + t.expression + "': no workload '" + t.workload + "'");
            continue;
        }
        if (t.family == metric_family::latency && !known.count(t.metric)) {
            std::string list;
            for (const auto& k : known) list += (list.empty() ? "" : ", ") + k;
            c.fail(root["thresholds"], "thresholds", "'" + t.expression + "': no workload records '" + t.metric + "' (recorded: " + list + ")");
        }
    }
}

}  // namespace

load_result parse_scenario(std::string_view yaml, const std::filesystem::path& file, std::span<const std::string> overrides) {
    load_result r;
    context c{file.string(), file.parent_path().empty() ? fs::path(".") : file.parent_path(), r.problems};
    YAML::Node root;
    try {
        root = YAML::Load(std::string(yaml));
    } catch (const YAML::Exception& e) {
        r.problems.push_back({c.file, e.mark.is_null() ? 0 : e.mark.line + 1, "YAML: " + e.msg});
        return r;
    }
    if (!root.IsDefined() || root.IsNull()) {
        r.problems.push_back({c.file, 0, "empty scenario"});
        return r;
    }
    for (const auto& o : overrides) apply_override(root, o, c);
    if (!r.problems.empty()) return r;
    try {
        parse_root(root, c, r.value);
    } catch (const YAML::Exception& e) {
        // yaml-cpp throws on a few shapes the checks above did not foresee; report, don't crash.
        r.problems.push_back({c.file, e.mark.is_null() ? 0 : e.mark.line + 1, "YAML: " + e.msg});
    }
    r.value.file = file;
    return r;
}

load_result load_scenario(const std::filesystem::path& file, std::span<const std::string> overrides) {
    std::error_code ec;
    const auto size = fs::file_size(file, ec);
    if (ec) {
        load_result r;
        r.problems.push_back({file.string(), 0, "cannot read: " + ec.message()});
        return r;
    }
    if (size > max_scenario_size) {
        load_result r;
        r.problems.push_back({file.string(), 0, "larger than " + std::to_string(max_scenario_size) + " octets"});
        return r;
    }
    std::ifstream in(file, std::ios::binary);
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    return parse_scenario(text, file, overrides);
}

}  // namespace mailharness::load

#include "mailharness/conform/test_case.hpp"

#include <yaml-cpp/yaml.h>

#include "regex.hpp"

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <set>
#include <sstream>

namespace mailharness::conform {

const char* to_string(protocol p) noexcept {
    switch (p) {
        case protocol::smtp: return "smtp";
        case protocol::pop3: return "pop3";
        case protocol::imap: return "imap";
    }
    return "?";
}
const char* to_string(level l) noexcept {
    switch (l) {
        case level::must: return "MUST";
        case level::should: return "SHOULD";
        case level::may: return "MAY";
    }
    return "?";
}
const char* to_string(category c) noexcept {
    switch (c) {
        case category::protocol: return "protocol";
        case category::security: return "security";
        case category::tls: return "tls";
    }
    return "?";
}
const char* to_string(step_kind k) noexcept {
    switch (k) {
        case step_kind::connect: return "connect";
        case step_kind::use: return "use";
        case step_kind::send: return "send";
        case step_kind::send_raw: return "send_raw";
        case step_kind::send_file: return "send_file";
        case step_kind::tls_check: return "tls_check";
        case step_kind::expect: return "expect";
        case step_kind::expect_not: return "expect_not";
        case step_kind::starttls: return "starttls";
        case step_kind::close: return "close";
        case step_kind::expect_closed: return "expect_closed";
    }
    return "?";
}

const char* to_string(tls_check_kind k) noexcept {
    switch (k) {
        case tls_check_kind::validity: return "validity";
        case tls_check_kind::hostname: return "hostname";
        case tls_check_kind::chain: return "chain";
        case tls_check_kind::expiry: return "expiry";
        case tls_check_kind::version: return "version";
    }
    return "?";
}

bool test_case::has_step(step_kind k) const noexcept {
    return std::any_of(steps.begin(), steps.end(), [k](const step& s) { return s.kind == k; });
}

namespace {

struct context {
    const std::string& file;

    [[noreturn]] void fail(const YAML::Node& at, const std::string& message) const {
        const auto mark = at.Mark();
        std::ostringstream s;
        s << file;
        if (!mark.is_null()) s << ':' << mark.line + 1;
        s << ": " << message;
        throw case_error(s.str());
    }

    std::string scalar(const YAML::Node& n, const std::string& key) const {
        if (!n.IsScalar()) fail(n, "'" + key + "' must be a string");
        return n.Scalar();
    }

    bool boolean(const YAML::Node& n, const std::string& key) const {
        bool v = false;
        if (!n.IsScalar() || !YAML::convert<bool>::decode(n, v)) fail(n, "'" + key + "' must be true or false");
        return v;
    }

    int integer(const YAML::Node& n, const std::string& key) const {
        int v = 0;
        if (!n.IsScalar() || !YAML::convert<int>::decode(n, v)) fail(n, "'" + key + "' must be an integer");
        return v;
    }

    std::vector<std::string> strings(const YAML::Node& n, const std::string& key) const {
        if (n.IsScalar()) return {n.Scalar()};
        if (!n.IsSequence()) fail(n, "'" + key + "' must be a list of strings");
        std::vector<std::string> r;
        for (const auto& e : n) r.push_back(scalar(e, key));
        return r;
    }

    void check_regex(const YAML::Node& at, const std::string& pattern) const {
        if (pattern.size() > max_regex_size) {
            fail(at, "regex longer than " + std::to_string(max_regex_size) + " characters");
        }
        if (auto why = detail::regex_error(pattern); !why.empty()) {
            fail(at, "invalid regex \"" + pattern + "\": " + why);
        }
    }
};

bool valid_id(const std::string& id) {
    return !id.empty() && std::all_of(id.begin(), id.end(), [](unsigned char c) {
        return std::islower(c) || std::isdigit(c) || c == '-' || c == '_' || c == '.';
    });
}

std::string upper(std::string s) {
    for (auto& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    return s;
}

const std::pair<const char*, step_kind> step_keys[] = {
    {"connect", step_kind::connect},   {"use", step_kind::use},
    {"send", step_kind::send},         {"send_raw", step_kind::send_raw},
    {"expect", step_kind::expect},     {"expect_not", step_kind::expect_not},
    {"starttls", step_kind::starttls}, {"close", step_kind::close},
    {"expect_closed", step_kind::expect_closed}, {"send_file", step_kind::send_file},
    {"tls_check", step_kind::tls_check},
};

constexpr std::size_t max_fixture_size = 16u << 20;

/// The bytes of a fixture file, `name` relative to the case file's directory.
std::string read_fixture(const context& cx, const YAML::Node& at, const std::string& name, std::string& resolved) {
    namespace fs = std::filesystem;
    if (name.empty()) cx.fail(at, "send_file needs a file name");
    const fs::path p = fs::path(name).is_absolute() ? fs::path(name) : fs::path(cx.file).parent_path() / name;
    resolved = p.string();
    std::error_code ec;
    const auto size = fs::file_size(p, ec);
    if (ec) cx.fail(at, "fixture " + resolved + ": " + ec.message());
    if (size > max_fixture_size) cx.fail(at, "fixture " + resolved + " is over 16 MiB");
    std::ifstream in(p, std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (!in && !in.eof()) cx.fail(at, "fixture " + resolved + ": cannot read");
    return bytes;
}

step parse_step(const context& cx, const YAML::Node& n) {
    if (!n.IsMap()) cx.fail(n, "a step must be a map such as {send: \"NOOP\"}");
    step s;
    s.line = n.Mark().is_null() ? 0 : n.Mark().line + 1;
    const YAML::Node* action = nullptr;
    std::string action_key;
    for (const auto& kv : n) {
        const std::string key = kv.first.Scalar();
        for (const auto& [name, kind] : step_keys) {
            if (key == name) {
                if (action) cx.fail(kv.first, "a step has one action; found '" + action_key + "' and '" + key + "'");
                s.kind = kind;
                action_key = key;
                action = &kv.second;
            }
        }
    }
    if (!action) {
        cx.fail(n, "step has no action (connect, use, send, send_raw, send_file, expect, expect_not, starttls, tls_check, "
                   "close, expect_closed)");
    }
    const YAML::Node value = n[action_key];

    switch (s.kind) {
        case step_kind::connect:
            s.text = value.IsNull() ? "main" : cx.scalar(value, action_key);
            break;
        case step_kind::use:
            s.text = cx.scalar(value, action_key);
            break;
        case step_kind::send:
        case step_kind::send_raw:
            s.text = cx.scalar(value, action_key);
            break;
        case step_kind::send_file:
            s.text = read_fixture(cx, value, cx.scalar(value, action_key), s.fixture);
            break;
        case step_kind::tls_check: {
            const auto what = cx.scalar(value, action_key);
            static const std::pair<const char*, tls_check_kind> kinds[] = {
                {"validity", tls_check_kind::validity}, {"hostname", tls_check_kind::hostname},
                {"chain", tls_check_kind::chain},       {"expiry", tls_check_kind::expiry},
                {"version", tls_check_kind::version}};
            bool known = false;
            for (const auto& [name, kind] : kinds) {
                if (what == name) {
                    s.check = kind;
                    known = true;
                }
            }
            if (!known) cx.fail(value, "tls_check must be validity, hostname, chain, expiry or version, not '" + what + "'");
            break;
        }
        case step_kind::expect:
        case step_kind::expect_not:
            s.text = value.IsNull() ? std::string() : cx.scalar(value, action_key);
            break;
        case step_kind::starttls:
        case step_kind::close:
        case step_kind::expect_closed:
            if (!cx.boolean(value, action_key)) cx.fail(value, "'" + action_key + "' only takes true");
            break;
    }

    const bool is_expect = s.kind == step_kind::expect || s.kind == step_kind::expect_not;
    for (const auto& kv : n) {
        const std::string key = kv.first.Scalar();
        if (key == action_key) continue;
        if (s.kind == step_kind::starttls) {
            if (key == "tls_version") {
                s.tls_version = cx.scalar(kv.second, key);
                if (s.tls_version != "1.0" && s.tls_version != "1.1" && s.tls_version != "1.2" && s.tls_version != "1.3") {
                    cx.fail(kv.second, "tls_version must be \"1.0\", \"1.1\", \"1.2\" or \"1.3\"");
                }
            } else if (key == "must_fail") {
                s.must_fail = cx.boolean(kv.second, key);
            } else if (key == "verify") {
                s.verify = cx.boolean(kv.second, key);
            } else {
                cx.fail(kv.first, "unknown key '" + key + "' in a starttls step");
            }
            continue;
        }
        if (s.kind == step_kind::send_file) {
            if (key == "crlf") s.crlf = cx.boolean(kv.second, key);
            else if (key == "expand") s.expand = cx.boolean(kv.second, key);
            else cx.fail(kv.first, "unknown key '" + key + "' in a send_file step");
            continue;
        }
        if (s.kind == step_kind::tls_check) {
            if (key == "days" && s.check == tls_check_kind::expiry) {
                s.days = cx.integer(kv.second, key);
                if (s.days < 1 || s.days > 3650) cx.fail(kv.second, "days must be 1..3650");
            } else if (key == "min" && s.check == tls_check_kind::version) {
                s.min_version = cx.scalar(kv.second, key);
                if (s.min_version != "1.2" && s.min_version != "1.3") cx.fail(kv.second, "min must be \"1.2\" or \"1.3\"");
            } else {
                cx.fail(kv.first, "unknown key '" + key + "' in a tls_check: " + to_string(s.check) + " step");
            }
            continue;
        }
        if (s.kind == step_kind::expect_closed && key == "timeout_ms") {
            s.timeout_ms = cx.integer(kv.second, key);
            if (s.timeout_ms < 1) cx.fail(kv.second, "timeout_ms must be >= 1");
            continue;
        }
        if (!is_expect) cx.fail(kv.first, "unknown key '" + key + "' in a " + action_key + " step");
        if (key == "exact") {
            s.exact = cx.boolean(kv.second, key);
        } else if (key == "code" && s.kind == step_kind::expect) {
            if (kv.second.IsSequence()) {
                for (const auto& c : kv.second) s.codes.push_back(cx.integer(c, key));
            } else {
                s.codes.push_back(cx.integer(kv.second, key));
            }
            for (int c : s.codes)
                if (c < 200 || c > 599) cx.fail(kv.second, "reply code " + std::to_string(c) + " is not 200..599");
        } else if (key == "min_ms" && s.kind == step_kind::expect) {
            s.min_ms = cx.integer(kv.second, key);
            if (s.min_ms < 0) cx.fail(kv.second, "min_ms must be >= 0");
        } else if (key == "timeout_ms" && s.kind == step_kind::expect) {
            s.timeout_ms = cx.integer(kv.second, key);
            if (s.timeout_ms < 1) cx.fail(kv.second, "timeout_ms must be >= 1");
        } else if (key == "absent" && s.kind == step_kind::expect) {
            s.absent = cx.strings(kv.second, key);
            for (const auto& a : s.absent) {
                if (a.find("${") == std::string::npos) cx.check_regex(kv.second, a);
            }
        } else if (key == "skip_unless_match" && s.kind == step_kind::expect) {
            s.skip_unless_match = cx.boolean(kv.second, key);
        } else if (key == "capture" && s.kind == step_kind::expect) {
            if (!kv.second.IsMap()) cx.fail(kv.second, "'capture' must be a map {variable: group or regex}");
            for (const auto& c : kv.second) {
                capture cap;
                cap.name = cx.scalar(c.first, "capture");
                int group = 0;
                if (c.second.IsScalar() && YAML::convert<int>::decode(c.second, group)) {
                    if (group < 0) cx.fail(c.second, "capture group must be >= 0");
                    cap.group = group;
                } else {
                    cap.regex = cx.scalar(c.second, "capture");
                    cx.check_regex(c.second, *cap.regex);
                }
                s.captures.push_back(std::move(cap));
            }
        } else {
            cx.fail(kv.first, "unknown key '" + key + "' in a " + action_key + " step");
        }
    }
    if (is_expect && !s.exact && !s.text.empty() && s.text.find("${") == std::string::npos) {
        cx.check_regex(value, s.text);
    }
    if (s.exact && !s.captures.empty()) cx.fail(n, "capture needs a regex expect, not exact");
    if (s.kind == step_kind::tls_check && s.check == tls_check_kind::version && s.min_version.empty()) {
        cx.fail(n, "tls_check: version needs min: \"1.2\" or \"1.3\"");
    }
    return s;
}

}  // namespace

test_case parse_case(const std::string& yaml_text, const std::string& file) {
    context cx{file};
    YAML::Node root;
    try {
        root = YAML::Load(yaml_text);
    } catch (const YAML::Exception& e) {
        std::ostringstream s;
        s << file << ':' << e.mark.line + 1 << ": YAML: " << e.msg;
        throw case_error(s.str());
    }
    if (!root.IsMap()) {
        throw case_error(file + ": a case must be a YAML map (id, title, protocol, rfc, level, category, steps)");
    }
    test_case c;
    c.file = file;
    std::set<std::string> seen;
    for (const auto& kv : root) {
        const std::string key = kv.first.Scalar();
        const YAML::Node& v = kv.second;
        seen.insert(key);
        if (key == "id") {
            c.id = cx.scalar(v, key);
            if (!valid_id(c.id)) cx.fail(v, "id must be lower-case letters, digits, '-', '_' or '.'");
        } else if (key == "title") {
            c.title = cx.scalar(v, key);
        } else if (key == "protocol") {
            const auto p = cx.scalar(v, key);
            if (p == "smtp") c.protocol = protocol::smtp;
            else if (p == "pop3") c.protocol = protocol::pop3;
            else if (p == "imap") c.protocol = protocol::imap;
            else cx.fail(v, "protocol must be smtp, pop3 or imap, not '" + p + "'");
        } else if (key == "rfc") {
            c.rfc = cx.scalar(v, key);
        } else if (key == "level") {
            const auto l = upper(cx.scalar(v, key));
            if (l == "MUST") c.level = level::must;
            else if (l == "SHOULD") c.level = level::should;
            else if (l == "MAY") c.level = level::may;
            else cx.fail(v, "level must be MUST, SHOULD or MAY, not '" + l + "'");
        } else if (key == "category") {
            const auto k = cx.scalar(v, key);
            if (k == "protocol") c.category = category::protocol;
            else if (k == "security") c.category = category::security;
            else if (k == "tls") c.category = category::tls;
            else cx.fail(v, "category must be protocol, security or tls, not '" + k + "'");
        } else if (key == "tags") {
            c.tags = cx.strings(v, key);
        } else if (key == "requires") {
            for (auto& r : cx.strings(v, key)) c.requires_caps.push_back(upper(r));
        } else if (key == "destructive") {
            c.destructive = cx.boolean(v, key);
        } else if (key == "steps") {
            if (!v.IsSequence() || v.size() == 0) cx.fail(v, "steps must be a non-empty list");
            for (const auto& s : v) c.steps.push_back(parse_step(cx, s));
        } else {
            cx.fail(kv.first, "unknown key '" + key + "'");
        }
    }
    for (const char* required : {"id", "title", "protocol", "rfc", "level", "category", "steps"}) {
        if (!seen.count(required)) cx.fail(root, std::string("missing required key '") + required + "'");
    }
    // Every step after the first must have a connection to act on, and `use` must name one opened.
    std::set<std::string> opened;
    bool open = false;
    for (const auto& s : c.steps) {
        if (s.kind == step_kind::connect) {
            opened.insert(s.text);
            open = true;
        } else if (s.kind == step_kind::use) {
            if (!opened.count(s.text)) {
                throw case_error(file + ':' + std::to_string(s.line) + ": use of connection '" + s.text + "' that no connect step opened");
            }
            open = true;
        } else if (!open) {
            throw case_error(file + ':' + std::to_string(s.line) + ": '" + to_string(s.kind) + "' step before any connect");
        } else if (s.kind == step_kind::close || s.kind == step_kind::expect_closed ||
                   (s.kind == step_kind::starttls && s.must_fail)) {
            open = false;
        }
    }
    return c;
}

test_case load_case(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw case_error(path + ": cannot read");
    std::ostringstream s;
    s << in.rdbuf();
    return parse_case(s.str(), path);
}

std::vector<test_case> load_suite(const std::string& dir) {
    namespace fs = std::filesystem;
    std::error_code ec;
    if (!fs::is_directory(dir, ec)) throw case_error(dir + ": not a directory");
    std::vector<std::string> files;
    for (const auto& e : fs::recursive_directory_iterator(dir)) {
        const auto ext = e.path().extension();
        if (e.is_regular_file() && (ext == ".yaml" || ext == ".yml")) files.push_back(e.path().string());
    }
    std::sort(files.begin(), files.end());
    std::vector<test_case> cases;
    std::set<std::string> ids;
    for (const auto& f : files) {
        cases.push_back(load_case(f));
        if (!ids.insert(cases.back().id).second) throw case_error(f + ": duplicate id '" + cases.back().id + "'");
    }
    return cases;
}

}  // namespace mailharness::conform

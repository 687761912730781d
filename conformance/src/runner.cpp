#include "mailharness/conform/runner.hpp"

#include <algorithm>
#include <csignal>
#include <deque>
#include <map>
#include <memory>
#include <ostream>
#include <sstream>
#include <stdexcept>

#include "connection.hpp"
#include "regex.hpp"
#include "tls_inspect.hpp"
#include "mailharness/smtp/ehlo.hpp"
#include "mailharness/smtp/reply.hpp"

namespace mailharness::conform {

const char* to_string(outcome o) noexcept {
    switch (o) {
        case outcome::passed: return "passed";
        case outcome::failed: return "failed";
        case outcome::skipped: return "skipped";
    }
    return "?";
}

bool selected(const test_case& c, const run_options& options) {
    auto matches = [&c](const std::string& f) {
        return f == c.id || f == to_string(c.protocol) || f == to_string(c.category) || std::find(c.tags.begin(), c.tags.end(), f) != c.tags.end();
    };
    if (!options.only.empty() && std::none_of(options.only.begin(), options.only.end(), matches)) return false;
    return std::none_of(options.exclude.begin(), options.exclude.end(), matches);
}

namespace {

using clock = std::chrono::steady_clock;
using ctx_ptr = std::unique_ptr<SSL_CTX, decltype(&SSL_CTX_free)>;

/// Thrown by a step to end the case; `skip` ends it as skipped instead of failed.
struct step_failure {
    std::string message;
    bool skip = false;
};

/// Printable form of protocol bytes for transcripts and messages: CR, LF, TAB and other control
/// bytes escaped; long texts cut.
std::string printable(std::string_view s, std::size_t max = 300) {
    std::string out;
    for (std::size_t i = 0; i < s.size() && i < max; ++i) {
        const unsigned char c = static_cast<unsigned char>(s[i]);
        if (c == '\r') out += "\\r";
        else if (c == '\n') out += "\\n";
        else if (c == '\t') out += "\\t";
        else if (c < 0x20 || c == 0x7f) {
            static const char hex[] = "0123456789abcdef";
            out += "\\x";
            out += hex[c >> 4];
            out += hex[c & 15];
        } else out += static_cast<char>(c);
    }
    if (s.size() > max) out += "...(" + std::to_string(s.size()) + " bytes)";
    return out;
}

/// A reply as matched by cases: its lines as sent, joined by '\n'.
std::string reply_text(const smtp::reply& r) {
    std::string wire = smtp::serialize(r);
    std::string out;
    std::size_t pos = 0;
    while (pos < wire.size()) {
        auto end = wire.find("\r\n", pos);
        if (end == std::string::npos) end = wire.size();
        if (!out.empty()) out += '\n';
        out.append(wire, pos, end - pos);
        pos = end + 2;
    }
    return out;
}

struct received {
    int code = 0;
    std::string text;
    smtp::reply reply;  ///< as parsed
};

enum class got { reply, eof, timeout };

/// One client connection speaking SMTP: raw bytes in, whole replies out.
class smtp_session {
public:
    explicit smtp_session(std::string& transcript) : transcript_(transcript) {}

    detail::connection conn;

    void send(std::string_view bytes, std::chrono::milliseconds timeout) {
        std::size_t pos = 0;
        while (pos < bytes.size()) {
            auto end = bytes.find('\n', pos);
            end = end == std::string_view::npos ? bytes.size() : end + 1;
            transcript_ += "C: " + printable(bytes.substr(pos, end - pos)) + '\n';
            pos = end;
        }
        conn.write(bytes, timeout);
    }

    /// The next reply: a queued one first, else what arrives within `timeout`.
    got next(received& out, std::chrono::milliseconds timeout) {
        if (!queued_.empty()) {
            out = std::move(queued_.front());
            queued_.pop_front();
            return got::reply;
        }
        const auto deadline = clock::now() + timeout;
        for (;;) {
            while (!in_.empty()) {
                std::error_code ec;
                const std::size_t n = parser_.put(in_, ec);
                in_.erase(0, n);
                if (ec) {
                    throw step_failure{"unparseable reply (" + ec.message() + ") near \"" + printable(in_, 80) + "\""};
                }
                if (parser_.done()) {
                    smtp::reply r = parser_.release();
                    parser_.next();
                    out.code = r.code;
                    out.text = reply_text(r);
                    out.reply = std::move(r);
                    std::istringstream lines(out.text);
                    for (std::string l; std::getline(lines, l);) transcript_ += "S: " + printable(l) + '\n';
                    return got::reply;
                }
            }
            if (eof_) return got::eof;
            const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock::now());
            if (left.count() <= 0) return got::timeout;
            switch (conn.read_some(in_, left)) {
                case detail::read_status::data: break;
                case detail::read_status::eof:
                    eof_ = true;
                    transcript_ += "S: <closed>\n";
                    break;
                case detail::read_status::timeout: return got::timeout;
            }
        }
    }

    /// Puts a reply back to be returned by the next next().
    void requeue(received r) { queued_.push_front(std::move(r)); }

    /// Bytes received but not yet returned as replies (complete or partial).
    std::size_t unread() const noexcept {
        std::size_t n = in_.size();
        for (const auto& r : queued_) n += r.text.size();
        return n;
    }

    /// The start of what unread() counts, printable.
    std::string unread_text() const {
        std::string all;
        for (const auto& r : queued_) all += r.text + "\r\n";
        return printable(all + in_, 80);
    }

    /// After a TLS upgrade: the reply parser starts afresh.
    void restart_parser() {
        parser_ = smtp::reply_parser();
        in_.clear();
    }

private:
    std::string& transcript_;
    std::string in_;
    smtp::reply_parser parser_;
    std::deque<received> queued_;
    bool eof_ = false;
};

/// Every LF not preceded by CR becomes CRLF.
std::string to_crlf(std::string_view in) {
    std::string out;
    out.reserve(in.size() + in.size() / 32);
    for (std::size_t i = 0; i < in.size(); ++i) {
        if (in[i] == '\n' && (i == 0 || in[i - 1] != '\r')) out += '\r';
        out += in[i];
    }
    return out;
}

std::string describe(const received& r) { return "\"" + printable(r.text, 200) + "\""; }

bool matches(const std::string& text, const std::string& pattern, bool exact,
             std::vector<std::optional<std::string>>* groups = nullptr) {
    if (exact) return text == pattern;
    // ${var} expansion can lengthen a pattern past what parse_case checked.
    if (pattern.size() > max_regex_size) {
        throw std::invalid_argument("regex longer than " + std::to_string(max_regex_size) + " characters after expansion");
    }
    return detail::regex_search(text, pattern, groups);
}

class case_run {
public:
    case_run(const test_case& c, const target& t, case_result& result)
        : c_(c), t_(t), result_(result), vars_(t.vars()), ctx_(nullptr, SSL_CTX_free) {}

    void run() {
        for (const auto& s : c_.steps) {
            result_.line = s.line;
            if (s.kind != step_kind::expect && s.kind != step_kind::expect_not && s.kind != step_kind::expect_closed &&
                s.kind != step_kind::use)
                mark_ = result_.transcript.size();
            try {
                execute(s);
            } catch (const step_failure&) {
                throw;
            } catch (const std::exception& e) {
                throw step_failure{std::string(to_string(s.kind)) + ": " + e.what()};
            }
        }
        result_.line = 0;
    }

    /// The transcript lines from the last step that acted (see case_result::decisive).
    std::vector<std::string> decisive() const {
        std::vector<std::string> lines;
        std::string_view rest = std::string_view(result_.transcript).substr(std::min(mark_, result_.transcript.size()));
        while (!rest.empty()) {
            const auto nl = rest.find('\n');
            lines.emplace_back(rest.substr(0, nl));
            rest.remove_prefix(nl == std::string_view::npos ? rest.size() : nl + 1);
        }
        if (lines.size() > max_decisive_lines) lines.erase(lines.begin(), lines.end() - max_decisive_lines);
        return lines;
    }

private:
    smtp_session& current() {
        if (!current_ || !current_->conn.is_open()) throw step_failure{"no open connection"};
        return *current_;
    }

    SSL_CTX* ssl_ctx() {
        if (!ctx_) ctx_.reset(detail::make_client_ctx(t_.insecure, t_.cafile));
        return ctx_.get();
    }

    void execute(const step& s) {
        switch (s.kind) {
            case step_kind::connect: {
                auto& session = sessions_[s.text];
                session = std::make_unique<smtp_session>(result_.transcript);
                result_.transcript += "-- connect " + s.text + " to " + t_.host + ":" + std::to_string(t_.port) + "\n";
                session->conn.open(t_.host, t_.port, t_.timeout);
                if (t_.tls == tls_mode::implicit) session->conn.start_tls(ssl_ctx(), t_.certificate_name(), t_.timeout);
                current_ = session.get();
                break;
            }
            case step_kind::use: {
                auto it = sessions_.find(s.text);
                if (it == sessions_.end()) throw step_failure{"no connection named '" + s.text + "'"};
                current_ = it->second.get();
                break;
            }
            case step_kind::send: {
                std::string bytes = expand(s.text, vars_);
                if (!bytes.ends_with("\r\n")) bytes += "\r\n";
                current().send(bytes, t_.timeout);
                last_send_ = clock::now();
                break;
            }
            case step_kind::send_raw:
                current().send(expand(s.text, vars_), t_.timeout);
                last_send_ = clock::now();
                break;
            case step_kind::send_file: {
                std::string bytes = s.expand ? expand(s.text, vars_) : s.text;
                if (s.crlf) bytes = to_crlf(bytes);
                result_.transcript += "-- send_file " + s.fixture + " (" + std::to_string(bytes.size()) + " bytes)\n";
                current().send(bytes, t_.timeout);
                last_send_ = clock::now();
                break;
            }
            case step_kind::tls_check: {
                auto& session = current();
                detail::tls_check_params p{.name = t_.certificate_name(),
                                           .cafile = t_.cafile,
                                           .days = s.days ? s.days : t_.cert_warn_days,
                                           .min_version = s.min_version};
                const std::string what = std::string("tls_check ") + to_string(s.check);
                const std::string why = detail::check_tls(session.conn.native_ssl(), s.check, p);
                result_.transcript += "-- " + what + (why.empty() ? ": ok" : ": " + why) + "\n";
                if (!why.empty()) throw step_failure{what + ": " + why};
                break;
            }
            case step_kind::expect: expect(s); break;
            case step_kind::expect_not: expect_not(s); break;
            case step_kind::starttls: {
                auto& session = current();
                if (session.conn.tls()) throw step_failure{"the connection is already TLS"};
                if (session.unread() > 0) {
                    throw step_failure{"the server sent " + std::to_string(session.unread()) +
                                       " bytes after its STARTTLS reply, before the handshake: \"" +
                                       session.unread_text() + "\""};
                }
                starttls(s, session);
                break;
            }
            case step_kind::close:
                current().conn.close();
                result_.transcript += "-- closed by client\n";
                break;
            case step_kind::expect_closed: {
                auto& session = current();
                received r;
                const auto wait = timeout_of(s);
                switch (session.next(r, wait)) {
                    case got::reply: throw step_failure{"expected the server to close; it replied " + describe(r)};
                    case got::timeout:
                        throw step_failure{"the server did not close the connection within " +
                                           std::to_string(wait.count()) + " ms"};
                    case got::eof: session.conn.close(); break;
                }
                break;
            }
        }
    }

    void starttls(const step& s, smtp_session& session) {
        result_.transcript += "-- TLS handshake" + (s.tls_version.empty() ? "" : " offering only TLSv" + s.tls_version) + "\n";
        SSL_CTX* ctx = ssl_ctx();
        ctx_ptr own(nullptr, SSL_CTX_free);
        const bool verify = s.verify.value_or(!t_.insecure);
        if (!s.tls_version.empty() || verify == t_.insecure) {
            static const std::map<std::string, int> versions{
                {"1.0", TLS1_VERSION}, {"1.1", TLS1_1_VERSION}, {"1.2", TLS1_2_VERSION}, {"1.3", TLS1_3_VERSION}};
            own.reset(detail::make_client_ctx(!verify, t_.cafile, s.tls_version.empty() ? 0 : versions.at(s.tls_version)));
            ctx = own.get();
        }
        if (!s.must_fail) {
            session.conn.start_tls(ctx, t_.certificate_name(), t_.timeout);
            session.restart_parser();
            return;
        }
        try {
            session.conn.start_tls(ctx, t_.certificate_name(), t_.timeout);
        } catch (const std::exception& e) {
            const std::string why = e.what();
            result_.transcript += "-- refused: " + why + "\n";
            session.conn.close();
            // Refused by this client's OpenSSL before anything was sent: nothing was tested.
            if (why.find("no protocols available") != std::string::npos ||
                why.find("no ciphers available") != std::string::npos) {
                throw step_failure{"this OpenSSL cannot offer TLSv" + s.tls_version + ": " + why, true};
            }
            return;
        }
        session.conn.close();
        throw step_failure{"the TLS handshake" + (s.tls_version.empty() ? "" : " with TLSv" + s.tls_version) +
                           " succeeded; it must be refused"};
    }

    std::chrono::milliseconds timeout_of(const step& s) const {
        return s.timeout_ms > 0 ? std::chrono::milliseconds(s.timeout_ms) : t_.timeout;
    }

    void expect(const step& s) {
        received r;
        const auto wait = timeout_of(s);
        switch (current().next(r, wait)) {
            case got::eof: throw step_failure{"the server closed the connection instead of replying"};
            case got::timeout: throw step_failure{"no reply within " + std::to_string(wait.count()) + " ms"};
            case got::reply: break;
        }
        if (s.min_ms > 0) {
            const auto took = std::chrono::duration_cast<std::chrono::milliseconds>(clock::now() - last_send_).count();
            if (took < s.min_ms) {
                throw step_failure{"reply " + describe(r) + " came " + std::to_string(took) + " ms after the command; at least " +
                                   std::to_string(s.min_ms) + " ms expected"};
            }
        }
        if (!s.codes.empty() && std::find(s.codes.begin(), s.codes.end(), r.code) == s.codes.end()) {
            std::string want;
            for (int c : s.codes) want += (want.empty() ? "" : " or ") + std::to_string(c);
            throw step_failure{"expected code " + want + ", got " + describe(r), s.skip_unless_match};
        }
        const std::string pattern = expand(s.text, vars_);
        std::vector<std::optional<std::string>> m;
        if (!matches(r.text, pattern, s.exact, &m)) {
            throw step_failure{"reply " + describe(r) + (s.exact ? " is not \"" : " does not match /") +
                                   printable(pattern, 200) + (s.exact ? "\"" : "/"),
                               s.skip_unless_match};
        }
        for (const auto& a : s.absent) {
            const std::string bad = expand(a, vars_);
            if (matches(r.text, bad, false)) {
                throw step_failure{"reply " + describe(r) + " contains what must not appear: /" + printable(bad, 200) + "/"};
            }
        }
        for (const auto& cap : s.captures) {
            if (!cap.regex) {
                if (cap.group >= static_cast<int>(m.size()) || !m[static_cast<std::size_t>(cap.group)]) {
                    throw step_failure{"capture " + cap.name + ": the expect regex has no group " + std::to_string(cap.group)};
                }
                vars_[cap.name] = *m[static_cast<std::size_t>(cap.group)];
                continue;
            }
            std::vector<std::optional<std::string>> cm;
            if (!matches(r.text, *cap.regex, false, &cm)) {
                throw step_failure{"capture " + cap.name + ": /" + *cap.regex + "/ not found in " + describe(r),
                                   s.skip_unless_match};
            }
            vars_[cap.name] = cm.size() > 1 && cm[1] ? *cm[1] : cm[0].value_or(std::string());
        }
    }

    void expect_not(const step& s) {
        auto& session = current();
        received r;
        if (session.next(r, t_.quiet_time) != got::reply) return;
        if (matches(r.text, expand(s.text, vars_), s.exact)) {
            throw step_failure{"unexpected reply " + describe(r)};
        }
        session.requeue(std::move(r));
    }

    const test_case& c_;
    const target& t_;
    case_result& result_;
    variables vars_;
    ctx_ptr ctx_;
    std::map<std::string, std::unique_ptr<smtp_session>> sessions_;
    smtp_session* current_ = nullptr;
    clock::time_point last_send_ = clock::now();
    std::size_t mark_ = 0;  ///< transcript size when the last acting step began
};

std::string skip_reason(const test_case& c, const target& t, const std::set<std::string>& caps,
                        const run_options& options) {
    if (c.protocol != protocol::smtp) return "this runner speaks SMTP only so far";
    if (c.destructive && !options.allow_destructive) return "destructive (use --allow-destructive)";
    if (c.has_step(step_kind::starttls)) {
        if (t.tls == tls_mode::none) return "needs STARTTLS, target is --tls none";
        if (t.tls == tls_mode::implicit) return "STARTTLS case, target is implicit TLS";
    }
    if (t.user.empty() || t.password.empty()) {
        for (const auto& s : c.steps) {
            for (const char* v : {"${user}", "${password}", "${auth_plain}", "${auth_plain_bad}"}) {
                if (s.text.find(v) != std::string::npos) return "needs credentials (--user, --password)";
            }
        }
    }
    for (const auto& r : c.requires_caps) {
        if (!caps.count(r)) return "server does not advertise " + r;
    }
    return {};
}

}  // namespace

std::set<std::string> probe_smtp_capabilities(const target& t) {
    std::string transcript;
    smtp_session s(transcript);
    try {
        s.conn.open(t.host, t.port, t.timeout);
        std::unique_ptr<SSL_CTX, decltype(&SSL_CTX_free)> ctx(nullptr, SSL_CTX_free);
        if (t.tls == tls_mode::implicit) {
            ctx.reset(detail::make_client_ctx(t.insecure, t.cafile));
            s.conn.start_tls(ctx.get(), t.certificate_name(), t.timeout);
        }
        received r;
        if (s.next(r, t.timeout) != got::reply || r.code != 220) throw std::runtime_error("no 220 greeting");
        s.send("EHLO " + t.local_domain + "\r\n", t.timeout);
        if (s.next(r, t.timeout) != got::reply || r.code != 250) throw std::runtime_error("EHLO refused");
        const auto announced = smtp::parse_ehlo(r.reply);
        std::set<std::string> caps(announced.keywords.begin(), announced.keywords.end());
        s.send("QUIT\r\n", t.timeout);
        s.next(r, t.timeout);
        return caps;
    } catch (const step_failure& f) {
        throw std::runtime_error("capability probe: " + f.message);
    } catch (const std::exception& e) {
        throw std::runtime_error(std::string("capability probe: ") + e.what());
    }
}

case_result run_case(const test_case& c, const target& t, const std::set<std::string>& caps,
                     const run_options& options) {
    case_result result;
    result.tc = &c;
    const auto start = clock::now();
    if (auto why = skip_reason(c, t, caps, options); !why.empty()) {
        result.outcome = outcome::skipped;
        result.message = std::move(why);
        return result;
    }
    case_run run(c, t, result);
    try {
        run.run();
        result.outcome = outcome::passed;
    } catch (const step_failure& f) {
        result.outcome = f.skip ? outcome::skipped : outcome::failed;
        result.message = f.message;
        if (result.outcome == outcome::failed) result.decisive = run.decisive();
    }
    result.duration = std::chrono::duration_cast<std::chrono::milliseconds>(clock::now() - start);
    return result;
}

std::vector<case_result> run_cases(const std::vector<test_case>& cases, const target& t,
                                   const run_options& options, std::ostream* progress) {
    // OpenSSL writes to the socket with write(), not send(MSG_NOSIGNAL): a server that closes
    // mid-case must give an error, not kill the process.
    std::signal(SIGPIPE, SIG_IGN);
    std::vector<case_result> results;
    std::set<std::string> caps;
    std::string probe_error;
    bool probed = false;
    for (const auto& c : cases) {
        if (!selected(c, options)) continue;
        if (!c.requires_caps.empty() && c.protocol == protocol::smtp && !probed) {
            probed = true;
            try {
                caps = probe_smtp_capabilities(t);
            } catch (const std::exception& e) {
                probe_error = e.what();
            }
        }
        case_result r;
        if (!c.requires_caps.empty() && !probe_error.empty() && c.protocol == protocol::smtp) {
            r.tc = &c;
            r.outcome = outcome::failed;
            r.message = probe_error;
        } else {
            r = run_case(c, t, caps, options);
        }
        if (progress) {
            *progress << (r.outcome == outcome::passed ? "PASS " : r.outcome == outcome::failed ? "FAIL " : "SKIP ")
                      << c.id;
            if (!r.message.empty()) *progress << ": " << r.message;
            if (r.outcome == outcome::failed && r.line) *progress << " (" << c.file << ':' << r.line << ')';
            *progress << '\n';
        }
        results.push_back(std::move(r));
    }
    return results;
}

}  // namespace mailharness::conform

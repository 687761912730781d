#include "session_core.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <ctime>
#include <map>
#include <set>

#include "mail_folder.hpp"
#include "mailbox_tree.hpp"
#include "mailharness/imap/response_writer.hpp"
#include "mailharness/imap/types.hpp"
#include "mailharness/mime/message.hpp"
#include "mailharness/sasl/base64.hpp"

namespace mailharness::refmaild::imap_room {

using imap_store::folder;
using imap_store::folder_state;
using store::flag_set;

namespace {

enum class state { not_authenticated, authenticated, selected, logout };

struct view_msg {
    std::uint32_t uid = 0;
    flag_set flags;
    std::uint64_t modseq = 0;
    bool recent = false;
    bool gone = false;  // expunged, not yet announced
};

constexpr std::string_view system_flag_names[] = {"\\Answered", "\\Flagged", "\\Deleted", "\\Seen", "\\Draft"};
constexpr char system_flag_letters[] = {'R', 'F', 'T', 'S', 'D'};

bool iequal(std::string_view a, std::string_view b) {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
               return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
           });
}

std::string upper(std::string_view s) {
    std::string r(s);
    for (auto& c : r) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    return r;
}

imap::date_time to_date_time(std::int64_t secs) {
    const std::time_t t = static_cast<std::time_t>(secs);
    std::tm tm{};
    ::localtime_r(&t, &tm);
    imap::date_time dt;
    dt.date.year = static_cast<std::uint16_t>(tm.tm_year + 1900);
    dt.date.month = static_cast<std::uint8_t>(tm.tm_mon + 1);
    dt.date.day = static_cast<std::uint8_t>(tm.tm_mday);
    dt.hour = static_cast<std::uint8_t>(tm.tm_hour);
    dt.minute = static_cast<std::uint8_t>(tm.tm_min);
    dt.second = static_cast<std::uint8_t>(tm.tm_sec);
    dt.zone_minutes = static_cast<std::int16_t>(tm.tm_gmtoff / 60);
    return dt;
}

std::int64_t from_date_time(const imap::date_time& dt) {
    std::tm tm{};
    tm.tm_year = dt.date.year - 1900;
    tm.tm_mon = dt.date.month - 1;
    tm.tm_mday = dt.date.day;
    tm.tm_hour = dt.hour;
    tm.tm_min = dt.minute;
    tm.tm_sec = dt.second;
    return static_cast<std::int64_t>(::timegm(&tm)) - static_cast<std::int64_t>(dt.zone_minutes) * 60;
}

// Calendar date of a time in the server's zone (SEARCH BEFORE/ON/SINCE, RFC 3501 6.4.4:
// "disregarding time and timezone").
int day_number(const imap::date& d) { return d.year * 10000 + d.month * 100 + d.day; }
int day_number(std::int64_t secs) {
    const auto dt = to_date_time(secs);
    return day_number(dt.date);
}

// Writes a sequence set of sorted numbers compactly ("1:3,5").
std::string compact_set(std::vector<std::uint32_t> v) {
    std::sort(v.begin(), v.end());
    v.erase(std::unique(v.begin(), v.end()), v.end());
    std::string out;
    for (std::size_t i = 0; i < v.size();) {
        std::size_t j = i;
        while (j + 1 < v.size() && v[j + 1] == v[j] + 1) ++j;
        if (!out.empty()) out += ',';
        out += std::to_string(v[i]);
        if (j > i) out += ':' + std::to_string(v[j]);
        i = j + 1;
    }
    return out;
}

// COPYUID sets keep the order of the pairs (RFC 4315 3: the two sets correspond in order).
std::string ordered_set(const std::vector<std::uint32_t>& v) {
    std::string out;
    for (std::size_t i = 0; i < v.size();) {
        std::size_t j = i;
        while (j + 1 < v.size() && v[j + 1] == v[j] + 1) ++j;
        if (!out.empty()) out += ',';
        out += std::to_string(v[i]);
        if (j > i) out += ':' + std::to_string(v[j]);
        i = j + 1;
    }
    return out;
}

std::string read_file(int fd) {
    std::string data;
    char buf[65536];
    for (;;) {
        const ssize_t n = ::read(fd, buf, sizeof buf);
        if (n < 0) {
            if (errno == EINTR) continue;
            break;
        }
        if (n == 0) break;
        data.append(buf, static_cast<std::size_t>(n));
    }
    return data;
}

}  // namespace

struct session_core::impl {
    core_settings cfg;
    core_hooks& hooks;
    state st = state::not_authenticated;
    std::string user;
    std::unique_ptr<imap_store::mailbox_tree> tree;
    std::chrono::milliseconds delay{0};
    unsigned errors_in_row = 0;
    unsigned auth_failures = 0;
    std::string close_reason;

    // SASL
    std::unique_ptr<sasl::server_mechanism> mech;
    std::string auth_tag;
    bool auth_final_pending = false;  // success data sent as a challenge; waiting for ""

    // selected mailbox
    std::shared_ptr<folder> sel;
    std::string sel_name;
    bool read_only = false;
    bool condstore = false;
    std::vector<view_msg> view;
    std::uint64_t view_generation = 0;
    std::size_t known_keywords = 0;
    std::uint32_t view_recent = 0;

    // IDLE
    std::string idle_tag;

    // APPEND
    struct append_state {
        std::shared_ptr<folder> target;
        int fd = -1;
        std::string tmp_name;
        std::uint64_t vsize = 0;
        char prev = '\0';
        bool failed = false;
        bool refused = false;
        std::string error;
    } app;

    impl(core_settings s, core_hooks& h) : cfg(std::move(s)), hooks(h) {}
    ~impl() {
        if (app.fd >= 0 && app.target) app.target->discard_tmp(app.fd, app.tmp_name);
    }

    // ---------------------------------------------------------------- capabilities
    bool offers(std::string_view method) const {
        return cfg.login_methods.empty() ||
               std::find(cfg.login_methods.begin(), cfg.login_methods.end(), method) != cfg.login_methods.end();
    }
    bool plaintext_ok() const { return cfg.tls_active || cfg.allow_plaintext_auth; }

    std::vector<std::string> mechanisms() const {
        std::vector<std::string> out;
        for (const auto& m : sasl::supported_server_mechanisms(cfg.sasl_options)) {
            std::string lower = m;
            for (auto& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
            if (lower == "scram-sha-256-plus") lower = "scram-sha-256";
            if (!offers(lower)) continue;
            if (sasl::is_plaintext_mechanism(m) && !plaintext_ok()) continue;
            out.push_back(m);
        }
        return out;
    }

    std::string capabilities() const {
        std::string c = "IMAP4rev1 SASL-IR LITERAL+ ID ENABLE IDLE";
        if (st == state::not_authenticated) {
            if (cfg.tls_available && !cfg.tls_active) c += " STARTTLS";
            if (!plaintext_ok() || !offers("user")) c += " LOGINDISABLED";
            if (hooks.credentials()) {
                for (const auto& m : mechanisms()) c += " AUTH=" + m;
            }
        } else {
            c += " NAMESPACE UNSELECT UIDPLUS MOVE CHILDREN SPECIAL-USE ESEARCH CONDSTORE";
        }
        return c;
    }

    // ---------------------------------------------------------------- replies
    void tagged(std::string& out, std::string_view tag, imap::status s, std::string_view code, std::string_view text) {
        imap::write_status(out, tag, s, code, text);
        if (s == imap::status::bad) ++errors_in_row;
        else errors_in_row = 0;
    }
    void untagged(std::string& out, std::string_view text) {
        out += "* ";
        out += text;
        out += "\r\n";
    }
    core_action after_bad(std::string& out) {
        if (cfg.max_errors && errors_in_row >= cfg.max_errors) {
            untagged(out, "BYE Too many invalid IMAP commands.");
            close_reason = "too_many_errors";
            return core_action::close;
        }
        return core_action::read_command;
    }

    // ---------------------------------------------------------------- flags
    std::string flag_list(flag_set f, bool recent, const std::vector<std::string>& keywords) const {
        std::string out = "(";
        auto add = [&](std::string_view s) {
            if (out.size() > 1) out += ' ';
            out += s;
        };
        for (std::size_t i = 0; i < 5; ++i) {
            if (f.has(system_flag_letters[i])) add(system_flag_names[i]);
        }
        if (recent) add("\\Recent");
        for (char c = 'a'; c <= 'z'; ++c) {
            const std::size_t i = static_cast<std::size_t>(c - 'a');
            if (f.has(c) && i < keywords.size() && !keywords[i].empty()) add(keywords[i]);
        }
        out += ')';
        return out;
    }

    // Parses STORE/APPEND flags into letters; errors: "\Recent" and unknown system flags.
    bool flags_to_letters(const std::vector<std::string_view>& names, folder* f, flag_set& out, std::string& error) {
        std::vector<std::string_view> keywords;
        for (auto n : names) {
            if (!n.empty() && n[0] == '\\') {
                bool found = false;
                for (std::size_t i = 0; i < 5; ++i) {
                    if (iequal(n, system_flag_names[i])) {
                        out.add(flag_set::of(system_flag_letters[i]));
                        found = true;
                    }
                }
                if (!found) {
                    error = "Invalid system flag " + std::string(n);
                    return false;
                }
            } else {
                keywords.push_back(n);
            }
        }
        if (!keywords.empty() && f) {
            auto letters = f->keyword_letters(keywords, true);
            for (const auto& l : letters) {
                if (l) out.add(flag_set::of(*l));
            }
        }
        return true;
    }

    std::vector<std::string> current_keywords() const {
        std::vector<std::string> kw;
        if (sel) sel->read([&](const folder_state& s) { kw = s.keywords; });
        return kw;
    }

    std::string all_flags(const std::vector<std::string>& kw) const {
        std::string out = "(\\Answered \\Flagged \\Deleted \\Seen \\Draft";
        for (const auto& k : kw) {
            if (!k.empty()) out += ' ' + k;
        }
        return out + ")";
    }

    // ---------------------------------------------------------------- view sync
    // Compares the view with the folder; appends untagged updates. `expunges`: EXPUNGE may be
    // sent now (else removed messages stay in the view, marked gone).
    void sync_view(std::string& out, bool expunges) {
        if (!sel) return;
        sel->refresh(false);
        const bool has_gone = std::any_of(view.begin(), view.end(), [](const view_msg& v) { return v.gone; });
        if (sel->generation() == view_generation && !(expunges && has_gone)) return;
        std::uint32_t recent_from = 0;
        if (!read_only) recent_from = sel->claim_recent();
        std::vector<std::string> keywords;
        std::vector<std::uint32_t> expunged_seqs;
        std::vector<view_msg> next;
        std::vector<std::size_t> flag_changes;  // indexes into next
        std::size_t old_count = view.size();
        sel->read([&](const folder_state& s) {
            keywords = s.keywords;
            view_generation = s.generation;
            next.reserve(s.messages.size());
            std::size_t j = 0;
            std::uint32_t removed_before = 0;
            for (std::size_t i = 0; i < view.size(); ++i) {
                view_msg v = view[i];
                while (j < s.messages.size() && s.messages[j].uid < v.uid) ++j;  // unknown lower UIDs: ignored
                const bool present = j < s.messages.size() && s.messages[j].uid == v.uid;
                if (!present) {
                    if (expunges) {
                        expunged_seqs.push_back(static_cast<std::uint32_t>(i + 1 - removed_before));
                        ++removed_before;
                        continue;
                    }
                    v.gone = true;
                    next.push_back(v);
                    continue;
                }
                const auto& m = s.messages[j];
                if (m.modseq != v.modseq) {
                    const bool flags_differ = m.flags != v.flags;
                    v.flags = m.flags;
                    v.modseq = m.modseq;
                    if (flags_differ || condstore) flag_changes.push_back(next.size());
                }
                next.push_back(v);
            }
            const std::uint32_t max_uid = view.empty() ? 0 : view.back().uid;
            for (const auto& m : s.messages) {
                if (m.uid <= max_uid) continue;
                view_msg v{m.uid, m.flags, m.modseq, !read_only && recent_from && m.uid >= recent_from, false};
                next.push_back(v);
            }
        });
        for (auto seq : expunged_seqs) untagged(out, std::to_string(seq) + " EXPUNGE");
        const std::size_t after_expunge = old_count - expunged_seqs.size();
        view = std::move(next);
        if (keywords.size() != known_keywords) {
            known_keywords = keywords.size();
            untagged(out, "FLAGS " + all_flags(keywords));
            if (!read_only) untagged(out, "OK [PERMANENTFLAGS " + permanent_flags(keywords) + "] Flags permitted.");
        }
        if (view.size() != after_expunge) {
            untagged(out, std::to_string(view.size()) + " EXISTS");
            std::uint32_t recent = 0;
            for (const auto& v : view) recent += v.recent ? 1 : 0;
            view_recent = recent;
            untagged(out, std::to_string(recent) + " RECENT");
        }
        for (auto i : flag_changes) {
            const auto& v = view[i];
            std::string line = std::to_string(i + 1) + " FETCH (";
            line += "UID " + std::to_string(v.uid) + " ";
            line += "FLAGS " + flag_list(v.flags, v.recent, keywords);
            if (condstore) line += " MODSEQ (" + std::to_string(v.modseq) + ")";
            line += ")";
            untagged(out, line);
        }
    }

    std::string permanent_flags(const std::vector<std::string>& kw) const {
        std::string f = all_flags(kw);
        f.pop_back();
        std::size_t used = 0;
        for (const auto& k : kw) used += k.empty() ? 0 : 1;
        if (used < 26) f += " \\*";
        return f + ")";
    }

    // ---------------------------------------------------------------- sequence sets
    // Indexes (0-based, ascending) of the view messages in `set`; false when a sequence number
    // is out of range (BAD).
    bool resolve(const imap::sequence_set& set, bool uid, std::vector<std::size_t>& out) {
        out.clear();
        if (uid) {
            const std::uint32_t max_uid = view.empty() ? 0 : view.back().uid;
            for (const auto& r : set.ranges) {
                if (view.empty()) break;
                std::uint32_t a = r.first == imap::star ? max_uid : r.first;
                std::uint32_t b = r.last == imap::star ? max_uid : r.last;
                if (a > b) std::swap(a, b);
                auto lo = std::lower_bound(view.begin(), view.end(), a, [](const view_msg& v, std::uint32_t u) { return v.uid < u; });
                auto hi = std::upper_bound(view.begin(), view.end(), b, [](std::uint32_t u, const view_msg& v) { return u < v.uid; });
                for (auto it = lo; it < hi; ++it) out.push_back(static_cast<std::size_t>(it - view.begin()));
            }
        } else {
            const std::uint32_t n = static_cast<std::uint32_t>(view.size());
            for (const auto& r : set.ranges) {
                std::uint32_t a = r.first == imap::star ? n : r.first;
                std::uint32_t b = r.last == imap::star ? n : r.last;
                if (a > b) std::swap(a, b);
                if (a == 0 || b > n) return false;
                for (std::uint32_t s = a; s <= b; ++s) out.push_back(s - 1);
            }
        }
        std::sort(out.begin(), out.end());
        out.erase(std::unique(out.begin(), out.end()), out.end());
        return true;
    }

    // ---------------------------------------------------------------- message content
    struct loaded {
        std::uint32_t uid = 0;
        std::optional<mime::message> msg;
    };
    loaded cache;

    const mime::message* load(std::uint32_t uid) {
        if (cache.uid == uid && cache.msg) return &*cache.msg;
        auto fd = sel->open_message(uid);
        if (!fd) return nullptr;
        std::string raw = read_file(*fd);
        ::close(*fd);
        std::string crlf;
        crlf.reserve(raw.size() + raw.size() / 40);
        mime::to_crlf(raw, crlf);
        cache.uid = uid;
        cache.msg = mime::message::parse(std::move(crlf));
        return &*cache.msg;
    }

    // ---------------------------------------------------------------- commands
    core_action login_done(std::string_view tag, const std::string& identity, std::string& out) {
        std::string reason;
        auto grant = hooks.login(identity, reason);
        if (!grant) {
            if (reason == "limit") {
                tagged(out, tag, imap::status::no, "LIMIT", "Maximum number of connections from user+IP exceeded");
            } else {
                tagged(out, tag, imap::status::no, "UNAVAILABLE", "Mailbox is temporarily unavailable");
            }
            hooks.log("event=login_refused user=" + identity + " reason=" + (reason.empty() ? "unavailable" : reason));
            return core_action::read_command;
        }
        user = grant->user;
        tree = std::make_unique<imap_store::mailbox_tree>(grant->maildir);
        if (auto ec = tree->ensure_defaults()) {
            hooks.log("event=mailbox_error user=" + user + " error=\"" + ec.message() + "\"");
        }
        st = state::authenticated;
        tagged(out, tag, imap::status::ok, "CAPABILITY " + capabilities(), "Logged in");
        hooks.log("event=auth user=" + user);
        return core_action::read_command;
    }

    core_action login_failed(std::string_view tag, std::string& out, std::string_view text = "Authentication failed.") {
        ++auth_failures;
        delay = hooks.auth_failed();
        tagged(out, tag, imap::status::no, "AUTHENTICATIONFAILED", text);
        if (cfg.max_auth_failures && auth_failures >= cfg.max_auth_failures) {
            untagged(out, "BYE Too many invalid login attempts.");
            close_reason = "too_many_auth_failures";
            return core_action::close;
        }
        return core_action::read_command;
    }

    core_action cmd_login(const imap::command& c, std::string& out) {
        const auto& a = std::get<imap::login_args>(c.args);
        if (!plaintext_ok()) {
            untagged(out, "BAD [ALERT] Plaintext authentication not allowed without SSL/TLS, but your client did it anyway. If anyone was listening, the password was exposed.");
            tagged(out, c.tag, imap::status::no, "PRIVACYREQUIRED", "Plaintext authentication disallowed on non-secure (SSL/TLS) connections.");
            return core_action::read_command;
        }
        if (!offers("user")) {
            tagged(out, c.tag, imap::status::no, "CANNOT", "LOGIN is disabled here; use AUTHENTICATE.");
            return core_action::read_command;
        }
        auto* creds = hooks.credentials();
        if (!creds || creds->verify_plain(a.user, a.password) != sasl::credential_lookup::result::ok) {
            hooks.log("event=auth_failed reason=bad_credentials");
            return login_failed(c.tag, out);
        }
        return login_done(c.tag, std::string(a.user), out);
    }

    core_action cmd_authenticate(const imap::command& c, std::string& out) {
        const auto& a = std::get<imap::authenticate_args>(c.args);
        auto* creds = hooks.credentials();
        const std::string name = upper(a.mechanism);
        const auto mechs = mechanisms();
        const bool allowed = std::find(mechs.begin(), mechs.end(), name) != mechs.end();
        if (!creds || !allowed) {
            if (creds && sasl::is_plaintext_mechanism(name) && !plaintext_ok()) {
                tagged(out, c.tag, imap::status::no, "PRIVACYREQUIRED", "Plaintext authentication disallowed on non-secure (SSL/TLS) connections.");
            } else {
                tagged(out, c.tag, imap::status::no, "", "Unsupported authentication mechanism.");
            }
            return core_action::read_command;
        }
        mech = sasl::make_server(name, *creds, cfg.sasl_options);
        if (!mech) {
            tagged(out, c.tag, imap::status::no, "", "Unsupported authentication mechanism.");
            return core_action::read_command;
        }
        auth_tag = std::string(c.tag);
        std::optional<std::string> ir;
        if (a.initial_response) {
            std::string decoded;
            if (sasl::decode_initial_response(*a.initial_response, decoded, cfg.sasl_options.limits)) {
                mech.reset();
                tagged(out, c.tag, imap::status::bad, "", "Invalid base64 data in initial response.");
                return after_bad(out);
            }
            ir = std::move(decoded);
        }
        auto r = ir ? mech->start(std::string_view(*ir)) : mech->start();
        return sasl_result(r, out);
    }

    core_action sasl_result(const sasl::step_result& r, std::string& out) {
        switch (r.status) {
            case sasl::step_status::challenge:
                out += "+ " + sasl::encode_challenge(r.data) + "\r\n";
                return core_action::read_line;
            case sasl::step_status::success: {
                if (!r.data.empty()) {
                    // IMAP's OK cannot carry SASL success data: one more challenge, then OK.
                    out += "+ " + sasl::encode_challenge(r.data) + "\r\n";
                    auth_final_pending = true;
                    return core_action::read_line;
                }
                const std::string id = mech->identity();
                mech.reset();
                return login_done(auth_tag, id, out);
            }
            case sasl::step_status::failure:
                break;
        }
        hooks.log("event=auth_failed mechanism=" + std::string(mech ? mech->name() : "") + " reason=\"" + r.ec.message() + "\"");
        mech.reset();
        return login_failed(auth_tag, out);
    }

    core_action on_sasl_line(std::string_view line, std::string& out) {
        if (line == "*") {
            mech.reset();
            auth_final_pending = false;
            tagged(out, auth_tag, imap::status::bad, "", "Authentication aborted by client.");
            return after_bad(out);
        }
        if (auth_final_pending) {
            auth_final_pending = false;
            const std::string id = mech->identity();
            mech.reset();
            return login_done(auth_tag, id, out);
        }
        std::string decoded;
        if (sasl::decode_response(line, decoded, cfg.sasl_options.limits)) {
            mech.reset();
            tagged(out, auth_tag, imap::status::bad, "", "Invalid base64 data in continued response.");
            return after_bad(out);
        }
        return sasl_result(mech->step(decoded), out);
    }

    // Mailbox name from the wire (modified UTF-7) to UTF-8; INBOX canonical.
    bool mailbox_name(std::string_view wire, std::string& utf8) {
        utf8.clear();
        if (imap::mutf7_decode(wire, utf8)) return false;
        if (imap::is_inbox(utf8)) utf8 = "INBOX";
        else if (utf8.size() > 6 && imap::is_inbox(utf8.substr(0, 5)) && utf8[5] == imap_store::hierarchy_delimiter) {
            utf8 = "INBOX" + utf8.substr(5);
        }
        return true;
    }

    std::string wire_name(std::string_view utf8) {
        std::string o;
        imap::write_mailbox(o, utf8);
        return o;
    }

    void deselect() {
        sel.reset();
        sel_name.clear();
        view.clear();
        view_generation = 0;
        cache = {};
        st = state::authenticated;
    }

    core_action cmd_select(const imap::command& c, std::string& out) {
        const auto& a = std::get<imap::select_args>(c.args);
        deselect();
        std::string name;
        if (!mailbox_name(a.mailbox, name)) {
            tagged(out, c.tag, imap::status::no, "", "Invalid mailbox name.");
            return core_action::read_command;
        }
        auto path = tree->path_of(name);
        if (!path || !tree->exists(name)) {
            tagged(out, c.tag, imap::status::no, "NONEXISTENT", "Mailbox doesn't exist: " + name);
            return core_action::read_command;
        }
        auto f = folder::open(*path, name == "INBOX");
        if (!f) {
            hooks.log("event=mailbox_error mailbox=\"" + name + "\" error=\"" + f.error().message() + "\"");
            tagged(out, c.tag, imap::status::no, "SERVERBUG", "Internal error occurred.");
            return core_action::read_command;
        }
        sel = *f;
        sel_name = name;
        read_only = c.verb == imap::verb::examine;
        if (a.condstore) condstore = true;
        sel->refresh(false);
        std::uint32_t recent_from = read_only ? 0 : sel->claim_recent();
        folder_state s;
        sel->read([&](const folder_state& fs) {
            s.uid_validity = fs.uid_validity;
            s.uid_next = fs.uid_next;
            s.highest_modseq = fs.highest_modseq;
            s.keywords = fs.keywords;
            s.generation = fs.generation;
            view.clear();
            view.reserve(fs.messages.size());
            for (const auto& m : fs.messages) {
                view.push_back({m.uid, m.flags, m.modseq, recent_from && m.uid >= recent_from, false});
            }
        });
        view_generation = s.generation;
        known_keywords = s.keywords.size();
        std::uint32_t recent = 0, first_unseen = 0;
        for (std::size_t i = 0; i < view.size(); ++i) {
            recent += view[i].recent ? 1 : 0;
            if (!first_unseen && !view[i].flags.has('S')) first_unseen = static_cast<std::uint32_t>(i + 1);
        }
        view_recent = recent;
        untagged(out, "FLAGS " + all_flags(s.keywords));
        untagged(out, "OK [PERMANENTFLAGS " + (read_only ? std::string("()") : permanent_flags(s.keywords)) + "] Flags permitted.");
        untagged(out, std::to_string(view.size()) + " EXISTS");
        untagged(out, std::to_string(recent) + " RECENT");
        if (first_unseen) untagged(out, "OK [UNSEEN " + std::to_string(first_unseen) + "] First unseen.");
        untagged(out, "OK [UIDVALIDITY " + std::to_string(s.uid_validity) + "] UIDs valid");
        untagged(out, "OK [UIDNEXT " + std::to_string(s.uid_next) + "] Predicted next UID");
        untagged(out, "OK [HIGHESTMODSEQ " + std::to_string(s.highest_modseq) + "] Highest");
        st = state::selected;
        tagged(out, c.tag, imap::status::ok, read_only ? "READ-ONLY" : "READ-WRITE",
               read_only ? "Examine completed" : "Select completed");
        return core_action::read_command;
    }

    core_action cmd_create(const imap::command& c, std::string& out) {
        std::string name;
        std::string_view wire = std::get<imap::mailbox_args>(c.args).mailbox;
        while (!wire.empty() && wire.back() == imap_store::hierarchy_delimiter) wire.remove_suffix(1);  // RFC 3501 6.3.3
        if (!mailbox_name(wire, name) || !tree->path_of(name)) {
            tagged(out, c.tag, imap::status::no, "CANNOT", "Invalid mailbox name.");
            return core_action::read_command;
        }
        if (tree->exists(name)) {
            tagged(out, c.tag, imap::status::no, "ALREADYEXISTS", "Mailbox already exists");
            return core_action::read_command;
        }
        if (auto ec = tree->create(name)) {
            tagged(out, c.tag, imap::status::no, "CANNOT", "Cannot create mailbox: " + ec.message());
            return core_action::read_command;
        }
        tagged(out, c.tag, imap::status::ok, "", "Create completed.");
        return core_action::read_command;
    }

    core_action cmd_delete(const imap::command& c, std::string& out) {
        std::string name;
        if (!mailbox_name(std::get<imap::mailbox_args>(c.args).mailbox, name)) {
            tagged(out, c.tag, imap::status::no, "", "Invalid mailbox name.");
            return core_action::read_command;
        }
        if (name == "INBOX") {
            tagged(out, c.tag, imap::status::no, "CANNOT", "INBOX can't be deleted.");
            return core_action::read_command;
        }
        if (!tree->exists(name)) {
            tagged(out, c.tag, imap::status::no, "NONEXISTENT", "Mailbox doesn't exist: " + name);
            return core_action::read_command;
        }
        for (const auto& e : tree->list()) {
            if (e.name == name && e.has_children) {
                tagged(out, c.tag, imap::status::no, "INUSE", "Mailbox has children, delete them first");
                return core_action::read_command;
            }
        }
        if (sel && sel_name == name) deselect();
        if (auto ec = tree->remove(name)) {
            tagged(out, c.tag, imap::status::no, "CANNOT", "Cannot delete mailbox: " + ec.message());
            return core_action::read_command;
        }
        tree->subscribe(name, false);
        tagged(out, c.tag, imap::status::ok, "", "Delete completed.");
        return core_action::read_command;
    }

    core_action cmd_rename(const imap::command& c, std::string& out) {
        const auto& a = std::get<imap::rename_args>(c.args);
        std::string from, to;
        if (!mailbox_name(a.from, from) || !mailbox_name(a.to, to) || !tree->path_of(to)) {
            tagged(out, c.tag, imap::status::no, "CANNOT", "Invalid mailbox name.");
            return core_action::read_command;
        }
        if (!tree->exists(from)) {
            tagged(out, c.tag, imap::status::no, "NONEXISTENT", "Mailbox doesn't exist: " + from);
            return core_action::read_command;
        }
        if (tree->exists(to) || to == "INBOX") {
            tagged(out, c.tag, imap::status::no, "ALREADYEXISTS", "Target mailbox already exists");
            return core_action::read_command;
        }
        if (from == "INBOX") {
            // RFC 3501 6.3.5: the messages move to the new mailbox; INBOX stays, empty.
            if (auto ec = tree->create(to)) {
                tagged(out, c.tag, imap::status::no, "CANNOT", ec.message());
                return core_action::read_command;
            }
            auto src = folder::open(tree->root(), true);
            auto dst = folder::open(*tree->path_of(to), false);
            if (!src || !dst) {
                tagged(out, c.tag, imap::status::no, "SERVERBUG", "Internal error occurred.");
                return core_action::read_command;
            }
            (*src)->refresh(true);
            std::vector<std::uint32_t> uids;
            (*src)->read([&](const folder_state& s) {
                for (const auto& m : s.messages) uids.push_back(m.uid);
            });
            auto copied = (*src)->copy_to(**dst, uids);
            if (!copied) {
                tagged(out, c.tag, imap::status::no, "SERVERBUG", "Internal error occurred.");
                return core_action::read_command;
            }
            (*src)->expunge(uids);
            tagged(out, c.tag, imap::status::ok, "", "Rename completed.");
            return core_action::read_command;
        }
        if (sel && (sel_name == from || sel_name.rfind(from + ".", 0) == 0)) deselect();
        if (auto ec = tree->rename(from, to)) {
            tagged(out, c.tag, imap::status::no, "CANNOT", "Cannot rename mailbox: " + ec.message());
            return core_action::read_command;
        }
        tagged(out, c.tag, imap::status::ok, "", "Rename completed.");
        return core_action::read_command;
    }

    core_action cmd_subscribe(const imap::command& c, bool on, std::string& out) {
        std::string name;
        if (!mailbox_name(std::get<imap::mailbox_args>(c.args).mailbox, name)) {
            tagged(out, c.tag, imap::status::no, "", "Invalid mailbox name.");
            return core_action::read_command;
        }
        if (on && !tree->exists(name)) {
            tagged(out, c.tag, imap::status::no, "NONEXISTENT", "Mailbox doesn't exist: " + name);
            return core_action::read_command;
        }
        if (auto ec = tree->subscribe(name, on)) {
            tagged(out, c.tag, imap::status::no, "SERVERBUG", ec.message());
            return core_action::read_command;
        }
        tagged(out, c.tag, imap::status::ok, "", on ? "Subscribe completed." : "Unsubscribe completed.");
        return core_action::read_command;
    }

    core_action cmd_list(const imap::command& c, bool lsub, std::string& out) {
        const auto& a = std::get<imap::list_args>(c.args);
        std::string ref, pat;
        if (!mailbox_name(a.reference, ref) || !mailbox_name(a.pattern, pat)) {
            tagged(out, c.tag, imap::status::ok, "", lsub ? "Lsub completed." : "List completed.");
            return core_action::read_command;
        }
        if (pat.empty() && !lsub) {
            // RFC 3501 6.3.8: the hierarchy delimiter and the root of the reference.
            untagged(out, "LIST (\\Noselect) \".\" \"\"");
            tagged(out, c.tag, imap::status::ok, "", "List completed.");
            return core_action::read_command;
        }
        std::string pattern = pat;
        if (!ref.empty() && (pat.empty() || pat[0] != imap_store::hierarchy_delimiter)) {
            pattern = ref;
            if (ref.back() != imap_store::hierarchy_delimiter && !pat.empty()) pattern += imap_store::hierarchy_delimiter;
            pattern += pat;
        }
        const auto entries = tree->list();
        if (!lsub) {
            for (const auto& e : entries) {
                if (!imap_store::list_match(pattern, e.name)) continue;
                std::string attrs;
                auto add = [&](std::string_view s) {
                    if (!attrs.empty()) attrs += ' ';
                    attrs += s;
                };
                if (!e.selectable) add("\\Noselect");
                add(e.has_children ? "\\HasChildren" : "\\HasNoChildren");
                if (auto su = imap_store::special_use_of(e.name); !su.empty()) add(su);
                untagged(out, "LIST (" + attrs + ") \".\" " + wire_name(e.name));
            }
        } else {
            const auto subs = tree->subscriptions();
            std::set<std::string> shown;
            for (const auto& s : subs) {
                if (imap_store::list_match(pattern, s)) {
                    if (shown.insert(s).second) {
                        const bool exists = tree->exists(s);
                        untagged(out, std::string("LSUB (") + (exists ? "" : "\\Noselect") + ") \".\" " + wire_name(s));
                    }
                    continue;
                }
                // "%" hiding a subscribed child: its matching parent is listed \Noselect (RFC 3501 6.3.9).
                for (std::size_t p = s.find('.'); p != std::string::npos; p = s.find('.', p + 1)) {
                    const std::string parent = s.substr(0, p);
                    if (imap_store::list_match(pattern, parent) &&
                        std::find(subs.begin(), subs.end(), parent) == subs.end() && shown.insert(parent).second) {
                        untagged(out, "LSUB (\\Noselect) \".\" " + wire_name(parent));
                    }
                }
            }
        }
        tagged(out, c.tag, imap::status::ok, "", lsub ? "Lsub completed." : "List completed.");
        return core_action::read_command;
    }

    core_action cmd_status(const imap::command& c, std::string& out) {
        const auto& a = std::get<imap::status_args>(c.args);
        std::string name;
        if (!mailbox_name(a.mailbox, name) || !tree->exists(name)) {
            tagged(out, c.tag, imap::status::no, "NONEXISTENT", "Mailbox doesn't exist: " + name);
            return core_action::read_command;
        }
        auto f = folder::open(*tree->path_of(name), name == "INBOX");
        if (!f) {
            tagged(out, c.tag, imap::status::no, "SERVERBUG", "Internal error occurred.");
            return core_action::read_command;
        }
        (*f)->refresh(false);
        std::string items;
        (*f)->read([&](const folder_state& s) {
            for (auto item : a.items) {
                if (!items.empty()) items += ' ';
                items += imap::to_string(item);
                items += ' ';
                std::uint64_t v = 0;
                switch (item) {
                    case imap::status_item::messages: v = s.messages.size(); break;
                    case imap::status_item::recent:
                        for (const auto& m : s.messages) v += m.uid >= s.recent_from ? 1 : 0;
                        break;
                    case imap::status_item::uidnext: v = s.uid_next; break;
                    case imap::status_item::uidvalidity: v = s.uid_validity; break;
                    case imap::status_item::unseen:
                        for (const auto& m : s.messages) v += m.flags.has('S') ? 0 : 1;
                        break;
                    case imap::status_item::highestmodseq: v = s.highest_modseq; break;
                    case imap::status_item::size:
                        for (const auto& m : s.messages) v += m.size;
                        break;
                }
                items += std::to_string(v);
            }
        });
        untagged(out, "STATUS " + wire_name(name) + " (" + items + ")");
        tagged(out, c.tag, imap::status::ok, "", "Status completed.");
        return core_action::read_command;
    }

    bool begin_append(const imap::command& c, std::string& out) {
        const auto& a = std::get<imap::append_args>(c.args);
        app = {};
        std::string name;
        if (st == state::not_authenticated || st == state::logout) {
            tagged(out, c.tag, imap::status::bad, "", "Command not allowed in this state.");
            app.refused = true;
            return false;
        }
        if (a.size > cfg.max_message_size) {
            tagged(out, c.tag, imap::status::no, "TOOBIG", "Mail size is too large");
            app.refused = true;
            return false;
        }
        if (!mailbox_name(a.mailbox, name) || !tree->exists(name)) {
            tagged(out, c.tag, imap::status::no, "TRYCREATE", "Mailbox doesn't exist: " + name);
            app.refused = true;
            return false;
        }
        auto f = folder::open(*tree->path_of(name), name == "INBOX");
        if (!f) {
            tagged(out, c.tag, imap::status::no, "SERVERBUG", "Internal error occurred.");
            app.refused = true;
            return false;
        }
        app.target = *f;
        auto fd = app.target->create_tmp(app.tmp_name);
        if (!fd) {
            tagged(out, c.tag, imap::status::no, "SERVERBUG", "Internal error occurred.");
            app.refused = true;
            app.target.reset();
            return false;
        }
        app.fd = *fd;
        return true;
    }

    void append_data(std::string_view d) {
        if (app.fd < 0 || app.failed) return;
        for (char ch : d) {
            if (ch == '\n' && app.prev != '\r') ++app.vsize;
            app.prev = ch;
        }
        app.vsize += d.size();
        while (!d.empty()) {
            const ssize_t n = ::write(app.fd, d.data(), d.size());
            if (n < 0) {
                if (errno == EINTR) continue;
                app.failed = true;
                app.error = std::strerror(errno);
                return;
            }
            d.remove_prefix(static_cast<std::size_t>(n));
        }
    }

    core_action finish_append(const imap::command& c, std::string& out) {
        const auto& a = std::get<imap::append_args>(c.args);
        if (app.refused) {
            app = {};
            return core_action::read_command;  // the NO went out at append_begin
        }
        auto target = std::move(app.target);
        if (!target || app.fd < 0) {
            app = {};
            tagged(out, c.tag, imap::status::no, "SERVERBUG", "Internal error occurred.");
            return core_action::read_command;
        }
        const int fd = std::exchange(app.fd, -1);
        if (app.failed || a.size == 0) {
            target->discard_tmp(fd, app.tmp_name);
            hooks.log("event=append_failed error=\"" + app.error + "\"");
            tagged(out, c.tag, imap::status::no, a.size == 0 ? "" : "SERVERBUG",
                   a.size == 0 ? "Can't save a zero byte message." : "Internal error occurred.");
            app = {};
            return core_action::read_command;
        }
        flag_set flags;
        std::string error;
        if (!flags_to_letters(a.flags, target.get(), flags, error)) {
            target->discard_tmp(fd, app.tmp_name);
            app = {};
            tagged(out, c.tag, imap::status::bad, "", error);
            return after_bad(out);
        }
        std::int64_t date = a.internal_date ? from_date_time(*a.internal_date) : 0;
        std::uint32_t validity = 0;
        auto uid = target->commit_tmp(fd, app.tmp_name, app.vsize, flags, date);
        app = {};
        if (!uid) {
            hooks.log("event=append_failed error=\"" + uid.error().message() + "\"");
            tagged(out, c.tag, imap::status::no, "SERVERBUG", "Internal error occurred.");
            return core_action::read_command;
        }
        target->read([&](const folder_state& s) { validity = s.uid_validity; });
        hooks.log("event=append uid=" + std::to_string(*uid) + " size=" + std::to_string(a.size));
        if (st == state::selected) sync_view(out, true);
        tagged(out, c.tag, imap::status::ok, "APPENDUID " + std::to_string(validity) + " " + std::to_string(*uid),
               "Append completed.");
        return core_action::read_command;
    }

    // FETCH ---------------------------------------------------------------------------------
    static std::string section_name(const imap::fetch_att& a) {
        std::string n = "BODY[";
        for (std::size_t i = 0; i < a.section.part.size(); ++i) {
            if (i) n += '.';
            n += std::to_string(a.section.part[i]);
        }
        auto text = [&](std::string_view t) {
            if (!a.section.part.empty()) n += '.';
            n += t;
        };
        switch (a.section.text) {
            case imap::section_text::none: break;
            case imap::section_text::header: text("HEADER"); break;
            case imap::section_text::text: text("TEXT"); break;
            case imap::section_text::mime: text("MIME"); break;
            case imap::section_text::header_fields:
            case imap::section_text::header_fields_not: {
                text(a.section.text == imap::section_text::header_fields ? "HEADER.FIELDS (" : "HEADER.FIELDS.NOT (");
                for (std::size_t i = 0; i < a.section.fields.size(); ++i) {
                    if (i) n += ' ';
                    n += upper(a.section.fields[i]);
                }
                n += ')';
                break;
            }
        }
        n += ']';
        if (a.partial) n += "<" + std::to_string(a.offset) + ">";
        return n;
    }

    core_action cmd_fetch(const imap::command& c, std::string& out) {
        const auto& a = std::get<imap::fetch_args>(c.args);
        std::vector<std::size_t> idx;
        if (!resolve(a.set, c.uid, idx)) {
            tagged(out, c.tag, imap::status::bad, "", "Error in IMAP command FETCH: Invalid messageset");
            return after_bad(out);
        }
        if (a.changedsince) condstore = true;
        bool want_modseq = condstore && (a.changedsince.has_value());
        bool want_flags = false, sets_seen = false, needs_content = false;
        for (const auto& att : a.atts) {
            if (att.item == imap::fetch_item::modseq) {
                want_modseq = true;
                condstore = true;
            }
            if (att.item == imap::fetch_item::flags) want_flags = true;
            if ((att.item == imap::fetch_item::body_section && !att.peek) || att.item == imap::fetch_item::rfc822 ||
                att.item == imap::fetch_item::rfc822_text) {
                sets_seen = true;
            }
            switch (att.item) {
                case imap::fetch_item::envelope:
                case imap::fetch_item::rfc822:
                case imap::fetch_item::rfc822_header:
                case imap::fetch_item::rfc822_text:
                case imap::fetch_item::body:
                case imap::fetch_item::bodystructure:
                case imap::fetch_item::body_section: needs_content = true; break;
                default: break;
            }
        }
        sel->refresh(false);
        // \Seen for the messages whose body is fetched (RFC 3501 6.4.5), before the responses.
        if (sets_seen && !read_only) {
            std::vector<std::uint32_t> unseen;
            for (auto i : idx) {
                if (!view[i].gone && !view[i].flags.has('S')) unseen.push_back(view[i].uid);
            }
            if (!unseen.empty()) sel->store(unseen, imap_store::store_mode::add, store::flag_seen, std::nullopt, nullptr);
        }
        // Current flags, modseqs, sizes and dates from the folder.
        std::map<std::uint32_t, imap_store::message> current;
        std::vector<std::string> keywords;
        sel->read([&](const folder_state& s) {
            keywords = s.keywords;
            for (auto i : idx) {
                auto it = std::lower_bound(s.messages.begin(), s.messages.end(), view[i].uid,
                                           [](const imap_store::message& m, std::uint32_t u) { return m.uid < u; });
                if (it != s.messages.end() && it->uid == view[i].uid) current.emplace(it->uid, *it);
            }
        });
        bool some_gone = false;
        for (auto i : idx) {
            view_msg& v = view[i];
            auto cur = current.find(v.uid);
            if (cur == current.end()) {
                some_gone = true;
                continue;
            }
            const auto& m = cur->second;
            if (a.changedsince && m.modseq <= *a.changedsince) continue;
            const mime::message* msg = nullptr;
            if (needs_content) {
                msg = load(v.uid);
                if (!msg) {
                    some_gone = true;
                    continue;
                }
            }
            const bool flags_changed_here = sets_seen && !read_only && m.flags != v.flags;
            v.flags = m.flags;
            v.modseq = m.modseq;
            out += "* " + std::to_string(i + 1) + " FETCH (";
            bool first = true;
            auto sep = [&] {
                if (!first) out += ' ';
                first = false;
            };
            if (c.uid) {
                sep();
                out += "UID " + std::to_string(v.uid);
            }
            for (const auto& att : a.atts) {
                switch (att.item) {
                    case imap::fetch_item::uid:
                        if (c.uid) break;
                        sep();
                        out += "UID " + std::to_string(v.uid);
                        break;
                    case imap::fetch_item::flags:
                        sep();
                        out += "FLAGS " + flag_list(v.flags, v.recent, keywords);
                        break;
                    case imap::fetch_item::internaldate:
                        sep();
                        out += "INTERNALDATE ";
                        imap::write_date_time(out, to_date_time(m.internal_date));
                        break;
                    case imap::fetch_item::rfc822_size:
                        sep();
                        out += "RFC822.SIZE " + std::to_string(m.size);
                        break;
                    case imap::fetch_item::modseq: break;  // below, once
                    case imap::fetch_item::envelope:
                        sep();
                        out += "ENVELOPE ";
                        imap::write_value(out, imap::to_value(msg->envelope()));
                        break;
                    case imap::fetch_item::body:
                        sep();
                        out += "BODY ";
                        imap::write_value(out, imap::to_value(msg->body_structure(), false));
                        break;
                    case imap::fetch_item::bodystructure:
                        sep();
                        out += "BODYSTRUCTURE ";
                        imap::write_value(out, imap::to_value(msg->body_structure(), true));
                        break;
                    case imap::fetch_item::rfc822:
                        sep();
                        out += "RFC822 ";
                        imap::write_literal(out, msg->text());
                        break;
                    case imap::fetch_item::rfc822_header: {
                        sep();
                        imap::section s;
                        s.text = imap::section_text::header;
                        std::string storage;
                        auto d = msg->section(s, storage);
                        out += "RFC822.HEADER ";
                        imap::write_literal(out, d ? std::string_view(*d) : std::string_view());
                        break;
                    }
                    case imap::fetch_item::rfc822_text: {
                        sep();
                        imap::section s;
                        s.text = imap::section_text::text;
                        std::string storage;
                        auto d = msg->section(s, storage);
                        out += "RFC822.TEXT ";
                        imap::write_literal(out, d ? std::string_view(*d) : std::string_view());
                        break;
                    }
                    case imap::fetch_item::body_section: {
                        sep();
                        std::string storage;
                        auto d = msg->section(att.section, storage);
                        std::string_view data = d ? std::string_view(*d) : std::string_view();
                        if (att.partial) {
                            if (att.offset >= data.size()) data = {};
                            else data = data.substr(att.offset, att.length);
                        }
                        out += section_name(att) + " ";
                        imap::write_literal(out, data);
                        break;
                    }
                }
            }
            bool flags_written = want_flags;
            if (flags_changed_here && !flags_written) {
                sep();
                out += "FLAGS " + flag_list(v.flags, v.recent, keywords);
            }
            if (want_modseq || (condstore && flags_changed_here)) {
                sep();
                out += "MODSEQ (" + std::to_string(v.modseq) + ")";
            }
            out += ")\r\n";
        }
        if (sets_seen) view_generation = 0;  // other sessions' view of \Seen is theirs; ours is current
        sync_view(out, c.uid);
        if (some_gone) {
            tagged(out, c.tag, imap::status::no, "EXPUNGEISSUED", "Some of the requested messages no longer exist.");
        } else {
            tagged(out, c.tag, imap::status::ok, "", "Fetch completed.");
        }
        return core_action::read_command;
    }

    // STORE ---------------------------------------------------------------------------------
    core_action cmd_store(const imap::command& c, std::string& out) {
        const auto& a = std::get<imap::store_args>(c.args);
        std::vector<std::size_t> idx;
        if (!resolve(a.set, c.uid, idx)) {
            tagged(out, c.tag, imap::status::bad, "", "Error in IMAP command STORE: Invalid messageset");
            return after_bad(out);
        }
        if (read_only) {
            tagged(out, c.tag, imap::status::no, "READ-ONLY", "Mailbox is read-only.");
            return core_action::read_command;
        }
        for (auto f : a.flags) {
            if (iequal(f, "\\Recent")) {
                tagged(out, c.tag, imap::status::bad, "", "Error in IMAP command STORE: Invalid system flag \\Recent");
                return after_bad(out);
            }
        }
        flag_set letters;
        std::string error;
        if (!flags_to_letters(a.flags, sel.get(), letters, error)) {
            tagged(out, c.tag, imap::status::bad, "", "Error in IMAP command STORE: " + error);
            return after_bad(out);
        }
        if (a.unchangedsince) condstore = true;
        std::vector<std::uint32_t> uids;
        for (auto i : idx) {
            if (!view[i].gone) uids.push_back(view[i].uid);
        }
        const auto mode = a.mode == imap::store_mode::add      ? imap_store::store_mode::add
                          : a.mode == imap::store_mode::remove ? imap_store::store_mode::remove
                                                               : imap_store::store_mode::replace;
        std::vector<std::uint32_t> failed;
        auto changed = sel->store(uids, mode, letters, a.unchangedsince, &failed);
        if (!changed) {
            hooks.log("event=store_failed error=\"" + changed.error().message() + "\"");
            tagged(out, c.tag, imap::status::no, "SERVERBUG", "Internal error occurred.");
            return core_action::read_command;
        }
        std::set<std::uint32_t> touched(changed->begin(), changed->end());
        std::map<std::uint32_t, imap_store::message> current;
        std::vector<std::string> keywords;
        sel->read([&](const folder_state& s) {
            keywords = s.keywords;
            for (const auto& m : s.messages) {
                if (touched.count(m.uid)) current.emplace(m.uid, m);
            }
        });
        for (auto i : idx) {
            view_msg& v = view[i];
            auto cur = current.find(v.uid);
            if (cur == current.end()) continue;
            v.flags = cur->second.flags;
            v.modseq = cur->second.modseq;
            if (a.silent && !(condstore && a.unchangedsince)) continue;
            std::string line = std::to_string(i + 1) + " FETCH (";
            if (c.uid) line += "UID " + std::to_string(v.uid) + " ";
            line += "FLAGS " + flag_list(v.flags, v.recent, keywords);
            if (condstore) line += " MODSEQ (" + std::to_string(v.modseq) + ")";
            line += ")";
            untagged(out, line);
        }
        sync_view(out, c.uid);
        if (!failed.empty()) {
            std::vector<std::uint32_t> ids;
            if (c.uid) ids = failed;
            else {
                for (auto i : idx) {
                    if (std::find(failed.begin(), failed.end(), view[i].uid) != failed.end()) ids.push_back(static_cast<std::uint32_t>(i + 1));
                }
            }
            tagged(out, c.tag, imap::status::ok, "MODIFIED " + compact_set(ids), "Conditional store failed");
        } else {
            tagged(out, c.tag, imap::status::ok, "", "Store completed.");
        }
        return core_action::read_command;
    }

    // SEARCH --------------------------------------------------------------------------------
    struct search_ctx {
        const imap::search_args* args;
        const view_msg* v;
        std::size_t seq;
        std::uint32_t max_uid;
        std::size_t count;
        const imap_store::message* m;
        const std::vector<std::string>* keywords;
        impl* self;
        const mime::message* msg = nullptr;
        bool tried = false;
        std::uint64_t matched_modseq = 0;
        const mime::message* content() {
            if (!tried) {
                tried = true;
                msg = self->load(v->uid);
            }
            return msg;
        }
    };

    bool match_key(search_ctx& x, std::uint32_t node) {
        const auto& k = x.args->keys[node];
        const auto& f = x.v->flags;
        using K = imap::search_key_kind;
        switch (k.kind) {
            case K::all: return true;
            case K::answered: return f.has('R');
            case K::unanswered: return !f.has('R');
            case K::deleted: return f.has('T');
            case K::undeleted: return !f.has('T');
            case K::draft: return f.has('D');
            case K::undraft: return !f.has('D');
            case K::flagged: return f.has('F');
            case K::unflagged: return !f.has('F');
            case K::seen: return f.has('S');
            case K::unseen: return !f.has('S');
            case K::recent: return x.v->recent;
            case K::old: return !x.v->recent;
            case K::new_: return x.v->recent && !f.has('S');
            case K::keyword:
            case K::unkeyword: {
                bool has = false;
                for (std::size_t i = 0; i < x.keywords->size(); ++i) {
                    if (iequal((*x.keywords)[i], k.value) && f.has(static_cast<char>('a' + i))) has = true;
                }
                return k.kind == K::keyword ? has : !has;
            }
            case K::larger: return x.m->size > k.number;
            case K::smaller: return x.m->size < k.number;
            case K::before: return day_number(x.m->internal_date) < day_number(k.date);
            case K::on: return day_number(x.m->internal_date) == day_number(k.date);
            case K::since: return day_number(x.m->internal_date) >= day_number(k.date);
            case K::sentbefore:
            case K::senton:
            case K::sentsince: {
                auto* msg = x.content();
                std::optional<imap::date> d = msg ? msg->sent_date() : std::nullopt;
                // No usable Date: header: the internal date stands in (as Dovecot does).
                const int day = d ? day_number(*d) : day_number(x.m->internal_date);
                if (k.kind == K::sentbefore) return day < day_number(k.date);
                if (k.kind == K::senton) return day == day_number(k.date);
                return day >= day_number(k.date);
            }
            case K::uid: return x.args->sets[k.set].contains(x.v->uid, x.max_uid);
            case K::sequence_set:
                return x.args->sets[k.set].contains(static_cast<std::uint32_t>(x.seq), static_cast<std::uint32_t>(x.count));
            case K::modseq:
                if (x.m->modseq >= k.number) {
                    x.matched_modseq = std::max(x.matched_modseq, x.m->modseq);
                    return true;
                }
                return false;
            case K::bcc:
            case K::cc:
            case K::from:
            case K::to:
            case K::subject: {
                auto* msg = x.content();
                const char* field = k.kind == K::bcc ? "Bcc" : k.kind == K::cc ? "Cc" : k.kind == K::from ? "From" : k.kind == K::to ? "To" : "Subject";
                return msg && msg->header_contains(field, k.value);
            }
            case K::header: {
                auto* msg = x.content();
                return msg && msg->header_contains(k.field, k.value);
            }
            case K::body: {
                auto* msg = x.content();
                return msg && msg->body_contains(k.value);
            }
            case K::text: {
                auto* msg = x.content();
                return msg && msg->text_contains(k.value);
            }
            case K::not_: return k.first_child != imap::no_node && !match_key(x, k.first_child);
            case K::or_: {
                const auto a = k.first_child;
                if (a == imap::no_node) return false;
                const auto b = x.args->keys[a].next_sibling;
                return match_key(x, a) || (b != imap::no_node && match_key(x, b));
            }
            case K::group: {
                for (auto ch = k.first_child; ch != imap::no_node; ch = x.args->keys[ch].next_sibling) {
                    if (!match_key(x, ch)) return false;
                }
                return true;
            }
        }
        return false;
    }

    core_action cmd_search(const imap::command& c, std::string& out) {
        const auto& a = std::get<imap::search_args>(c.args);
        if (!a.charset.empty() && !iequal(a.charset, "UTF-8") && !iequal(a.charset, "US-ASCII")) {
            tagged(out, c.tag, imap::status::no, "BADCHARSET (UTF-8 US-ASCII)", "Unsupported charset");
            return core_action::read_command;
        }
        if (a.return_options & imap::return_save) {
            tagged(out, c.tag, imap::status::bad, "", "Error in IMAP command SEARCH: SAVE is not supported");
            return after_bad(out);
        }
        bool uses_modseq = false;
        for (const auto& k : a.keys) {
            if (k.kind == imap::search_key_kind::modseq) uses_modseq = true;
        }
        if (uses_modseq) condstore = true;
        sel->refresh(false);
        std::map<std::uint32_t, imap_store::message> current;
        std::vector<std::string> keywords;
        sel->read([&](const folder_state& s) {
            keywords = s.keywords;
            for (const auto& m : s.messages) current.emplace(m.uid, m);
        });
        std::vector<std::uint32_t> hits;
        std::uint64_t highest = 0;
        const std::uint32_t max_uid = view.empty() ? 0 : view.back().uid;
        for (std::size_t i = 0; i < view.size(); ++i) {
            auto cur = current.find(view[i].uid);
            if (cur == current.end()) continue;  // expunged meanwhile: not matched
            view[i].flags = cur->second.flags;
            search_ctx x{&a, &view[i], i + 1, max_uid, view.size(), &cur->second, &keywords, this};
            bool ok = true;
            for (auto k = a.first_key; k != imap::no_node; k = a.keys[k].next_sibling) {
                if (!match_key(x, k)) {
                    ok = false;
                    break;
                }
            }
            if (!ok) continue;
            hits.push_back(c.uid ? view[i].uid : static_cast<std::uint32_t>(i + 1));
            highest = std::max(highest, cur->second.modseq);
        }
        if (a.esearch) {
            std::string line = "ESEARCH (TAG \"" + std::string(c.tag) + "\")";
            if (c.uid) line += " UID";
            const auto opts = a.return_options ? a.return_options : std::uint8_t(imap::return_all);
            if (!hits.empty()) {
                if (opts & imap::return_min) line += " MIN " + std::to_string(*std::min_element(hits.begin(), hits.end()));
                if (opts & imap::return_max) line += " MAX " + std::to_string(*std::max_element(hits.begin(), hits.end()));
                if (opts & imap::return_all) line += " ALL " + compact_set(hits);
            }
            if (opts & imap::return_count) line += " COUNT " + std::to_string(hits.size());
            if (uses_modseq && !hits.empty()) line += " MODSEQ " + std::to_string(highest);
            untagged(out, line);
        } else {
            std::string line = "SEARCH";
            for (auto h : hits) line += " " + std::to_string(h);
            if (uses_modseq && !hits.empty()) line += " (MODSEQ " + std::to_string(highest) + ")";
            untagged(out, line);
        }
        sync_view(out, c.uid);
        tagged(out, c.tag, imap::status::ok, "", "Search completed.");
        return core_action::read_command;
    }

    // COPY / MOVE ---------------------------------------------------------------------------
    core_action cmd_copy(const imap::command& c, bool move, std::string& out) {
        const auto& a = std::get<imap::copy_args>(c.args);
        std::vector<std::size_t> idx;
        if (!resolve(a.set, c.uid, idx)) {
            tagged(out, c.tag, imap::status::bad, "", std::string("Error in IMAP command ") + (move ? "MOVE" : "COPY") + ": Invalid messageset");
            return after_bad(out);
        }
        if (move && read_only) {
            tagged(out, c.tag, imap::status::no, "READ-ONLY", "Mailbox is read-only.");
            return core_action::read_command;
        }
        std::string name;
        if (!mailbox_name(a.mailbox, name) || !tree->exists(name)) {
            tagged(out, c.tag, imap::status::no, "TRYCREATE", "Mailbox doesn't exist: " + name);
            return core_action::read_command;
        }
        auto dest = folder::open(*tree->path_of(name), name == "INBOX");
        if (!dest) {
            tagged(out, c.tag, imap::status::no, "SERVERBUG", "Internal error occurred.");
            return core_action::read_command;
        }
        std::vector<std::uint32_t> uids;
        bool some_gone = false;
        for (auto i : idx) {
            if (view[i].gone) some_gone = true;
            else uids.push_back(view[i].uid);
        }
        if (some_gone && !c.uid) {
            tagged(out, c.tag, imap::status::no, "EXPUNGEISSUED", "Some of the requested messages no longer exist.");
            return core_action::read_command;
        }
        auto placed = sel->copy_to(**dest, uids);
        if (!placed) {
            hooks.log("event=copy_failed error=\"" + placed.error().message() + "\"");
            tagged(out, c.tag, imap::status::no, "SERVERBUG", "Internal error occurred.");
            return core_action::read_command;
        }
        std::vector<std::uint32_t> src, dst;
        for (const auto& p : *placed) {
            src.push_back(p.source_uid);
            dst.push_back(p.uid);
        }
        std::uint32_t validity = 0;
        (*dest)->read([&](const folder_state& s) { validity = s.uid_validity; });
        const std::string code = src.empty() ? std::string() :
            "COPYUID " + std::to_string(validity) + " " + ordered_set(src) + " " + ordered_set(dst);
        if (!move) {
            sync_view(out, c.uid);
            tagged(out, c.tag, imap::status::ok, code, "Copy completed.");
            return core_action::read_command;
        }
        // RFC 6851 4.3: COPYUID in an untagged OK before the expunges.
        if (!code.empty()) untagged(out, "OK [" + code + "] Moved UIDs.");
        if (dest->get() != sel.get()) {
            auto removed = sel->expunge(src);
            if (!removed) {
                tagged(out, c.tag, imap::status::no, "SERVERBUG", "Internal error occurred.");
                return core_action::read_command;
            }
        }
        sync_view(out, true);
        tagged(out, c.tag, imap::status::ok, "", "Move completed.");
        return core_action::read_command;
    }

    core_action cmd_expunge(const imap::command& c, std::string& out, bool silent_close) {
        if (read_only) {
            if (silent_close) return core_action::read_command;
            tagged(out, c.tag, imap::status::no, "READ-ONLY", "Mailbox is read-only.");
            return core_action::read_command;
        }
        std::vector<std::size_t> idx;
        if (c.uid) {
            const auto& a = std::get<imap::expunge_args>(c.args);
            resolve(a.set, true, idx);
        } else {
            for (std::size_t i = 0; i < view.size(); ++i) idx.push_back(i);
        }
        sel->refresh(false);
        std::set<std::uint32_t> candidates;
        for (auto i : idx) candidates.insert(view[i].uid);
        std::vector<std::uint32_t> deleted;
        sel->read([&](const folder_state& s) {
            for (const auto& m : s.messages) {
                if (m.flags.has('T') && candidates.count(m.uid)) deleted.push_back(m.uid);
            }
        });
        if (!deleted.empty()) {
            auto r = sel->expunge(deleted);
            if (!r) {
                hooks.log("event=expunge_failed error=\"" + r.error().message() + "\"");
                if (!silent_close) tagged(out, c.tag, imap::status::no, "SERVERBUG", "Internal error occurred.");
                return core_action::read_command;
            }
        }
        if (silent_close) return core_action::read_command;
        sync_view(out, true);
        tagged(out, c.tag, imap::status::ok, "", "Expunge completed.");
        return core_action::read_command;
    }

    // ---------------------------------------------------------------- dispatch
    core_action dispatch(const imap::command& c, std::string& out) {
        using V = imap::verb;
        delay = std::chrono::milliseconds(0);
        const bool any = c.verb == V::capability || c.verb == V::noop || c.verb == V::logout || c.verb == V::id;
        const bool not_auth_only = c.verb == V::starttls || c.verb == V::authenticate || c.verb == V::login;
        const bool selected_only = c.verb == V::check || c.verb == V::close || c.verb == V::expunge ||
                                   c.verb == V::search || c.verb == V::fetch || c.verb == V::store ||
                                   c.verb == V::copy || c.verb == V::move || c.verb == V::unselect;
        if (c.uid && !(c.verb == V::fetch || c.verb == V::store || c.verb == V::search || c.verb == V::copy ||
                       c.verb == V::move || c.verb == V::expunge)) {
            tagged(out, c.tag, imap::status::bad, "", "Error in IMAP command UID: Unknown command");
            return after_bad(out);
        }
        if (!any) {
            if (not_auth_only && st != state::not_authenticated) {
                tagged(out, c.tag, imap::status::bad, "", "Command not allowed in this state: already authenticated.");
                return after_bad(out);
            }
            if (!not_auth_only && st == state::not_authenticated) {
                tagged(out, c.tag, imap::status::bad, "", "Command not allowed before authentication.");
                return after_bad(out);
            }
            if (selected_only && st != state::selected) {
                tagged(out, c.tag, imap::status::bad, "", "No mailbox selected.");
                return after_bad(out);
            }
        }
        switch (c.verb) {
            case V::capability:
                untagged(out, "CAPABILITY " + capabilities());
                if (st == state::selected) sync_view(out, true);
                tagged(out, c.tag, imap::status::ok, "", "Pre-login capabilities listed, post-login capabilities have more.");
                return core_action::read_command;
            case V::noop:
                if (st == state::selected) sync_view(out, true);
                tagged(out, c.tag, imap::status::ok, "", "NOOP completed.");
                return core_action::read_command;
            case V::logout:
                untagged(out, "BYE Logging out");
                tagged(out, c.tag, imap::status::ok, "", "Logout completed.");
                st = state::logout;
                close_reason = "logout";
                return core_action::close;
            case V::id:
                // RFC 2971 3.3 allows NIL; the server names no software.
                untagged(out, "ID NIL");
                tagged(out, c.tag, imap::status::ok, "", "ID completed.");
                return core_action::read_command;
            case V::starttls:
                if (!cfg.tls_available || cfg.tls_active) {
                    tagged(out, c.tag, imap::status::bad, "", cfg.tls_active ? "TLS is already active." : "TLS support isn't enabled.");
                    return after_bad(out);
                }
                tagged(out, c.tag, imap::status::ok, "", "Begin TLS negotiation now.");
                return core_action::start_tls;
            case V::login: return cmd_login(c, out);
            case V::authenticate: return cmd_authenticate(c, out);
            case V::select:
            case V::examine: return cmd_select(c, out);
            case V::create: return cmd_create(c, out);
            case V::delete_: return cmd_delete(c, out);
            case V::rename: return cmd_rename(c, out);
            case V::subscribe: return cmd_subscribe(c, true, out);
            case V::unsubscribe: return cmd_subscribe(c, false, out);
            case V::list: return cmd_list(c, false, out);
            case V::lsub: return cmd_list(c, true, out);
            case V::status: {
                auto r = cmd_status(c, out);
                return r;
            }
            case V::append: return finish_append(c, out);
            case V::check:
                sel->refresh(true);
                sync_view(out, true);
                tagged(out, c.tag, imap::status::ok, "", "Check completed.");
                return core_action::read_command;
            case V::close:
                cmd_expunge(c, out, true);
                deselect();
                tagged(out, c.tag, imap::status::ok, "", "Close completed.");
                return core_action::read_command;
            case V::unselect:
                deselect();
                tagged(out, c.tag, imap::status::ok, "", "Unselect completed.");
                return core_action::read_command;
            case V::expunge: return cmd_expunge(c, out, false);
            case V::search: return cmd_search(c, out);
            case V::fetch: return cmd_fetch(c, out);
            case V::store: return cmd_store(c, out);
            case V::copy: return cmd_copy(c, false, out);
            case V::move: return cmd_copy(c, true, out);
            case V::idle:
                idle_tag = std::string(c.tag);
                out += "+ idling\r\n";
                if (st == state::selected) sync_view(out, true);
                return core_action::idle;
            case V::namespace_:
                untagged(out, "NAMESPACE ((\"\" \".\")) NIL NIL");
                tagged(out, c.tag, imap::status::ok, "", "Namespace completed.");
                return core_action::read_command;
            case V::enable: {
                const auto& a = std::get<imap::enable_args>(c.args);
                std::string enabled;
                for (auto cap : a.capabilities) {
                    if (iequal(cap, "CONDSTORE")) {
                        if (enabled.find("CONDSTORE") == std::string::npos) enabled += " CONDSTORE";
                        condstore = true;
                    }
                }
                untagged(out, "ENABLED" + enabled);
                tagged(out, c.tag, imap::status::ok, "", "Enabled.");
                return core_action::read_command;
            }
            case V::unknown: break;
        }
        tagged(out, c.tag, imap::status::bad, "", "Error in IMAP command received by server.");
        return after_bad(out);
    }
};

session_core::session_core(core_settings settings, core_hooks& hooks) : p_(std::make_unique<impl>(std::move(settings), hooks)) {}
session_core::~session_core() = default;

void session_core::greet(std::string& out) {
    out += "* OK [CAPABILITY " + p_->capabilities() + "] " + p_->cfg.greeting + "\r\n";
}

core_action session_core::on_command(const imap::command& cmd, std::string& out) { return p_->dispatch(cmd, out); }

core_action session_core::on_parse_error(std::string_view tag, std::error_code ec, std::string& out) {
    p_->delay = std::chrono::milliseconds(0);
    std::string text = "Error in IMAP command: " + ec.message();
    if (ec == imap::errc::line_too_long) text = "Command line too long";
    else if (ec == imap::errc::unknown_command) text = "Unknown command.";
    if (ec == imap::errc::message_too_large) {
        p_->tagged(out, tag.empty() ? "*" : tag, imap::status::no, "TOOBIG", "Mail size is too large");
        return core_action::read_command;
    }
    p_->tagged(out, tag, imap::status::bad, "", text);
    return p_->after_bad(out);
}

core_action session_core::on_line(std::string_view line, std::string& out) {
    if (!p_->idle_tag.empty()) {
        const std::string tag = std::exchange(p_->idle_tag, {});
        if (imap::is_idle_done(line)) {
            if (p_->st == state::selected) p_->sync_view(out, true);
            p_->tagged(out, tag, imap::status::ok, "", "Idle completed.");
            return core_action::read_command;
        }
        p_->tagged(out, tag, imap::status::bad, "", "Expected DONE.");
        return p_->after_bad(out);
    }
    if (p_->mech) return p_->on_sasl_line(line, out);
    p_->tagged(out, "", imap::status::bad, "", "Unexpected line.");
    return p_->after_bad(out);
}

bool session_core::on_append_begin(const imap::command& cmd, std::string& out) { return p_->begin_append(cmd, out); }
void session_core::on_append_data(std::string_view data) { p_->append_data(data); }

std::chrono::milliseconds session_core::reply_delay() const noexcept { return p_->delay; }

void session_core::on_tls_established() {
    p_->cfg.tls_active = true;
}

void session_core::idle_poll(std::string& out) {
    if (p_->st == state::selected) p_->sync_view(out, true);
}

std::shared_ptr<imap_store::folder> session_core::selected() const { return p_->sel; }
bool session_core::authenticated() const noexcept { return p_->st == state::authenticated || p_->st == state::selected; }
bool session_core::idling() const noexcept { return !p_->idle_tag.empty(); }
const std::string& session_core::user() const noexcept { return p_->user; }
const std::string& session_core::close_reason() const noexcept { return p_->close_reason; }

}  // namespace mailharness::refmaild::imap_room

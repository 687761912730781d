// The SMTP session driver: runs SMTP actions over one connection, with core's reply parser and
// SASL clients, and records each phase's latency and each failure's class.
//
// Hot path (the send action): commands are formatted into a reused buffer, the message is
// headers + shared pre-generated text + a last line (three buffers, no copy of the body), and
// with PIPELINING (RFC 2920) MAIL, the RCPTs and DATA or BDAT go out in one write.
#include <openssl/ssl.h>

#include <algorithm>
#include <cstring>

#include "engine_detail.hpp"
#include "mailharness/sasl/base64.hpp"
#include "mailharness/sasl/client.hpp"
#include "mailharness/smtp/command.hpp"
#include "mailharness/smtp/ehlo.hpp"
#include "mailharness/smtp/reply.hpp"

namespace mailharness::load::detail {

namespace {

constexpr std::size_t read_buffer_size = 2048;
constexpr std::string_view end_of_data = ".\r\n";

// A byte range of a message laid out in up to three parts, as buffers.
template <class Out>
void slice(const message_parts& m, std::uint64_t from, std::uint64_t to, Out& out) {
    const std::string_view parts[3] = {m.head, m.body, m.tail};
    std::uint64_t base = 0;
    for (auto p : parts) {
        const std::uint64_t a = std::max(from, base), b = std::min(to, base + p.size());
        if (a < b) out.push_back(asio::buffer(p.data() + (a - base), b - a));
        base += p.size();
    }
}

class smtp_driver final : public session_driver {
public:
    smtp_driver(worker& w, workload_runtime& wl) : w_(w), wl_(wl) {
        wbuf_.reserve(512);
        scratch_.reserve(1024);
        scratch2_.reserve(1024);
        buffers_.reserve(16);
    }

    asio::awaitable<outcome> execute(const step& s, iteration& it) override;

    void end_session() noexcept override {
        conn_.reset();
        parser_ = smtp::reply_parser{};
        caps_.clear();
        authenticated_.clear();
        in_txn_ = false;
    }

private:
    // ---- recording ----
    std::uint16_t wl() const noexcept { return wl_.index; }
    void record(metric m, time_point since) {
        const auto now = clock_type::now();
        w_.rec.record(wl(), m, micros(now - since), now);
    }

    outcome fail(error_class cls, int code, std::string_view what) {
        w_.rec.error(wl(), action_, cls, code, clock_type::now(), [&] { return std::string(what); });
        if (conn_) conn_->close();
        return outcome::failed;
    }
    outcome fail_io(const boost::system::error_code& ec, bool handshake = false) {
        if (conn_ && conn_->interrupted()) {
            conn_->close();
            return outcome::interrupted;
        }
        if (conn_ && conn_->timed_out()) return fail(error_class::timeout, 0, "timed out");
        if (ec == asio::error::connection_refused) return fail(error_class::refused, 0, ec.message());
        if (handshake) return fail(error_class::tls, 0, "TLS handshake: " + ec.message());
        // An alert after the handshake (TLS 1.3 servers refuse a client certificate this way).
        if (ec.category() == asio::error::get_ssl_category()) return fail(error_class::tls, 0, "TLS: " + ec.message());
        if (ec == asio::error::eof || ec == asio::ssl::error::stream_truncated)
            return fail(error_class::network, 0, "connection closed by the server");
        return fail(error_class::network, 0, ec.message());
    }
    outcome fail_reply(const smtp::reply& r, const char* expected) {
        std::string text = std::to_string(r.code);
        if (r.status.present) text += " " + r.status.to_string();
        if (!r.lines.empty()) text += " " + r.lines.front();
        if (r.code >= 400 && r.code < 500) return fail(error_class::reply_4xx, r.code, text);
        if (r.code >= 500) return fail(error_class::reply_5xx, r.code, text);
        return fail(error_class::protocol, 0, "expected " + std::string(expected) + ", got " + text);
    }

    // ---- I/O ----
    asio::awaitable<outcome> flush_wbuf() {
        buffers_.clear();
        buffers_.push_back(asio::buffer(wbuf_));
        co_return co_await write_buffers();
    }
    asio::awaitable<outcome> write_buffers() {
        const auto ec = co_await conn_->write(buffers_, wl_.tgt->timeout);
        if (ec) co_return fail_io(ec);
        w_.rec.counters(wl()).bytes_sent += asio::buffer_size(buffers_);
        co_return outcome::ok;
    }
    // Reads one whole reply into parser_ (valid until the next read_reply).
    asio::awaitable<outcome> read_reply() {
        if (parser_.done()) parser_.next();
        for (;;) {
            if (const auto in = conn_->input(); !in.empty()) {
                std::error_code ec;
                conn_->consume(parser_.put(in, ec));
                if (ec) co_return fail(error_class::protocol, 0, "malformed reply: " + ec.message());
                if (parser_.done()) co_return outcome::ok;
                continue;
            }
            const auto ec = co_await conn_->read_more(wl_.tgt->timeout, read_buffer_size);
            w_.rec.counters(wl()).bytes_received += conn_->input().size();  // all new: input() was empty
            if (ec) co_return fail_io(ec);
        }
    }
    // Reads a reply and checks its code class (2 for 2xx, 3 for 3xx).
    asio::awaitable<outcome> expect(int cls, const char* expected) {
        if (auto o = co_await read_reply(); o != outcome::ok) co_return o;
        const auto& r = parser_.get();
        if (r.code / 100 != cls) co_return fail_reply(r, expected);
        co_return outcome::ok;
    }
    asio::awaitable<outcome> command(std::string_view line, int cls, const char* expected) {
        wbuf_.assign(line);
        wbuf_ += "\r\n";
        if (auto o = co_await flush_wbuf(); o != outcome::ok) co_return o;
        co_return co_await expect(cls, expected);
    }

    // ---- choices ----
    const user_pool* pool(const std::string& name) const {
        if (name.empty()) return wl_.users;
        return w_.shared.sc->find_pool(name);
    }
    // An address from a pool name or a literal address, into `out`; false when nothing fits.
    bool pick_address(iteration& it, const std::string& spec, std::string& out) {
        if (spec.find('@') != std::string::npos) {
            out = spec;
            return true;
        }
        const user_pool* p = pool(spec);
        if (!p || p->size() == 0) return false;
        p->address(it.r.below(p->size()), out);
        return true;
    }
    const message_source* message_of(const smtp_params& p) const {
        if (p.message.empty()) return wl_.default_message;
        auto it = w_.shared.messages.find(p.message);
        return it == w_.shared.messages.end() ? nullptr : it->second.get();
    }
    void choose_sender(iteration& it, const smtp_params& p, const message_source& src) {
        if (!p.from.empty() && pick_address(it, p.from, from_)) return;
        if (!src.spec().from.empty() && pick_address(it, src.spec().from, from_)) return;
        if (!authenticated_.empty()) {
            from_ = authenticated_;
            return;
        }
        if (pick_address(it, std::string(), from_)) return;
        from_ = "mailload@loadgen.invalid";
    }
    std::uint32_t choose_recipients(iteration& it, const smtp_params& p, const message_source& src) {
        const count_range r = p.rcpts ? *p.rcpts : src.spec().recipients;
        const auto n = static_cast<std::uint32_t>(it.r.between(r.min, r.max));
        const std::string& spec = !p.to.empty() ? p.to : src.spec().to;
        if (to_.size() < n) to_.resize(n);
        for (std::uint32_t i = 0; i < n; ++i)
            if (!pick_address(it, spec, to_[i])) to_[i] = "postmaster";
        return n;
    }

    // ---- actions ----
    asio::awaitable<outcome> do_connect(iteration& it);
    asio::awaitable<outcome> do_ehlo(iteration& it, const smtp_params& p, bool ehlo);
    asio::awaitable<outcome> do_starttls(iteration& it);
    asio::awaitable<outcome> do_auth(iteration& it, const smtp_params& p);
    asio::awaitable<outcome> do_mail(iteration& it, const smtp_params& p);
    asio::awaitable<outcome> do_rcpt(iteration& it, const smtp_params& p);
    asio::awaitable<outcome> do_data(iteration& it);
    asio::awaitable<outcome> do_bdat(iteration& it, std::uint64_t chunk_size);
    asio::awaitable<outcome> do_send(iteration& it, const smtp_params& p);
    asio::awaitable<outcome> send_bdat_pipelined(iteration& it, const smtp_params& p, const message_source& src);
    asio::awaitable<outcome> send_data_pipelined(iteration& it, const smtp_params& p, const message_source& src,
                                                 std::uint64_t count);
    // Chooses the sender, recipients and message of a transaction, builds the message into
    // `scratch` and appends MAIL, the RCPTs and DATA to wbuf_. Returns the message and sets `n`.
    message_parts prepare_data(iteration& it, const smtp_params& p, const message_source& src, std::string& scratch,
                               std::uint32_t& n) {
        choose_sender(it, p, src);
        n = choose_recipients(it, p, src);
        txn_number_ = it.number * 1000 + (txn_seq_++ % 1000);
        const auto msg = src.build(it.r, from_, to_[0], txn_number_, scratch, true);
        append_mail_from(msg.size());
        for (std::uint32_t i = 0; i < n; ++i) append_rcpt(to_[i]);
        wbuf_ += "DATA\r\n";
        return msg;
    }
    asio::awaitable<outcome> do_simple(std::string_view verb, metric m, int cls, const char* expected);
    // Reads the pipelined replies to MAIL and `n` RCPTs sent at `sent`, recording each latency.
    asio::awaitable<outcome> expect_envelope(std::uint32_t n, time_point sent);
    void append_mail_from(std::uint64_t size) {
        wbuf_ += "MAIL FROM:<";
        wbuf_ += from_;
        wbuf_ += '>';
        if (caps_.size) {
            wbuf_ += " SIZE=";
            wbuf_ += std::to_string(size);
        }
        wbuf_ += "\r\n";
    }
    void append_rcpt(const std::string& to) {
        wbuf_ += "RCPT TO:<";
        wbuf_ += to;
        wbuf_ += ">\r\n";
    }
    void message_done(std::uint32_t accepted) {
        auto& c = w_.rec.counters(wl());
        ++c.messages;
        c.recipients += accepted;
        ++w_.rec.second(wl()).messages;
        in_txn_ = false;
    }

    worker& w_;
    workload_runtime& wl_;
    std::unique_ptr<connection> conn_;
    smtp::reply_parser parser_;
    std::string wbuf_;
    std::string scratch_, scratch2_;
    std::vector<asio::const_buffer> buffers_;
    std::vector<std::pair<std::size_t, std::size_t>> cuts_;  // BDAT commands in wbuf_ (pipelined)
    std::vector<std::string> to_;
    std::string from_;
    std::string user_, password_;
    std::string authenticated_;
    smtp::capabilities caps_;  // reused: parse_ehlo keeps its vectors' memory
    metric action_ = metric::smtp_connect;
    std::size_t next_endpoint_ = 0;
    // transaction state of the single-step actions (mail, rcpt, data, bdat)
    bool in_txn_ = false;
    const message_source* txn_src_ = nullptr;
    std::uint32_t txn_accepted_ = 0;
    time_point txn_start_{};
    std::uint64_t txn_number_ = 0;
    std::uint64_t txn_seq_ = 0;
};

asio::awaitable<outcome> smtp_driver::execute(const step& s, iteration& it) {
    const auto& p = std::get<smtp_params>(s.params);
    if (s.kind != action_kind::smtp_connect && (!conn_ || !conn_->is_open())) {
        action_ = metric::smtp_connect;
        co_return fail(error_class::protocol, 0, "not connected (the flow must connect first)");
    }
    switch (s.kind) {
        case action_kind::smtp_connect: co_return co_await do_connect(it);
        case action_kind::smtp_ehlo: co_return co_await do_ehlo(it, p, true);
        case action_kind::smtp_helo: co_return co_await do_ehlo(it, p, false);
        case action_kind::smtp_starttls: co_return co_await do_starttls(it);
        case action_kind::smtp_auth: co_return co_await do_auth(it, p);
        case action_kind::smtp_mail: co_return co_await do_mail(it, p);
        case action_kind::smtp_rcpt: co_return co_await do_rcpt(it, p);
        case action_kind::smtp_data: co_return co_await do_data(it);
        case action_kind::smtp_bdat: co_return co_await do_bdat(it, p.chunk_size);
        case action_kind::smtp_send: co_return co_await do_send(it, p);
        case action_kind::smtp_rset: co_return co_await do_simple("RSET", metric::smtp_rset, 2, "250");
        case action_kind::smtp_noop: co_return co_await do_simple("NOOP", metric::smtp_noop, 2, "250");
        case action_kind::smtp_quit: {
            auto o = co_await do_simple("QUIT", metric::smtp_quit, 2, "221");
            if (o == outcome::ok) conn_->close();
            co_return o;
        }
        default: break;
    }
    co_return outcome::ok;
}

asio::awaitable<outcome> smtp_driver::do_connect(iteration& it) {
    end_session();
    action_ = metric::smtp_connect;
    conn_ = std::make_unique<connection>(w_);
    conn_->set_hard_deadline(it.hard_deadline);
    const auto& ep = wl_.endpoints[next_endpoint_++ % wl_.endpoints.size()];
    const asio::ip::address* src = wl_.sources.empty() ? nullptr : &wl_.sources[w_.next_source++ % wl_.sources.size()];
    auto t0 = clock_type::now();
    if (auto ec = co_await conn_->connect(ep, src, wl_.tgt->connect_timeout)) co_return fail_io(ec);
    record(metric::smtp_connect, t0);
    ++w_.rec.counters(wl()).connections;
    if (wl_.tgt->tls == tls_mode::implicit) {
        action_ = metric::smtp_tls_handshake;
        t0 = clock_type::now();
        if (auto ec = co_await conn_->handshake(wl_.tls, wl_.tls_options, wl_.tgt->timeout)) co_return fail_io(ec, true);
        record(metric::smtp_tls_handshake, t0);
    }
    action_ = metric::smtp_greeting;
    t0 = clock_type::now();
    if (auto o = co_await expect(2, "220 greeting"); o != outcome::ok) co_return o;
    if (parser_.get().code != 220) co_return fail_reply(parser_.get(), "220 greeting");
    record(metric::smtp_greeting, t0);
    co_return outcome::ok;
}

asio::awaitable<outcome> smtp_driver::do_ehlo(iteration&, const smtp_params& p, bool ehlo) {
    action_ = ehlo ? metric::smtp_ehlo : metric::smtp_helo;
    wbuf_.assign(ehlo ? "EHLO " : "HELO ");
    wbuf_ += p.domain.empty() ? std::string_view("loadgen.example") : std::string_view(p.domain);
    wbuf_ += "\r\n";
    const auto t0 = clock_type::now();
    if (auto o = co_await flush_wbuf(); o != outcome::ok) co_return o;
    if (auto o = co_await expect(2, "250"); o != outcome::ok) co_return o;
    record(action_, t0);
    if (ehlo) smtp::parse_ehlo(parser_.get(), caps_);
    else caps_.clear();
    co_return outcome::ok;
}

asio::awaitable<outcome> smtp_driver::do_starttls(iteration&) {
    action_ = metric::smtp_starttls;
    if (!caps_.starttls) co_return fail(error_class::protocol, 0, "the server does not offer STARTTLS");
    auto t0 = clock_type::now();
    if (auto o = co_await command("STARTTLS", 2, "220"); o != outcome::ok) co_return o;
    record(metric::smtp_starttls, t0);
    // RFC 3207 5: nothing the server sent before the handshake may be used after it (the
    // defence against command injection); a server that pipelined data here is broken.
    // (net's handshake_client drops such data in any case.)
    if (!conn_->input().empty()) co_return fail(error_class::protocol, 0, "data after the STARTTLS reply, before the TLS handshake");
    parser_ = smtp::reply_parser{};
    caps_.clear();
    action_ = metric::smtp_tls_handshake;
    t0 = clock_type::now();
    if (auto ec = co_await conn_->handshake(wl_.tls, wl_.tls_options, wl_.tgt->timeout)) co_return fail_io(ec, true);
    record(metric::smtp_tls_handshake, t0);
    co_return outcome::ok;
}

asio::awaitable<outcome> smtp_driver::do_auth(iteration& it, const smtp_params& p) {
    action_ = metric::smtp_auth;
    const std::string& mech = p.mechanisms[it.r.below(p.mechanisms.size())];
    if (std::find(caps_.auth.begin(), caps_.auth.end(), mech) == caps_.auth.end())
        co_return fail(error_class::protocol, 0, "the server does not offer AUTH " + mech);
    const user_pool* up = pool(p.users);
    if (!up || up->size() == 0) co_return fail(error_class::protocol, 0, "no users for AUTH");
    const auto i = it.r.below(up->size());
    up->address(i, user_);
    up->password_of(i, password_);
    sasl::client_options options;
    if (mech == "SCRAM-SHA-256-PLUS") {
        // RFC 9266 tls-exporter: 32 octets, label "EXPORTER-Channel-Binding", TLS 1.3 only.
        SSL* ssl = conn_->ssl_handle();
        unsigned char cb[32];
        static constexpr char label[] = "EXPORTER-Channel-Binding";
        if (!ssl || SSL_version(ssl) != TLS1_3_VERSION ||
            SSL_export_keying_material(ssl, cb, sizeof cb, label, sizeof label - 1, nullptr, 0, 0) != 1)
            co_return fail(error_class::protocol, 0, "SCRAM-SHA-256-PLUS needs TLS 1.3 (tls-exporter binding)");
        options.binding = sasl::channel_binding{"tls-exporter", std::string(reinterpret_cast<char*>(cb), sizeof cb)};
    }
    auto m = sasl::make_client(mech, {user_, password_, {}}, std::move(options));
    if (!m) co_return fail(error_class::protocol, 0, "no SASL client for " + mech);
    const auto t0 = clock_type::now();
    wbuf_.assign("AUTH ");
    wbuf_ += mech;
    if (p.initial_response && m->has_initial_response()) {
        wbuf_ += ' ';
        wbuf_ += sasl::encode_initial_response(m->initial_response());
    }
    wbuf_ += "\r\n";
    if (auto o = co_await flush_wbuf(); o != outcome::ok) co_return o;
    for (int round = 0; round < 10; ++round) {
        if (auto o = co_await read_reply(); o != outcome::ok) co_return o;
        const auto& r = parser_.get();
        if (r.code == 334) {
            std::string challenge;
            const std::string_view text = r.lines.empty() ? std::string_view() : std::string_view(r.lines.front());
            if (sasl::base64_decode(text, challenge)) co_return fail(error_class::protocol, 0, "334 challenge is not base64");
            auto step = m->step(challenge);
            if (step.status != sasl::client_status::response) {
                wbuf_.assign("*\r\n");
                (void)co_await flush_wbuf();
                co_return fail(error_class::protocol, 0, "SASL " + mech + ": " + step.ec.message());
            }
            wbuf_ = sasl::base64_encode(step.response);
            wbuf_ += "\r\n";
            if (auto o = co_await flush_wbuf(); o != outcome::ok) co_return o;
            continue;
        }
        if (r.code == 235) {
            if (auto ec = m->finish()) co_return fail(error_class::protocol, 0, "SASL " + mech + ": " + ec.message());
            record(metric::smtp_auth, t0);
            authenticated_ = user_;
            co_return outcome::ok;
        }
        co_return fail_reply(r, "235 or 334");
    }
    co_return fail(error_class::protocol, 0, "AUTH exchange did not end after 10 rounds");
}

asio::awaitable<outcome> smtp_driver::do_mail(iteration& it, const smtp_params& p) {
    action_ = metric::smtp_mail;
    txn_src_ = message_of(p);
    if (!txn_src_) co_return fail(error_class::protocol, 0, "no message generator");
    choose_sender(it, p, *txn_src_);
    txn_start_ = clock_type::now();
    txn_accepted_ = 0;
    txn_number_ = it.number * 1000 + (txn_seq_++ % 1000);
    wbuf_.clear();
    append_mail_from(txn_src_->spec().size);
    if (auto o = co_await flush_wbuf(); o != outcome::ok) co_return o;
    if (auto o = co_await expect(2, "250"); o != outcome::ok) co_return o;
    record(metric::smtp_mail, txn_start_);
    in_txn_ = true;
    to_.resize(std::max<std::size_t>(to_.size(), 1));
    co_return outcome::ok;
}

asio::awaitable<outcome> smtp_driver::do_rcpt(iteration& it, const smtp_params& p) {
    action_ = metric::smtp_rcpt;
    if (!in_txn_ || !txn_src_) co_return fail(error_class::protocol, 0, "rcpt outside a transaction");
    const auto n = choose_recipients(it, p, *txn_src_);
    for (std::uint32_t i = 0; i < n; ++i) {
        wbuf_.clear();
        append_rcpt(to_[i]);
        const auto t0 = clock_type::now();
        if (auto o = co_await flush_wbuf(); o != outcome::ok) co_return o;
        if (auto o = co_await expect(2, "250"); o != outcome::ok) co_return o;
        record(metric::smtp_rcpt, t0);
        ++txn_accepted_;
    }
    co_return outcome::ok;
}

asio::awaitable<outcome> smtp_driver::do_data(iteration& it) {
    action_ = metric::smtp_data;
    if (!in_txn_ || !txn_accepted_) co_return fail(error_class::protocol, 0, "data without accepted recipients");
    if (auto o = co_await command("DATA", 3, "354"); o != outcome::ok) co_return o;
    const auto msg = txn_src_->build(it.r, from_, to_[0], txn_number_, scratch_, true);
    buffers_.clear();
    slice(msg, 0, msg.size(), buffers_);
    buffers_.push_back(asio::buffer(end_of_data));
    const auto t0 = clock_type::now();
    if (auto o = co_await write_buffers(); o != outcome::ok) co_return o;
    if (auto o = co_await expect(2, "250"); o != outcome::ok) co_return o;
    record(metric::smtp_data, t0);
    record(metric::smtp_message, txn_start_);
    message_done(txn_accepted_);
    co_return outcome::ok;
}

asio::awaitable<outcome> smtp_driver::do_bdat(iteration& it, std::uint64_t chunk_size) {
    action_ = metric::smtp_bdat;
    if (!caps_.chunking) co_return fail(error_class::protocol, 0, "the server does not offer CHUNKING");
    if (!in_txn_ || !txn_accepted_) co_return fail(error_class::protocol, 0, "bdat without accepted recipients");
    const auto msg = txn_src_->build(it.r, from_, to_[0], txn_number_, scratch_, false);
    const std::uint64_t size = msg.size();
    const std::uint64_t chunk = chunk_size ? chunk_size : size;
    const auto t0 = clock_type::now();
    for (std::uint64_t at = 0; at < size; at += chunk) {
        const std::uint64_t n = std::min(chunk, size - at);
        const bool last = at + n == size;
        wbuf_.clear();
        smtp::append_bdat(wbuf_, n, last);
        buffers_.clear();
        buffers_.push_back(asio::buffer(wbuf_));
        slice(msg, at, at + n, buffers_);
        if (auto o = co_await write_buffers(); o != outcome::ok) co_return o;
        if (auto o = co_await expect(2, "250"); o != outcome::ok) co_return o;
    }
    record(metric::smtp_bdat, t0);
    record(metric::smtp_message, txn_start_);
    message_done(txn_accepted_);
    co_return outcome::ok;
}

asio::awaitable<outcome> smtp_driver::do_simple(std::string_view verb, metric m, int cls, const char* expected) {
    action_ = m;
    const auto t0 = clock_type::now();
    if (auto o = co_await command(verb, cls, expected); o != outcome::ok) co_return o;
    record(m, t0);
    co_return outcome::ok;
}

asio::awaitable<outcome> smtp_driver::expect_envelope(std::uint32_t n, time_point sent) {
    action_ = metric::smtp_mail;
    if (auto o = co_await expect(2, "250"); o != outcome::ok) co_return o;
    record(metric::smtp_mail, sent);
    action_ = metric::smtp_rcpt;
    for (std::uint32_t k = 0; k < n; ++k) {
        if (auto o = co_await expect(2, "250"); o != outcome::ok) co_return o;
        record(metric::smtp_rcpt, sent);
    }
    co_return outcome::ok;
}

asio::awaitable<outcome> smtp_driver::do_send(iteration& it, const smtp_params& p) {
    const message_source* src = message_of(p);
    action_ = metric::smtp_message;
    if (!src) co_return fail(error_class::protocol, 0, "no message generator");
    if (p.body == smtp_body::bdat && !caps_.chunking) {
        action_ = metric::smtp_bdat;
        co_return fail(error_class::protocol, 0, "the server does not offer CHUNKING");
    }
    const auto count = it.r.between(p.messages.min, p.messages.max);
    if (p.pipelining && caps_.pipelining && p.body == smtp_body::data) co_return co_await send_data_pipelined(it, p, *src, count);
    for (std::uint64_t i = 0; i < count; ++i) {
        if (w_.aborting) co_return outcome::interrupted;
        if (p.pipelining && caps_.pipelining) {
            if (auto o = co_await send_bdat_pipelined(it, p, *src); o != outcome::ok) co_return o;
            continue;
        }
        // One command at a time, as the single-step actions do.
        if (auto o = co_await do_mail(it, p); o != outcome::ok) co_return o;
        if (auto o = co_await do_rcpt(it, p); o != outcome::ok) co_return o;
        if (p.body == smtp_body::data) {
            if (auto o = co_await do_data(it); o != outcome::ok) co_return o;
        } else if (auto o = co_await do_bdat(it, p.chunk_size); o != outcome::ok) {
            co_return o;
        }
    }
    co_return outcome::ok;
}

// RFC 2920 with DATA: MAIL, the RCPTs and DATA go in one write, then the replies are read in
// order; the message may only follow the 354. RFC 2920 3.1 lets message content start a group, so
// each message's content goes out in one write with the next transaction's MAIL, RCPTs and DATA:
// one round trip per message instead of two. Two scratch buffers alternate, because a message's
// headers must stay valid while the next one is built.
asio::awaitable<outcome> smtp_driver::send_data_pipelined(iteration& it, const smtp_params& p, const message_source& src,
                                                         std::uint64_t count) {
    if (count == 0) co_return outcome::ok;
    std::string* scratch[2] = {&scratch_, &scratch2_};
    std::uint32_t n = 0;
    wbuf_.clear();
    message_parts msg = prepare_data(it, p, src, *scratch[0], n);
    buffers_.clear();
    buffers_.push_back(asio::buffer(wbuf_));
    time_point t_cmds = clock_type::now();
    action_ = metric::smtp_message;
    if (auto o = co_await write_buffers(); o != outcome::ok) co_return o;
    for (std::uint64_t i = 0; i < count; ++i) {
        if (w_.aborting) co_return outcome::interrupted;
        if (auto o = co_await expect_envelope(n, t_cmds); o != outcome::ok) co_return o;
        action_ = metric::smtp_data;
        if (auto o = co_await expect(3, "354"); o != outcome::ok) co_return o;
        // this message's content, ".", and the next transaction's commands
        const std::uint32_t accepted = n;
        const bool more = i + 1 < count;
        wbuf_.clear();
        message_parts next{};
        if (more) next = prepare_data(it, p, src, *scratch[(i + 1) % 2], n);
        buffers_.clear();
        slice(msg, 0, msg.size(), buffers_);
        buffers_.push_back(asio::buffer(end_of_data));
        if (more) buffers_.push_back(asio::buffer(wbuf_));
        const auto t_group = clock_type::now();
        if (auto o = co_await write_buffers(); o != outcome::ok) co_return o;
        if (auto o = co_await expect(2, "250"); o != outcome::ok) co_return o;
        record(metric::smtp_data, t_group);
        record(metric::smtp_message, t_cmds);
        message_done(accepted);
        msg = next;
        t_cmds = t_group;
    }
    co_return outcome::ok;
}

// RFC 2920 and RFC 3030 4: MAIL, the RCPTs, and BDAT with its chunks in one write; then the
// replies in order.
asio::awaitable<outcome> smtp_driver::send_bdat_pipelined(iteration& it, const smtp_params& p, const message_source& src) {
    choose_sender(it, p, src);
    const auto n = choose_recipients(it, p, src);
    txn_number_ = it.number * 1000 + (txn_seq_++ % 1000);
    const auto msg = src.build(it.r, from_, to_[0], txn_number_, scratch_, false);
    const std::uint64_t size = msg.size();
    wbuf_.clear();
    append_mail_from(size);
    for (std::uint32_t i = 0; i < n; ++i) append_rcpt(to_[i]);
    // Every BDAT command is formatted first (wbuf_ must not grow once buffers point into it).
    const std::uint64_t chunk = p.chunk_size ? p.chunk_size : size;
    std::size_t cmd_start = 0;
    cuts_.clear();
    for (std::uint64_t at = 0; at < size; at += chunk) {
        const std::uint64_t len = std::min(chunk, size - at);
        smtp::append_bdat(wbuf_, len, at + len == size);
        cuts_.emplace_back(cmd_start, wbuf_.size());
        cmd_start = wbuf_.size();
    }
    buffers_.clear();
    std::uint64_t at = 0;
    for (std::size_t c = 0; c < cuts_.size(); ++c) {
        // the first command buffer also carries MAIL and the RCPTs
        const std::size_t from = c == 0 ? 0 : cuts_[c].first;
        buffers_.push_back(asio::buffer(wbuf_.data() + from, cuts_[c].second - from));
        const std::uint64_t len = std::min(chunk, size - at);
        slice(msg, at, at + len, buffers_);
        at += len;
    }
    const auto t0 = clock_type::now();
    action_ = metric::smtp_message;
    if (auto o = co_await write_buffers(); o != outcome::ok) co_return o;
    if (auto o = co_await expect_envelope(n, t0); o != outcome::ok) co_return o;
    action_ = metric::smtp_bdat;
    for (std::size_t c = 0; c < cuts_.size(); ++c)
        if (auto o = co_await expect(2, "250"); o != outcome::ok) co_return o;
    record(metric::smtp_bdat, t0);
    record(metric::smtp_message, t0);
    message_done(n);
    co_return outcome::ok;
}

}  // namespace

std::unique_ptr<session_driver> make_smtp_driver(worker& w, workload_runtime& wl) {
    return std::make_unique<smtp_driver>(w, wl);
}

}  // namespace mailharness::load::detail

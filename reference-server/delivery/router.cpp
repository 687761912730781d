#include "mailharness/refmaild/delivery/router.hpp"

#include <chrono>
#include <mutex>

namespace mailharness::refmaild::delivery {

namespace {

bool iequals_prefix(std::string_view s, std::string_view prefix) {
    if (s.size() < prefix.size()) return false;
    for (std::size_t i = 0; i < prefix.size(); ++i) {
        char a = s[i], b = prefix[i];
        if (a >= 'A' && a <= 'Z') a = static_cast<char>(a - 'A' + 'a');
        if (b >= 'A' && b <= 'Z') b = static_cast<char>(b - 'A' + 'a');
        if (a != b) return false;
    }
    return true;
}

}  // namespace

std::string return_path_line(const std::string& sender) { return "Return-Path: <" + sender + ">\r\n"; }

bool strip_return_path(std::string& m) {
    bool removed = false;
    std::size_t pos = 0;
    while (pos < m.size()) {
        std::size_t eol = m.find('\n', pos);
        std::size_t next = eol == std::string::npos ? m.size() : eol + 1;
        std::string_view line(m.data() + pos, next - pos);
        if (line == "\r\n" || line == "\n") break;  // end of the header section
        if (iequals_prefix(line, "return-path:")) {
            // The field and its continuation lines (starting with SP or HTAB).
            std::size_t end = next;
            while (end < m.size() && (m[end] == ' ' || m[end] == '\t')) {
                std::size_t e2 = m.find('\n', end);
                end = e2 == std::string::npos ? m.size() : e2 + 1;
            }
            m.erase(pos, end - pos);
            removed = true;
            continue;
        }
        pos = next;
    }
    return removed;
}

void router::deliver(message m, completion done) {
    struct state {
        std::mutex mutex;
        std::size_t left = 0;
        outcome result;
        completion done;
    };
    auto s = std::make_shared<state>();
    s->done = std::move(done);
    std::shared_ptr<const std::string> body = m.body;
    if (!body) body = std::make_shared<const std::string>();
    // Only the final delivery's Return-Path may stand: strip any the message brought along.
    std::shared_ptr<const std::string> local_body = body;
    {
        std::string copy;
        bool has = false;
        std::size_t hdr_end = body->find("\r\n\r\n");
        std::string_view head(body->data(), hdr_end == std::string::npos ? body->size() : hdr_end + 2);
        for (std::size_t p = 0; p < head.size();) {
            std::size_t e = head.find('\n', p);
            if (iequals_prefix(head.substr(p), "return-path:")) {
                has = true;
                break;
            }
            if (e == std::string_view::npos) break;
            p = e + 1;
        }
        if (has) {
            copy = *body;
            strip_return_path(copy);
            local_body = std::make_shared<const std::string>(std::move(copy));
        }
    }
    std::vector<store::delivery_request> reqs;
    std::optional<queue::queued_message> relay;
    const std::string local_header = return_path_line(m.sender) + m.trace;
    for (std::size_t i = 0; i < m.recipients.size(); ++i) {
        const auto& rcpt = m.recipients[i];
        auto at = rcpt.rfind('@');
        if (i < m.local.size() && m.local[i]) {
            reqs.push_back({{rcpt.substr(0, at), at == std::string::npos ? std::string() : rcpt.substr(at + 1), m.folder},
                            local_header, local_body});
            continue;
        }
        if (!relay) {
            relay.emplace();
            auto now = std::chrono::duration_cast<std::chrono::milliseconds>(
                           std::chrono::system_clock::now().time_since_epoch()).count();
            relay->env.id = spool_ ? spool_->new_id() : std::string();
            relay->env.created = now;
            relay->env.next_attempt = now;
            relay->env.sender = m.sender;
            relay->env.arrival_from = m.arrival_from;
            relay->header = m.trace;
            relay->body = body;
        }
        relay->env.recipients.push_back({rcpt, queue::rcpt_state::pending, {}});
    }
    if (relay && !spool_) {
        outcome o;
        o.ec = std::make_error_code(std::errc::operation_not_supported);
        s->done(std::move(o));
        return;
    }
    if (relay) s->result.queued = relay->env;
    s->left = reqs.size() + (relay ? 1 : 0) + 1;  // +1: released after every start
    auto finish = [s](std::error_code ec, bool stored) {
        std::unique_lock lock(s->mutex);
        if (ec && !s->result.ec) s->result.ec = ec;
        if (stored && !ec) ++s->result.stored;
        if (--s->left != 0) return;
        auto done = std::move(s->done);
        auto result = std::move(s->result);
        lock.unlock();
        done(std::move(result));
    };
    for (auto& r : reqs) store_.deliver_async(std::move(r), [finish](std::error_code ec, std::string) { finish(ec, true); });
    if (relay) spool_->enqueue_async(std::move(*relay), [finish](std::error_code ec) { finish(ec, false); });
    finish({}, false);
}

void router::deliver_local(const std::string& user, const std::string& domain, std::string content,
                           std::function<void(std::error_code)> done) {
    strip_return_path(content);
    store_.deliver_async({{user, domain, {}}, return_path_line(""), std::make_shared<const std::string>(std::move(content))},
                         [done = std::move(done)](std::error_code ec, std::string) { done(ec); });
}

}  // namespace mailharness::refmaild::delivery

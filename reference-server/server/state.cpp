#include "state.hpp"

#include <boost/asio/thread_pool.hpp>

#include <algorithm>
#include <cstdio>
#include <random>

#include "mailharness/refmaild/cert_tool.hpp"
#include "mailharness/refmaild/queue/spool.hpp"

namespace mailharness::refmaild {

namespace {

net::server_tls_settings tls_settings_of(const config::tls_settings& t) {
    return {
        .cert_file = t.cert_file,
        .key_file = t.key_file,
        .ca_file = t.ca_file,
        .min_version = t.min_version == config::tls_version::v1_3 ? net::tls_min_version::v1_3 : net::tls_min_version::v1_2,
        .ciphers = t.ciphers,
        .ciphersuites = t.ciphersuites,
        .groups = t.groups,
        .client_cert = t.client_cert == config::client_cert_mode::none       ? net::client_cert_policy::none
                       : t.client_cert == config::client_cert_mode::optional ? net::client_cert_policy::optional
                                                                             : net::client_cert_policy::required,
    };
}

}  // namespace

server_state::server_state(config::refmaild_settings s)
    : settings(std::move(s)),
      log(settings.log.level),
      throttle(settings.auth.failure_delay_base, settings.auth.failure_delay_max),
      bans(settings.store.data_dir.empty() ? std::filesystem::path() : settings.store.data_dir / "bans"),
      resolver_pool(std::make_unique<boost::asio::thread_pool>(2)),
      blocking_pool(std::make_unique<boost::asio::thread_pool>(8)),
      message_memory(settings.smtp.max_buffered_total, settings.smtp.max_buffered_per_ip) {
    std::random_device rd;
    char buf[16];
    std::snprintf(buf, sizeof buf, "%08x", rd());
    id_prefix = buf;
    for (const auto& net : settings.policy.trusted_networks) {
        auto n = policy::ip_network::parse(net);
        if (!n) throw std::runtime_error("policy.trusted_networks: \"" + net + "\" is not an IP address or CIDR network");
        trusted.push_back(*n);
    }
}

server_state::~server_state() {
    if (resolver_pool) resolver_pool->join();
    if (blocking_pool) blocking_pool->join();
}

bool server_state::memory_budget::take(const std::string& ip, std::uint64_t n) {
    std::lock_guard lock(mutex_);
    auto& mine = per_ip_[ip];
    if ((max_total_ && total_ + n > max_total_) || (max_per_ip_ && mine + n > max_per_ip_)) {
        if (mine == 0) per_ip_.erase(ip);
        return false;
    }
    total_ += n;
    mine += n;
    return true;
}

void server_state::memory_budget::give_back(const std::string& ip, std::uint64_t n) {
    std::lock_guard lock(mutex_);
    total_ -= std::min(total_, n);
    auto it = per_ip_.find(ip);
    if (it == per_ip_.end()) return;
    it->second -= std::min(it->second, n);
    if (it->second == 0) per_ip_.erase(it);
}

std::uint64_t server_state::memory_budget::in_use() const {
    std::lock_guard lock(mutex_);
    return total_;
}

snapshot server_state::current() const {
    std::lock_guard lock(mutex_);
    return snap_;
}

bool server_state::trusted_ip(const std::string& ip) const {
    return std::any_of(trusted.begin(), trusted.end(), [&](const policy::ip_network& n) { return n.contains(ip); });
}

std::string server_state::new_session_tag(const std::string& ip, const std::string& listener, std::string& session_id) {
    char idbuf[48];
    std::snprintf(idbuf, sizeof idbuf, "%s%06llx", id_prefix.c_str(),
                  static_cast<unsigned long long>(next_session.fetch_add(1)));
    session_id = idbuf;
    return "session=" + session_id + " ip=" + ip + " listener=" + listener;
}

void server_state::load_users() {
    std::shared_ptr<users::user_db> db;
    if (settings.auth.passwd_file.empty()) {
        db = std::make_shared<users::user_db>();
    } else {
        auto r = users::user_db::load(settings.auth.passwd_file);
        if (r.error) {
            throw std::runtime_error("auth.passwd_file " + settings.auth.passwd_file.string() + ": " + r.error.message());
        }
        for (auto& p : r.problems) log.warn("event=passwd_problem line=" + std::to_string(p.line) + " " + p.message);
        db = std::make_shared<users::user_db>(std::move(r.db));
    }
    auto domains = std::make_shared<std::set<std::string>>();
    for (auto& d : users::local_domains(*db, settings.local_domains)) domains->insert(d);  // already lower case
    std::lock_guard lock(mutex_);
    snap_.users = std::move(db);
    snap_.local_domains = std::move(domains);
}

void server_state::load_tls() {
    if (settings.tls.cert_file.empty()) return;
    auto ctx = net::build_server_context(tls_settings_of(settings.tls));
    auto info = cert::check(settings.tls.cert_file);
    if (info) {
        metrics.cert_days_left = info->days_left;
        metrics.has_cert = true;
        if (info->expired) {
            log.warn("event=certificate_expired file=" + settings.tls.cert_file.string());
        } else if (settings.tls.expiry_warning_days && info->days_left < settings.tls.expiry_warning_days) {
            log.warn("event=certificate_expiring days_left=" + std::to_string(info->days_left) +
                     " file=" + settings.tls.cert_file.string());
        }
    }
    tls.set(std::move(ctx));
}

void server_state::load_access_lists() {
    auto load = [this](const std::filesystem::path& file, const char* what) {
        auto l = std::make_shared<policy::access_list>();
        if (file.empty()) return l;
        std::vector<policy::list_problem> problems;
        *l = policy::access_list::load(file, &problems);
        for (auto& p : problems) {
            log.warn(std::string("event=") + what + "_problem file=" + file.string() + " line=" + std::to_string(p.line) +
                     " " + p.message);
        }
        return l;
    };
    auto k = load(settings.policy.kill_file, "kill_file");
    auto a = load(settings.policy.accept_file, "accept_file");
    std::lock_guard lock(mutex_);
    snap_.kill = std::move(k);
    snap_.accept = std::move(a);
}

bool server_state::enumeration_offence(const std::string& ip) {
    const unsigned limit = settings.smtp.unknown_recipient_ban_after;
    if (limit == 0) return false;
    std::lock_guard lock(offence_mutex_);
    auto now = std::chrono::steady_clock::now();
    if (offences_.size() > 100000) offences_.clear();  // bounded under a spray of addresses
    auto& o = offences_[ip];
    if (o.count == 0 || now - o.first > std::chrono::hours(1)) o = {0, now};
    if (++o.count < limit) return false;
    offences_.erase(ip);
    return true;
}

void server_state::ban_long_line(const std::string& ip, const std::string& tag) {
    if (settings.policy.long_line_ban.count() <= 0) return;
    auto secs = std::chrono::duration_cast<std::chrono::seconds>(settings.policy.long_line_ban);
    if (auto ec = bans.ban(ip, std::max(secs, std::chrono::seconds(1)))) {
        log.error(tag + " event=ban_save_failed error=\"" + ec.message() + "\"");
    }
    log.info(tag + " event=banned reason=line_too_long seconds=" + std::to_string(secs.count()));
}

}  // namespace mailharness::refmaild

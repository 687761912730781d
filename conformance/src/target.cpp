#include "mailharness/conform/target.hpp"

#include <yaml-cpp/yaml.h>

#include <stdexcept>

#include "mailharness/sasl/base64.hpp"

namespace mailharness::conform {

const char* to_string(tls_mode m) noexcept {
    switch (m) {
        case tls_mode::none: return "none";
        case tls_mode::starttls: return "starttls";
        case tls_mode::implicit: return "implicit";
    }
    return "?";
}

tls_mode parse_tls_mode(const std::string& s) {
    if (s == "none") return tls_mode::none;
    if (s == "starttls") return tls_mode::starttls;
    if (s == "implicit") return tls_mode::implicit;
    throw std::invalid_argument("tls must be none, starttls or implicit, not '" + s + "'");
}

variables target::vars() const {
    variables v{{"host", host},         {"port", std::to_string(port)},
                {"local_domain", local_domain}, {"remote_domain", remote_domain},
                {"rcpt", rcpt},         {"user", user},
                {"password", password}, {"rcpt_local", rcpt.substr(0, rcpt.find('@'))}};
    // RFC 4616: authzid (empty) NUL authcid NUL passwd.
    v["auth_plain"] = sasl::base64_encode(std::string(1, '\0') + user + '\0' + password);
    v["auth_plain_bad"] = sasl::base64_encode(std::string(1, '\0') + user + '\0' + password + "-wrong");
    return v;
}

void load_target(const std::string& path, target& t) {
    YAML::Node root;
    try {
        root = YAML::LoadFile(path);
    } catch (const YAML::BadFile&) {
        throw std::runtime_error(path + ": cannot read");
    } catch (const YAML::Exception& e) {
        throw std::runtime_error(path + ':' + std::to_string(e.mark.line + 1) + ": YAML: " + e.msg);
    }
    if (!root.IsMap()) throw std::runtime_error(path + ": a target must be a YAML map");
    for (const auto& kv : root) {
        const std::string key = kv.first.Scalar();
        const auto& v = kv.second;
        try {
            if (key == "host") t.host = v.as<std::string>();
            else if (key == "port") t.port = v.as<std::uint16_t>();
            else if (key == "tls") t.tls = parse_tls_mode(v.as<std::string>());
            else if (key == "local_domain") t.local_domain = v.as<std::string>();
            else if (key == "remote_domain") t.remote_domain = v.as<std::string>();
            else if (key == "rcpt") t.rcpt = v.as<std::string>();
            else if (key == "user") t.user = v.as<std::string>();
            else if (key == "password") t.password = v.as<std::string>();
            else if (key == "insecure") t.insecure = v.as<bool>();
            else if (key == "cafile") t.cafile = v.as<std::string>();
            else if (key == "tls_name") t.tls_name = v.as<std::string>();
            else if (key == "cert_warn_days") {
                t.cert_warn_days = v.as<int>();
                if (t.cert_warn_days < 1 || t.cert_warn_days > 3650) throw std::invalid_argument("must be 1..3650");
            }
            else if (key == "timeout_ms") t.timeout = std::chrono::milliseconds(v.as<unsigned>());
            else if (key == "quiet_ms") t.quiet_time = std::chrono::milliseconds(v.as<unsigned>());
            else throw std::invalid_argument("unknown key '" + key + "'");
        } catch (const std::exception& e) {
            const auto line = kv.first.Mark().line + 1;
            throw std::runtime_error(path + ':' + std::to_string(line) + ": " + key + ": " + e.what());
        }
    }
}

}  // namespace mailharness::conform

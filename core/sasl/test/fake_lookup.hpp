// Test helper: an in-memory credential_lookup with plaintext and stored SCRAM users.
#pragma once

#include <map>
#include <set>
#include <string>
#include <utility>

#include "mailharness/sasl/credentials.hpp"

namespace mailharness::sasl::test {

class fake_lookup final : public credential_lookup {
public:
    /// A user whose plaintext password is known (usable by every mechanism).
    void add_plaintext(std::string user, std::string password) { plain_[std::move(user)] = std::move(password); }
    /// A user with only stored SCRAM credentials (PLAIN/LOGIN fail, CRAM-MD5 has no secret).
    void add_scram(std::string user, scram_credentials c) { scram_[std::move(user)] = std::move(c); }
    /// Lets `authcid` act as `authzid`.
    void allow_proxy(std::string authcid, std::string authzid) { proxy_.emplace(std::move(authcid), std::move(authzid)); }

    result plaintext_secret(std::string_view user, std::string& secret) override {
        ++plaintext_calls;
        if (auto it = plain_.find(std::string(user)); it != plain_.end()) {
            secret = it->second;
            return result::ok;
        }
        return scram_.count(std::string(user)) ? result::no_secret : result::no_user;
    }

    result scram_sha256_credentials(std::string_view user, scram_credentials& out) override {
        if (auto it = scram_.find(std::string(user)); it != scram_.end()) {
            out = it->second;
            return result::ok;
        }
        return plain_.count(std::string(user)) ? result::no_secret : result::no_user;
    }

    bool authorize(std::string_view authcid, std::string_view authzid) override {
        return proxy_.count({std::string(authcid), std::string(authzid)}) != 0;
    }

    int plaintext_calls = 0;

private:
    std::map<std::string, std::string> plain_;
    std::map<std::string, scram_credentials> scram_;
    std::set<std::pair<std::string, std::string>> proxy_;
};

}  // namespace mailharness::sasl::test

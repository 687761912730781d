#include "mailharness/refmaild/auth/credentials.hpp"

namespace mailharness::refmaild::auth {

credentials_adapter::result credentials_adapter::verify_plain(std::string_view authcid, std::string_view password) {
    switch (db_->verify_password(authcid, password)) {
        case users::verify_result::ok: return result::ok;
        case users::verify_result::wrong_password: return result::wrong_password;
        case users::verify_result::unknown_user: return result::no_user;
        default: return result::no_secret;
    }
}

credentials_adapter::result credentials_adapter::plaintext_secret(std::string_view authcid, std::string& secret) {
    if (!db_->lookup(authcid)) return result::no_user;
    auto s = db_->plaintext_secret(authcid);
    if (!s) return result::no_secret;
    secret = std::move(*s);
    return result::ok;
}

bool credentials_adapter::has_plaintext_secret(std::string_view authcid) const {
    return db_->plaintext_secret(authcid).has_value();
}

bool credentials_adapter::any_plaintext_secret() const {
    for (const auto& e : db_->entries()) {
        if (db_->plaintext_secret(e.user + "@" + e.domain)) return true;
    }
    return false;
}

}  // namespace mailharness::refmaild::auth

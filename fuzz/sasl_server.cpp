// Fuzz target: SASL mechanisms fed a sequence of messages.
// Byte 0 picks the set-up: bits 0-2 the mechanism (mod 5), bit 3 whether the first message is an
// initial response, bit 4 whether messages are base64 wire lines (decoded as a protocol layer
// would), bit 5 whether to drive the client side instead of the server side. The rest is split
// on '\n' into messages. Credentials, nonces, clock and salts are fixed: runs are deterministic.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "mailharness/sasl/base64.hpp"
#include "mailharness/sasl/client.hpp"
#include "mailharness/sasl/credentials.hpp"
#include "mailharness/sasl/server.hpp"

namespace sasl = mailharness::sasl;

namespace {

constexpr std::string_view mechanisms[] = {"PLAIN", "LOGIN", "CRAM-MD5", "SCRAM-SHA-256", "SCRAM-SHA-256-PLUS"};

class fixed_lookup final : public sasl::credential_lookup {
public:
    fixed_lookup() : stored_(sasl::make_scram_credentials("pencil", "fuzzsalt", 16)) {}

    result plaintext_secret(std::string_view user, std::string& secret) override {
        if (user == "tim") {
            secret = "tanstaaftanstaaf";
            return result::ok;
        }
        return user == "user" ? result::no_secret : result::no_user;
    }
    result scram_sha256_credentials(std::string_view user, sasl::scram_credentials& out) override {
        if (user == "user") {
            out = stored_;
            return result::ok;
        }
        return user == "tim" ? result::no_secret : result::no_user;
    }
    result verify_plain(std::string_view user, std::string_view password) override {
        if (user == "user") return password == "pencil" ? result::ok : result::wrong_password;
        return credential_lookup::verify_plain(user, password);
    }
    bool authorize(std::string_view authcid, std::string_view authzid) override {
        return authcid == "user" && authzid == "admin";
    }

private:
    sasl::scram_credentials stored_;
};

// Splits off the next message; `more` tells whether one was there.
std::string_view next_message(std::string_view& rest, bool& more) {
    more = !rest.empty();
    std::size_t nl = rest.find('\n');
    std::string_view m = rest.substr(0, nl);
    rest = nl == std::string_view::npos ? std::string_view{} : rest.substr(nl + 1);
    return m;
}

void run_server(std::string_view mech, bool initial, bool wire, std::string_view rest) {
    static fixed_lookup lookup;
    sasl::server_options o;
    o.hostname = "fuzz.example";
    o.limits = {.max_response_size = 1024, .max_field_size = 64};
    o.scram_iterations = 2;
    o.binding = sasl::channel_binding{"tls-exporter", "bindingdata"};
    o.salt_key = "fuzz salt key";
    o.nonce = [] { return std::string("fuzznonce"); };
    o.clock = [] { return std::int64_t{1234}; };
    auto m = sasl::make_server(mech, lookup, o);
    if (!m) __builtin_trap();

    std::string decoded;
    bool more = false;
    sasl::step_result r;
    if (initial) {
        std::string_view first = next_message(rest, more);
        if (wire) {
            if (sasl::decode_initial_response(first, decoded, o.limits)) return;
            first = decoded;
        }
        r = m->start(first);
    } else {
        r = m->start();
    }
    while (r.status == sasl::step_status::challenge) {
        std::string_view msg = next_message(rest, more);
        if (!more) return;
        if (wire) {
            if (sasl::decode_response(msg, decoded, o.limits)) return;
            msg = decoded;
        }
        r = m->step(msg);
    }
    if (!m->done()) __builtin_trap();
    if (m->authenticated() != (r.status == sasl::step_status::success)) __builtin_trap();
    if (r.status == sasl::step_status::success && (m->authcid().empty() || r.ec)) __builtin_trap();
    if (r.status == sasl::step_status::failure && !r.ec) __builtin_trap();
    if (m->step("x").status != sasl::step_status::failure) __builtin_trap();
}

void run_client(std::string_view mech, bool initial, bool wire, std::string_view rest) {
    sasl::client_options o;
    o.limits = {.max_challenge_size = 1024, .min_iterations = 1, .max_iterations = 32};
    o.binding = sasl::channel_binding{"tls-exporter", "bindingdata"};
    o.nonce = [] { return std::string("clientnonce"); };
    auto c = sasl::make_client(mech, {.authcid = "user", .password = "pencil", .authzid = "admin"}, o);
    if (!c) __builtin_trap();
    if (initial && c->has_initial_response() && c->initial_response().empty()) __builtin_trap();
    std::string decoded;
    bool more = true;
    while (true) {
        std::string_view msg = next_message(rest, more);
        if (!more) break;
        if (wire) {
            if (sasl::base64_decode(msg, decoded, 1024)) return;
            msg = decoded;
        }
        if (rest.empty()) {
            // The last message is the additional data with success.
            bool ok = !c->finish(msg);
            if (ok != c->complete()) __builtin_trap();
            return;
        }
        if (c->step(msg).status == sasl::client_status::failure) {
            if (c->step("").status != sasl::client_status::failure) __builtin_trap();
            return;
        }
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0) return 0;
    std::uint8_t setup = data[0];
    std::string_view mech = mechanisms[(setup & 7) % 5];
    bool initial = setup & 8;
    bool wire = setup & 16;
    std::string_view rest(reinterpret_cast<const char*>(data) + 1, size - 1);
    if (setup & 32) run_client(mech, initial, wire, rest);
    else run_server(mech, initial, wire, rest);
    return 0;
}

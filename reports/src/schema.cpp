#include "mailharness/reports/schema.hpp"

#include <set>
#include <stdexcept>

#include <nlohmann/json.hpp>

namespace mailharness::reports {

namespace {

using json = nlohmann::json;

const std::set<std::string> known = {"$schema", "$id", "$defs", "title", "description", "type", "const", "enum", "required",
                                     "properties", "additionalProperties", "items", "minItems", "maxItems", "minimum", "$ref"};

bool has_type(const json& v, const std::string& t) {
    if (t == "object") return v.is_object();
    if (t == "array") return v.is_array();
    if (t == "string") return v.is_string();
    if (t == "integer") return v.is_number_integer() || (v.is_number_float() && v.get<double>() == static_cast<double>(static_cast<long long>(v.get<double>())));
    if (t == "number") return v.is_number();
    if (t == "boolean") return v.is_boolean();
    if (t == "null") return v.is_null();
    throw std::invalid_argument("schema: unknown type " + t);
}

struct validator {
    const json& root;
    std::vector<std::string> problems;

    void fail(const std::string& at, const std::string& what) { problems.push_back((at.empty() ? "/" : at) + ": " + what); }

    void check(const json& s, const json& v, const std::string& at) {
        if (s.is_boolean()) {
            if (!s.get<bool>()) fail(at, "not allowed");
            return;
        }
        for (const auto& [k, _] : s.items())
            if (!known.count(k)) throw std::invalid_argument("schema: keyword " + k + " is not implemented");
        if (s.contains("$ref")) {
            const auto ref = s.at("$ref").get<std::string>();
            if (!ref.starts_with("#/$defs/")) throw std::invalid_argument("schema: only #/$defs/ references: " + ref);
            check(root.at("$defs").at(ref.substr(8)), v, at);
        }
        if (s.contains("type")) {
            const auto& t = s.at("type");
            bool ok = false;
            std::string names;
            for (const auto& name : t.is_array() ? t : json::array({t})) {
                ok |= has_type(v, name.get<std::string>());
                names += (names.empty() ? "" : " or ") + name.get<std::string>();
            }
            if (!ok) return fail(at, "not " + names);
        }
        if (s.contains("const") && v != s.at("const")) fail(at, "not " + s.at("const").dump());
        if (s.contains("enum")) {
            bool found = false;
            std::string names;
            for (const auto& e : s.at("enum")) {
                found |= v == e;
                names += (names.empty() ? "" : ", ") + (e.is_string() ? e.get<std::string>() : e.dump());
            }
            if (!found) fail(at, "not one of " + names);
        }
        if (s.contains("minimum") && v.is_number() && v.get<double>() < s.at("minimum").get<double>())
            fail(at, "below " + s.at("minimum").dump());
        if (v.is_object()) {
            if (s.contains("required"))
                for (const auto& k : s.at("required"))
                    if (!v.contains(k.get<std::string>())) fail(at, "missing " + k.get<std::string>());
            const json* props = s.contains("properties") ? &s.at("properties") : nullptr;
            for (const auto& [k, x] : v.items()) {
                const std::string where = at + "/" + k;
                if (props && props->contains(k)) check(props->at(k), x, where);
                else if (s.contains("additionalProperties")) check(s.at("additionalProperties"), x, where);
            }
        }
        if (v.is_array()) {
            if (s.contains("minItems") && v.size() < s.at("minItems").get<std::size_t>()) fail(at, "fewer than " + s.at("minItems").dump() + " items");
            if (s.contains("maxItems") && v.size() > s.at("maxItems").get<std::size_t>()) fail(at, "more than " + s.at("maxItems").dump() + " items");
            if (s.contains("items"))
                for (std::size_t i = 0; i < v.size(); ++i) check(s.at("items"), v[i], at + "/" + std::to_string(i));
        }
    }
};

}  // namespace

std::vector<std::string> validate(const json& schema, const json& doc) {
    validator v{schema, {}};
    v.check(schema, doc, "");
    return std::move(v.problems);
}

}  // namespace mailharness::reports

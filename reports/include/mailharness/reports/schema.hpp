// A validator for the subset of JSON Schema (draft 2020-12) that reports/schema/ uses: type
// (a name or a list), const, enum, required, properties, additionalProperties (false or a
// schema), items, minItems, maxItems, minimum, and $ref to "#/$defs/NAME". Other keywords
// ($schema, $id, title, description) are ignored. No network: the schemas come from files.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace mailharness::reports {

/// Every place `doc` breaks `schema`, as "JSON pointer: what" ("/cases/3/level: not one of
/// MUST, SHOULD, MAY"); empty when it is valid. Throws std::invalid_argument on a keyword of
/// the schema this validator does not implement (so a schema cannot silently check less).
std::vector<std::string> validate(const nlohmann::json& schema, const nlohmann::json& doc);

}  // namespace mailharness::reports

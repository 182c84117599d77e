#pragma once
/// \file spec.h
/// The `snn-network/1` JSON format (shared/spec/network-json.md): load a Network from a spec
/// and save one back. Errors name the JSON path (`/connections/3/transform`) and what was
/// expected.
#include <string>

#include <nlohmann/json_fwd.hpp>

#include "snn/network.h"

namespace snn {

/// Builds a Network from a parsed spec; throws SpecError "<source>: <json path>: <reason>".
NetworkPtr network_from_json(const nlohmann::json& spec, const std::string& source = "<spec>");
/// Reads and parses a spec file.
NetworkPtr load_network(const std::string& path);
/// The spec of a network, every default filled in. Throws SpecError for what JSON cannot
/// hold (C++ callables).
nlohmann::json network_to_json(const Network& network);
/// Writes the spec atomically (temporary file + rename).
void save_network(const Network& network, const std::string& path);

/// Reads the whole spec for its checks, collecting every problem (not just the first) as
/// "<json path>: <reason>" lines; empty when valid.
std::vector<std::string> check_network_json(const nlohmann::json& spec);

}  // namespace snn

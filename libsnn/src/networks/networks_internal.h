#pragma once
// Shared by the networks library: readable ids for the parts of a sub-network.
#include <string>

#include "snn/network.h"

namespace snn::detail {

/// `<network id>_<part>`: the sub-network always has an id (given or assigned).
inline std::string part_id(const Network& net, const std::string& part) {
  return net.options().id() + "_" + part;
}

/// The child network every library function starts with.
inline NetworkPtr sub_network(Network& parent, const std::string& id, const std::string& label,
                              std::optional<uint32_t> seed) {
  return parent.network(NetworkOptions().id(id).label(label).seed(seed));
}

/// A decimal literal for a muParser expression (full precision, C locale).
std::string number(double v);

}  // namespace snn::detail

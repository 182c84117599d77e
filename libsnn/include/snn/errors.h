#pragma once
/// \file errors.h
/// The exception types libsnn throws. Every message names the object (`ensemble "a"`), the JSON
/// path (`/connections/3/transform`) or the HDF5 dataset at fault, what was found and what was
/// expected.
#include <stdexcept>
#include <string>

namespace snn {

/// Base of every libsnn error.
class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// An invalid network spec (JSON) or invalid options given to an object.
class SpecError : public Error {
 public:
  using Error::Error;
};

/// A network that cannot be built: size mismatches, dangling objects, cycles without delay.
class BuildError : public Error {
 public:
  using Error::Error;
};

/// Bad data: a data file, a checkpoint, inputs of the wrong shape.
class DataError : public Error {
 public:
  using Error::Error;
};

/// A failure while simulating (e.g. a node function returned the wrong size).
class SimulationError : public Error {
 public:
  using Error::Error;
};

}  // namespace snn

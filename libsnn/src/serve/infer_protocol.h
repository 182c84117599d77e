#pragma once
// The JSON bodies of the Open Inference Protocol (KServe v2) for one served network: the
// model metadata, the /infer request checked against the network, and the /infer response.
#include <stdexcept>
#include <string>
#include <vector>

#include <torch/types.h>

#include "snn/network.h"
#include "snn/simulator.h"

namespace snn::serve {

/// A failure that becomes an HTTP status with {"error": message}.
struct HttpError : std::runtime_error {
  HttpError(int status, const std::string& message)
      : std::runtime_error(message), status(status) {}
  int status;
};

/// The served network as the protocol sees it: inputs are the input nodes (size_out only),
/// outputs the probes.
struct ModelSignature {
  struct Port {
    std::string name;
    int64_t size = 0;
  };
  std::vector<Port> inputs, outputs;
  torch::Dtype dtype = torch::kFloat32;
  double dt = 0.001;

  static ModelSignature of(const Network& network, torch::Dtype dtype);
  const Port* find_input(const std::string& name) const;
  const Port* find_output(const std::string& name) const;
};

struct RequestLimits {
  int64_t max_steps = 10000;
  int64_t max_items = 4096;
  int64_t max_values = int64_t{1} << 25;  // items x n_steps x (inputs + outputs) per request
};

/// A checked /infer request. Every input of the signature is present, (batch, n_steps, size)
/// in the signature's dtype: [batch, size] inputs are held for every step and absent ones
/// are zeros (an input node's value when nothing feeds it).
struct InferRequest {
  std::string id;  // echoed in the response when the request has one
  int64_t batch = 1;
  int64_t n_steps = 0;
  Inputs inputs;
  std::vector<std::string> outputs;  // probe ids, in the order asked (default: all)
};

/// Parses and checks a request body; HttpError 400 naming the field at fault otherwise.
InferRequest parse_infer_request(const std::string& body, const ModelSignature& signature,
                                 const RequestLimits& limits);

/// The response body: the requested probes' data, each (batch, samples, size), flattened in
/// row-major order. Non-finite values (a diverging network) are written as null.
std::string format_infer_response(const std::string& model_name, const InferRequest& request,
                                  const ProbeData& data, const ModelSignature& signature);

/// GET /v2/models/<name>: inputs and outputs with datatype and shape (-1 for batch and
/// steps), plus the limits a client must respect.
std::string model_metadata(const std::string& model_name, const ModelSignature& signature,
                           const RequestLimits& limits, int64_t max_batch);

/// {"error": message}.
std::string error_body(const std::string& message);

}  // namespace snn::serve

// TensorNodes in the SimModule: each gets its own module (made from the node's build seed),
// registered as `nodes.<id>` so that its parameters and buffers train, move and save with
// the rest of the network, and follow train()/eval().
#include "first_line.h"
#include "runtime/sim_module.h"
#include "snn/errors.h"
#include "snn/tensor_node.h"

namespace snn::detail {

void SimModuleImpl::init_tensor_nodes() {
  const auto& m = *model_;
  node_module_.assign(m.nodes.size(), nullptr);
  node_initial_.resize(m.nodes.size());
  std::shared_ptr<torch::nn::Module> holder;
  for (size_t i = 0; i < m.nodes.size(); ++i) {
    const auto& n = *m.nodes[i];
    const auto& tf = n.options().tensor();
    if (n.kind() != Node::Kind::Tensor || !tf) continue;
    // Only networks with TensorNodes get the `nodes` entry, so checkpoints of networks
    // without them keep their layout.
    if (!holder) holder = register_module("nodes", std::make_shared<torch::nn::Module>());
    std::shared_ptr<torch::nn::Module> mod;
    try {
      mod = tf->make(m.node_seed.at(i));
    } catch (const Error&) {
      throw;
    } catch (const std::exception& e) {
      throw BuildError(n.describe() + ": making its module failed: " + e.what());
    }
    if (!mod) throw BuildError(n.describe() + ": the module maker returned no module");
    // Floating values take the simulator's dtype; integer buffers (BatchNorm's batch count)
    // keep theirs, which Module::to(dtype) would not.
    mod->to(device_);
    {
      torch::NoGradGuard no_grad;
      for (auto& p : mod->parameters())
        if (p.is_floating_point()) p.set_data(p.to(dtype_));
      for (auto& b : mod->buffers())
        if (b.is_floating_point()) b.set_data(b.to(dtype_));
    }
    const bool trainable = tf->trainable.value_or(sim_options_.trainable_default);
    for (auto& p : mod->parameters()) p.set_requires_grad(trainable);
    holder->register_module(n.id(), mod);
    for (const auto& p : mod->parameters()) node_initial_[i].push_back(p.detach().clone());
    for (const auto& b : mod->buffers()) node_initial_[i].push_back(b.detach().clone());
    node_module_[i] = mod;
  }
}

torch::Tensor SimModuleImpl::tensor_forward(size_t i, double t, const torch::Tensor& x) const {
  const auto& n = *model_->nodes[i];
  const auto& tf = *n.options().tensor();
  const int64_t N = x.size(0);
  std::vector<int64_t> shape = {N};
  shape.insert(shape.end(), tf.shape_in.begin(), tf.shape_in.end());
  if (tf.shape_in.empty()) shape.push_back(0);
  torch::Tensor y;
  try {
    y = tf.forward(*node_module_[i], torch::full({}, t, opts_), x.reshape(shape));
  } catch (const Error&) {
    throw;
  } catch (const std::exception& e) {
    throw SimulationError(n.describe() + ": module failed at t=" + std::to_string(t) + ": " +
                          first_line(e.what()));
  }
  if (!y.defined() || y.dim() < 1 || y.size(0) != N || y.numel() != N * n.size_out())
    throw SimulationError(n.describe() + ": the module returned " +
                          (y.defined() ? c10::str(y.sizes()) : std::string("nothing")) +
                          ", expected (" + std::to_string(N) + ", ...) with " +
                          std::to_string(n.size_out()) + " values per item");
  return y.reshape({N, n.size_out()});
}

}  // namespace snn::detail

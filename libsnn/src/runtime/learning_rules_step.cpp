// Learning rules at run time: Nengo's SimPES, SimBCM, SimOja and SimVoja for a minibatch.
// Every rule reads this step's signals after all objects have run and updates its delta;
// the delta joins the weights (or encoders) in the next step, as Nengo's
// Copy(delta -> target, inc) reads delta before the rule updates it. What a rule has
// changed so far lives in SimState::learned, per minibatch item.
#include "runtime/sim_module.h"
#include "snn/errors.h"

namespace snn::detail {

using LR = BuiltLearningRule;

void SimModuleImpl::init_learning() {
  const auto& m = *model_;
  conn_rule_.assign(m.connections.size(), -1);
  ens_enc_rules_.assign(m.ensembles.size(), {});
  for (size_t r = 0; r < m.learning_rules.size(); ++r) {
    const auto& lr = m.learning_rules[r];
    if (lr.kind == LR::Kind::Voja)
      ens_enc_rules_[lr.post_ensemble].push_back(r);
    conn_rule_[lr.connection] = static_cast<int64_t>(r);
    for (const auto* f : {&lr.pre_filter, &lr.post_filter, &lr.theta_filter})
      learn_filter_.push_back(*f ? std::make_unique<FilterKernel>(**f, dtype_, device_) : nullptr);
    auto index = [&](bool full, const std::vector<int64_t>& idx) {
      return full ? torch::Tensor() : torch::tensor(idx, torch::kLong).to(device_);
    };
    learn_pre_idx_.push_back(index(lr.pre_full, lr.pre_index));
    learn_post_idx_.push_back(index(lr.post_full, lr.post_index));
  }
}

torch::Tensor SimModuleImpl::current_weights(size_t ci, const SimState& state) const {
  const int64_t r = conn_rule_.empty() ? -1 : conn_rule_[ci];
  if (r < 0 || model_->learning_rules[r].kind == LR::Kind::Voja) return weights_[ci];
  return weights_[ci].unsqueeze(0) + state.learned[r];
}

torch::Tensor SimModuleImpl::current_encoders(size_t e, const SimState& state) const {
  if (ens_enc_rules_.empty() || ens_enc_rules_[e].empty()) return enc_[e];
  torch::Tensor E = enc_[e].unsqueeze(0);
  for (size_t r : ens_enc_rules_[e]) E = E + state.learned[r];
  return E;
}

std::vector<SimModuleImpl::RuleStep> SimModuleImpl::learning_deltas(
    SimState& state, const std::vector<torch::Tensor>& ens_out,
    const std::vector<torch::Tensor>& error, const std::vector<torch::Tensor>& conn_value) const {
  const auto& m = *model_;
  const int64_t B = state.batch;
  std::vector<RuleStep> steps(m.learning_rules.size());
  for (size_t r = 0; r < m.learning_rules.size(); ++r) {
    const auto& lr = m.learning_rules[r];
    // The rule's synapses filter without delay (Nengo builds them with mode "set").
    auto filtered = [&](size_t slot, const torch::Tensor& x) {
      const auto& k = learn_filter_[3 * r + slot];
      return k ? k->step(state.learn_x[3 * r + slot], x) : x;
    };
    auto outer = [](const torch::Tensor& a, const torch::Tensor& b) {  // (B, p), (B, q)
      return a.unsqueeze(2) * b.unsqueeze(1);
    };
    torch::Tensor delta;
    RuleStep& out = steps[r];
    switch (lr.kind) {
      case LR::Kind::PES: {
        auto a = ens_out[lr.pre_ensemble];
        if (learn_pre_idx_[r].defined()) a = a.index_select(1, learn_pre_idx_[r]);
        a = filtered(0, a);
        torch::Tensor e =
            error[r].defined() ? error[r] : torch::zeros({B, lr.error_size}, opts_);
        if (lr.to_neurons) {  // local error: the post neurons' scaled encoders times error
          auto E = current_encoders(lr.post_ensemble, state);
          if (learn_post_idx_[r].defined()) E = E.index_select(E.dim() - 2, learn_post_idx_[r]);
          e = E.dim() == 2 ? torch::mm(e, E.t()) : torch::bmm(E, e.unsqueeze(2)).squeeze(2);
        }
        out.error = error[r].defined() ? error[r] : torch::zeros({B, lr.error_size}, opts_);
        out.pre_filtered = a;
        delta = outer(lr.alpha * e, a);
        break;
      }
      case LR::Kind::BCM: {
        const auto& post = ens_out[lr.post_ensemble];
        auto pre_f = filtered(0, ens_out[lr.pre_ensemble]);
        auto post_f = filtered(1, post);
        auto theta = filtered(2, post);
        out.pre_filtered = pre_f;
        out.post_filtered = post_f;
        out.theta = theta;
        delta = outer(lr.alpha * post_f * (post_f - theta), pre_f);
        break;
      }
      case LR::Kind::Oja: {
        auto pre_f = filtered(0, ens_out[lr.pre_ensemble]);
        auto post_f = filtered(1, ens_out[lr.post_ensemble]);
        auto W = current_weights(lr.connection, state);  // (B, post, pre)
        auto post_sq = lr.alpha * post_f * post_f;
        out.pre_filtered = pre_f;
        out.post_filtered = post_f;
        delta = outer(lr.alpha * post_f, pre_f) - lr.beta * W * post_sq.unsqueeze(2);
        break;
      }
      case LR::Kind::Voja: {
        auto post_f = filtered(1, ens_out[lr.post_ensemble]);  // (B, n)
        const auto& x = conn_value[lr.connection];            // (B, d)
        out.post_filtered = post_f;
        // The learning signal: Reset to 1 each step, plus whatever is connected to it.
        auto L = error[r].defined() ? error[r] + 1.0 : torch::ones({B, 1}, opts_);
        const double radius = m.ensembles[lr.post_ensemble].ensemble->options().radius();
        // Gain and radius are folded into the scaled encoders: scale the new part alike.
        auto scale = (gain_[lr.post_ensemble] / radius).unsqueeze(0).unsqueeze(2);  // (1, n, 1)
        auto E = current_encoders(lr.post_ensemble, state);
        if (E.dim() == 2) E = E.unsqueeze(0);
        delta = lr.alpha * L.unsqueeze(2) * (scale * outer(post_f, x) - post_f.unsqueeze(2) * E);
        break;
      }
    }
    // Broadcast over the batch where the rule's inputs were shared (Oja's W, Voja's E).
    out.delta = delta.expand_as(state.learned[r]);
  }
  return steps;
}

}  // namespace snn::detail

// Levels by longest path over synapse-free connections (Kahn's algorithm), cycle reporting,
// and grouping of same-type ensembles into blocks.
#include <deque>
#include <map>

#include "compile/plan.h"
#include "snn/errors.h"

namespace snn::detail {

Plan make_plan(const Model& model) {
  const size_t n_nodes = model.nodes.size(), n_ens = model.ensembles.size();
  const size_t n_obj = n_nodes + n_ens;  // vertices: nodes first, then ensembles
  auto vertex_of = [&](const ObjRef& r) -> size_t {
    if (r.kind == ObjRef::Kind::Node) return model.node_index.at(r.node.get());
    return n_nodes + model.ensemble_index.at(r.ensemble.get());
  };
  auto vertex_name = [&](size_t v) {
    return v < n_nodes ? model.nodes[v]->describe()
                       : model.ensembles[v - n_nodes].ensemble->describe();
  };

  Plan plan;
  plan.node_outgoing.resize(n_nodes);
  plan.ensemble_outgoing.resize(n_ens);
  std::vector<std::vector<size_t>> succ(n_obj), succ_all(n_obj);
  std::vector<int> indeg(n_obj, 0), indeg_all(n_obj, 0);
  for (size_t ci = 0; ci < model.connections.size(); ++ci) {
    const auto& c = *model.connections[ci].connection;
    const size_t pre = vertex_of(c.pre());
    if (pre < n_nodes)
      plan.node_outgoing[pre].push_back(ci);
    else
      plan.ensemble_outgoing[pre - n_nodes].push_back(ci);
    // An error connection feeds a learning rule, which updates after every object of the
    // step has run: it orders nothing.
    if (c.post().kind == ObjRef::Kind::LearningRule) continue;
    const size_t post = vertex_of(c.post());
    if (!model.connections[ci].filter) {
      succ[pre].push_back(post);
      ++indeg[post];
    }
    succ_all[pre].push_back(post);
    ++indeg_all[post];
  }

  std::vector<int> level(n_obj, 0);
  std::deque<size_t> ready;
  for (size_t v = 0; v < n_obj; ++v)
    if (indeg[v] == 0) ready.push_back(v);
  size_t done = 0;
  while (!ready.empty()) {
    size_t v = ready.front();
    ready.pop_front();
    ++done;
    for (size_t w : succ[v]) {
      level[w] = std::max(level[w], level[v] + 1);
      if (--indeg[w] == 0) ready.push_back(w);
    }
  }
  if (done != n_obj) {
    // Walk predecessors-with-indegree from any remaining vertex until one repeats: a cycle.
    size_t start = 0;
    while (indeg[start] == 0) ++start;
    std::vector<size_t> path;
    std::map<size_t, size_t> seen;
    size_t v = start;
    while (!seen.count(v)) {
      seen[v] = path.size();
      path.push_back(v);
      for (size_t w : succ[v])
        if (indeg[w] > 0) {
          v = w;
          break;
        }
    }
    std::string cycle;
    for (size_t i = seen[v]; i < path.size(); ++i) cycle += vertex_name(path[i]) + " -> ";
    cycle += vertex_name(v);
    throw BuildError("cycle without a synapse: " + cycle +
                     " (every loop needs a connection with a synapse, which delays by one step)");
  }

  // Without any cycle (synapses included) the network is feed-forward: levels by longest
  // path over all connections still order every synapse-free edge, and additionally let the
  // layered executor compute each level for all steps once its inputs are complete.
  {
    std::vector<int> level_all(n_obj, 0);
    std::deque<size_t> q;
    for (size_t v = 0; v < n_obj; ++v)
      if (indeg_all[v] == 0) q.push_back(v);
    size_t seen = 0;
    while (!q.empty()) {
      size_t v = q.front();
      q.pop_front();
      ++seen;
      for (size_t w : succ_all[v]) {
        level_all[w] = std::max(level_all[w], level_all[v] + 1);
        if (--indeg_all[w] == 0) q.push_back(w);
      }
    }
    // Learned weights change from step to step: only the step loop updates them.
    plan.feed_forward = seen == n_obj && model.learning_rules.empty();
    if (plan.feed_forward) level = level_all;
  }

  int max_level = 0;
  for (int l : level) max_level = std::max(max_level, l);
  plan.level_nodes.resize(max_level + 1);
  plan.level_blocks.resize(max_level + 1);
  for (size_t i = 0; i < n_nodes; ++i) plan.level_nodes[level[i]].push_back(i);

  plan.ensemble_block.resize(n_ens);
  plan.ensemble_offset.resize(n_ens);
  std::map<std::pair<int, std::string>, size_t> block_of;
  for (size_t e = 0; e < n_ens; ++e) {
    const int l = level[n_nodes + e];
    const auto& nt = model.ensembles[e].neuron_type;
    auto key = std::make_pair(l, nt->block_key());
    auto it = block_of.find(key);
    if (it == block_of.end()) {
      it = block_of.emplace(key, plan.blocks.size()).first;
      plan.blocks.push_back(NeuronBlock{nt, {}, {}, 0});
      plan.level_blocks[l].push_back(it->second);
    }
    auto& b = plan.blocks[it->second];
    plan.ensemble_block[e] = it->second;
    plan.ensemble_offset[e] = b.n_neurons;
    b.ensembles.push_back(e);
    b.offsets.push_back(b.n_neurons);
    b.n_neurons += model.ensembles[e].units();
  }
  return plan;
}

}  // namespace snn::detail

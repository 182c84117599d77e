// Network: owns objects and hands out ids unique within the whole tree of networks.
#include <cmath>
#include <set>

#include "snn/errors.h"
#include "snn/network.h"

namespace snn {

struct Network::IdSpace {
  std::set<std::string> used;
  std::map<std::string, int64_t> next;
};

Network::Network(NetworkOptions options)
    : options_(std::move(options)), ids_(std::make_shared<IdSpace>()) {
  if (!(options_.dt() > 0) || !std::isfinite(options_.dt()))
    throw SpecError("network: expected a finite dt > 0, got " + std::to_string(options_.dt()));
}

static bool valid_id(const std::string& id) {
  if (id.empty()) return false;
  for (char c : id)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-')) return false;
  return true;
}

std::string Network::take_id(const std::string& wanted, const std::string& prefix) {
  if (!wanted.empty()) {
    if (!valid_id(wanted))
      throw SpecError("invalid id \"" + wanted + "\": use letters, digits, '_' and '-'");
    if (!ids_->used.insert(wanted).second) throw SpecError("duplicate id \"" + wanted + "\"");
    return wanted;
  }
  for (;;) {
    std::string id = prefix + std::to_string(ids_->next[prefix]++);
    if (ids_->used.insert(id).second) return id;
  }
}

bool Network::has_id(const std::string& id) const { return ids_->used.count(id) > 0; }

NodePtr Network::node(NodeOptions o) {
  std::string id = o.id();
  o.id(id.empty() ? "node_?" : id);  // a readable name for messages during validation
  auto n = std::make_shared<Node>(std::move(o));
  n->options_.id(take_id(id, "node_"));
  n->self_ = n;
  nodes_.push_back(n);
  return n;
}

EnsemblePtr Network::ensemble(EnsembleOptions o) {
  std::string id = o.id();
  o.id(id.empty() ? "ensemble_?" : id);
  auto e = std::make_shared<Ensemble>(std::move(o));
  e->options_.id(take_id(id, "ensemble_"));
  ensembles_.push_back(e);
  return e;
}

ConnectionPtr Network::connect(ObjRef pre, ObjRef post, ConnectionOptions o) {
  std::string id = o.id();
  o.id(id.empty() ? "c?" : id);
  auto c = std::make_shared<Connection>(std::move(pre), std::move(post), std::move(o));
  c->options_.id(take_id(id, "c"));
  connections_.push_back(c);
  return c;
}

ProbePtr Network::probe(ObjRef target, ProbeOptions o) {
  std::string id = o.id();
  o.id(id.empty() ? "probe_?" : id);
  auto p = std::make_shared<Probe>(std::move(target), std::move(o));
  p->options_.id(take_id(id, "probe_"));
  probes_.push_back(p);
  return p;
}

NetworkPtr Network::network(NetworkOptions o) {
  auto id = take_id(o.id(), "net_");
  o.id(id);
  o.dt(options_.dt());
  auto n = std::make_shared<Network>(std::move(o));
  n->ids_ = ids_;
  n->settings_ = settings_;
  networks_.push_back(n);
  return n;
}

template <class T, class Get>
static void collect(const Network& net, std::vector<T>& out, Get get) {
  const auto& own = get(net);
  out.insert(out.end(), own.begin(), own.end());
  for (const auto& sub : net.networks()) collect(*sub, out, get);
}

std::vector<NodePtr> Network::all_nodes() const {
  std::vector<NodePtr> out;
  collect(*this, out, [](const Network& n) -> const auto& { return n.nodes(); });
  return out;
}
std::vector<EnsemblePtr> Network::all_ensembles() const {
  std::vector<EnsemblePtr> out;
  collect(*this, out, [](const Network& n) -> const auto& { return n.ensembles(); });
  return out;
}
std::vector<ConnectionPtr> Network::all_connections() const {
  std::vector<ConnectionPtr> out;
  collect(*this, out, [](const Network& n) -> const auto& { return n.connections(); });
  return out;
}
std::vector<ProbePtr> Network::all_probes() const {
  std::vector<ProbePtr> out;
  collect(*this, out, [](const Network& n) -> const auto& { return n.probes(); });
  return out;
}

template <class T>
static T find_by_id(const std::vector<T>& all, const std::string& id) {
  for (const auto& o : all)
    if (o->id() == id) return o;
  return nullptr;
}

NodePtr Network::find_node(const std::string& id) const { return find_by_id(all_nodes(), id); }
EnsemblePtr Network::find_ensemble(const std::string& id) const {
  return find_by_id(all_ensembles(), id);
}
ConnectionPtr Network::find_connection(const std::string& id) const {
  return find_by_id(all_connections(), id);
}
ProbePtr Network::find_probe(const std::string& id) const { return find_by_id(all_probes(), id); }

}  // namespace snn

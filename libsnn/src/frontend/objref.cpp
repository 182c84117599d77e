// References to connection/probe endpoints and their sizes.
#include "snn/errors.h"
#include "snn/learning_rules.h"
#include "snn/network.h"

namespace snn {

ObjRef::ObjRef(NodePtr n) : kind(n ? Kind::Node : Kind::None), node(std::move(n)) {}
ObjRef::ObjRef(EnsemblePtr e) : kind(e ? Kind::Ensemble : Kind::None), ensemble(std::move(e)) {}
ObjRef::ObjRef(ConnectionPtr c)
    : kind(c ? Kind::Connection : Kind::None), connection(std::move(c)) {}

ObjRef ObjRef::neurons(EnsemblePtr e) {
  ObjRef r(std::move(e));
  if (r.ensemble) r.kind = Kind::Neurons;
  return r;
}

ObjRef ObjRef::learning_rule(ConnectionPtr c) {
  ObjRef r(std::move(c));
  if (r.connection) r.kind = Kind::LearningRule;
  return r;
}

ObjRef ObjRef::operator[](Slice s) const {
  if (!slice.is_all()) throw SpecError(describe() + ": cannot slice an object twice");
  ObjRef r = *this;
  r.slice = std::move(s);
  return r;
}

int64_t ObjRef::size_out() const {
  switch (kind) {
    case Kind::Node: return node->size_out();
    case Kind::Ensemble: return ensemble->dimensions();
    case Kind::Neurons: return ensemble->n_neurons();
    default: return 0;
  }
}

int64_t ObjRef::size_in() const {
  switch (kind) {
    case Kind::Node: return node->size_in();
    case Kind::Ensemble: return ensemble->dimensions();
    case Kind::Neurons: return ensemble->n_neurons();
    case Kind::LearningRule: {
      // Nengo's LearningRule.size_in: the error's dimensions. PES takes the post's value
      // ("post_state": the post ensemble's dimensions when the connection ends on neurons),
      // Voja a scalar learning signal, BCM and Oja nothing.
      const auto& rule = connection->options().learning_rule();
      if (!rule) return 0;
      if (rule->type() == "Voja") return 1;
      if (rule->type() != "PES") return 0;
      const auto& post = connection->post();
      if (post.kind == Kind::Neurons) return post.ensemble->dimensions();
      return static_cast<int64_t>(post.slice.resolve(post.size_in()).size());
    }
    default: return 0;
  }
}

std::string ObjRef::id() const {
  switch (kind) {
    case Kind::Node: return node->id();
    case Kind::Ensemble: return ensemble->id();
    case Kind::Neurons: return ensemble->id() + ".neurons";
    case Kind::Connection: return connection->id();
    case Kind::LearningRule: return connection->id() + ".learning_rule";
    default: return "<none>";
  }
}

static std::string slice_suffix(const Slice& s) {
  if (s.kind == Slice::Kind::All) return "";
  if (s.kind == Slice::Kind::Indices) {
    std::string out = "[";
    for (size_t i = 0; i < s.index.size(); ++i)
      out += (i ? ", " : "") + std::to_string(s.index[i]);
    return out + "]";
  }
  auto opt = [](const std::optional<int64_t>& v) { return v ? std::to_string(*v) : ""; };
  return "[" + opt(s.start) + ":" + opt(s.stop) + (s.step ? ":" + opt(s.step) : "") + "]";
}

std::string ObjRef::describe() const {
  std::string base;
  switch (kind) {
    case Kind::Node: base = node->describe(); break;
    case Kind::Ensemble: base = ensemble->describe(); break;
    case Kind::Neurons: base = "neurons of " + ensemble->describe(); break;
    case Kind::Connection: base = connection->describe(); break;
    case Kind::LearningRule: base = "the learning rule of " + connection->describe(); break;
    default: base = "<no object>";
  }
  return base + slice_suffix(slice);
}

}  // namespace snn

#!/usr/bin/env python3
"""Writes models/{integrator,cconv,basal_ganglia,random_network}.json: NengoDL's benchmark
networks (nengo_dl/benchmarks.py) as snn-network/1 specs, with snn-bench's default sizes
(128 dimensions x 64 neurons per dimension, RectifiedLinear; random_network: 64 x 32, 20
ensembles, 5 connections each, as NengoDL's published timing)."""
import json
import os
import random
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
MODELS = os.path.join(HERE, "..", "models")

# gain = Choice([1, -1]), bias = Uniform(-1, 1): the ensembles of integrator, cconv and pes.
BENCH_ENSEMBLE = {
    "gain": {"type": "Choice", "options": [1, -1]},
    "bias": {"type": "Uniform", "low": -1, "high": 1},
}


def spec(label, nodes, networks, connections, probes, ensembles=None):
    s = {"format": "snn-network/1", "label": label, "seed": 0, "dt": 0.001,
         "nodes": nodes}
    if ensembles is not None:
        s["ensembles"] = ensembles
    if networks:
        s["networks"] = networks
    s["connections"] = connections
    s["probes"] = probes
    return s


def neuron(t):
    return {"type": t}


def integrator(d=128, npd=64, nt="RectifiedLinear"):
    ens = dict(BENCH_ENSEMBLE, neuron_type=neuron(nt))
    return spec(
        "integrator",
        [{"id": "inp", "output": [0.0] * d}],
        [{"type": "EnsembleArray", "id": "integ", "n_neurons": npd, "n_ensembles": d,
          "ensemble": ens}],
        [{"pre": "integ.output", "post": "integ.input", "synapse": 0.01},
         {"pre": "inp", "post": "integ.input", "transform": 0.01}],
        [{"id": "p", "target": "integ.output"}])


def cconv(d=128, npd=64, nt="RectifiedLinear"):
    ens = dict(BENCH_ENSEMBLE, neuron_type=neuron(nt))
    return spec(
        "cconv",
        [{"id": "inp_a", "output": [0.0] * d}, {"id": "inp_b", "output": [1.0] * d}],
        [{"type": "CircularConvolution", "id": "cconv", "n_neurons": npd, "dimensions": d,
          "ensemble": ens}],
        [{"pre": "inp_a", "post": "cconv.input_a"}, {"pre": "inp_b", "post": "cconv.input_b"}],
        [{"id": "p", "target": "cconv.output"}])


def basal_ganglia(d=128, npd=64, nt="RectifiedLinear"):
    return spec(
        "basal_ganglia",
        [{"id": "inp", "output": [1.0] * d}],
        [{"type": "BasalGanglia", "id": "bg", "dimensions": d, "n_neurons_per_ensemble": npd,
          "neuron_type": neuron(nt)}],
        [{"pre": "inp", "post": "bg.input"}],
        [{"id": "p", "target": "bg.output"}])


def random_network(d=64, npd=32, nt="RectifiedLinear", n_ensembles=20, k=5, seed=0):
    rng = random.Random(seed)
    ensembles = [{"id": "ens%d" % i, "n_neurons": npd * d, "dimensions": d,
                  "neuron_type": neuron(nt)} for i in range(n_ensembles)]
    ones = {"type": "NoSolver", "values": 1.0}  # decoders of ones: nothing solved
    connections = []
    for e in ensembles:
        connections.append({"pre": "inp", "post": e["id"]})
        connections.append({"pre": e["id"], "post": "out", "solver": ones})
        for post in rng.sample(ensembles, k):
            connections.append({"pre": e["id"], "post": post["id"], "solver": ones})
    return spec(
        "random_network",
        [{"id": "inp", "output": [0.0] * d}, {"id": "out", "size_in": d}],
        None, connections, [{"id": "p", "target": "out"}], ensembles=ensembles)


def main():
    for name, make in [("integrator", integrator), ("cconv", cconv),
                       ("basal_ganglia", basal_ganglia), ("random_network", random_network)]:
        path = os.path.join(MODELS, name + ".json")
        with open(path, "w") as f:
            json.dump(make(), f, indent=1)
            f.write("\n")
        print("wrote", os.path.relpath(path))
    return 0


if __name__ == "__main__":
    sys.exit(main())

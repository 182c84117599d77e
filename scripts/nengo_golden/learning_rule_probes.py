#!/usr/bin/env python3
# Prints the expected values of tests/runtime/test_learning_rules.cpp, "learning-rule delta
# probes read Nengo's deltas", from Nengo itself (a checkout of nengo/nengo on PYTHONPATH; only
# numpy is needed): the rows at steps 1, 2, 6 and 12 of each probe, flattened row by row.
import numpy as np, nengo
enc_a = np.array([[1, 0], [0, 1], [-1, 0], [0, -1], [0.6, 0.8], [-0.8, 0.6]])
gain_a = [1.5, 2.0, 1.2, 0.9, 2.5, 1.7]
bias_a = [1.1, 0.4, 0.8, 1.9, -0.2, 1.3]
enc_b = np.array([[1], [-1], [1], [-1], [1]])
gain_b = [2.0, 1.0, 3.0, 1.5, 0.7]
bias_b = [0.5, 1.5, -0.4, 0.9, 1.2]
gain_c = [1.0, 2.0, 1.5, 0.5]
bias_c = [1.2, 0.3, 0.8, 1.6]
enc_c = np.array([[1], [-1], [1], [-1]])
g = np.linspace(-1, 1, 5)
eval_a = np.array([[x, y] for x in g for y in g])
eval_b = np.linspace(-1, 1, 9)[:, None]
w_ac = np.arange(24).reshape(4, 6) / 40.0 - 0.3
w_ab = np.arange(30).reshape(5, 6) / 50.0 - 0.25
with nengo.Network(seed=3) as net:
    stim = nengo.Node(lambda t: [np.sin(10 * t), np.cos(7 * t)])
    a = nengo.Ensemble(6, 2, neuron_type=nengo.LIF(), gain=gain_a, bias=bias_a,
                       encoders=enc_a, eval_points=eval_a)
    b = nengo.Ensemble(5, 1, neuron_type=nengo.LIFRate(), gain=gain_b, bias=bias_b,
                       encoders=enc_b, eval_points=eval_b)
    c = nengo.Ensemble(4, 1, neuron_type=nengo.LIFRate(), gain=gain_c, bias=bias_c,
                       encoders=enc_c, eval_points=eval_b)
    out = nengo.Node(size_in=1)
    err = nengo.Node(size_in=1)
    nengo.Connection(stim, a, synapse=0.005)
    # Voja moves b's encoders; the PES into b.neurons reads them for its local error.
    c_voja = nengo.Connection(stim[:1], b, synapse=0.005, learning_rule_type=nengo.Voja(1e-2))
    c_pes_w = nengo.Connection(a.neurons, b.neurons, transform=w_ab, synapse=0.01,
                               learning_rule_type=nengo.PES(1e-3))
    nengo.Connection(b, err, synapse=None)
    nengo.Connection(stim[1], err, transform=-1, synapse=None)
    nengo.Connection(err, c_pes_w.learning_rule, synapse=None)
    c_pes_d = nengo.Connection(a, out, function=lambda x: [x[0]], synapse=0.005,
                               learning_rule_type=nengo.PES(1e-3))
    nengo.Connection(stim[1], c_pes_d.learning_rule, synapse=0.002)
    c_bcm = nengo.Connection(a.neurons, c.neurons, transform=w_ac, synapse=0.005,
                             learning_rule_type=nengo.BCM(1e-6))
    c_oja = nengo.Connection(a.neurons, c.neurons, transform=w_ac.T[::-1].T, synapse=0.005,
                             learning_rule_type=nengo.Oja(1e-5))
    probes = {
        "voja": nengo.Probe(c_voja.learning_rule, "delta"),
        "pes_w": nengo.Probe(c_pes_w.learning_rule, "delta"),
        "pes_d": nengo.Probe(c_pes_d.learning_rule, "delta"),
        "bcm": nengo.Probe(c_bcm.learning_rule, "delta"),
        "oja": nengo.Probe(c_oja.learning_rule, "delta"),
    }
with nengo.Simulator(net, progress_bar=False) as sim:
    sim.run_steps(12)
np.set_printoptions(precision=17, floatmode="unique", linewidth=200)
for name, p in probes.items():
    d = sim.data[p]
    print(f"  // {name} {d.shape}")
    rows = [d[k].ravel() for k in (0, 1, 5, 11)]
    print("  {\"" + name + "\", {" + ", ".join("{" + ", ".join(repr(float(v)) for v in r) + "}" for r in rows) + "}},")

#!/usr/bin/env python3
# Prints the expected values of tests/runtime/test_step_order.cpp, "connection probes read
# Nengo's output and input signals", from Nengo itself (a checkout of nengo/nengo on
# PYTHONPATH; only numpy is needed): the rows at steps 1, 2, 6 and 12 of each probe.
import numpy as np, nengo
enc_a = np.array([[1, 0], [0, 1], [-1, 0], [0, -1], [0.6, 0.8], [-0.8, 0.6]])
gain_a = [1.5, 2.0, 1.2, 0.9, 2.5, 1.7]
bias_a = [1.1, 0.4, 0.8, 1.9, -0.2, 1.3]
enc_b = np.array([[1], [-1], [1], [-1], [1]])
gain_b = [2.0, 1.0, 3.0, 1.5, 0.7]
bias_b = [0.5, 1.5, -0.4, 0.9, 1.2]
g = np.linspace(-1, 1, 5)
eval_a = np.array([[x, y] for x in g for y in g])
eval_b = np.linspace(-1, 1, 9)[:, None]
with nengo.Network(seed=3) as net:
    stim = nengo.Node(lambda t: [np.sin(10 * t), np.cos(7 * t)])
    a = nengo.Ensemble(6, 2, neuron_type=nengo.LIF(), gain=gain_a, bias=bias_a,
                       encoders=enc_a, eval_points=eval_a)
    b = nengo.Ensemble(5, 1, neuron_type=nengo.LIFRate(), gain=gain_b, bias=bias_b,
                       encoders=enc_b, eval_points=eval_b)
    out = nengo.Node(size_in=3)
    c_in = nengo.Connection(stim, a, synapse=0.005)
    c_fn = nengo.Connection(a, b, function=lambda x: [x[0] * x[1]], synapse=0.01)
    c_neur = nengo.Connection(stim[0], b.neurons, transform=[[0.5], [-0.3], [0.2], [0.1], [-0.6]],
                              synapse=0.003)
    c_w = nengo.Connection(a, b, function=lambda x: [x[0] - 0.5 * x[1]], solver=nengo.solvers.LstsqL2(weights=True), synapse=0.004)
    c_node = nengo.Connection(stim, out[1:], transform=[[2, 0], [0, -1]], synapse=None)
    probes = {
        "in_output": nengo.Probe(c_in, "output"),
        "in_output_filtered": nengo.Probe(c_in, "output", synapse=0.01),
        "in_input": nengo.Probe(c_in, "input"),
        "fn_output": nengo.Probe(c_fn, "output"),
        "fn_input": nengo.Probe(c_fn, "input"),
        "neur_output": nengo.Probe(c_neur, "output"),
        "b_current": nengo.Probe(b.neurons, "input"),
        "w_output": nengo.Probe(c_w, "output"),
        "node_output": nengo.Probe(c_node, "output"),
    }
with nengo.Simulator(net, progress_bar=False) as sim:
    sim.run_steps(12)
np.set_printoptions(precision=17, floatmode="unique", linewidth=200)
for name, p in probes.items():
    d = sim.data[p]
    print(f"  // {name} {d.shape}")
    rows = [d[k] for k in (0, 1, 5, 11)]
    print("  {\"" + name + "\", {" + ", ".join("{" + ", ".join(repr(float(v)) for v in r) + "}" for r in rows) + "}},")

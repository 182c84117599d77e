#!/usr/bin/env python3
# Prints the expected values of tests/runtime/test_step_order.cpp, "connection probes read
# Nengo's output and input signals", from Nengo itself (a checkout of nengo/nengo on
# PYTHONPATH; only numpy is needed): the rows at steps 1, 2, 6 and 12 of each probe.
import nengo

from pinned import ensemble_a, ensemble_b, print_rows, stim as make_stim

with nengo.Network(seed=3) as net:
    stim = make_stim()
    a = ensemble_a()
    b = ensemble_b()
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
print_rows(sim, probes)

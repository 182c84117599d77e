#!/usr/bin/env python3
# Prints the expected values of tests/runtime/test_learning_rules.cpp, "learning-rule probes
# read Nengo's deltas and rule signals", from Nengo itself (a checkout of nengo/nengo on PYTHONPATH; only
# numpy is needed): the rows at steps 1, 2, 6 and 12 of each probe, flattened row by row.
import numpy as np
import nengo

from pinned import ensemble_a, ensemble_b, eval_b, print_rows, stim as make_stim

gain_c = [1.0, 2.0, 1.5, 0.5]
bias_c = [1.2, 0.3, 0.8, 1.6]
enc_c = np.array([[1], [-1], [1], [-1]])
w_ac = np.arange(24).reshape(4, 6) / 40.0 - 0.3
w_ab = np.arange(30).reshape(5, 6) / 50.0 - 0.25
with nengo.Network(seed=3) as net:
    stim = make_stim()
    a = ensemble_a()
    b = ensemble_b()
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
        "voja-post_filtered": nengo.Probe(c_voja.learning_rule, "post_filtered"),
        "voja-scaled_encoders": nengo.Probe(c_voja.learning_rule, "scaled_encoders"),
        "pes_w-error": nengo.Probe(c_pes_w.learning_rule, "error"),
        "pes_w-activities": nengo.Probe(c_pes_w.learning_rule, "activities"),
        "pes_d-error": nengo.Probe(c_pes_d.learning_rule, "error"),
        "pes_d-activities": nengo.Probe(c_pes_d.learning_rule, "activities"),
        "bcm-pre_filtered": nengo.Probe(c_bcm.learning_rule, "pre_filtered"),
        "bcm-post_filtered": nengo.Probe(c_bcm.learning_rule, "post_filtered"),
        "bcm-theta": nengo.Probe(c_bcm.learning_rule, "theta"),
        "oja-pre_filtered": nengo.Probe(c_oja.learning_rule, "pre_filtered"),
        "oja-post_filtered": nengo.Probe(c_oja.learning_rule, "post_filtered"),
    }
with nengo.Simulator(net, progress_bar=False) as sim:
    sim.run_steps(12)
print_rows(sim, probes)

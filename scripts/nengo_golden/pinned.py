# What the golden scripts share: the pinned ensembles "a" (6 LIF, 2-D) and "b" (5 LIFRate,
# 1-D) with explicit gains, biases, encoders and eval points, and the printing of probe rows
# as C++ initialisers. Run the scripts with a checkout of nengo/nengo on PYTHONPATH.
import numpy as np
import nengo

enc_a = np.array([[1, 0], [0, 1], [-1, 0], [0, -1], [0.6, 0.8], [-0.8, 0.6]])
gain_a = [1.5, 2.0, 1.2, 0.9, 2.5, 1.7]
bias_a = [1.1, 0.4, 0.8, 1.9, -0.2, 1.3]
enc_b = np.array([[1], [-1], [1], [-1], [1]])
gain_b = [2.0, 1.0, 3.0, 1.5, 0.7]
bias_b = [0.5, 1.5, -0.4, 0.9, 1.2]
_g = np.linspace(-1, 1, 5)
eval_a = np.array([[x, y] for x in _g for y in _g])
eval_b = np.linspace(-1, 1, 9)[:, None]


def stim():
    return nengo.Node(lambda t: [np.sin(10 * t), np.cos(7 * t)])


def ensemble_a():
    return nengo.Ensemble(6, 2, neuron_type=nengo.LIF(), gain=gain_a, bias=bias_a,
                          encoders=enc_a, eval_points=eval_a)


def ensemble_b():
    return nengo.Ensemble(5, 1, neuron_type=nengo.LIFRate(), gain=gain_b, bias=bias_b,
                          encoders=enc_b, eval_points=eval_b)


def print_rows(sim, probes, steps=(0, 1, 5, 11)):
    """Each probe's rows at `steps` (0-based), flattened, as {"name", {{...}, ...}},"""
    for name, p in probes.items():
        d = sim.data[p]
        print(f"  // {name} {d.shape}")
        rows = [d[k].ravel() for k in steps]
        print("  {\"" + name + "\", {" + ", ".join(
            "{" + ", ".join(repr(float(v)) for v in r) + "}" for r in rows) + "}},")

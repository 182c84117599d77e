#pragma once
/// \file snn.h
/// Everything of libsnn's public API.
#include "snn/data.h"
#include "snn/dists.h"
#include "snn/errors.h"
#include "snn/io.h"
#include "snn/layers.h"
#include "snn/network.h"
#include "snn/networks.h"
#include "snn/neurons.h"
#include "snn/rng.h"
#include "snn/simulator.h"
#include "snn/solvers.h"
#include "snn/spec.h"
#include "snn/synapses.h"
#include "snn/tensor_node.h"
#include "snn/training.h"

#pragma once
/// \file snn.h
/// Everything of libsnn's public API.
#include "snn/data.h"
#include "snn/dists.h"
#include "snn/errors.h"
#include "snn/io.h"
#include "snn/network.h"
#include "snn/neurons.h"
#include "snn/rng.h"
#include "snn/simulator.h"
#include "snn/solvers.h"
#include "snn/spec.h"
#include "snn/synapses.h"
#include "snn/training.h"

// Precompiled header for libsnn's own sources: the LibTorch headers dominate compile time.
#pragma once
#include <torch/torch.h>
#include <nlohmann/json.hpp>
#include <map>
#include <memory>
#include <string>
#include <vector>

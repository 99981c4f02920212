// eigenformer/layers.hpp — the layers (layers/): linear, embedding, norms, activations, the feed-forward
// network, and the position schemes (sinusoidal, RoPE, T5's relative bias). Built on core/ only.
#pragma once

#include "eigenformer/layers/linear.hpp"
#include "eigenformer/layers/embedding.hpp"
#include "eigenformer/layers/learned_positions.hpp"
#include "eigenformer/layers/norm.hpp"
#include "eigenformer/layers/activation.hpp"
#include "eigenformer/layers/feed_forward.hpp"
#include "eigenformer/layers/sinusoidal.hpp"
#include "eigenformer/layers/rope.hpp"
#include "eigenformer/layers/relative_position_bias.hpp"

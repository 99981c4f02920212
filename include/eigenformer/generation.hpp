// eigenformer/generation.hpp — text generation: greedy, sampling and beam search until EOS.
#pragma once

#include "eigenformer/generation/config.hpp"
#include "eigenformer/generation/logits_processing.hpp"
#include "eigenformer/generation/sampling.hpp"
#include "eigenformer/generation/stopping.hpp"
#include "eigenformer/generation/trace.hpp"
#include "eigenformer/generation/diagnosis.hpp"
#include "eigenformer/generation/session.hpp"
#include "eigenformer/generation/generate.hpp"
#include "eigenformer/generation/prompt.hpp"
#include "eigenformer/generation/shared_model.hpp"

// eigenformer/training.hpp — training: losses and objectives, optimizers, data, watching, checkpoints, the loop.
#pragma once

#include "eigenformer/training/loss.hpp"
#include "eigenformer/training/checkpoint.hpp"
#include "eigenformer/training/corpus.hpp"
#include "eigenformer/training/data.hpp"
#include "eigenformer/training/finite_check.hpp"
#include "eigenformer/training/objectives.hpp"
#include "eigenformer/training/optimizer.hpp"
#include "eigenformer/training/progress.hpp"
#include "eigenformer/training/loss_curve.hpp"
#include "eigenformer/training/trainer.hpp"
#include "eigenformer/training/footprint.hpp"

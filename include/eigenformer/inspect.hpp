// inspect.hpp — looking inside a run: attention pictures (SVG, HTML report, terminal) and comparing two runs.
//
//     inspect/attention_maps.hpp   the weights of a run (from a Capture or a --dump file) with their tokens
//     inspect/svg.hpp              token labels made safe, the colour scale, the fonts
//     inspect/heatmap.hpp          one head, or the layer × head grid, as standalone SVG
//     inspect/report.hpp           one self-contained HTML page: hover, click, generation traces
//     inspect/terminal.hpp         one head in block characters, for a quick look
//     inspect/compare.hpp          compare(a, b, tolerance): the first layer, tensor, head and position where
//                                  two runs part ways
//     inspect/names.hpp            Hugging Face names for the named intermediates a Capture keeps
//     inspect/hooks.hpp            changing intermediates in flight: zero or scale a head, patch, force a pattern
//
// gdb pretty-printers for the library's matrices, tensors and views live in tools/gdb/ (docs/debugging.md).
#pragma once

#include "eigenformer/inspect/attention_maps.hpp"
#include "eigenformer/inspect/svg.hpp"
#include "eigenformer/inspect/heatmap.hpp"
#include "eigenformer/inspect/report.hpp"
#include "eigenformer/inspect/terminal.hpp"
#include "eigenformer/inspect/compare.hpp"
#include "eigenformer/inspect/names.hpp"
#include "eigenformer/inspect/hooks.hpp"

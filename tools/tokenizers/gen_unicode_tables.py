#!/usr/bin/env python3
"""Generates include/eigenformer/tokenizers/unicode_tables.hpp from the Unicode Character Database.

Reads Debian's `unicode-data` package (apt-get install -y unicode-data puts it in /usr/share/unicode):
  UnicodeData.txt                 general category, canonical combining class, decompositions, lowercase
  SpecialCasing.txt               unconditional full lowercase mappings (U+0130 -> i + combining dot)
  PropList.txt                    White_Space
  DerivedAge.txt                  the Unicode version that assigned each code point
  DerivedNormalizationProps.txt   Full_Composition_Exclusion (for NFC / NFKC composition)
  auxiliary/GraphemeBreakProperty.txt, emoji/emoji-data.txt   extended grapheme clusters (UAX #29)

Usage:  tools/tokenizers/gen_unicode_tables.py [/usr/share/unicode] > include/eigenformer/tokenizers/unicode_tables.hpp
Only the Python standard library is used. The output is deterministic: run it twice, get the same bytes.
"""
import os
import sys

UCD = sys.argv[1] if len(sys.argv) > 1 else "/usr/share/unicode"
MAX = 0x110000

# General categories, in the order of the C++ enum GeneralCategory (unicode.hpp).
CATEGORIES = ["Cn", "Lu", "Ll", "Lt", "Lm", "Lo", "Mn", "Mc", "Me", "Nd", "Nl", "No", "Pc", "Pd", "Ps", "Pe",
              "Pi", "Pf", "Po", "Sm", "Sc", "Sk", "So", "Zs", "Zl", "Zp", "Cc", "Cf", "Cs", "Co"]
# Grapheme_Cluster_Break values, in the order of the C++ enum GraphemeBreak.
GCB = ["Other", "CR", "LF", "Control", "Extend", "ZWJ", "Regional_Indicator", "Prepend", "SpacingMark",
       "L", "V", "T", "LV", "LVT"]


def data_lines(name):
    with open(os.path.join(UCD, name), encoding="utf-8") as f:
        for line in f:
            line = line.split("#", 1)[0].strip()
            if line:
                yield [field.strip() for field in line.split(";")]


def code_range(text):
    if ".." in text:
        a, b = text.split("..")
        return int(a, 16), int(b, 16)
    return int(text, 16), int(text, 16)


def unicode_version():
    with open(os.path.join(UCD, "DerivedAge.txt"), encoding="utf-8") as f:
        first = f.readline()
    return first.strip("# \n").replace("DerivedAge-", "").replace(".txt", "")


category = [0] * MAX
ccc = [0] * MAX
decomposition = {}  # cp -> (is_compat, [cps])
lower = {}          # cp -> [cps]

# UnicodeData.txt: ranges are given as "<..., First>" / "<..., Last>" pairs.
first = None
for f in data_lines("UnicodeData.txt"):
    cp = int(f[0], 16)
    cat = CATEGORIES.index(f[2])
    if f[1].endswith(", First>"):
        first = cp
        continue
    start = first if f[1].endswith(", Last>") else cp
    first = None
    for c in range(start, cp + 1):
        category[c] = cat
        ccc[c] = int(f[3])
    if f[5]:
        parts = f[5].split()
        compat = parts[0].startswith("<")
        if compat:
            parts = parts[1:]
        decomposition[cp] = (compat, [int(p, 16) for p in parts])
    if f[13]:
        lower[cp] = [int(f[13], 16)]

# Unconditional full lowercase mappings (no condition list in the 5th field) replace the simple ones.
for f in data_lines("SpecialCasing.txt"):
    if len(f) >= 5 and f[4]:
        continue  # conditional (Final_Sigma, tr, lt, ...): Rust's char::to_lowercase ignores these
    cp = int(f[0], 16)
    mapping = [int(p, 16) for p in f[1].split()]
    if mapping != [cp]:
        lower[cp] = mapping

white_space = [False] * MAX
for f in data_lines("PropList.txt"):
    if f[1] == "White_Space":
        a, b = code_range(f[0])
        for c in range(a, b + 1):
            white_space[c] = True

# Assigned by Unicode 8.0: the Rust crate unicode_categories that Hugging Face's BertNormalizer and
# BertPreTokenizer use answers is_punctuation / is_other / is_mark_nonspacing from Unicode 8.0 tables,
# so a character assigned later is neither punctuation nor a control nor a nonspacing mark there.
def version_tuple(text):
    return tuple(int(x) for x in text.split("."))

assigned_by_8 = [False] * MAX
for f in data_lines("DerivedAge.txt"):
    a, b = code_range(f[0])
    if version_tuple(f[1]) <= (8, 0):
        for c in range(a, b + 1):
            assigned_by_8[c] = True

excluded = set()
for f in data_lines("DerivedNormalizationProps.txt"):
    if f[1] == "Full_Composition_Exclusion":
        a, b = code_range(f[0])
        excluded.update(range(a, b + 1))

gcb = [0] * MAX
for f in data_lines("auxiliary/GraphemeBreakProperty.txt"):
    a, b = code_range(f[0])
    for c in range(a, b + 1):
        gcb[c] = GCB.index(f[1])

pictographic = [False] * MAX
for f in data_lines("emoji/emoji-data.txt"):
    if f[1] == "Extended_Pictographic":
        a, b = code_range(f[0])
        for c in range(a, b + 1):
            pictographic[c] = True

# One 16-bit property word per code point:
#   bits 0-4  general category        bit 5  White_Space        bit 6  assigned by Unicode 8.0
#   bits 7-10 Grapheme_Cluster_Break  bit 11 Extended_Pictographic
props = [category[c] | (white_space[c] << 5) | (assigned_by_8[c] << 6) | (gcb[c] << 7) | (pictographic[c] << 11)
         for c in range(MAX)]

# Two-stage table: the code point's high bits pick a block, the low bits index inside it. Identical blocks
# (most of the 17 planes are unassigned) are stored once.
BLOCK_BITS = 7
BLOCK = 1 << BLOCK_BITS
blocks = {}
stage1 = []
stage2 = []
for start in range(0, MAX, BLOCK):
    block = tuple(props[start:start + BLOCK])
    if block not in blocks:
        blocks[block] = len(blocks)
        stage2.extend(block)
    stage1.append(blocks[block])

# Canonical combining classes as ranges of equal non-zero class.
ccc_ranges = []
c = 0
while c < MAX:
    if ccc[c]:
        start = c
        while c + 1 < MAX and ccc[c + 1] == ccc[start]:
            c += 1
        ccc_ranges.append((start, c, ccc[start]))
    c += 1

# Decompositions: one row per code point (sorted), pointing into one flat array of code points.
decomp_rows = []
decomp_data = []
for cp in sorted(decomposition):
    compat, parts = decomposition[cp]
    decomp_rows.append((cp, len(decomp_data), len(parts), 1 if compat else 0))
    decomp_data.extend(parts)

# Canonical compositions: pairs whose canonical decomposition is exactly two code points and that are not
# excluded from composition (UAX #15). Key = first << 21 | second, sorted for binary search.
compositions = []
for cp, (compat, parts) in decomposition.items():
    if not compat and len(parts) == 2 and cp not in excluded:
        compositions.append(((parts[0] << 21) | parts[1], cp))
compositions.sort()

lower_rows = []
lower_data = []
for cp in sorted(lower):
    lower_rows.append((cp, len(lower_data), len(lower[cp])))
    lower_data.extend(lower[cp])


def emit_array(ctype, name, values, per_line=16, fmt="{}"):
    out = [f"inline constexpr {ctype} {name}[{len(values)}] = {{"]
    for i in range(0, len(values), per_line):
        out.append("    " + ", ".join(fmt.format(v) for v in values[i:i + per_line]) + ",")
    out.append("};")
    return "\n".join(out)


w = sys.stdout.write
w(f"""// eigenformer/tokenizers/unicode_tables.hpp — GENERATED by tools/tokenizers/gen_unicode_tables.py from the
// Unicode Character Database {unicode_version()} (Debian package unicode-data). Do not edit by hand: change the generator and
// run it again. Read unicode.hpp for what these tables mean and how they are looked up.
#pragma once

#include <cstdint>

namespace eigenformer::tokenizers::unicode_data {{

inline constexpr const char* kUnicodeVersion = "{unicode_version()}";

// Property word of code point c = kPropBlocks[kPropIndex[c >> {BLOCK_BITS}] * {BLOCK} + (c & {BLOCK - 1})]:
//   bits 0-4 general category, bit 5 White_Space, bit 6 assigned by Unicode 8.0,
//   bits 7-10 Grapheme_Cluster_Break, bit 11 Extended_Pictographic.
inline constexpr int kBlockBits = {BLOCK_BITS};
""")
w(emit_array("std::uint16_t", "kPropIndex", stage1, 24) + "\n\n")
w(emit_array("std::uint16_t", "kPropBlocks", stage2, 24) + "\n\n")
w("// Canonical combining class: {first, last, class} for every run of equal non-zero class.\n")
w("struct CccRange { std::uint32_t first, last; std::uint8_t ccc; };\n")
w(emit_array("CccRange", "kCcc", ccc_ranges, 6, "{{0x{0[0]:X}, 0x{0[1]:X}, {0[2]}}}") + "\n\n")
w("// Decomposition of `cp`: kDecompositionData[offset .. offset + length); compat = 1 for <tagged> ones.\n")
w("struct Decomposition { std::uint32_t cp; std::uint16_t offset; std::uint8_t length; std::uint8_t compat; };\n")
w(emit_array("Decomposition", "kDecompositions", decomp_rows, 5, "{{0x{0[0]:X}, {0[1]}, {0[2]}, {0[3]}}}") + "\n\n")
w(emit_array("std::uint32_t", "kDecompositionData", decomp_data, 12, "0x{:X}") + "\n\n")
w("// Primary composites: key = first << 21 | second (sorted), value = the composed code point.\n")
w("struct Composition { std::uint64_t key; std::uint32_t composed; };\n")
w(emit_array("Composition", "kCompositions", compositions, 4, "{{0x{0[0]:X}, 0x{0[1]:X}}}") + "\n\n")
w("// Full lowercase mapping of `cp` (UnicodeData + unconditional SpecialCasing): kLowercaseData[offset, +length).\n")
w("struct Lowercase { std::uint32_t cp; std::uint16_t offset; std::uint8_t length; };\n")
w(emit_array("Lowercase", "kLowercase", lower_rows, 6, "{{0x{0[0]:X}, {0[1]}, {0[2]}}}") + "\n\n")
w(emit_array("std::uint32_t", "kLowercaseData", lower_data, 12, "0x{:X}") + "\n\n")
w("}  // namespace eigenformer::tokenizers::unicode_data\n")
sys.stderr.write(f"blocks {len(blocks)} stage2 {len(stage2)} ccc {len(ccc_ranges)} decomp {len(decomp_rows)} "
                 f"comp {len(compositions)} lower {len(lower_rows)}\n")

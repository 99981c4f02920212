// tools/tokenizers/charsmap.js — builds a SentencePiece "precompiled_charsmap" (the normalization rules
// that T5's tokenizer.json carries base64-encoded) from a list of (source string -> replacement) rules.
//
// Format (SentencePiece normalizer, as Hugging Face's spm_precompiled reads it):
//   uint32 little-endian: byte size of the trie
//   the trie: a darts-clone double array of uint32 units, keys = UTF-8 bytes of each source string
//   the replacement strings, each ending in a NUL byte; a key's value is the offset of its replacement.
// Unit layout (darts-clone): bits 0-7 label, bit 8 has_leaf, bits 10-30 offset to the children's base
// (node ^ offset); a leaf unit holds value | 1 << 31. Children of a node with base b sit at b ^ label;
// the leaf (label 0) at b itself. Each node has its own base.
'use strict';

function buildCharsmap(rules) {
  // 1) The replacement blob and each rule's value (offset into it).
  const blobParts = [];
  let blobSize = 0;
  const valueOf = new Map();
  const keys = [];
  for (const [from, to] of rules) {
    const key = Buffer.from(from, 'utf8');
    if (key.length === 0 || key.includes(0)) throw new Error('keys must be non-empty without NUL');
    if (!valueOf.has(to)) {
      valueOf.set(to, blobSize);
      const bytes = Buffer.concat([Buffer.from(to, 'utf8'), Buffer.from([0])]);
      blobParts.push(bytes);
      blobSize += bytes.length;
    }
    keys.push([key, valueOf.get(to)]);
  }
  // 2) A plain trie of the keys.
  const root = { children: new Map(), value: -1 };
  for (const [key, value] of keys) {
    let node = root;
    for (const b of key) {
      if (!node.children.has(b)) node.children.set(b, { children: new Map(), value: -1 });
      node = node.children.get(b);
    }
    node.value = value;
  }
  // 3) Lay the trie out as a double array, breadth first. Every node gets its own base (two nodes with
  //    one base would let a search step from one into the other's children), chosen so that the slots
  //    base ^ label of its children (and base itself for the leaf) are free.
  const units = [0];
  const used = [true];
  const usedBase = new Set();
  const ensure = (n) => { while (units.length < n) { units.push(0); used.push(false); } };
  let firstBlock = 0;
  const queue = [[root, 0, 0]];  // node, position, label
  for (let q = 0; q < queue.length; q++) {
    const [node, pos, label] = queue[q];
    const labels = [...node.children.keys()].sort((a, b) => a - b);
    if (node.value >= 0) labels.unshift(0);
    let unit = label;
    if (labels.length) {
      let base = -1;
      for (let block = firstBlock; base < 0; block++) {
        ensure(block * 256 + 256);
        for (let k = 0; k < 256 && base < 0; k++) {
          const b = block * 256 + k;
          if (b !== pos && !usedBase.has(b) && labels.every((l) => !used[b ^ l])) base = b;
        }
      }
      const offset = pos ^ base;
      if (offset >= (1 << 21)) throw new Error('trie too large for this simple builder');
      usedBase.add(base);
      for (const l of labels) used[base ^ l] = true;
      unit |= offset << 10;
      if (node.value >= 0) {
        unit |= 1 << 8;
        units[base] = (node.value | 0x80000000) >>> 0;
      }
      for (const l of labels) if (l !== 0) queue.push([node.children.get(l), base ^ l, l]);
      while (used.length >= firstBlock * 256 + 256 && used.slice(firstBlock * 256, firstBlock * 256 + 256).every(Boolean)) firstBlock++;
    }
    units[pos] = unit >>> 0;
  }
  const trie = Buffer.alloc(units.length * 4);
  units.forEach((u, i) => trie.writeUInt32LE(u >>> 0, i * 4));
  const head = Buffer.alloc(4);
  head.writeUInt32LE(trie.length, 0);
  return Buffer.concat([head, trie, ...blobParts]);
}

module.exports = { buildCharsmap };

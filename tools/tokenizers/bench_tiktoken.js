#!/usr/bin/env node
// tools/tokenizers/bench_tiktoken.js — npm tiktoken's encoding throughput on the text that
// bench/bench_tokenizers.cpp uses (tests/tokenizers/corpus.json joined by newlines, repeated to ~1 MB).
// Needs the packages that fetch_references.js installs. Usage: node tools/tokenizers/bench_tiktoken.js
'use strict';
const fs = require('fs');
const path = require('path');
const ROOT = path.resolve(__dirname, '..', '..');
const tiktoken = require(path.join(ROOT, 'tools', '.npm-cache', 'tokenizers', 'node_modules', 'tiktoken'));

const corpus = JSON.parse(fs.readFileSync(path.join(ROOT, 'tests', 'tokenizers', 'corpus.json'), 'utf8'));
const joined = corpus.map((s) => s + '\n').join('');
let text = '';
while (Buffer.byteLength(text, 'utf8') < (1 << 20)) text += joined;
const bytes = Buffer.byteLength(text, 'utf8');

for (const name of ['cl100k_base', 'o200k_base']) {
  const enc = tiktoken.get_encoding(name);
  let tokens = enc.encode_ordinary(text).length;  // warm-up
  const runs = [];
  const deadline = Date.now() + 3000;
  while (Date.now() < deadline || runs.length < 3) {
    const t0 = process.hrtime.bigint();
    tokens = enc.encode_ordinary(text).length;
    runs.push(Number(process.hrtime.bigint() - t0) / 1e9);
  }
  runs.sort((a, b) => a - b);
  const median = runs[Math.floor(runs.length / 2)];
  console.log(`npm tiktoken ${require(path.join(ROOT, 'tools', '.npm-cache', 'tokenizers', 'node_modules', 'tiktoken', 'package.json')).version} ` +
              `${name}: ${bytes} bytes -> ${tokens} tokens, median ${(median * 1000).toFixed(1)} ms over ${runs.length} runs, ` +
              `${(bytes / median / 1e6).toFixed(2)} MB/s`);
  enc.free();
}

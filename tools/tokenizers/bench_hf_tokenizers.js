#!/usr/bin/env node
// tools/tokenizers/bench_hf_tokenizers.js — Hugging Face tokenizers' (npm, Rust with a Node binding)
// encoding throughput for real tokenizer.json files, on the text that bench/bench_tokenizers.cpp uses
// (tests/tokenizers/corpus.json joined by newlines, repeated to ~1 MB). Needs the files that
// fetch_real_tokenizers.js writes. Usage: node tools/tokenizers/bench_hf_tokenizers.js
//
// Two numbers per file: the whole ~1 MB text as one encode() (what bench_tokenizers.cpp does), and the same
// text line by line through encodeBatch() — Hugging Face is built for many short inputs, and its
// bookkeeping (offsets of every normalized character) is slow on one long string. encodeBatch runs on one
// thread here (TOKENIZERS_PARALLELISM=false), like eigenformer.
'use strict';
process.env.TOKENIZERS_PARALLELISM = 'false';
const fs = require('fs');
const path = require('path');
const ROOT = path.resolve(__dirname, '..', '..');
const npmPackages = require('./npm_packages.js');  // installed by fetch_real_tokenizers.js
const hf = npmPackages.load('tokenizers');
const version = npmPackages.versionOf('tokenizers');

const corpus = JSON.parse(fs.readFileSync(path.join(ROOT, 'tests', 'tokenizers', 'corpus.json'), 'utf8'));
const joined = corpus.map((s) => s + '\n').join('');
let text = '';
while (Buffer.byteLength(text, 'utf8') < (1 << 20)) text += joined;
const bytes = Buffer.byteLength(text, 'utf8');

(async () => {
  for (const model of ['deepseek_v3', 'qwen3', 'gpt35turbo']) {
    const tok = hf.Tokenizer.fromFile(path.join(ROOT, 'tests', 'fixtures', 'downloaded', 'tokenizers-real', model, 'tokenizer.json'));
    let tokens = (await tok.encode(text, null, { addSpecialTokens: false })).getIds().length;  // warm-up
    // Processor time of this process (user + system), as Google Benchmark reports for eigenformer: on a
    // shared machine, wall time also counts the other processes.
    const cpu = () => { const u = process.cpuUsage(); return (u.user + u.system) / 1e6; };
    const runs = [];
    const deadline = Date.now() + 4000;
    while (Date.now() < deadline || runs.length < 3) {
      const t0 = cpu();
      tokens = (await tok.encode(text, null, { addSpecialTokens: false })).getIds().length;
      runs.push(cpu() - t0);
    }
    runs.sort((a, b) => a - b);
    const median = runs[Math.floor(runs.length / 2)];
    console.log(`npm tokenizers ${version} ${model}, one encode(): ${bytes} bytes -> ${tokens} tokens, median ` +
                `${(median * 1000).toFixed(1)} ms CPU over ${runs.length} runs, ${(bytes / median / 1e6).toFixed(2)} MB/s`);
    // Line by line.
    const lines = text.split(/(?<=\n)/);
    const batch = async () => (await tok.encodeBatch(lines, { addSpecialTokens: false })).reduce((n, e) => n + e.getIds().length, 0);
    tokens = await batch();
    const batchRuns = [];
    const batchDeadline = Date.now() + 4000;
    while (Date.now() < batchDeadline || batchRuns.length < 3) {
      const t0 = cpu();
      tokens = await batch();
      batchRuns.push(cpu() - t0);
    }
    batchRuns.sort((a, b) => a - b);
    const m = batchRuns[Math.floor(batchRuns.length / 2)];
    console.log(`npm tokenizers ${version} ${model}, encodeBatch() of ${lines.length} lines: ${tokens} tokens, median ` +
                `${(m * 1000).toFixed(1)} ms CPU over ${batchRuns.length} runs, ${(bytes / m / 1e6).toFixed(2)} MB/s`);
  }
})().catch((e) => { console.error(e); process.exit(1); });

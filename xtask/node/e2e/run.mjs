// The e2e runner: sockjs-client (from node_modules) in headless Chromium,
// driven by playwright-core, against a running SockJS test server. Started
// by `cargo xtask e2e`, which starts the server; written for this project.
//
// usage: node run.mjs --server http://127.0.0.1:PORT [--page-port N]
//          [--chromium PATH] [--out DIR] [--filter S] [--label NAME]
//          [--case-timeout-ms N] [--budget-s N] [--heartbeat-ms N]
//          [--auth-chat URL] [--multiplex URL] [--h2-server URL --h2-page-port N --tls-cert F --tls-key F]
//          [--resume-js crates/sockjs/js/sockjs-resume.js] [--resume-room R --resume-expect N]
//
// The test page is served by this script on --page-port, another origin
// than the server, so CORS and the iframe transports are really used. The
// server's iframe page must load the client from
// http://127.0.0.1:<page-port>/sockjs.min.js (its --sockjs-url). htmlfile is
// same-origin only in sockjs-client, so its cases run in a page of the
// server's own origin: the server's iframe.html, into which the harness is
// injected. Prints one line per case and `N passed, M failed`; writes
// DIR/e2e-report.html, a screenshot of it (DIR/e2e-report.png) and one
// screenshot per failed case (DIR/e2e-failures/).
import { chromium } from 'playwright-core';
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import path from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(import.meta.url);

// Every transport sockjs-client 1.6 offers in Chromium (xdr-* are IE only).
const TRANSPORTS = [
  'websocket',
  'xhr-streaming',
  'eventsource',
  'iframe-eventsource',
  'htmlfile',
  'iframe-htmlfile',
  'xhr-polling',
  'iframe-xhr-polling',
  'jsonp-polling',
];
// Streaming transports: a response ends at the server's response_limit.
const STREAMING = new Set(['xhr-streaming', 'eventsource', 'iframe-eventsource', 'htmlfile', 'iframe-htmlfile']);
// A receiving request of a session transport (PROTOCOL.md section 6).
const RECEIVING = /^\/[^/]+\/[^/.]+\/[^/.]+\/(xhr_streaming|eventsource|htmlfile|xhr|jsonp)$/;
// sockjs-client only enables these when the page has the server's origin.
const SAME_ORIGIN_ONLY = new Set(['htmlfile']);
// Cases of one transport only.
const ONLY_ON = { deflate: 'websocket' };
const PER_TRANSPORT = [
  'opens',
  'echo-20',
  'unicode',
  'lone-surrogate',
  'large-200k',
  'burst-200',
  'markup',
  'server-close',
  'close-cycles',
  'goodbye',
  'client-close',
  'cookie-needed',
  'origin-allowed',
  'origin-refused',
  'auth',
  'disabled-websocket',
  'ticker',
  'broadcast',
  'heartbeat',
  'deflate',
  'resume',
];
// Cases of services only our test server has (sockjs-node has no origin
// policy and no handshake hook), and of hardening sockjs-node lacks (its
// htmlfile frames carry raw markup): not run against sockjs-node.
const OURS_ONLY = new Set(['origin-allowed', 'origin-refused', 'auth', 'deflate', 'markup', 'resume']);
// Cases whose page must be of an origin the server does not allow: the
// same page, loaded from `localhost` instead of 127.0.0.1.
const OTHER_ORIGIN = new Set(['origin-refused']);
// The cases run again over HTTPS with HTTP/2 (--h2-server): every request
// the page makes to the server must have gone over h2.
const H2_CASES = ['opens', 'echo-20', 'large-200k', 'burst-200', 'server-close'];
// Cases without a transport list: what sockjs-client picks by itself.
const UNRESTRICTED = ['default-websocket', 'fallback', 'amplify', 'raw-websocket-close'];

function parseArgs(argv) {
  const opts = {
    server: null,
    pagePort: 0,
    chromium: process.env.CHROMIUM || '/usr/bin/chromium',
    out: path.resolve(here, '..', '..'),
    filter: '',
    label: 'server',
    caseTimeoutMs: 20000,
    // Past this, the remaining cases fail unrun (a hung server must not
    // hold CI for cases x timeout).
    budgetS: 600,
    // The server's --heartbeat-delay-ms (the heartbeat cases wait for it).
    heartbeatMs: 1000,
    // The auth_chat example, when running (its own case drives it).
    authChat: null,
    // The multiplex example, when running.
    multiplex: null,
    // The test server over HTTPS (h2 by ALPN), its page server's port, and
    // the certificate both use: the HTTP/2 rows.
    h2Server: null,
    h2PagePort: 0,
    tlsCert: null,
    tlsKey: null,
    // crates/sockjs/js/sockjs-resume.js, served to the pages.
    resumeJs: null,
    // The cluster test's browser resume: the room and the count of numbers
    // (only the cluster/resume case runs then).
    resumeRoom: null,
    resumeExpect: 0,
  };
  const take = (i) => {
    if (i + 1 >= argv.length) throw new Error(`${argv[i]} needs a value`);
    return argv[i + 1];
  };
  for (let i = 0; i < argv.length; i += 2) {
    switch (argv[i]) {
      case '--server': opts.server = take(i).replace(/\/+$/, ''); break;
      case '--page-port': opts.pagePort = Number(take(i)); break;
      case '--chromium': opts.chromium = take(i); break;
      case '--out': opts.out = path.resolve(take(i)); break;
      case '--filter': opts.filter = take(i); break;
      case '--label': opts.label = take(i); break;
      case '--case-timeout-ms': opts.caseTimeoutMs = Number(take(i)); break;
      case '--budget-s': opts.budgetS = Number(take(i)); break;
      case '--heartbeat-ms': opts.heartbeatMs = Number(take(i)); break;
      case '--auth-chat': opts.authChat = take(i).replace(/\/+$/, ''); break;
      case '--multiplex': opts.multiplex = take(i).replace(/\/+$/, ''); break;
      case '--h2-server': opts.h2Server = take(i).replace(/\/+$/, ''); break;
      case '--h2-page-port': opts.h2PagePort = Number(take(i)); break;
      case '--tls-cert': opts.tlsCert = take(i); break;
      case '--tls-key': opts.tlsKey = take(i); break;
      case '--resume-js': opts.resumeJs = path.resolve(take(i)); break;
      case '--resume-room': opts.resumeRoom = take(i); break;
      case '--resume-expect': opts.resumeExpect = Number(take(i)); break;
      default: throw new Error(`unknown argument ${argv[i]}`);
    }
  }
  if (!opts.server) throw new Error('--server URL is required');
  return opts;
}

function plan(filter, opts) {
  if (opts.resumeRoom) {
    return [{ id: 'cluster/resume', row: 'cluster', name: 'cluster-resume', transport: null, other: null, sameOrigin: false }];
  }
  const cases = [];
  for (const transport of TRANSPORTS) {
    for (const name of PER_TRANSPORT) {
      if (ONLY_ON[name] && ONLY_ON[name] !== transport) continue;
      cases.push({
        id: `${transport}/${name}`,
        row: transport,
        name,
        transport,
        other: transport === 'websocket' ? 'xhr-streaming' : 'websocket',
        // A cross-origin page cannot use htmlfile at all; the refusal
        // case shows exactly that.
        sameOrigin: SAME_ORIGIN_ONLY.has(transport) && !OTHER_ORIGIN.has(name),
        otherOrigin: OTHER_ORIGIN.has(name),
      });
    }
  }
  for (const name of UNRESTRICTED) {
    cases.push({ id: `any/${name}`, row: 'any', name, transport: null, other: null, sameOrigin: false });
  }
  if (opts.h2Server) {
    for (const transport of TRANSPORTS) {
      for (const name of H2_CASES) {
        cases.push({
          id: `h2-${transport}/${name}`,
          row: `h2 ${transport}`,
          name,
          transport,
          other: transport === 'websocket' ? 'xhr-streaming' : 'websocket',
          sameOrigin: SAME_ORIGIN_ONLY.has(transport),
          h2: true,
        });
      }
    }
  }
  if (opts.authChat) {
    cases.push({ id: 'examples/auth-chat', row: 'examples', name: 'auth-chat', example: authChatCase });
  }
  if (opts.multiplex) {
    cases.push({ id: 'examples/multiplex', row: 'examples', name: 'multiplex', example: multiplexCase });
  }
  const wanted = filter.split(',');
  return cases.filter((c) => wanted.some((f) => c.id.includes(f)));
}

// ---- the page server (the other origin) ----

function startPageServer(port, tls, resumeJs) {
  const dist = path.dirname(require.resolve('sockjs-client/dist/sockjs.min.js'));
  const js = 'application/javascript; charset=utf-8';
  const files = {
    '/': [path.join(here, 'index.html'), 'text/html; charset=utf-8'],
    '/index.html': [path.join(here, 'index.html'), 'text/html; charset=utf-8'],
    '/harness.js': [path.join(here, 'harness.js'), js],
    '/sockjs.min.js': [path.join(dist, 'sockjs.min.js'), js],
    '/sockjs.min.js.map': [path.join(dist, 'sockjs.min.js.map'), 'application/json'],
  };
  if (resumeJs) files['/sockjs-resume.js'] = [resumeJs, js];
  const hits = {};
  const handler = (req, res) => {
    const p = new URL(req.url, 'http://x').pathname;
    const file = files[p];
    hits[p] = (hits[p] || 0) + 1;
    if (!file || req.method !== 'GET') {
      res.writeHead(404, { 'Content-Type': 'text/plain' });
      res.end('not found\n');
      return;
    }
    res.writeHead(200, { 'Content-Type': file[1], 'Cache-Control': 'no-store' });
    res.end(fs.readFileSync(file[0]));
  };
  const server = tls
    ? https.createServer({ cert: fs.readFileSync(tls.cert), key: fs.readFileSync(tls.key) }, handler)
    : http.createServer(handler);
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve({ server, hits, port: server.address().port }));
  });
}

// ---- the auth_chat example, driven like a person would ----

// Two people log in through the example's form in two browser contexts;
// what alice says reaches bob with alice's name, which the server took
// from her login (the handshake hook), not from anything the page sent.
// Before logging in, connecting is refused. The example's page loads
// sockjs-client from a CDN; that request is answered with our copy.
async function authChatCase(browser, opts) {
  const dist = path.dirname(require.resolve('sockjs-client/dist/sockjs.min.js'));
  const client = fs.readFileSync(path.join(dist, 'sockjs.min.js'));
  const person = async (name, password) => {
    const context = await browser.newContext();
    await context.route('https://cdn.jsdelivr.net/**', (route) =>
      route.fulfill({ status: 200, contentType: 'application/javascript', body: client }));
    const page = await context.newPage();
    await page.goto(`${opts.authChat}/`);
    await page.waitForSelector('#anonymous:not([hidden])');
    await page.click('#try');
    await page.waitForFunction(() => document.getElementById('refused').textContent.startsWith('refused'));
    const refused = await page.textContent('#refused');
    await page.fill('input[name=name]', name);
    await page.fill('input[name=password]', password);
    await Promise.all([page.waitForNavigation(), page.click('#login button')]);
    await page.waitForFunction(() => /connected over/.test(document.getElementById('log').textContent));
    return { context, page, refused };
  };
  const alice = await person('alice', 'wonderland');
  const bob = await person('bob', 'builder');
  try {
    await alice.page.fill('#text', 'hello from alice');
    await alice.page.click('#say button');
    await bob.page.waitForFunction(() =>
      [...document.querySelectorAll('#log li')].some((li) => li.textContent === 'alicehello from alice'));
    const who = await bob.page.textContent('#who');
    return { ok: true, detail: `refused before login (${alice.refused}); bob (${who}) got alice's line with her name`, log: [] };
  } finally {
    await alice.context.close();
    await bob.context.close();
  }
}

// The multiplex example's page: three channels over one connection, each
// answering on its own; unsubscribing one leaves the others working.
async function multiplexCase(browser, opts) {
  const dist = path.dirname(require.resolve('sockjs-client/dist/sockjs.min.js'));
  const client = fs.readFileSync(path.join(dist, 'sockjs.min.js'));
  const context = await browser.newContext();
  try {
    await context.route('https://cdn.jsdelivr.net/**', (route) =>
      route.fulfill({ status: 200, contentType: 'application/javascript', body: client }));
    const page = await context.newPage();
    await page.goto(`${opts.multiplex}/`);
    await page.waitForFunction(() => /three channels/.test(document.getElementById('status').textContent));
    const says = (box, text) => page.waitForFunction(([box, text]) =>
      [...document.querySelectorAll(`#${box} li`)].some((li) => li.textContent === text), [box, text]);
    await page.fill('#echo input', 'hello');
    await page.click('#echo button');
    await says('echo', '< hello');
    await page.fill('#shout input', 'hello');
    await page.click('#shout button');
    await says('shout', '< HELLO');
    await page.waitForFunction(() => /UTC/.test(document.querySelector('#clock ol').textContent));
    await page.click('#clock button');
    await says('clock', '[closed: you unsubscribed]');
    await page.fill('#echo input', 'still here');
    await page.click('#echo button');
    await says('echo', '< still here');
    const status = await page.textContent('#status');
    return { ok: true, detail: `${status}; echo, shout and clock answered apart; clock unsubscribed, echo went on`, log: [] };
  } finally {
    await context.close();
  }
}

// ---- running ----

function withTimeout(ms, what, promise) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no result after ${ms} ms`)), ms);
  });
  promise.catch(() => {});
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

async function preflight(opts, pageBase) {
  const info = await fetch(`${opts.server}/echo/info`).catch((e) => e);
  if (!(info instanceof Response) || info.status !== 200) {
    throw new Error(`${opts.server}/echo/info does not answer 200 (${info.status || info.message})`);
  }
  const iframe = await (await fetch(`${opts.server}/echo/iframe.html`)).text();
  const want = `${pageBase}/sockjs.min.js`;
  if (!iframe.includes(`"${want}"`)) {
    console.log(`warning: ${opts.server}/echo/iframe.html does not load ${want}; ` +
      'start the server with --sockjs-url ' + want + ' or the iframe transports fail');
  }
}

async function runCase(page, c, opts, pageBase) {
  const server = c.h2 ? opts.h2Server : opts.server;
  const ctx = {
    base: server,
    transport: c.transport,
    other: c.other,
    heartbeatMs: opts.heartbeatMs,
    room: opts.resumeRoom,
    expect: opts.resumeExpect,
  };
  const work = (async () => {
    if (c.sameOrigin) {
      // A page of the server's own origin: its iframe page (which loads
      // sockjs-client from the page server), plus the harness.
      await page.goto(`${server}/echo/iframe.html`);
      if (opts.resumeJs) await page.addScriptTag({ url: `${pageBase}/sockjs-resume.js` });
      await page.addScriptTag({ url: `${pageBase}/harness.js` });
    } else if (c.otherOrigin) {
      await page.goto(`${pageBase.replace('127.0.0.1', 'localhost')}/index.html`);
    } else {
      await page.goto(`${pageBase}/index.html`);
    }
    const r = await page.evaluate(([name, ctx]) => window.E2E.run(name, ctx), [c.name, ctx]);
    if (c.h2 && r.ok) await checkHttp2(page, c, server, r);
    return r;
  })();
  try {
    return await withTimeout(opts.caseTimeoutMs, 'case timeout', work);
  } catch (e) {
    let log = [];
    try {
      const text = await withTimeout(2000, 'log', page.evaluate(() => {
        const el = document.getElementById('e2e-log');
        return el ? el.textContent : '';
      }));
      log = text.split('\n').filter(Boolean);
    } catch {
      // the page is gone; nothing to add
    }
    return { ok: false, detail: e.message.split('\n')[0], log };
  }
}

// Every request this page made to the server went over HTTP/2, as the
// resource timing of the page says (the iframe transports' requests are
// made in the iframe, whose timeline the page cannot read; its own load is
// checked). A websocket shows in no timeline: the server's /stats counts
// the /echo sessions it got over HTTP/2.
async function checkHttp2(page, c, server, r) {
  const protocols = await page.evaluate((server) => performance.getEntriesByType('resource')
    .filter((e) => e.name.startsWith(server))
    .map((e) => `${e.nextHopProtocol} ${new URL(e.name).pathname}`), server);
  const notH2 = protocols.filter((p) => !p.startsWith('h2 '));
  if (!protocols.length || notH2.length) {
    r.ok = false;
    r.detail = `not all over HTTP/2: ${JSON.stringify(notH2.length ? notH2 : protocols)}`;
    return;
  }
  r.detail += `; ${protocols.length} requests over h2`;
  if (c.transport === 'websocket' && c.name === 'opens') {
    const stats = await (await fetch(`${server}/stats`)).json();
    const n = stats.http2_sessions.websocket || 0;
    if (!n) {
      r.ok = false;
      r.detail = `the websocket did not go over HTTP/2 (server stats: ${JSON.stringify(stats.http2_sessions)})`;
      return;
    }
    r.detail += `; websockets over h2 so far: ${n}`;
  }
}

function escapeHtml(s) {
  return String(s).replace(/[&<>"]/g, (ch) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[ch]);
}

function report(results, meta) {
  const rows = [...new Set(results.map((r) => r.row))];
  const cols = [...new Set(results.map((r) => r.name))];
  const cell = (row, col) => {
    const r = results.find((x) => x.row === row && x.name === col);
    if (!r) return '<td></td>';
    const title = escapeHtml(r.detail);
    return `<td class="${r.ok ? 'ok' : 'fail'}" title="${title}">${r.ok ? 'ok' : 'FAIL'}<br><small>${r.ms} ms</small></td>`;
  };
  const passed = results.filter((r) => r.ok).length;
  const failed = results.length - passed;
  const failures = results.filter((r) => !r.ok).map((r) => `
    <h3 id="${escapeHtml(r.id)}">${escapeHtml(r.id)}</h3>
    <p>${escapeHtml(r.detail)}</p>
    ${r.screenshot ? `<p><a href="${escapeHtml(r.screenshot)}">screenshot</a></p>` : ''}
    <pre>${escapeHtml([...r.log, ...r.console.map((l) => `console: ${l}`)].join('\n'))}</pre>`).join('');
  const list = results.map((r) => `<tr class="${r.ok ? 'ok' : 'fail'}"><td>${escapeHtml(r.id)}</td>` +
    `<td>${r.ok ? 'ok' : 'FAIL'}</td><td>${r.ms}</td><td>${escapeHtml(r.detail)}</td></tr>`).join('\n');
  return `<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>sockjs e2e: ${passed} passed, ${failed} failed</title>
<style>
  body { font: 14px sans-serif; margin: 16px; }
  table { border-collapse: collapse; }
  td, th { border: 1px solid #bbb; padding: 3px 6px; text-align: center; }
  td.ok, tr.ok td:nth-child(2) { background: #d4f4d4; }
  td.fail, tr.fail td:nth-child(2) { background: #f8c8c8; }
  .list td { text-align: left; }
  pre { background: #f4f4f4; padding: 6px; white-space: pre-wrap; }
</style></head><body>
<h1>sockjs e2e: ${passed} passed, ${failed} failed</h1>
<p>sockjs-client ${escapeHtml(meta.client)} in Chromium ${escapeHtml(meta.browser)} against
<b>${escapeHtml(meta.label)}</b> at ${escapeHtml(meta.server)}; test page at ${escapeHtml(meta.page)};
${escapeHtml(meta.date)}; ${meta.seconds} s.</p>
<table><tr><th>transport</th>${cols.map((c) => `<th>${escapeHtml(c)}</th>`).join('')}</tr>
${rows.map((row) => `<tr><th>${escapeHtml(row)}</th>${cols.map((col) => cell(row, col)).join('')}</tr>`).join('\n')}
</table>
${failed ? `<h2>Failures</h2>${failures}` : ''}
<h2>All cases</h2>
<table class="list"><tr><th>case</th><th>result</th><th>ms</th><th>detail</th></tr>
${list}
</table>
</body></html>
`;
}

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  const cases = plan(opts.filter, opts);
  if (!cases.length) throw new Error(`no case matches --filter ${opts.filter}`);
  if (!fs.existsSync(opts.chromium)) throw new Error(`no browser at ${opts.chromium}`);
  const started = Date.now();
  const pages = await startPageServer(opts.pagePort, null, opts.resumeJs);
  const pageBase = `http://127.0.0.1:${pages.port}`;
  await preflight(opts, pageBase);
  let h2Pages = null;
  if (opts.h2Server) {
    // The test server's certificate is self-signed; so is the page server's.
    process.env.NODE_TLS_REJECT_UNAUTHORIZED = '0';
    h2Pages = await startPageServer(opts.h2PagePort, { cert: opts.tlsCert, key: opts.tlsKey }, opts.resumeJs);
  }
  const h2PageBase = h2Pages ? `https://127.0.0.1:${h2Pages.port}` : null;

  const failDir = path.join(opts.out, 'e2e-failures');
  fs.rmSync(failDir, { recursive: true, force: true });
  fs.mkdirSync(opts.out, { recursive: true });

  const browser = await chromium.launch({
    executablePath: opts.chromium,
    headless: true,
    chromiumSandbox: false,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
      '--disable-quic',
    ],
  });
  const clientVersion = require('sockjs-client/package.json').version;
  console.log(`e2e: sockjs-client ${clientVersion} in Chromium ${browser.version()}, ` +
    `${cases.length} cases against ${opts.label} at ${opts.server} (page at ${pageBase})`);

  const results = [];
  try {
    for (const c of cases.filter((x) => x.example)) {
      const t0 = Date.now();
      let r;
      try {
        r = await withTimeout(opts.caseTimeoutMs, 'case timeout', c.example(browser, opts));
      } catch (e) {
        r = { ok: false, detail: e.message.split('\n')[0], log: [] };
      }
      results.push({ ...c, ...r, ms: Date.now() - t0, console: [] });
      console.log(`${r.ok ? 'ok  ' : 'FAIL'} ${c.id} (${Date.now() - t0} ms)${r.ok ? '' : ': ' + r.detail}`);
    }
    // One fresh browser context (cookies, cache) per row.
    for (const row of [...new Set(cases.filter((c) => !c.example).map((c) => c.row))]) {
      const h2Row = row.startsWith('h2 ');
      const context = await browser.newContext({
        viewport: { width: 1000, height: 700 },
        // The HTTP/2 rows' certificate is self-signed.
        ignoreHTTPSErrors: h2Row,
      });
      const page = await context.newPage();
      const consoleLines = [];
      const requests = [];
      page.on('request', (r) => requests.push(new URL(r.url()).pathname));
      page.on('console', (m) => {
        if (m.type() === 'error' || m.type() === 'warning') consoleLines.push(`${m.type()}: ${m.text()}`);
      });
      page.on('response', (r) => {
        if (r.status() >= 400 && !r.url().endsWith('/favicon.ico')) {
          consoleLines.push(`http ${r.status()} ${r.request().method()} ${r.url()}`);
        }
      });
      page.on('requestfailed', (r) => {
        consoleLines.push(`request failed: ${r.method()} ${r.url()}: ${r.failure()?.errorText}`);
      });
      page.on('pageerror', (e) => consoleLines.push(`page error: ${e.message}`));
      for (const c of cases.filter((x) => x.row === row)) {
        consoleLines.length = 0;
        requests.length = 0;
        const t0 = Date.now();
        const r = opts.label.startsWith('sockjs-node') && OURS_ONLY.has(c.name)
          ? { ok: true, detail: 'not applicable: sockjs-node has no origin policy or handshake hook', log: [] }
          : (t0 - started) / 1000 > opts.budgetS
            ? { ok: false, detail: `not run: the run took longer than --budget-s ${opts.budgetS}`, log: [], skipped: true }
            : await runCase(page, c, opts, c.h2 ? h2PageBase : pageBase);
        if (r.ok && c.name === 'burst-200' && STREAMING.has(c.transport)) {
          // The 200 messages (about 20 KB) must have crossed /echo's
          // response_limit of 4096 bytes: more than one receiving request.
          const n = requests.filter((p) => RECEIVING.test(p)).length;
          r.detail += `, ${n} receiving requests`;
          if (n < 2) {
            r.ok = false;
            r.detail = `response_limit never reached: ${r.detail}`;
          }
        }
        const result = { ...c, ...r, ms: Date.now() - t0, console: [...consoleLines] };
        if (!r.ok && !r.skipped) {
          fs.mkdirSync(failDir, { recursive: true });
          const shot = path.join(failDir, `${c.id.replace(/\//g, '--')}.png`);
          try {
            await withTimeout(5000, 'screenshot', page.screenshot({ path: shot, fullPage: true }));
            result.screenshot = path.relative(opts.out, shot);
          } catch {
            // no screenshot then
          }
        }
        results.push(result);
        // The cluster test reads the resume case's counts from its line.
        const detail = !r.ok || opts.resumeRoom ? ': ' + r.detail : '';
        const line = `${r.ok ? 'ok  ' : 'FAIL'} ${c.id} (${result.ms} ms)${detail}`;
        console.log(line);
        if (!r.ok) {
          for (const l of result.console.slice(-8)) console.log(`     ${l}`);
        }
      }
      await context.close();
    }

    const seconds = ((Date.now() - started) / 1000).toFixed(1);
    const htmlPath = path.join(opts.out, 'e2e-report.html');
    fs.writeFileSync(htmlPath, report(results, {
      client: clientVersion,
      browser: browser.version(),
      label: opts.label,
      server: opts.server,
      page: pageBase,
      date: new Date().toISOString(),
      seconds,
    }));
    const page = await browser.newPage({ viewport: { width: 1400, height: 600 } });
    await page.goto(pathToFileURL(htmlPath).href);
    await page.screenshot({ path: path.join(opts.out, 'e2e-report.png'), fullPage: true });
    console.log(`report: ${htmlPath} (screenshot e2e-report.png), ${seconds} s`);
  } finally {
    await browser.close();
    pages.server.close();
    if (h2Pages) h2Pages.server.close();
  }
  const passed = results.filter((r) => r.ok).length;
  console.log(`${passed} passed, ${results.length - passed} failed`);
  return results.length === passed ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (e) => {
    console.error(`e2e: ${e.message}`);
    process.exit(2);
  },
);

'use strict';
// What sockjs-node 0.3.24 decides for client input, computed by sockjs-node's
// own code (its lib/*.js from npm), not by a re-implementation: the request
// filters (`expect_xhr`, `expect_form`), the transport handlers (`xhr_send`,
// `jsonp_send`, `jsonp`, `htmlfile`), `WebSocketReceiver.didMessage`,
// `utils.parseCookie` and the route patterns of `generate_dispatcher`.
// Sessions, sockets and responses are stand-ins that record what the code
// does with them.
//
//   node decide.js <node_modules dir holding sockjs@0.3.24>  < cases  > decisions
//
// One case per input line, one decision per output line, in order. Bytes
// travel as hex. Cases (JSON):
//   {"k":"xhr_send"|"jsonp_send", "ct": hex|null, "b": hex}   content type, body
//   {"k":"ws", "s": hex}                        a WebSocket text message (UTF-8)
//   {"k":"jsonp"|"htmlfile", "q": hex|null}     the query string of the URL
//   {"k":"cookie", "h": [hex, ...]}             Cookie header values
//   {"k":"path", "p": hex}                      a URL path under the prefix /p
//   {"k":"json", "s": hex}                      a JSON array to decode (JSON.parse)
// Decisions (JSON):
//   {"ok": [value, ...]}  messages handed to the session, each {"s": hex of its
//                         UTF-8, "wf": false when it held a lone surrogate} or
//                         {"t": typeof} for a value that is not a string
//   {"err": status, "msg": message}   the request was refused
//   {"close": [code, reason]}         the WebSocket was closed
//   {"cb": hex}           the callback accepted
//   {"cookie": hex}       the Set-Cookie value
//   {"route": bool}       whether /p/<server>/<session>/xhr_send is routed
//   {"json": [value, ...]}  the array JSON.parse returns, its items as above,
//                         or {"err": why}
const path = require('path');
const readline = require('readline');
const EventEmitter = require('events');
const url = require('url');

const modules = process.argv[2];
if (!modules) {
    console.error('usage: node decide.js <node_modules dir holding sockjs@0.3.24>');
    process.exit(2);
}
const sockjsDir = path.join(modules, 'sockjs');
const version = require(path.join(sockjsDir, 'package.json')).version;
if (version !== '0.3.24') {
    console.error(`expected sockjs 0.3.24 in ${modules}, found ${version}`);
    process.exit(2);
}
const lib = (name) => require(path.join(sockjsDir, 'lib', name));

// faye-websocket is replaced before trans-websocket loads it: the receiver
// is built on a stand-in socket, and only its didMessage runs.
const fayePath = require.resolve('faye-websocket', { paths: [sockjsDir] });
let lastSocket = null;
function FakeFaye() {
    lastSocket = this;
    this.addEventListener = () => {};
}
FakeFaye.isWebSocket = () => true;
require.cache[fayePath] = { id: fayePath, filename: fayePath, loaded: true, exports: FakeFaye };

const transport = lib('transport');
const utils = lib('utils');
const webjs = lib('webjs');
const xhrApp = lib('trans-xhr').app;
const jsonpApp = lib('trans-jsonp').app;
const htmlfileApp = lib('trans-htmlfile').app;
const websocketApp = lib('trans-websocket').app;

// The session every send reaches; it records the messages.
let delivered = [];
const session = { didMessage: (m) => delivered.push(m) };
transport.Session.bySessionId = () => session;
let registered = null;
transport.register = (req, server, receiver) => { registered = receiver; };
transport.registerNoSession = (req, server, receiver) => { registered = receiver; };

const app = { options: { response_limit: 4096 }, log: () => {}, _websocket_check: () => {} };
const fakeRes = () => {
    const res = { written: '', setHeader: () => {}, writeHead: () => {}, end: () => {} };
    res.write = (s) => { res.written += s; return true; };
    return res;
};
const fakeReq = (headers, query) => {
    const req = new EventEmitter();
    req.headers = headers;
    req.connection = new EventEmitter();
    req.query = query;
    return req;
};

const hex = (buf) => Buffer.from(buf).toString('hex');
const unhex = (s) => Buffer.from(s, 'hex');
const value = (v) => typeof v === 'string'
    ? { s: hex(Buffer.from(v, 'utf8')), wf: v.isWellFormed() }
    : { t: v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v };
const refusal = (e) => {
    if (e && typeof e.status === 'number') {
        return { err: e.status, msg: e.message === undefined ? null : String(e.message) };
    }
    throw e;
};

// A POST body through the request filter `filter`, then handler `handler`.
function send(filter, handler, ct, body) {
    const headers = ct === null ? {} : { 'content-type': unhex(ct).toString('latin1') };
    const req = fakeReq(headers, {});
    let data;
    try {
        webjs.GenericApp.prototype[filter].call(app, req, fakeRes(), undefined, (q) => { data = q; });
    } catch (e) {
        if (!e || e.status !== 0) throw e;
    }
    req.emit('data', unhex(body));
    req.emit('end');
    delivered = [];
    try {
        handler.call(app, req, fakeRes(), data);
    } catch (e) {
        return refusal(e);
    }
    return { ok: delivered.map(value) };
}

// A receiver of the framed WebSocket transport, built once.
websocketApp.sockjs_websocket.call(app, fakeReq({}, {}), new EventEmitter(), Buffer.alloc(0));
lastSocket.onopen();
const wsReceiver = registered;

function websocket(text) {
    delivered = [];
    let closed = null;
    wsReceiver.session = session;
    wsReceiver.didClose = (code, reason) => { closed = [code, reason]; };
    wsReceiver.didMessage(unhex(text).toString('utf8'));
    return closed ? { close: closed } : { ok: delivered.map(value) };
}

function callback(handler, q) {
    const target = '/p/a/b/x' + (q === null ? '' : '?' + unhex(q).toString('latin1'));
    const req = fakeReq({}, url.parse(target, true).query);
    const res = fakeRes();
    registered = null;
    try {
        handler.call(app, req, res);
    } catch (e) {
        return refusal(e);
    }
    if (registered && registered.callback !== undefined) {
        return { cb: hex(Buffer.from(String(registered.callback), 'utf8')) };
    }
    // htmlfile writes the callback into its page: `var c = parent.<cb>;`
    const m = /var c = parent\.([^\n]*);\n/.exec(res.written);
    return { cb: hex(Buffer.from(m ? m[1] : '', 'utf8')) };
}

// sockjs.js: req.cookies = utils.parseCookie(req.headers.cookie), then
// 'JSESSIONID=' + (req.cookies['JSESSIONID'] || 'dummy') + '; path=/'.
// Node's HTTP parser joins repeated Cookie headers with '; '.
function cookie(values) {
    const header = values.length ? values.map((v) => unhex(v).toString('latin1')).join('; ') : undefined;
    const cookies = utils.parseCookie(header);
    const jsid = cookies['JSESSIONID'] || 'dummy';
    return { cookie: hex(Buffer.from('JSESSIONID=' + jsid + '; path=/', 'latin1')) };
}

// The session route of generate_dispatcher (sockjs.js), prefix '/p'.
const sessionRoute = new RegExp('^' + '/p' + '/([^/.]+)/([^/.]+)' + '/xhr_send' + '[/]?$');
function route(p) {
    return { route: sessionRoute.test(url.parse(unhex(p).toString('latin1'), true).pathname) };
}

function json(text) {
    let v;
    try {
        v = JSON.parse(unhex(text).toString('utf8'));
    } catch (e) {
        return { json: { err: 'syntax' } };
    }
    return { json: Array.isArray(v) ? v.map(value) : { err: 'not an array' } };
}

function decide(c) {
    switch (c.k) {
        case 'xhr_send': return send('expect_xhr', xhrApp.xhr_send, c.ct, c.b);
        case 'jsonp_send': return send('expect_form', jsonpApp.jsonp_send, c.ct, c.b);
        case 'ws': return websocket(c.s);
        case 'jsonp': return callback(jsonpApp.jsonp, c.q);
        case 'htmlfile': return callback(htmlfileApp.htmlfile, c.q);
        case 'cookie': return cookie(c.h);
        case 'path': return route(c.p);
        case 'json': return json(c.s);
        default: throw new Error('unknown case kind ' + c.k);
    }
}

const out = [];
const rl = readline.createInterface({ input: process.stdin, crlfDelay: Infinity });
rl.on('line', (line) => {
    if (line) out.push(JSON.stringify(decide(JSON.parse(line))));
});
rl.on('close', () => {
    out.push('');
    process.stdout.write(out.join('\n'));
});

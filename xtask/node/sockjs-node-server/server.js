// The reference server: sockjs-node 0.3.24 with the same services as the
// project's test server (PROTOCOL.md section 8). Written for this project.
//
// usage: node server.js [--port N] [--host H] [--disconnect-delay-ms N]
//                       [--heartbeat-delay-ms N] [--sockjs-url URL]
'use strict';
const http = require('http');
const sockjs = require('sockjs');

function arg(name, fallback) {
  const i = process.argv.indexOf(name);
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1] : fallback;
}

const port = Number(arg('--port', '8081'));
const host = arg('--host', '127.0.0.1');
const common = {
  sockjs_url: arg('--sockjs-url', 'https://cdn.jsdelivr.net/npm/sockjs-client@1/dist/sockjs.min.js'),
  disconnect_delay: Number(arg('--disconnect-delay-ms', '5000')),
  heartbeat_delay: Number(arg('--heartbeat-delay-ms', '25000')),
  log: () => {},
};

const services = {
  // permessage-deflate through faye-websocket's extension (the benchmark's
  // ws-deflate rows; sockjs-node passes faye_server_options through).
  '/deflate_echo': [
    { faye_server_options: { extensions: [require('permessage-deflate')] } },
    (conn) => conn.on('data', (m) => conn.write(m)),
  ],
  '/echo': [{ response_limit: 4096 }, (conn) => conn.on('data', (m) => conn.write(m))],
  '/disabled_websocket_echo': [{ websocket: false }, (conn) => conn.on('data', (m) => conn.write(m))],
  '/cookie_needed_echo': [{ jsessionid: true }, (conn) => conn.on('data', (m) => conn.write(m))],
  '/close': [{}, (conn) => conn.close(3000, 'Go away!')],
  // Not in the protocol definition: messages queued right before a close.
  '/goodbye': [{}, (conn) => {
    for (let i = 1; i <= 20; i++) conn.write(String(i));
    conn.close(3000, 'Go away!');
  }],
  '/ticker': [{}, (conn) => {
    const t = setInterval(() => conn.write('tick!'), 1000);
    conn.on('close', () => clearInterval(t));
  }],
  '/amplify': [{}, (conn) => conn.on('data', (m) => {
    let n = Number(m);
    if (!Number.isInteger(n) || n < 1 || n > 18) n = 1;
    conn.write('x'.repeat(2 ** n));
  })],
};

const broadcast = new Set();
services['/broadcast'] = [{}, (conn) => {
  broadcast.add(conn);
  conn.on('data', (m) => { for (const c of broadcast) c.write(m); });
  conn.on('close', () => broadcast.delete(conn));
}];

const server = http.createServer((req, res) => {
  res.writeHead(404, { 'Content-Type': 'text/plain' });
  res.end('Not found\n');
});
// sockjs-node 0.3.24 leaves some sockets without an 'error' listener: a
// client that resets such a connection (the conformance suite's aborts and
// closing cycles do, hundreds of times) would crash the whole process with
// an unhandled ECONNRESET. A listener on every socket keeps it serving.
server.on('connection', (socket) => socket.on('error', () => {}));
for (const [prefix, [opts, onConnection]] of Object.entries(services)) {
  const s = sockjs.createServer(Object.assign({}, common, opts));
  s.on('connection', onConnection);
  s.installHandlers(server, { prefix });
}
server.listen({ port, host, backlog: 4096 }, () => {
  console.log(`sockjs-node listening on http://${host}:${port}`);
});

// Unit tests of sockjs-resume.js: `node --test crates/sockjs/js/` (run by
// `cargo xtask e2e` before the browser cases). A fake SockJS and fake
// timers: every reconnect, delay and URL is checked without a network.
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const ResumingSockJS = require('./sockjs-resume.js');

// A stand-in for sockjs-client: records what was opened and sent; the test
// fires its events.
function fakes() {
  const sockets = [];
  const timers = [];
  function FakeSockJS(url, reserved, options) {
    this.url = url;
    this.options = options;
    this.sent = [];
    this.closedWith = null;
    this.transport = null;
    sockets.push(this);
  }
  FakeSockJS.prototype.send = function (text) { this.sent.push(text); };
  FakeSockJS.prototype.close = function (code, reason) {
    this.closedWith = [code, reason];
  };
  FakeSockJS.prototype.open = function (transport) {
    this.transport = transport || 'websocket';
    this.onopen({});
  };
  FakeSockJS.prototype.message = function (data) { this.onmessage({ data }); };
  FakeSockJS.prototype.end = function (code, reason, wasClean) {
    this.onclose({ code, reason, wasClean: !!wasClean });
  };
  return {
    sockets,
    timers,
    options: {
      SockJS: FakeSockJS,
      setTimeout: (f, ms) => { timers.push({ f, ms, cleared: false }); return timers.length - 1; },
      clearTimeout: (t) => { timers[t].cleared = true; },
      random: () => 0.5,
      initialDelay: 100,
    },
    // Runs the pending timer; returns its delay.
    tick() {
      const t = timers.find((x) => !x.cleared && !x.ran);
      assert.ok(t, 'a timer is pending');
      t.ran = true;
      t.f();
      return t.ms;
    },
    pending() { return timers.filter((x) => !x.cleared && !x.ran).length; },
  };
}

function envelope(room, pos, data) {
  return JSON.stringify({ room, pos, data });
}

function record(conn) {
  const events = [];
  for (const name of ['open', 'message', 'lost', 'close', 'reconnecting']) {
    conn.on(name, (e) => events.push([name, e]));
  }
  return events;
}

test('back-off grows exponentially, is bounded, and has jitter', () => {
  const o = { initialDelay: 100, factor: 2, maxDelay: 1000, jitter: 0, random: () => 0.99 };
  assert.deepEqual([1, 2, 3, 4, 5, 6, 20].map((n) => ResumingSockJS.backoff(n, o)),
    [100, 200, 400, 800, 1000, 1000, 1000]);
  const jittered = (r) => ResumingSockJS.backoff(3, { ...o, jitter: 0.5, random: () => r });
  assert.equal(jittered(0), 400);
  assert.equal(jittered(0.5), 300);
  assert.equal(jittered(1), 200);
  // Real randomness stays within [base * (1 - jitter), base].
  for (let i = 0; i < 1000; i++) {
    const d = ResumingSockJS.backoff(10, { initialDelay: 250, maxDelay: 10000 });
    assert.ok(d >= 5000 && d <= 10000, String(d));
  }
});

test('the since parameter replaces one already in the URL and keeps the rest', () => {
  const w = ResumingSockJS.withParam;
  assert.equal(w('http://h/chat', 'since', 'a-1'), 'http://h/chat?since=a-1');
  assert.equal(w('http://h/chat?room=x', 'since', 'a-1'), 'http://h/chat?room=x&since=a-1');
  assert.equal(w('http://h/chat?since=old&room=x#f', 'since', 'a-2'), 'http://h/chat?room=x&since=a-2#f');
  assert.equal(w('/chat?since=old', 'since', null), '/chat');
  assert.equal(w('/chat?room=a%20b', 'since', 'x:1,y z:2'), '/chat?room=a%20b&since=x%3A1%2Cy%20z%3A2');
});

test('the default extractor reads envelopes and lost signals only', () => {
  const x = ResumingSockJS.defaultExtract;
  assert.deepEqual(x(envelope('lobby', '5f3a9c-17', 'hi')), { room: 'lobby', position: '5f3a9c-17', data: 'hi' });
  assert.deepEqual(x('lost'), { lost: null });
  assert.deepEqual(x('{"lost":"lobby"}'), { lost: 'lobby' });
  assert.equal(x('{"lost":"lobby","other":1}'), null);
  assert.equal(x('joined'), null);
  assert.equal(x('{not json'), null);
  assert.equal(x('{"room":"r","pos":1,"data":"x"}'), null);
});

test('reconnects after a close, resuming with the last position', () => {
  const f = fakes();
  const conn = new ResumingSockJS('http://h/cluster_resume?room=r', f.options);
  const events = record(conn);
  assert.equal(f.sockets.length, 1);
  assert.equal(f.sockets[0].url, 'http://h/cluster_resume?room=r');
  f.sockets[0].open('xhr-streaming');
  assert.equal(conn.state, 'open');
  assert.equal(conn.transport, 'xhr-streaming');
  f.sockets[0].message('joined');
  f.sockets[0].message(envelope('r', 'a-1', '1'));
  f.sockets[0].message(envelope('r', 'a-2', '2'));
  assert.deepEqual(conn.positions(), { r: 'a-2' });
  f.sockets[0].end(1006, 'Connection lost');
  assert.equal(conn.state, 'reconnecting');
  assert.equal(f.tick(), 75); // 100 * (1 - 0.5 * 0.5)
  assert.equal(f.sockets.length, 2);
  assert.equal(f.sockets[1].url, 'http://h/cluster_resume?room=r&since=a-2');
  f.sockets[1].open();
  f.sockets[1].message(envelope('r', 'a-3', '3'));
  assert.deepEqual(events.map(([n, e]) => n + (n === 'message' ? ':' + e.data : '')), [
    'open', 'message:joined', 'message:1', 'message:2', 'close', 'reconnecting', 'open', 'message:3',
  ]);
  const opens = events.filter(([n]) => n === 'open').map(([, e]) => e);
  assert.deepEqual(opens.map((e) => [e.resumed, e.since]), [[false, {}], [true, { r: 'a-2' }]]);
  const close = events.find(([n]) => n === 'close')[1];
  assert.deepEqual(close, { code: 1006, reason: 'Connection lost', wasClean: false, willReconnect: true });
  const msg = events.find(([n, e]) => n === 'message' && e.data === '3')[1];
  assert.deepEqual(msg, { data: '3', room: 'r', position: 'a-3', raw: envelope('r', 'a-3', '3') });
});

test('failed attempts back off further; an open resets the count', () => {
  const f = fakes();
  const conn = new ResumingSockJS('/s', { ...f.options, random: () => 0, maxDelay: 350 });
  const delays = [];
  conn.on('reconnecting', (e) => delays.push([e.attempt, e.delay]));
  for (let i = 0; i < 4; i++) {
    f.sockets[i].end(2000, 'All transports failed');
    f.tick();
  }
  f.sockets[4].open();
  f.sockets[4].end(3000, 'Go away!', true);
  assert.deepEqual(delays, [[1, 100], [2, 200], [3, 350], [4, 350], [1, 100]]);
});

test('lost: the room position is forgotten and the next resume goes without it', () => {
  const f = fakes();
  const conn = new ResumingSockJS('/s?room=r', { ...f.options, positions: { r: 'old-5', other: 'b-1' } });
  const events = record(conn);
  assert.equal(f.sockets[0].url, '/s?room=r&since=r%3Aold-5%2Cother%3Ab-1');
  f.sockets[0].open();
  f.sockets[0].message('{"lost":"r"}');
  assert.deepEqual(conn.positions(), { other: 'b-1' });
  f.sockets[0].message('lost');
  assert.deepEqual(conn.positions(), {});
  assert.deepEqual(events.filter(([n]) => n === 'lost').map(([, e]) => e.room), ['r', null]);
  f.sockets[0].end(1006, '');
  f.tick();
  assert.equal(f.sockets[1].url, '/s?room=r');
});

test('close() stops reconnecting, at any moment', () => {
  const f = fakes();
  const conn = new ResumingSockJS('/s', f.options);
  const events = record(conn);
  f.sockets[0].open();
  conn.close(1000, 'bye');
  assert.deepEqual(f.sockets[0].closedWith, [1000, 'bye']);
  f.sockets[0].end(1000, 'bye', true);
  assert.equal(conn.state, 'closed');
  assert.equal(f.pending(), 0);
  assert.equal(events.at(-1)[1].willReconnect, false);

  // While waiting to reconnect: the timer is cleared.
  const g = fakes();
  const waiting = new ResumingSockJS('/s', g.options);
  g.sockets[0].end(1006, '');
  assert.equal(g.pending(), 1);
  const closes = [];
  waiting.on('close', (e) => closes.push(e));
  waiting.close();
  assert.equal(g.pending(), 0);
  assert.equal(waiting.state, 'closed');
  assert.deepEqual(closes, [{ code: 1000, reason: 'Normal closure', wasClean: true, willReconnect: false }]);

  // From a close listener.
  const h = fakes();
  const fromListener = new ResumingSockJS('/s', h.options);
  fromListener.on('close', () => fromListener.close());
  h.sockets[0].end(1006, '');
  assert.equal(h.pending(), 0);
  assert.equal(fromListener.state, 'closed');
});

test('maxAttempts: gives up with a final close', () => {
  const f = fakes();
  const conn = new ResumingSockJS('/s', { ...f.options, maxAttempts: 2 });
  const closes = [];
  conn.on('close', (e) => closes.push(e.willReconnect));
  f.sockets[0].end(1006, '');
  f.tick();
  f.sockets[1].end(1006, '');
  f.tick();
  f.sockets[2].end(1006, '');
  assert.deepEqual(closes, [true, true, false]);
  assert.equal(conn.state, 'closed');
  assert.equal(f.pending(), 0);
});

test('resumeBy message: the positions are the first message of every connection', () => {
  const f = fakes();
  const conn = new ResumingSockJS('/s?room=r', { ...f.options, resumeBy: 'message' });
  f.sockets[0].open();
  assert.deepEqual(f.sockets[0].sent, ['{"since":{}}']);
  f.sockets[0].message(envelope('r', 'a-7', 'x'));
  assert.equal(conn.send('hello'), true);
  f.sockets[0].end(1006, '');
  assert.equal(conn.send('while away'), false);
  f.tick();
  assert.equal(f.sockets[1].url, '/s?room=r');
  f.sockets[1].open();
  assert.deepEqual(f.sockets[1].sent, ['{"since":{"r":"a-7"}}']);
});

test('an extractor of the application, and events of an old socket ignored', () => {
  const f = fakes();
  const conn = new ResumingSockJS('/s', {
    ...f.options,
    extract: (d) => {
      const [room, position, data] = d.split('|');
      return data === undefined ? null : { room, position, data };
    },
  });
  const got = [];
  conn.on('message', (e) => got.push([e.room, e.position, e.data]));
  f.sockets[0].open();
  f.sockets[0].message('r|e-1|one');
  f.sockets[0].message('plain');
  f.sockets[0].end(1006, '');
  f.sockets[0].message('r|e-9|late'); // a closed socket's stray event
  f.tick();
  assert.equal(f.sockets[1].url, '/s?since=e-1');
  assert.deepEqual(got, [['r', 'e-1', 'one'], [null, null, 'plain']]);
});

test('a throwing listener does not stop the others, nor the bookkeeping', () => {
  const f = fakes();
  const conn = new ResumingSockJS('/s', f.options);
  const seen = [];
  conn.on('message', () => { throw new Error('app bug'); });
  conn.on('message', (e) => seen.push(e.data));
  f.sockets[0].open();
  f.sockets[0].message(envelope('r', 'a-1', 'x'));
  assert.deepEqual(seen, ['x']);
  assert.deepEqual(conn.positions(), { r: 'a-1' });
  assert.throws(() => f.tick(), /app bug/);
});

test('options and events are checked', () => {
  const f = fakes();
  assert.throws(() => new ResumingSockJS('/s', { ...f.options, intialDelay: 5 }), /unknown option intialDelay/);
  assert.throws(() => new ResumingSockJS('/s', { ...f.options, resumeBy: 'cookie' }), /resumeBy/);
  assert.throws(() => new ResumingSockJS('/s', { ...f.options }).on('opne', () => {}), /no event opne/);
  assert.throws(() => new ResumingSockJS('/s', { ...f.options, SockJS: null }), /not loaded/);
});

test('a gap in a room\'s positions resumes from the last one; a repeat is dropped', () => {
  const f = fakes();
  const conn = new ResumingSockJS('http://h/r?room=r', f.options);
  const events = record(conn);
  f.sockets[0].open();
  f.sockets[0].message(envelope('r', 'a-1', '1'));
  f.sockets[0].message(envelope('r', 'a-3', '3')); // 2 lost on the way
  assert.deepEqual(f.sockets[0].closedWith, [undefined, undefined], 'the connection is dropped');
  assert.equal(conn.state, 'reconnecting');
  f.sockets[0].message(envelope('r', 'a-4', '4')); // late, from the dropped one: ignored
  f.tick();
  assert.equal(f.sockets[1].url, 'http://h/r?room=r&since=a-1');
  f.sockets[1].open();
  f.sockets[1].message(envelope('r', 'a-2', '2'));
  f.sockets[1].message(envelope('r', 'a-2', '2')); // a repeat
  f.sockets[1].message(envelope('r', 'a-3', '3'));
  assert.deepEqual(events.filter(([n]) => n === 'message').map(([, e]) => e.data), ['1', '2', '3']);
  const close = events.find(([n]) => n === 'close')[1];
  assert.deepEqual(close, { code: 4001, reason: 'Gap in room positions', wasClean: false, willReconnect: true });
  assert.deepEqual(conn.repairs(), { gaps: 1, repeats: 1 });
  assert.deepEqual(conn.positions(), { r: 'a-3' });
});

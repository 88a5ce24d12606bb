/*
 * sockjs-resume.js: a sockjs-client 1.x connection that reconnects and
 * resumes room streams where it left off. Plain browser JavaScript, no
 * build step, no dependencies but sockjs-client itself; also loadable in
 * node (`require`) for tests. Part of sockjs-axum (MIT OR Apache-2.0).
 *
 * Load it after sockjs-client; it defines the global `ResumingSockJS`.
 *
 *   var conn = new ResumingSockJS('https://example.com/chat?room=lobby', {
 *     sockjsOptions: { transports: ['websocket', 'xhr-streaming'] },
 *   });
 *   conn.on('message', function (m) { show(m.room, m.data); });   // m.position: '5f3a9c-17'
 *   conn.on('lost', function (e) { reloadEverything(e.room); });  // history gone
 *   conn.on('reconnecting', function (e) { status('again in ' + e.delay + ' ms'); });
 *   conn.send('hello');
 *   conn.close();                                                  // for good
 *
 * What it does:
 *
 * - Wraps `new SockJS(url, null, sockjsOptions)`. When the connection
 *   closes for any reason but `close()`, it opens a new one after a delay
 *   that grows exponentially with each failed attempt, with jitter, and is
 *   bounded: attempt n (1, 2, ...) waits
 *   `min(maxDelay, initialDelay * factor^(n-1)) * (1 - jitter * random())`.
 *   A connection that opens resets the count.
 * - Tracks the last position it saw per room, from the server's room
 *   envelopes `{"room":"lobby","pos":"5f3a9c-17","data":"..."}` (what
 *   sockjs-axum's rooms send when they keep history; `pos` is
 *   `<hex epoch>-<offset>`, as `sockjs::rooms::Position` prints and parses
 *   it), or from your own `extract` hook.
 * - On every reconnect, tells the server where it left off: by default in
 *   the URL's query, `since=<pos>` (sockjs-client keeps the query on every
 *   request of the session, so the handler reads it with
 *   `session.query()`, as does a handshake hook); or, with
 *   `resumeBy: 'message'`, as the first message of each connection.
 *   The server then calls `tx.join_since(room, pos)`: every kept message
 *   after `pos`, then the live ones, none missed, none twice.
 * - Checks that a room's positions follow each other (offsets one apart
 *   in an epoch): a position past the next means messages were lost on
 *   the way (a node that forwarded the stream died with them in flight),
 *   and it drops the connection and resumes from the last position seen;
 *   a position at or before the last is dropped as seen. `repairs()`
 *   counts both ({gaps, repeats}), so tests still see a server that broke
 *   its promise of every message once, in order.
 *
 * Options (every one optional; defaults in brackets):
 *
 *   sockjsOptions  the third argument of `new SockJS` [{}]
 *   initialDelay   ms before the first reconnect attempt [250]
 *   maxDelay       bound on the delay, ms [10000]
 *   factor         growth of the delay per failed attempt [2]
 *   jitter         fraction of the delay taken off at random, 0..1 [0.5]
 *   maxAttempts    reconnect attempts in a row before giving up (then a
 *                  final `close`) [Infinity]
 *   positions      `{room: position}` to resume from at the first
 *                  connection (e.g. kept in localStorage) [{}]
 *   resumeBy       'query' or 'message' ['query']
 *   sinceParam     the query parameter's name ['since']
 *   resumeQuery    function (positions) -> string or null: the parameter's
 *                  value [one room: its position, `since=5f3a9c-17`;
 *                  several: `room:position` pairs joined by commas (rooms
 *                  URI-encoded); none: no parameter]
 *   resumeMessage  function (positions) -> string: the first message with
 *                  `resumeBy: 'message'`, sent on every open, also with no
 *                  position yet [JSON `{"since":{room: position, ...}}`]
 *   extract        function (data) -> what a received message is:
 *                  `{room, position, data}` (a room message: its position
 *                  is kept), `{lost: room}` (the server says that room's
 *                  history is gone; `room` null for all rooms), or null (a
 *                  plain message). [the envelope above; the text `lost`
 *                  (what the test server's /cluster_resume sends) and
 *                  `{"lost":"<room>"}` are lost signals]
 *   SockJS         the constructor [the global SockJS]
 *   setTimeout, clearTimeout, random   for tests [the globals, Math.random]
 *
 * Events (`conn.on(name, fn)`, `conn.off(name, fn)`):
 *
 *   open          {transport, url, resumed, since}: a connection opened;
 *                 `resumed` is false for the first one, `since` the
 *                 positions it resumed from, `url` what it opened
 *   message       {data, room, position, raw}: room and position null for
 *                 a message that is not a room message
 *   lost          {room}: the server could not resume (history gone, or a
 *                 position from before a restart); the connection stays
 *                 open and in the room, but what was missed is missed: the
 *                 application reloads its state. The room's position is
 *                 forgotten (all rooms' when room is null)
 *   close         {code, reason, wasClean, willReconnect}: a connection
 *                 closed; `willReconnect` false means for good (`close()`
 *                 or `maxAttempts`)
 *   reconnecting  {attempt, delay}: the next attempt starts in `delay` ms
 *
 * Methods and properties: `send(text)` (false when not open; nothing is
 * queued while reconnecting), `close([code, reason])` (no more
 * reconnects), `positions()` (a copy of `{room: position}`, e.g. to keep
 * in storage), `state` ('connecting', 'open', 'reconnecting', 'closed'),
 * `transport` (the open connection's), `url` (the base URL).
 */
(function (root, factory) {
  'use strict';
  if (typeof module === 'object' && module.exports) {
    module.exports = factory();
  } else {
    root.ResumingSockJS = factory();
  }
})(typeof self !== 'undefined' ? self : this, function () {
  'use strict';

  var EVENTS = ['open', 'message', 'lost', 'close', 'reconnecting'];

  function defaultExtract(data) {
    if (data === 'lost') return { lost: null };
    if (typeof data !== 'string' || data.charAt(0) !== '{') return null;
    var v;
    try {
      v = JSON.parse(data);
    } catch (e) {
      return null;
    }
    if (!v || typeof v !== 'object') return null;
    if (typeof v.room === 'string' && typeof v.pos === 'string' && 'data' in v) {
      return { room: v.room, position: v.pos, data: v.data };
    }
    var keys = Object.keys(v);
    if (keys.length === 1 && keys[0] === 'lost' && typeof v.lost === 'string') return { lost: v.lost };
    return null;
  }

  function defaultResumeQuery(positions) {
    var rooms = Object.keys(positions);
    if (!rooms.length) return null;
    if (rooms.length === 1) return positions[rooms[0]];
    return rooms.map(function (room) { return encodeURIComponent(room) + ':' + positions[room]; }).join(',');
  }

  function defaultResumeMessage(positions) {
    return JSON.stringify({ since: positions });
  }

  // How `position` follows `last` in a room: 'next' (or the first, or of
  // another epoch, or unparsable), 'seen' (at or before the last) or 'gap'
  // (past the next: messages missing). Positions are `<epoch>-<offset>`.
  function follow(last, position) {
    function split(p) {
      var i = p.lastIndexOf('-');
      if (i < 0 || !/^[0-9]+$/.test(p.slice(i + 1))) return null;
      return { epoch: p.slice(0, i), offset: Number(p.slice(i + 1)) };
    }
    if (last === undefined) return 'next';
    var a = split(String(last));
    var b = split(position);
    if (!a || !b || a.epoch !== b.epoch) return 'next';
    if (b.offset <= a.offset) return 'seen';
    if (b.offset > a.offset + 1) return 'gap';
    return 'next';
  }

  function copy(o) {
    var out = {};
    Object.keys(o || {}).forEach(function (k) { out[k] = o[k]; });
    return out;
  }

  // The delay before reconnect attempt `attempt` (1, 2, ...).
  function backoff(attempt, o) {
    var n = Math.max(1, attempt);
    var base = Math.min(o.maxDelay, o.initialDelay * Math.pow(o.factor, n - 1));
    var jitter = Math.min(1, Math.max(0, o.jitter));
    return Math.max(0, Math.round(base * (1 - jitter * o.random())));
  }

  // `url` with query parameter `name` set to `value` (removed when value is
  // null); the fragment is kept last.
  function withParam(url, name, value) {
    var hash = '';
    var h = url.indexOf('#');
    if (h >= 0) {
      hash = url.slice(h);
      url = url.slice(0, h);
    }
    var q = url.indexOf('?');
    var path = q >= 0 ? url.slice(0, q) : url;
    var params = q >= 0 ? url.slice(q + 1).split('&').filter(function (kv) {
      if (!kv) return false;
      var k = kv.split('=')[0];
      try {
        k = decodeURIComponent(k);
      } catch (e) {
        // keep it as it is
      }
      return k !== name;
    }) : [];
    if (value !== null && value !== undefined) params.push(encodeURIComponent(name) + '=' + encodeURIComponent(value));
    return path + (params.length ? '?' + params.join('&') : '') + hash;
  }

  function ResumingSockJS(url, options) {
    if (!(this instanceof ResumingSockJS)) return new ResumingSockJS(url, options);
    var given = options || {};
    var o = {
      sockjsOptions: {},
      initialDelay: 250,
      maxDelay: 10000,
      factor: 2,
      jitter: 0.5,
      maxAttempts: Infinity,
      positions: {},
      resumeBy: 'query',
      sinceParam: 'since',
      resumeQuery: defaultResumeQuery,
      resumeMessage: defaultResumeMessage,
      extract: defaultExtract,
      SockJS: null,
      setTimeout: null,
      clearTimeout: null,
      random: Math.random,
    };
    Object.keys(given).forEach(function (k) {
      if (!(k in o)) throw new TypeError('ResumingSockJS: unknown option ' + k);
      if (given[k] !== undefined) o[k] = given[k];
    });
    if (o.resumeBy !== 'query' && o.resumeBy !== 'message') {
      throw new TypeError("ResumingSockJS: resumeBy is 'query' or 'message'");
    }
    o.setTimeout = o.setTimeout || function (f, ms) { return setTimeout(f, ms); };
    o.clearTimeout = o.clearTimeout || function (t) { clearTimeout(t); };
    this.url = url;
    this.state = 'connecting';
    this.transport = null;
    this._o = o;
    this._positions = copy(o.positions);
    this._gaps = 0;
    this._repeats = 0;
    this._listeners = {};
    this._attempt = 0;
    this._opens = 0;
    this._closing = false;
    this._sock = null;
    this._timer = null;
    this._connect();
  }

  ResumingSockJS.prototype.on = function (name, fn) {
    if (EVENTS.indexOf(name) < 0) throw new TypeError('ResumingSockJS: no event ' + name);
    (this._listeners[name] = this._listeners[name] || []).push(fn);
    return this;
  };

  ResumingSockJS.prototype.off = function (name, fn) {
    var list = this._listeners[name] || [];
    var i = list.indexOf(fn);
    if (i >= 0) list.splice(i, 1);
    return this;
  };

  ResumingSockJS.prototype._emit = function (name, event) {
    var list = (this._listeners[name] || []).slice();
    var o = this._o;
    for (var i = 0; i < list.length; i++) {
      try {
        list[i].call(this, event);
      } catch (e) {
        // A listener's error must not break the connection's bookkeeping;
        // it is rethrown on its own.
        o.setTimeout(function () { throw e; }, 0);
      }
    }
  };

  // What it repaired: resumes after a gap in a room's positions, repeats
  // dropped. Both 0 while the server and the path keep their promise.
  ResumingSockJS.prototype.repairs = function () {
    return { gaps: this._gaps, repeats: this._repeats };
  };

  ResumingSockJS.prototype.positions = function () {
    return copy(this._positions);
  };

  // The URL a connection opens now: the base URL, with the positions in
  // its query unless they go in a first message.
  ResumingSockJS.prototype.connectUrl = function () {
    if (this._o.resumeBy !== 'query') return this.url;
    return withParam(this.url, this._o.sinceParam, this._o.resumeQuery(copy(this._positions)));
  };

  ResumingSockJS.prototype._connect = function () {
    var self = this;
    var o = this._o;
    var Ctor = o.SockJS || (typeof SockJS !== 'undefined' ? SockJS : null); // eslint-disable-line no-undef
    if (!Ctor) throw new Error('ResumingSockJS: sockjs-client is not loaded (no global SockJS)');
    var since = copy(this._positions);
    var url = this.connectUrl();
    this.state = 'connecting';
    var sock = new Ctor(url, null, o.sockjsOptions || {});
    this._sock = sock;
    sock.onopen = function () {
      if (sock !== self._sock) return;
      self._attempt = 0;
      self._opens++;
      self.state = 'open';
      self.transport = sock.transport;
      if (o.resumeBy === 'message') sock.send(o.resumeMessage(since));
      self._emit('open', { transport: sock.transport, url: url, resumed: self._opens > 1, since: since });
    };
    sock.onmessage = function (e) {
      if (sock !== self._sock) return;
      self._receive(e.data);
    };
    sock.onclose = function (e) {
      if (sock !== self._sock) return;
      self._sock = null;
      self.transport = null;
      self._closed(e.code, e.reason, e.wasClean);
    };
  };

  ResumingSockJS.prototype._receive = function (raw) {
    var r = null;
    try {
      r = this._o.extract(raw);
    } catch (e) {
      r = null;
    }
    if (r && 'lost' in r) {
      var room = r.lost === undefined ? null : r.lost;
      if (room === null) this._positions = {};
      else delete this._positions[room];
      this._emit('lost', { room: room });
      return;
    }
    if (r && r.room !== undefined && r.room !== null && r.position !== undefined && r.position !== null) {
      var follows = follow(this._positions[r.room], String(r.position));
      if (follows === 'seen') {
        this._repeats++;
        return;
      }
      if (follows === 'gap') {
        // Messages lost on the way (a node that forwarded the session's
        // stream died with them in flight): drop this connection and
        // resume from the last position seen.
        this._gaps++;
        var sock = this._sock;
        this._sock = null;
        this.transport = null;
        if (sock) sock.close();
        this._closed(4001, 'Gap in room positions', false);
        return;
      }
      this._positions[r.room] = String(r.position);
      this._emit('message', { data: r.data, room: r.room, position: String(r.position), raw: raw });
      return;
    }
    this._emit('message', { data: raw, room: null, position: null, raw: raw });
  };

  ResumingSockJS.prototype._closed = function (code, reason, wasClean) {
    var self = this;
    var o = this._o;
    var final = this._closing || this._attempt + 1 > o.maxAttempts;
    if (final) {
      this.state = 'closed';
      this._emit('close', { code: code, reason: reason, wasClean: wasClean, willReconnect: false });
      return;
    }
    this._attempt++;
    var delay = backoff(this._attempt, o);
    this.state = 'reconnecting';
    this._emit('close', { code: code, reason: reason, wasClean: wasClean, willReconnect: true });
    // A `close` listener may have called close().
    if (this._closing) return;
    this._emit('reconnecting', { attempt: this._attempt, delay: delay });
    if (this._closing) return;
    this._timer = o.setTimeout(function () {
      self._timer = null;
      if (!self._closing) self._connect();
    }, delay);
  };

  ResumingSockJS.prototype.send = function (text) {
    if (this.state !== 'open' || !this._sock) return false;
    this._sock.send(text);
    return true;
  };

  ResumingSockJS.prototype.close = function (code, reason) {
    if (this._closing) return;
    this._closing = true;
    if (this._timer !== null) {
      this._o.clearTimeout(this._timer);
      this._timer = null;
    }
    if (this._sock) {
      // Its close event ends it (state 'closed', a final `close`).
      if (code === undefined) this._sock.close();
      else this._sock.close(code, reason);
      return;
    }
    if (this.state !== 'closed') {
      this.state = 'closed';
      this._emit('close', { code: code || 1000, reason: reason || 'Normal closure', wasClean: true, willReconnect: false });
    }
  };

  ResumingSockJS.backoff = function (attempt, options) {
    var o = { initialDelay: 250, maxDelay: 10000, factor: 2, jitter: 0.5, random: Math.random };
    Object.keys(options || {}).forEach(function (k) { o[k] = options[k]; });
    return backoff(attempt, o);
  };
  ResumingSockJS.withParam = withParam;
  ResumingSockJS.defaultExtract = defaultExtract;

  return ResumingSockJS;
});

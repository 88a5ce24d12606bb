// Browser side of the e2e suite: the test cases, run inside the page by
// run.mjs. Needs the global `SockJS` (sockjs-client's dist build) loaded
// first. Written for this project.
//
// Every case is `async (ctx) => detail`: it throws an Error saying what went
// wrong, or returns a short description of what it saw. `ctx.base` is the
// SockJS server (`http://127.0.0.1:PORT`), `ctx.transport` the one transport
// the case forces, `ctx.other` a different transport for two-client cases.
(function () {
  'use strict';

  var WAIT_MS = 10000;
  // Sessions of the close-cycles case (half on the slower iframe transports).
  var CLOSE_CYCLES = 50;
  var started = Date.now();

  // ---- a visible log, so a failure screenshot shows what happened ----

  function logBox() {
    var el = document.getElementById('e2e-log');
    if (!el) {
      el = document.createElement('pre');
      el.id = 'e2e-log';
      el.style.cssText = 'font: 12px monospace; white-space: pre-wrap; border: 1px solid #999; padding: 4px';
      document.body.appendChild(el);
    }
    return el;
  }

  var lines = [];
  function log(text) {
    var line = ((Date.now() - started) / 1000).toFixed(3) + 's ' + text;
    lines.push(line);
    logBox().textContent += line + '\n';
  }

  function short(s) {
    s = String(s);
    return s.length > 80 ? JSON.stringify(s.slice(0, 60)) + '... (' + s.length + ' chars)' : JSON.stringify(s);
  }

  // ---- a SockJS client whose events can be awaited ----

  function Client(url, transport, label) {
    var self = this;
    this.label = label || 'client';
    this.messages = [];
    this.closeEvent = null;
    this.opened = false;
    this.transport = null;
    this.wakers = [];
    var options = transport ? { transports: [transport] } : {};
    log(this.label + ': new SockJS(' + url + ', ' + JSON.stringify(options) + ')');
    var sock = new SockJS(url, null, options);
    this.sock = sock;
    sock.onopen = function () {
      self.opened = true;
      // sockjs-client resets sock.transport when it closes, which can be
      // in the same task as the open (the /close service), so keep it.
      self.transport = sock.transport;
      log(self.label + ': open, transport ' + sock.transport);
      self.wake();
    };
    sock.onmessage = function (e) {
      self.messages.push(e.data);
      if (self.messages.length <= 3) log(self.label + ': message ' + short(e.data));
      self.wake();
    };
    sock.onclose = function (e) {
      self.closeEvent = { code: e.code, reason: e.reason, wasClean: e.wasClean };
      log(self.label + ': close ' + JSON.stringify(self.closeEvent));
      self.wake();
    };
  }

  Client.prototype.wake = function () {
    var w = this.wakers;
    this.wakers = [];
    w.forEach(function (f) { f(); });
  };

  // Resolves once `done()` is true; rejects with `what()` after `ms`.
  Client.prototype.until = function (done, what, ms) {
    var self = this;
    return new Promise(function (resolve, reject) {
      var timer = setTimeout(function () {
        reject(new Error(self.label + ': ' + what() + ' (after ' + (ms || WAIT_MS) + ' ms)'));
      }, ms || WAIT_MS);
      (function check() {
        var r;
        try {
          r = done();
        } catch (e) {
          clearTimeout(timer);
          reject(e);
          return;
        }
        if (r) {
          clearTimeout(timer);
          resolve();
        } else {
          self.wakers.push(check);
        }
      })();
    });
  };

  // Like Client.until, woken by events of any of `clients`.
  function untilAll(clients, done, what, ms) {
    ms = ms || WAIT_MS;
    return new Promise(function (resolve, reject) {
      var finished = false;
      var timer = setTimeout(function () {
        finished = true;
        reject(new Error(what() + ' (after ' + ms + ' ms)'));
      }, ms);
      (function check() {
        if (finished) return;
        if (done()) {
          finished = true;
          clearTimeout(timer);
          resolve();
          return;
        }
        clients.forEach(function (c) {
          if (c.wakers.indexOf(check) < 0) c.wakers.push(check);
        });
      })();
    });
  }

  Client.prototype.describeClose = function () {
    var c = this.closeEvent;
    return c ? 'closed ' + c.code + ' ' + JSON.stringify(c.reason) + (c.wasClean ? ' (clean)' : '') : 'not closed';
  };

  // Waits for open and checks that the requested transport is the one used.
  Client.prototype.open = async function (transport) {
    var self = this;
    await this.until(function () {
      if (!self.opened && self.closeEvent) {
        throw new Error(self.label + ': closed before open: ' + self.describeClose());
      }
      return self.opened;
    }, function () { return 'did not open'; });
    if (transport && this.transport !== transport) {
      throw new Error(this.label + ': opened with transport ' + this.transport + ', not ' + transport);
    }
    return this;
  };

  // The next `n` messages (removed from the queue).
  Client.prototype.take = async function (n, ms) {
    var self = this;
    await this.until(function () {
      if (self.messages.length < n && self.closeEvent) {
        throw new Error(self.label + ': got ' + self.messages.length + ' of ' + n + ' messages, then ' + self.describeClose());
      }
      return self.messages.length >= n;
    }, function () {
      var m = self.messages;
      return 'got ' + m.length + ' of ' + n + ' messages' + (m.length ? ', last ' + short(m[m.length - 1]) : '');
    }, ms);
    return this.messages.splice(0, n);
  };

  Client.prototype.closed = async function (ms) {
    var self = this;
    await this.until(function () { return !!self.closeEvent; }, function () { return 'no close event'; }, ms);
    return this.closeEvent;
  };

  Client.prototype.close = function () {
    if (this.sock.readyState !== SockJS.CLOSED) this.sock.close();
  };

  async function connect(ctx, service, transport, label) {
    var c = new Client(ctx.base + service, transport, label);
    try {
      return await c.open(transport);
    } catch (e) {
      c.close();
      throw e;
    }
  }

  // Runs `body(client)` on a client of `service`, closing it afterwards.
  async function withClient(ctx, service, body) {
    var c = await connect(ctx, service, ctx.transport);
    try {
      return await body(c);
    } finally {
      c.close();
    }
  }

  function firstDifference(expected, got) {
    var n = Math.min(expected.length, got.length);
    for (var i = 0; i < n && expected.charCodeAt(i) === got.charCodeAt(i); i++);
    var hex = function (s) {
      return i < s.length ? 'U+' + s.charCodeAt(i).toString(16).toUpperCase().padStart(4, '0') : 'end';
    };
    return 'lengths ' + expected.length + ' sent / ' + got.length + ' received; first difference at index ' +
      i + ': sent ' + hex(expected) + ', received ' + hex(got);
  }

  function expectSame(what, expected, got) {
    if (expected !== got) throw new Error(what + ' changed in transit: ' + firstDifference(expected, got));
  }

  function expectClose(ev, code, reason, wasClean) {
    if (ev.code !== code || ev.reason !== reason || ev.wasClean !== wasClean) {
      throw new Error('expected close ' + code + ' ' + JSON.stringify(reason) + ' wasClean=' + wasClean +
        ', got ' + JSON.stringify(ev));
    }
  }

  // ---- test data ----

  function range(from, to) {
    var s = '';
    for (var c = from; c <= to; c++) s += String.fromCharCode(c);
    return s;
  }

  // Every character that PROTOCOL.md section 2 makes the server escape, the
  // JSON specials, a sample of everything else, and astral characters.
  function unicodeClasses() {
    return range(0x00, 0x1f) + range(0x20, 0x7f) + range(0x80, 0xff) +
      range(0x200c, 0x200f) + range(0x2028, 0x202f) + range(0x2060, 0x206f) + range(0xfff0, 0xffff) +
      '\u00ad\u0300\u0345\u0600\u0605\u061c\u06dd\u070f\u180e\u2000\u200b\ufeff\ue000\uf8ff\ufdd0\ufffd' +
      'é ß ø Ω 中文 日本語 한국어 مرحبا שלום ไทย' +
      '\u{1F600}\u{10000}\u{10FFFF}\u{1D11E}\u{1F468}\u200d\u{1F469}\u200d\u{1F467}\u{E0001}\u{F0000}';
  }

  // Every BMP code point that is not a surrogate, then every 4096th astral one.
  function unicodeSweep() {
    var s = range(0x0000, 0xd7ff) + range(0xe000, 0xffff);
    for (var cp = 0x10000; cp <= 0x10ffff; cp += 0x1000) s += String.fromCodePoint(cp + 0x123);
    return s;
  }

  // 200 KiB of ASCII that changes all along, so a lost or repeated chunk shows.
  function largeText() {
    var parts = [];
    var len = 0;
    for (var i = 0; len < 200 * 1024; i++) {
      var p = '<' + i.toString(36) + '>';
      parts.push(p);
      len += p.length;
    }
    return parts.join('').slice(0, 200 * 1024);
  }

  function token() {
    return Math.random().toString(36).slice(2, 10);
  }

  // ---- the cases ----

  var cases = {
    // It opens with exactly the requested transport (a fallback fails).
    opens: function (ctx) {
      return withClient(ctx, '/echo', async function (c) {
        if (c.sock.readyState !== SockJS.OPEN || c.sock.transport !== ctx.transport) {
          throw new Error('after open: readyState ' + c.sock.readyState + ', transport ' + c.sock.transport);
        }
        return 'transport ' + c.transport;
      });
    },

    // 20 messages, one at a time, each echoed before the next is sent.
    'echo-20': function (ctx) {
      return withClient(ctx, '/echo', async function (c) {
        var t0 = Date.now();
        for (var i = 0; i < 20; i++) {
          var m = 'message ' + i;
          c.sock.send(m);
          var got = (await c.take(1))[0];
          if (got !== m) throw new Error('sent ' + short(m) + ', received ' + short(got));
        }
        return '20 round trips in ' + (Date.now() - t0) + ' ms';
      });
    },

    // The characters the server must escape (and the rest of the BMP, and
    // astral characters) come back exactly.
    unicode: function (ctx) {
      return withClient(ctx, '/echo', async function (c) {
        var classes = unicodeClasses();
        var sweep = unicodeSweep();
        c.sock.send(classes);
        c.sock.send(sweep);
        var got = await c.take(2);
        expectSame('the escape-class string', classes, got[0]);
        expectSame('the whole-BMP string', sweep, got[1]);
        return classes.length + ' + ' + sweep.length + ' UTF-16 units round-tripped';
      });
    },

    // A lone surrogate (JavaScript strings can hold one; sockjs-client
    // sends it as a \udXXX escape) must not break the session: it comes
    // back as itself (sockjs-node) or as U+FFFD (a server whose strings
    // cannot hold it), and the messages around it echo unchanged.
    'lone-surrogate': function (ctx) {
      return withClient(ctx, '/echo', async function (c) {
        var odd = 'a\ud800b\udc00c';
        c.sock.send('before');
        c.sock.send(odd);
        c.sock.send('after');
        var got = await c.take(3);
        if (got[0] !== 'before' || got[2] !== 'after') throw new Error('neighbours changed: ' + JSON.stringify(got));
        if (got[1] === odd) return 'came back unchanged';
        if (got[1] === 'a\ufffdb\ufffdc') return 'came back as U+FFFD';
        throw new Error('came back as ' + JSON.stringify(got[1]));
      });
    },

    'large-200k': function (ctx) {
      return withClient(ctx, '/echo', async function (c) {
        var big = largeText();
        var t0 = Date.now();
        c.sock.send(big);
        var got = (await c.take(1))[0];
        expectSame('the 200 KiB message', big, got);
        return big.length + ' bytes in ' + (Date.now() - t0) + ' ms';
      });
    },

    // 200 messages sent back to back (about 20 KB, far past /echo's
    // response_limit of 4096) all arrive, in order.
    'burst-200': function (ctx) {
      return withClient(ctx, '/echo', async function (c) {
        var sent = [];
        for (var i = 0; i < 200; i++) sent.push('burst ' + i + ' ' + 'x'.repeat(80));
        var t0 = Date.now();
        sent.forEach(function (m) { c.sock.send(m); });
        var got = await c.take(200);
        for (var j = 0; j < 200; j++) {
          if (got[j] !== sent[j]) throw new Error('message ' + j + ': expected ' + short(sent[j]) + ', got ' + short(got[j]));
        }
        var elapsed = Date.now() - t0;
        // A server may batch all 200 echoes into one frame: the response
        // then ends right after them, and only the next message travels on
        // a fresh receiving request. One more round trip makes the
        // response_limit recycling observable however the server batches.
        c.sock.send('after the burst');
        var after = await c.take(1);
        if (after[0] !== 'after the burst') throw new Error('after the burst: got ' + short(after[0]));
        return '200 messages in ' + elapsed + ' ms';
      });
    },

    // A message with markup round-trips unchanged and runs nothing. On
    // htmlfile, frames are part of an HTML page: a raw `</script>` would end
    // the frame's script and run what follows (SECURITY.md). The injected
    // code would post to this page, from whatever frame it ran in.
    markup: function (ctx) {
      return withClient(ctx, '/echo', async function (c) {
        var ran = [];
        var listener = function (e) {
          if (e.data === 'sockjs-injected-script-ran') ran.push(e.origin);
        };
        window.addEventListener('message', listener);
        try {
          var post = "top.postMessage('sockjs-injected-script-ran','*')";
          var attack = '</script><img src=x onerror="' + post + '"><script>' + post + '</script><!--&amp;';
          c.sock.send(attack);
          expectSame('the message with markup', attack, (await c.take(1))[0]);
          // A round trip later, anything the frame started has posted.
          c.sock.send('after');
          var after = (await c.take(1))[0];
          if (after !== 'after') throw new Error('after the markup: got ' + short(after));
          if (ran.length) throw new Error('injected script ran, posting from ' + ran.join(', '));
          return 'echoed unchanged, ran nothing';
        } finally {
          window.removeEventListener('message', listener);
        }
      });
    },

    // The server closes: the client sees 3000 "Go away!".
    'server-close': async function (ctx) {
      var c = await connect(ctx, '/close', ctx.transport);
      var ev = await c.closed();
      expectClose(ev, 3000, 'Go away!', true);
      return 'closed 3000 "Go away!"';
    },

    // A close is a race between the server letting go of the connection
    // and the client reading its last bytes, so it is repeated: every one
    // of CLOSE_CYCLES sessions on /close must end 3000 "Go away!", clean
    // (a close frame lost to a TCP reset shows as 1006, not clean).
    'close-cycles': async function (ctx) {
      var n = ctx.transport && ctx.transport.indexOf('iframe') === 0 ? CLOSE_CYCLES / 2 : CLOSE_CYCLES;
      for (var i = 0; i < n; i++) {
        var c = new Client(ctx.base + '/close', ctx.transport, 'cycle ' + i);
        var ev = await c.closed();
        if (!c.opened) throw new Error('cycle ' + i + ': closed before open: ' + c.describeClose());
        try {
          expectClose(ev, 3000, 'Go away!', true);
        } catch (e) {
          throw new Error('cycle ' + i + ' of ' + n + ': ' + e.message);
        }
      }
      return n + ' sessions closed 3000 "Go away!", clean';
    },

    // /goodbye queues 20 messages and closes at once: all 20 arrive, in
    // order, before the close (3000 "Go away!", clean). Repeated.
    'goodbye': async function (ctx) {
      var n = ctx.transport && ctx.transport.indexOf('iframe') === 0 ? CLOSE_CYCLES / 4 : CLOSE_CYCLES / 2;
      var want = [];
      for (var k = 1; k <= 20; k++) want.push(String(k));
      for (var i = 0; i < n; i++) {
        var c = new Client(ctx.base + '/goodbye', ctx.transport, 'cycle ' + i);
        var ev = await c.closed();
        var what = 'cycle ' + i + ' of ' + n + ': ';
        if (!c.opened) throw new Error(what + 'closed before open: ' + c.describeClose());
        if (c.messages.join(',') !== want.join(',')) {
          throw new Error(what + 'got ' + JSON.stringify(c.messages) + ' before ' + c.describeClose());
        }
        try {
          expectClose(ev, 3000, 'Go away!', true);
        } catch (e) {
          throw new Error(what + e.message);
        }
      }
      return n + ' sessions: 20 messages in order, then 3000 "Go away!", clean';
    },

    // The client closes: 1000 "Normal closure", clean; a new connection
    // from the same page works right after.
    'client-close': async function (ctx) {
      var c = await connect(ctx, '/echo', ctx.transport);
      c.sock.send('before close');
      await c.take(1);
      c.sock.close();
      var ev = await c.closed();
      expectClose(ev, 1000, 'Normal closure', true);
      await withClient(ctx, '/echo', async function (d) {
        d.sock.send('after close');
        await d.take(1);
      });
      return 'closed 1000 "Normal closure", reconnect works';
    },

    // /restricted_echo admits this page's origin (127.0.0.1:<page port>):
    // it works, except jsonp-polling, which a restricted origin policy
    // turns off (a <script> request carries no Origin to check).
    'origin-allowed': async function (ctx) {
      if (ctx.transport === 'jsonp-polling') {
        var j = new Client(ctx.base + '/restricted_echo', ctx.transport);
        await j.closed();
        if (j.opened) throw new Error('jsonp-polling opened under a restricted origin policy');
        return 'jsonp-polling is off under a restricted policy: ' + j.describeClose();
      }
      return withClient(ctx, '/restricted_echo', async function (c) {
        c.sock.send('from ' + location.origin);
        var got = await c.take(1);
        if (got[0] !== 'from ' + location.origin) throw new Error('echo gave ' + JSON.stringify(got));
        return 'echo works from ' + location.origin;
      });
    },

    // The same page from another origin (localhost) cannot connect.
    'origin-refused': async function (ctx) {
      var c = new Client(ctx.base + '/restricted_echo', ctx.transport);
      await c.closed(15000);
      if (c.opened) throw new Error('opened from ' + location.origin + ' with ' + c.transport);
      // The refusal itself, not any early end: /info answers 403, so
      // sockjs-client gives up before any transport with its 1002.
      var e = c.closeEvent;
      if (!e || e.code !== 1002 || e.reason !== 'Cannot connect to server') {
        throw new Error('expected 1002 "Cannot connect to server", got ' + c.describeClose());
      }
      return 'refused from ' + location.origin + ': ' + c.describeClose();
    },

    // /auth_echo's handshake hook refuses a client without credentials
    // before any session opens, and admits one with a token (kept by
    // sockjs-client on every request), whose name reaches the handler.
    'auth': async function (ctx) {
      var anonymous = new Client(ctx.base + '/auth_echo', ctx.transport, 'anonymous');
      await anonymous.closed(15000);
      if (anonymous.opened) throw new Error('opened without credentials');
      var c = await connect(ctx, '/auth_echo?token=alice-token', ctx.transport);
      try {
        var hello = await c.take(1);
        if (hello[0] !== 'hello alice') throw new Error('first message ' + JSON.stringify(hello));
        c.sock.send('hi');
        var echo = await c.take(1);
        if (echo[0] !== 'hi') throw new Error('echo gave ' + JSON.stringify(echo));
      } finally {
        c.close();
      }
      return 'refused without a token (' + anonymous.describeClose() + '), "hello alice" with one';
    },

    // /deflate_echo compresses WebSocket messages (permessage-deflate),
    // which Chromium offers: a large compressible message and many small
    // ones round-trip, and the server saw the session compressed.
    'deflate': async function (ctx) {
      var before = (await (await fetch(ctx.base + '/stats')).json()).compressed_sessions;
      return withClient(ctx, '/deflate_echo', async function (c) {
        var big = '';
        for (var i = 0; big.length < 200 * 1024; i++) big += '{"seq":' + i + ',"text":"compressible \u2028"},';
        c.sock.send(big);
        for (var k = 0; k < 50; k++) c.sock.send('small ' + k);
        var got = await c.take(51);
        expectSame('200 KiB message', big, got[0]);
        for (k = 0; k < 50; k++) {
          if (got[k + 1] !== 'small ' + k) throw new Error('message ' + k + ': ' + short(got[k + 1]));
        }
        var after = (await (await fetch(ctx.base + '/stats')).json()).compressed_sessions;
        if (after <= before) throw new Error('the server did not see a compressed session');
        return 'permessage-deflate negotiated; 200 KiB and 50 small messages round-tripped';
      });
    },

    // The JSESSIONID service works on this transport.
    'cookie-needed': function (ctx) {
      return withClient(ctx, '/cookie_needed_echo', async function (c) {
        c.sock.send('a');
        c.sock.send('b');
        var got = await c.take(2);
        if (got[0] !== 'a' || got[1] !== 'b') throw new Error('echo gave ' + JSON.stringify(got));
        return 'echo works';
      });
    },

    // websocket is refused (the server says websocket: false); every other
    // transport just works.
    'disabled-websocket': async function (ctx) {
      if (ctx.transport === 'websocket') {
        var c = new Client(ctx.base + '/disabled_websocket_echo', 'websocket');
        var ev = await c.closed();
        if (c.opened) throw new Error('opened with ' + c.transport);
        expectClose(ev, 2000, 'All transports failed', false);
        return 'refused: closed 2000 "All transports failed"';
      }
      return withClient(ctx, '/disabled_websocket_echo', async function (d) {
        d.sock.send('hello');
        var got = (await d.take(1))[0];
        if (got !== 'hello') throw new Error('echo gave ' + short(got));
        return 'echo works';
      });
    },

    ticker: function (ctx) {
      return withClient(ctx, '/ticker', async function (c) {
        var t0 = Date.now();
        var got = await c.take(2, 5000);
        if (got[0] !== 'tick!' || got[1] !== 'tick!') throw new Error('ticks were ' + JSON.stringify(got));
        return '2 ticks in ' + (Date.now() - t0) + ' ms';
      });
    },

    // A message sent on this transport reaches a client on another
    // transport, and the other way round.
    broadcast: async function (ctx) {
      var a = await connect(ctx, '/broadcast', ctx.transport, 'A ' + ctx.transport);
      var b;
      try {
        b = await connect(ctx, '/broadcast', ctx.other, 'B ' + ctx.other);
        var t = token();
        var mine = function (m) { return m.indexOf(t) === 0; };
        a.sock.send(t + ' from A');
        b.sock.send(t + ' from B');
        var expect = JSON.stringify([t + ' from A', t + ' from B']);
        var seen = function (x) { return JSON.stringify(x.messages.filter(mine).sort()); };
        var both = function () { return seen(a) === expect && seen(b) === expect; };
        await untilAll([a, b], both, function () {
          return 'expected both clients to get ' + expect + '; A (' + a.label + ') got ' + seen(a) +
            ', B (' + b.label + ') got ' + seen(b);
        });
        return 'both ways with ' + ctx.other;
      } finally {
        a.close();
        if (b) b.close();
      }
    },

    // An idle connection gets heartbeat frames (the server runs with a
    // short --heartbeat-delay-ms, given as ctx.heartbeatMs). On websocket
    // the server may use WebSocket pings instead, which a page cannot see:
    // there the connection must just stay open and working.
    heartbeat: function (ctx) {
      return withClient(ctx, '/echo', async function (c) {
        var beats = 0;
        var t0 = Date.now();
        c.sock.addEventListener('heartbeat', function () {
          beats++;
          log('heartbeat');
          c.wake();
        });
        if (ctx.transport === 'websocket') {
          await new Promise(function (resolve) { setTimeout(resolve, 2.5 * ctx.heartbeatMs); });
          if (c.closeEvent) throw new Error('idle connection ' + c.describeClose());
          c.sock.send('still there');
          var got = (await c.take(1))[0];
          if (got !== 'still there') throw new Error('echo after idling gave ' + short(got));
          return 'open and working after ' + (Date.now() - t0) + ' ms idle; ' + beats + ' "h" frames (pings are invisible)';
        }
        await c.until(function () { return beats >= 2; }, function () {
          return beats + ' heartbeats in ' + (Date.now() - t0) + ' ms, expected 2 (heartbeat delay ' + ctx.heartbeatMs + ' ms)';
        }, 2 * ctx.heartbeatMs + 3000);
        return '2 heartbeats in ' + (Date.now() - t0) + ' ms';
      });
    },

    // sockjs-resume.js on this transport: a numbered room stream from
    // /cluster_resume (room history) published by another client, the
    // receiving connection cut by the server (/cluster_resume_cut) CUTS
    // times in the middle of it, each cut followed at once by more of the
    // stream: the helper reconnects with the last position it saw
    // (?since=) and gets every number exactly once, in order. Then a
    // position from another epoch (history gone) yields `lost`, and the
    // connection goes on in the room.
    resume: async function (ctx) {
      if (typeof ResumingSockJS === 'undefined') throw new Error('sockjs-resume.js is not loaded');
      var N = 300;
      var CUTS = 5;
      var chunk = N / (CUTS + 1);
      var room = 'e2e-' + (ctx.transport || 'any') + '-' + token();
      var sig = { wakers: [], wake: Client.prototype.wake };
      var got = [];
      var offsets = [];
      var epochs = {};
      var joins = 0;
      var opens = [];
      var closes = [];
      var reconnecting = [];
      var lost = [];
      var conn = new ResumingSockJS(ctx.base + '/cluster_resume?room=' + room, {
        sockjsOptions: ctx.transport ? { transports: [ctx.transport] } : {},
        initialDelay: 50,
        maxDelay: 1000,
      });
      conn.on('open', function (e) {
        opens.push(e);
        log('resume: open ' + e.transport + ' ' + e.url.replace(ctx.base, ''));
        sig.wake();
      });
      conn.on('message', function (e) {
        if (e.position === null) {
          if (e.data === 'joined') joins++;
        } else {
          got.push(Number(e.data));
          epochs[e.position.split('-')[0]] = true;
          offsets.push(Number(e.position.split('-')[1]));
        }
        sig.wake();
      });
      conn.on('lost', function (e) { lost.push(e.room); sig.wake(); });
      conn.on('close', function (e) {
        closes.push(e.code + ' ' + e.reason);
        log('resume: close ' + e.code + ' ' + JSON.stringify(e.reason) + ' after ' + got.length + ' numbers');
        sig.wake();
      });
      conn.on('reconnecting', function (e) { reconnecting.push(e); sig.wake(); });
      var wait = function (done, what) {
        return untilAll([sig], function () {
          if (lost.length) throw new Error('told lost while resuming');
          return done();
        }, function () { return what + ' (got ' + got.length + ' numbers, ' + opens.length + ' opens, ' + joins + ' joins)'; });
      };
      var pub;
      var late;
      try {
        await wait(function () { return joins === 1; }, 'the receiver did not join');
        pub = await connect(ctx, '/cluster_resume?room=' + room + '&publish', 'websocket', 'publisher');
        var next = 1;
        var publish = function (n) {
          for (var i = 0; i < n; i++) pub.sock.send(String(next++));
        };
        for (var k = 0; k <= CUTS; k++) {
          publish(chunk);
          if (k === CUTS) break;
          // Mid-stream: once some of this part has arrived on the k-th
          // connection, cut it; the next part is published at once, while
          // the receiver is away.
          await wait(function () { return joins === k + 1 && got.length > k * chunk; }, 'cut ' + (k + 1) + ': not reconnected');
          var answer = await (await fetch(ctx.base + '/cluster_resume_cut?room=' + encodeURIComponent(room))).json();
          if (answer.cut !== 1) throw new Error('cut ' + (k + 1) + ' closed ' + answer.cut + ' sessions, not 1');
        }
        await wait(function () { return got.length >= N && joins === CUTS + 1; }, 'not every number arrived');
        // Every number once, in order, at increasing positions of one epoch.
        var wrong = [];
        for (var j = 0; j < got.length; j++) {
          if (got[j] !== j + 1) wrong.push('#' + j + ' is ' + got[j]);
        }
        if (wrong.length || got.length !== N) {
          throw new Error(got.length + ' numbers of ' + N + ', out of place: ' + wrong.slice(0, 5).join(', '));
        }
        for (j = 1; j < offsets.length; j++) {
          if (offsets[j] <= offsets[j - 1]) throw new Error('position offsets not increasing at ' + j);
        }
        if (Object.keys(epochs).length !== 1) throw new Error('several epochs: ' + Object.keys(epochs));
        // On one node nothing may need repairing: a gap or a repeat the
        // helper hid is the server's loss or duplicate.
        var repairs = conn.repairs();
        if (repairs.gaps + repairs.repeats > 0) throw new Error('the helper repaired ' + JSON.stringify(repairs));
        // Every close is a cut, or an attempt that did not open (the
        // helper tries again; sockjs-client's iframe transports sometimes
        // fail to open right after the previous iframe went away).
        var cutCloses = closes.filter(function (c) { return c === '4000 cut'; }).length;
        var failed = closes.filter(function (c) { return c !== '4000 cut'; });
        if (cutCloses !== CUTS || opens.length !== CUTS + 1 || reconnecting.length !== closes.length ||
            failed.some(function (c) { return c.indexOf('2000 ') !== 0 && c.indexOf('1002 ') !== 0; })) {
          throw new Error('expected ' + CUTS + ' cuts and reconnects: closes ' + JSON.stringify(closes) +
            ', ' + reconnecting.length + ' reconnecting, ' + opens.length + ' opens');
        }
        var resumed = opens.slice(1).filter(function (e) { return e.resumed && /[?&]since=/.test(e.url); }).length;
        if (resumed !== CUTS) throw new Error('only ' + resumed + ' of ' + CUTS + ' reconnects passed since=');
        if (opens.some(function (e) { return ctx.transport && e.transport !== ctx.transport; })) {
          throw new Error('a reconnect used another transport: ' + opens.map(function (e) { return e.transport; }));
        }

        // History gone: a position of another epoch.
        var epoch = Object.keys(epochs)[0];
        var other = (parseInt(epoch, 16) + 1).toString(16) + '-1';
        var lateLost = [];
        var lateGot = [];
        var lateJoined = false;
        late = new ResumingSockJS(ctx.base + '/cluster_resume?room=' + room, {
          sockjsOptions: ctx.transport ? { transports: [ctx.transport] } : {},
          positions: (function () { var p = {}; p[room] = other; return p; })(),
          initialDelay: 50,
        });
        var lateCloses = [];
        late.on('lost', function (e) { lateLost.push(e.room); sig.wake(); });
        late.on('message', function (e) {
          if (e.data === 'joined' && e.position === null) lateJoined = true;
          else if (e.position !== null) lateGot.push(e.data);
          sig.wake();
        });
        late.on('close', function (e) {
          lateCloses.push(e.code + ' ' + e.reason);
          log('late: close ' + e.code + ' ' + e.reason);
          sig.wake();
        });
        await untilAll([sig], function () { return lateJoined; }, function () {
          return 'the late client did not join (closes: ' + JSON.stringify(lateCloses) + ')';
        });
        if (lateLost.length !== 1) throw new Error('since=' + other + ' (another epoch): lost ' + JSON.stringify(lateLost));
        publish(1);
        await untilAll([sig], function () { return lateGot.length === 1 && got.length === N + 1; }, function () {
          return 'after lost, the next number did not reach both clients';
        });
        if (late.positions()[room] === undefined) throw new Error('after lost, no new position kept');
        return N + ' numbers once and in order across ' + CUTS + ' cuts (resumed with since= each time' +
          (failed.length ? '; ' + failed.length + ' attempts failed to open and were retried' : '') + '); since=' +
          other + ' gave lost, then live again';
      } finally {
        conn.close();
        if (late) late.close();
        if (pub) pub.close();
      }
    },

    // Run by `cargo xtask cluster-test` through HAProxy: sockjs-resume.js
    // clients (websocket, xhr-streaming; ?client=browser-<transport>, which
    // the cluster test counts per node) join room ctx.room of
    // /cluster_resume and wait for the numbers 0 .. ctx.expect - 1, which
    // the cluster test publishes while it kills the node some of them are
    // on; they reconnect through the proxy with since= and must get every
    // number once, in order.
    'cluster-resume': async function (ctx) {
      if (typeof ResumingSockJS === 'undefined') throw new Error('sockjs-resume.js is not loaded');
      var sig = { wakers: [], wake: Client.prototype.wake };
      var clients = ['websocket', 'xhr-streaming'].map(function (transport) {
        var c = { transport: transport, got: [], at: [], joins: 0, lost: 0, closes: [], opens: 0 };
        c.conn = new ResumingSockJS(ctx.base + '/cluster_resume?client=browser-' + transport + '&room=' + encodeURIComponent(ctx.room), {
          sockjsOptions: { transports: [transport] },
          initialDelay: 100,
          maxDelay: 2000,
        });
        c.conn.on('open', function (e) { c.opens++; log(transport + ': open ' + e.url.replace(ctx.base, '')); sig.wake(); });
        c.conn.on('message', function (e) {
          if (e.position !== null) {
            c.got.push(Number(e.data));
            c.at.push(e.position);
          } else if (e.data === 'joined') c.joins++;
          sig.wake();
        });
        c.conn.on('lost', function () { c.lost++; sig.wake(); });
        c.conn.on('close', function (e) {
          c.closes.push(e.code + ' ' + e.reason);
          log(transport + ': close ' + e.code + ' ' + e.reason + ' after ' + c.got.length);
          sig.wake();
        });
        return c;
      });
      try {
        await untilAll([sig], function () {
          return clients.every(function (c) { return c.got.indexOf(ctx.expect - 1) >= 0; });
        }, function () {
          return 'not every number arrived: ' + clients.map(function (c) {
            return c.transport + ' ' + c.got.length + ' (last ' + c.got[c.got.length - 1] + ')';
          }).join(', ');
        }, ctx.waitMs || 60000);
        var lost = 0;
        var dup = 0;
        var order = 0;
        var cut = 0;
        var gaps = 0;
        var reports = clients.map(function (c) {
          var seen = new Array(ctx.expect).fill(0);
          c.got.forEach(function (n) { if (n >= 0 && n < ctx.expect) seen[n]++; });
          var l = seen.filter(function (x) { return x === 0; }).length;
          if (l > 0) {
            // Where the numbers went missing: each missing run, with the
            // number and position received before and after it.
            var runs = [];
            for (var k = 1; k < c.got.length; k++) {
              if (c.got[k] !== c.got[k - 1] + 1) {
                runs.push(c.got[k - 1] + '@' + c.at[k - 1] + ' then ' + c.got[k] + '@' + c.at[k]);
              }
            }
            log(c.transport + ': missing ' + l + ' (first ' + c.got[0] + '@' + c.at[0] + '): ' + runs.join('; '));
          }
          var d = seen.reduce(function (a, x) { return a + Math.max(0, x - 1); }, 0);
          var o = 0;
          for (var i = 1; i < c.got.length; i++) if (c.got[i] <= c.got[i - 1]) o++;
          // A repeat the helper dropped is the server's duplicate; a gap it
          // resumed from is a loss on the way through a node that died
          // (repaired, reported).
          var repairs = c.conn.repairs();
          lost += l + c.lost;
          dup += d + repairs.repeats;
          gaps += repairs.gaps;
          order += o;
          if (c.opens > 1) cut++;
          return c.transport + ': ' + c.got.length + ' numbers, ' + c.opens + ' connections';
        });
        var summary = 'browser: ' + clients.length + ' sockjs-resume.js clients x ' + ctx.expect + ' numbers, ' + cut +
          ' resumed after the kill, ' + gaps + ' after a gap; ' + lost + ' lost, ' + dup + ' duplicated, ' + order + ' out of order (' + reports.join('; ') + ')';
        if (lost + dup + order > 0) throw new Error(summary);
        // The cluster test kills the websocket client's node. The
        // xhr-streaming client may never see a close: sockjs-client renews
        // a streaming response that ends as if at response_limit, on the
        // same session id, which the proxy then sends to a live node (a new
        // session there if the old one died with the node, joined with the
        // since= of that connection's URL). If positions then skip, the
        // helper resumes from the last one it saw (a gap, counted above);
        // its reconnects are counted, not required.
        if (clients[0].opens < 2) throw new Error('the websocket client was not cut: ' + summary);
        return summary;
      } finally {
        clients.forEach(function (c) { c.conn.close(); });
      }
    },

    // Without a transport list, /echo opens on websocket.
    'default-websocket': async function (ctx) {
      var c = await connect(ctx, '/echo', null);
      c.close();
      if (c.transport !== 'websocket') throw new Error('opened with ' + c.transport);
      return 'transport websocket';
    },

    // Without a transport list, /disabled_websocket_echo falls back.
    'fallback': async function (ctx) {
      var c = await connect(ctx, '/disabled_websocket_echo', null);
      try {
        var used = c.transport;
        if (used === 'websocket') throw new Error('opened with websocket');
        c.sock.send('hello');
        var got = (await c.take(1))[0];
        if (got !== 'hello') throw new Error('echo gave ' + short(got));
        return 'fell back to ' + used;
      } finally {
        c.close();
      }
    },

    // The browser's own WebSocket on the raw endpoints, the close of
    // issue 16: every /close/websocket ends 3000 "Go away!" clean, every
    // /goodbye/websocket gets its 20 messages then 3000 clean, and a close
    // from the page on /echo/websocket ends 1000 clean. A close frame lost
    // to an early FIN or a reset shows as 1006, not clean.
    'raw-websocket-close': async function (ctx) {
      var wsBase = ctx.base.replace(/^http/, 'ws');
      function open(path, onOpen) {
        return new Promise(function (resolve, reject) {
          var ws = new WebSocket(wsBase + path);
          var texts = [];
          var timer = setTimeout(function () { reject(new Error(path + ': no close event')); }, WAIT_MS);
          ws.onopen = function () { if (onOpen) onOpen(ws); };
          ws.onmessage = function (e) { texts.push(e.data); };
          ws.onclose = function (e) {
            clearTimeout(timer);
            resolve({ texts: texts, code: e.code, reason: e.reason, wasClean: e.wasClean });
          };
        });
      }
      var want = [];
      for (var k = 1; k <= 20; k++) want.push(String(k));
      var n = CLOSE_CYCLES;
      for (var i = 0; i < n; i++) {
        var what = 'cycle ' + i + ' of ' + n + ': ';
        try {
          expectClose(await open('/close/websocket'), 3000, 'Go away!', true);
          var bye = await open('/goodbye/websocket');
          if (bye.texts.join(',') !== want.join(',')) throw new Error('/goodbye got ' + JSON.stringify(bye.texts));
          expectClose(bye, 3000, 'Go away!', true);
          expectClose(await open('/echo/websocket', function (ws) { ws.close(1000, 'Normal closure'); }),
            1000, 'Normal closure', true);
        } catch (e) {
          throw new Error(what + e.message);
        }
      }
      return n + ' cycles of /close, /goodbye and a page close on raw websockets, all clean';
    },

    // /amplify answers 2^n bytes for n = 1..18 (up to 256 KiB).
    amplify: async function (ctx) {
      var c = await connect(ctx, '/amplify', null);
      try {
        for (var n = 1; n <= 18; n++) {
          c.sock.send(String(n));
          var got = (await c.take(1))[0];
          if (got !== 'x'.repeat(Math.pow(2, n))) throw new Error('for ' + n + ' got ' + short(got));
        }
        return '2 .. 262144 bytes on ' + c.transport;
      } finally {
        c.close();
      }
    },
  };

  window.E2E = {
    cases: Object.keys(cases),
    // Runs one case; never throws: { ok, detail, log }.
    run: async function (name, ctx) {
      lines = [];
      log('case ' + name + ' ' + JSON.stringify(ctx));
      try {
        var detail = await cases[name](ctx);
        log('ok: ' + detail);
        return { ok: true, detail: String(detail), log: lines };
      } catch (e) {
        log('FAIL: ' + (e && e.message));
        return { ok: false, detail: String(e && e.message || e), log: lines };
      }
    },
  };
})();

//! What the checks share: assertion macros, request shorthands and the header
//! verifications that many transports repeat (CORS, no-cache, preflight).

use std::fmt::Debug;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::{Ctx, Failure};
use crate::client::{parse_http_date, Headers, Request, Response, Streaming};

/// Registers the checks of a module: `checks!("group", fn_name: "about", ...)`.
macro_rules! checks {
    ($group:literal, $($name:ident : $about:literal),* $(,)?) => {
        pub(super) fn list() -> Vec<super::Check> {
            vec![$(super::Check {
                name: concat!($group, "/", stringify!($name)),
                about: $about,
                run: |ctx| Box::pin($name(ctx)),
            }),*]
        }
    };
}

/// Fails the check unless `actual == expected`.
macro_rules! ensure_eq {
    ($actual:expr, $expected:expr, $($what:tt)+) => {
        match (&$actual, &$expected) {
            (actual, expected) => {
                if *actual != *expected {
                    return Err($crate::checks::support::mismatch(
                        format!($($what)+),
                        expected,
                        actual,
                    ));
                }
            }
        }
    };
}

/// Fails the check with a message unless `cond` holds.
macro_rules! ensure {
    ($cond:expr, $($msg:tt)+) => {
        if !$cond {
            return Err($crate::checks::Failure(format!($($msg)+)));
        }
    };
}

/// Shortens a debug rendering for one line of output.
fn short(s: String) -> String {
    const MAX: usize = 300;
    if s.chars().count() <= MAX {
        return s;
    }
    let head: String = s.chars().take(MAX).collect();
    format!("{head}... ({} chars)", s.chars().count())
}

/// A failure saying what differed.
pub(crate) fn mismatch(what: String, expected: &dyn Debug, actual: &dyn Debug) -> Failure {
    Failure(format!(
        "{what}: expected {}, got {}",
        short(format!("{expected:?}")),
        short(format!("{actual:?}"))
    ))
}

impl Ctx {
    /// A fresh session URL path: `/<service>/000/<uuid>`.
    pub(crate) fn session(&self, service: &str) -> String {
        format!("/{service}/000/{}", uuid::Uuid::new_v4())
    }

    /// Sends a request on a new connection and reads the whole answer.
    pub(crate) async fn send(&self, req: Request) -> Result<Response, Failure> {
        Ok(self.target.send(req).await?)
    }

    /// Sends a request on a new connection; the body is read as it comes.
    pub(crate) async fn open(&self, req: Request) -> Result<Streaming, Failure> {
        Ok(self.target.open(req).await?)
    }

    /// `GET path`.
    pub(crate) async fn get(&self, path: &str) -> Result<Response, Failure> {
        self.send(Request::new("GET", path)).await
    }

    /// `POST path` with `body`.
    pub(crate) async fn post(&self, path: &str, body: &str) -> Result<Response, Failure> {
        self.send(Request::new("POST", path).body(body)).await
    }

    /// An xhr poll that must answer 200 with exactly `expected`.
    pub(crate) async fn xhr_expect(&self, session: &str, expected: &str) -> Result<(), Failure> {
        let r = self.post(&format!("{session}/xhr"), "").await?;
        ensure_eq!(r.status(), 200, "POST {session}/xhr status");
        ensure_eq!(r.text(), expected, "POST {session}/xhr body");
        Ok(())
    }

    /// An xhr_send of `body` that must answer 204 with no body.
    pub(crate) async fn xhr_send_ok(&self, session: &str, body: &str) -> Result<(), Failure> {
        let req = Request::new("POST", format!("{session}/xhr_send")).body(body);
        let r = self.send_bodiless(req).await?;
        ensure_eq!(r.status(), 204, "POST {session}/xhr_send {body:?} status");
        Ok(())
    }

    /// Sends a request whose answer has no body by definition (204, 304) and
    /// checks that no stray bytes follow the head before the server closes
    /// the connection.
    pub(crate) async fn send_bodiless(&self, req: Request) -> Result<Response, Failure> {
        let what = format!("{} {}", req.method, req.target);
        let mut s = self.open(req).await?;
        if s.framing() != crate::client::Framing::Empty {
            return Ok(s.complete().await?.0);
        }
        if let Some(cl) = s.headers().get("content-length") {
            ensure_eq!(cl, "0", "{what}: Content-Length of a {} answer", s.status());
        }
        let stray = s.conn().read_to_close().await?;
        ensure_eq!(
            String::from_utf8_lossy(&stray).into_owned(),
            "",
            "{what}: bytes after the head of a {} answer",
            s.status()
        );
        Ok(s.complete().await?.0)
    }

    /// A generous bound for waiting on something the server does after
    /// `delay`.
    pub(crate) fn after(&self, delay: Duration) -> Duration {
        delay + delay / 2 + Duration::from_millis(500)
    }
}

/// A heartbeat must wait for heartbeat_delay: one arriving before half of it
/// has passed since `since` (when the open frame was read, so a little
/// after the server's timer started) is too early.
pub(crate) fn not_early(ctx: &Ctx, since: tokio::time::Instant, what: &str) -> Result<(), Failure> {
    let took = since.elapsed();
    ensure!(
        took >= ctx.heartbeat_delay / 2,
        "{what}: heartbeat after {took:?}, heartbeat_delay is {:?}",
        ctx.heartbeat_delay
    );
    Ok(())
}

/// The header, or "" when absent.
pub(crate) fn header<'a>(h: &'a Headers, name: &str) -> &'a str {
    h.get(name).unwrap_or("")
}

/// `Content-Type` equals `expected`, ignoring spaces.
pub(crate) fn content_type(h: &Headers, expected: &str, what: &str) -> Result<(), Failure> {
    let actual = h.get("content-type").map(|v| v.replace(' ', ""));
    ensure_eq!(
        actual.as_deref(),
        Some(expected.replace(' ', "").as_str()),
        "{what}: Content-Type"
    );
    Ok(())
}

/// Answers that must never be cached.
pub(crate) fn not_cached(h: &Headers, what: &str) -> Result<(), Failure> {
    ensure_eq!(
        h.get("cache-control"),
        Some("no-store, no-cache, no-transform, must-revalidate, max-age=0"),
        "{what}: Cache-Control"
    );
    ensure_eq!(h.get("expires"), None, "{what}: Expires");
    ensure_eq!(h.get("last-modified"), None, "{what}: Last-Modified");
    Ok(())
}

/// CORS answer to a request with `origin` (or none). Each
/// `Access-Control-Allow-*` header must come exactly once: browsers reject
/// an answer with two `Access-Control-Allow-Origin` values, even equal
/// ones. Repeated fields arrive combined ([`Headers::combined`]: `a, a`),
/// so the exact comparisons below fail on a repeat.
pub(crate) fn cors(h: &Headers, origin: Option<&str>, what: &str) -> Result<(), Failure> {
    match origin {
        Some(o) => {
            ensure_eq!(
                h.get("access-control-allow-origin"),
                Some(o),
                "{what}: Access-Control-Allow-Origin for Origin {o:?}"
            );
            ensure_eq!(
                h.get("access-control-allow-credentials"),
                Some("true"),
                "{what}: Access-Control-Allow-Credentials for Origin {o:?}"
            );
        }
        None => {
            ensure_eq!(
                h.get("access-control-allow-origin"),
                Some("*"),
                "{what}: Access-Control-Allow-Origin without Origin"
            );
            ensure_eq!(
                h.get("access-control-allow-credentials"),
                None,
                "{what}: Access-Control-Allow-Credentials without Origin"
            );
        }
    }
    let vary = h
        .get_all("vary")
        .flat_map(|v| v.split(','))
        .any(|v| v.trim().eq_ignore_ascii_case("origin"));
    ensure!(
        vary,
        "{what}: no `Vary: Origin` (Vary: {:?})",
        h.get("vary")
    );
    Ok(())
}

/// No `Set-Cookie`.
pub(crate) fn no_cookie(h: &Headers, what: &str) -> Result<(), Failure> {
    ensure_eq!(h.get("set-cookie"), None, "{what}: Set-Cookie");
    Ok(())
}

/// Cacheable for a year: `Cache-Control: public, max-age=31536000` and an
/// `Expires` about a year ahead.
pub(crate) fn cached_for_a_year(h: &Headers, what: &str) -> Result<(), Failure> {
    ensure_eq!(
        h.get("cache-control"),
        Some("public, max-age=31536000"),
        "{what}: Cache-Control"
    );
    let expires = header(h, "expires");
    let at = parse_http_date(expires)
        .ok_or_else(|| Failure(format!("{what}: Expires is not an HTTP date: {expires:?}")))?;
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs();
    let ahead = at.saturating_sub(now);
    ensure!(
        ahead.abs_diff(31_536_000) < 2 * 86_400,
        "{what}: Expires {expires:?} is not a year ahead ({ahead} s)"
    );
    Ok(())
}

/// A CORS preflight for `path` allowing `methods` (e.g. `OPTIONS, POST`).
pub(crate) async fn preflight(ctx: &Ctx, path: &str, methods: &str) -> Result<(), Failure> {
    for origin in ["test", "null"] {
        let what = format!("OPTIONS {path} (Origin {origin})");
        let r = ctx
            .send(
                Request::new("OPTIONS", path)
                    .header("Origin", origin)
                    .header("Access-Control-Request-Method", methods),
            )
            .await?;
        ensure!(
            r.status() == 204 || r.status() == 200,
            "{what}: status: expected 204 or 200, got {}",
            r.status()
        );
        ensure_eq!(r.text(), "", "{what}: body");
        cached_for_a_year(&r.head.headers, &what)?;
        ensure_eq!(
            r.header("access-control-max-age"),
            Some("31536000"),
            "{what}: Access-Control-Max-Age"
        );
        let allowed = header(&r.head.headers, "access-control-allow-methods");
        each_once(allowed, &format!("{what}: Access-Control-Allow-Methods"))?;
        for m in methods.split(',') {
            ensure!(
                allowed.split(',').any(|a| a.trim() == m.trim()),
                "{what}: Access-Control-Allow-Methods {allowed:?} lacks {}",
                m.trim()
            );
        }
        cors(&r.head.headers, Some(origin), &what)?;
    }
    Ok(())
}

/// Each item of a comma-separated list once: a list header sent twice
/// arrives combined with every item repeated.
pub(crate) fn each_once(list: &str, what: &str) -> Result<(), Failure> {
    let items: Vec<&str> = list.split(',').map(str::trim).collect();
    for (i, item) in items.iter().enumerate() {
        ensure!(
            !items[..i].contains(item),
            "{what}: {item:?} comes twice in {list:?} (a repeated header?)"
        );
    }
    Ok(())
}

/// 404, whatever the body.
pub(crate) fn not_found(r: &Response, what: &str) -> Result<(), Failure> {
    ensure_eq!(r.status(), 404, "{what}: status");
    Ok(())
}

/// 405 with `Allow`, no body, no `Content-Type`.
pub(crate) fn method_not_allowed(r: &Response, what: &str) -> Result<(), Failure> {
    ensure_eq!(r.status(), 405, "{what}: status");
    ensure!(
        !header(&r.head.headers, "allow").is_empty(),
        "{what}: 405 without an Allow header"
    );
    each_once(header(&r.head.headers, "allow"), &format!("{what}: Allow"))?;
    ensure_eq!(
        r.header("content-type"),
        None,
        "{what}: Content-Type of a 405"
    );
    ensure_eq!(r.text(), "", "{what}: body of a 405");
    Ok(())
}

/// Status 500 with a body containing `needle`.
pub(crate) fn error_500(r: &Response, needle: &str, what: &str) -> Result<(), Failure> {
    ensure_eq!(r.status(), 500, "{what}: status");
    ensure!(
        r.text().contains(needle),
        "{what}: body {:?} does not contain {needle:?}",
        r.text()
    );
    Ok(())
}

impl Ctx {
    /// The same context with reads allowed to wait at least `wait`.
    pub(crate) fn patient(&self, wait: Duration) -> Ctx {
        let mut c = self.clone();
        c.target.timeout = c.target.timeout.max(wait);
        c
    }

    /// Opens `POST <session>/xhr_streaming`, checks 200 and reads the
    /// 2048-`h` prelude.
    pub(crate) async fn xhr_streaming(&self, session: &str) -> Result<Streaming, Failure> {
        self.xhr_streaming_with(Request::new("POST", format!("{session}/xhr_streaming")))
            .await
    }

    /// Like [`Ctx::xhr_streaming`] with a prepared request.
    pub(crate) async fn xhr_streaming_with(&self, req: Request) -> Result<Streaming, Failure> {
        let what = format!("POST {}", req.target);
        let mut s = self.open(req).await?;
        ensure_eq!(s.status(), 200, "{what}: status");
        let prelude = s.read_exact(2049).await?;
        ensure!(
            prelude[..2048].iter().all(|b| *b == b'h') && prelude[2048] == b'\n',
            "{what}: the prelude is not 2048 `h` then `\\n`: {:?}",
            String::from_utf8_lossy(&prelude)
        );
        Ok(s)
    }
}

/// The next frame of a streaming body ending with `end`, skipping
/// heartbeat frames equal to `heartbeat`.
pub(crate) async fn next_frame(
    s: &mut Streaming,
    end: &str,
    heartbeat: &str,
) -> Result<String, Failure> {
    loop {
        let frame = s.read_text_until(end).await?;
        if frame != heartbeat {
            return Ok(frame);
        }
    }
}

/// The next xhr_streaming frame (with its `\n`), heartbeats skipped.
pub(crate) async fn next_xhr_frame(s: &mut Streaming) -> Result<String, Failure> {
    next_frame(s, "\n", "h\n").await
}

/// A unique tag for names that must not collide between runs.
pub(crate) fn tag() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// Spawns `req` on its own connection; the result comes from the handle.
pub(crate) fn spawn_request(
    ctx: &Ctx,
    req: Request,
) -> tokio::task::JoinHandle<Result<Response, Failure>> {
    let ctx = ctx.clone();
    tokio::spawn(async move { ctx.send(req).await })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_items_once() {
        assert!(each_once("OPTIONS, POST", "x").is_ok());
        assert!(each_once("OPTIONS, GET", "x").is_ok());
        assert!(each_once("OPTIONS, POST, OPTIONS, POST", "x").is_err());
        assert!(each_once("GET,GET", "x").is_err());
    }
}

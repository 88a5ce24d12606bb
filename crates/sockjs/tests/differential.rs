//! Differential test against sockjs-node 0.3.24: thousands of generated
//! inputs (random and edge cases) go through our parsers and through
//! sockjs-node's own code (`xtask/node/sockjs-decisions/decide.js`, which
//! loads sockjs-node's `lib/` from npm), and the decisions must agree:
//! accepted with the same messages, or refused with the same status and
//! message (`Payload expected.` vs `Broken JSON encoding.`), the same
//! callback, cookie and route decisions, and the same JSON decoding of our
//! escaped frames.
//!
//! Where we differ on purpose, the case is counted under a rule of
//! [`ALLOWED`] (printed with its count) instead of failing. Nothing else may
//! differ, and an allowance forgives only what it describes: under each,
//! sockjs-node's answer must be the one it documents, and ours must equal
//! our own answer for the canonical input of the class ([`Checks`]):
//! `content-type` (sockjs-node: `Payload expected.`; ours: as with the type
//! we read it as, through the service itself for `xhr_send`, that twin
//! compared with sockjs-node like any case), `cookie-syntax` (both sides
//! computed from the allowance's description, on every cookie case),
//! `jsonp-string-body` (sockjs-node: its answer for the string's content;
//! ours: as for `"x"`). WebSocket closes compare code and reason.
//!
//! Runs when `node` and an npm install of sockjs 0.3.24 are found (`cargo
//! xtask fuzz` installs it; so does `cargo xtask protocol-test
//! --against-node`), and says so and passes otherwise, unless
//! `SOCKJS_DIFF_REQUIRED=1`. Knobs: `SOCKJS_DIFF_CASES` (random cases per
//! kind, default 1000), `SOCKJS_DIFF_SEED` (default fixed; `random` for a
//! fresh one), `SOCKJS_DIFF_MODULES` (a `node_modules` folder holding
//! sockjs).

mod inputs;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::{json, Value};
use sockjs::fuzzing;
use sockjs::Rejection;
use sockjs_proto::{escape_json_string, parse_payload, parse_websocket_message, Frame};

/// Intended differences from sockjs-node, each with the reason we differ.
const ALLOWED: &[(&str, &str)] = &[
    (
        "content-type",
        "we parse send bodies whatever their Content-Type (PROTOCOL.md: any type); sockjs-node \
         answers `Payload expected.` to types outside its list, and only knows the exact, \
         case-sensitive `application/x-www-form-urlencoded` as a form",
    ),
    (
        "non-string-message",
        "a message must be a JSON string: sockjs-node hands numbers, objects, null, ... to the \
         application; we refuse the payload (`Payload expected.`, or the WebSocket closes with \
         3000 `Broken framing.`), as our messages are `String`s",
    ),
    (
        "lone-surrogate",
        "a lone UTF-16 surrogate escape cannot be held by a Rust string: the message arrives \
         with U+FFFD in its place, as a browser encodes it to UTF-8 (sockjs-node keeps the lone \
         surrogate)",
    ),
    (
        "invalid-utf8",
        "a send body that is not UTF-8 is refused with `Broken JSON encoding.`; sockjs-node \
         decodes it with U+FFFD replacements first",
    ),
    (
        "repeated-field",
        "a form with several `d` fields, or a query with several `c` (or `callback`) \
         parameters: we take the first; sockjs-node's querystring makes an array of them \
         (accepting the `d` values as messages, refusing a callback written as `a,b`)",
    ),
    (
        "empty-callback",
        "`c=` is refused with `invalid \"callback\" parameter`: the callback must match \
         `[a-zA-Z0-9_.-]+`; sockjs-node's test lets the empty name through and writes \
         `/**/(...)` or `parent.;`",
    ),
    (
        "cookie-syntax",
        "JSESSIONID: we echo the first JSESSIONID pair's whole value, byte for byte, and only \
         from header values of visible ASCII; sockjs-node takes the last pair, cuts the value at \
         a second `=`, trims spaces around name and value, and answers `dummy` for an empty \
         value",
    ),
    (
        "jsonp-string-body",
        "a jsonp_send text body that is a JSON string is refused with `Payload expected.` like \
         any non-array; sockjs-node parses the string's content as JSON once more (so \
         `\"[\\\"x\\\"]\"` is accepted, and `\"x\"` answers `Broken JSON encoding.`)",
    ),
    (
        "trailing-slash",
        "sockjs-node's routes also match with one trailing slash (`.../xhr_send/`); our routes \
         do not",
    ),
];

/// One message as the session would get it.
#[derive(Clone, Debug, PartialEq)]
enum Msg {
    /// A string: its UTF-8 bytes; `well_formed` is false when sockjs-node's
    /// string held a lone surrogate (its bytes then have U+FFFD there).
    Str { bytes: Vec<u8>, well_formed: bool },
    /// Not a string (sockjs-node only): its JavaScript type.
    Other(String),
}

/// What the server does with one input.
#[derive(Clone, Debug, PartialEq)]
enum Decision {
    Ok(Vec<Msg>),
    Err(u16, String),
    /// The WebSocket closed with this code and reason.
    Close(u16, String),
    Callback(Vec<u8>),
    Cookie(Vec<u8>),
    Route(bool),
    Json(Option<Vec<Msg>>),
}

struct Case {
    kind: &'static str,
    input: Value,
    /// Printable description for failures.
    shown: String,
    ours: Decision,
    /// The allowance rule this input falls under whatever the decisions,
    /// decided from the input alone (`None`: must agree unless a
    /// decision-based rule below applies).
    rule: Option<&'static str>,
    /// What a case of an allowance's class must still show.
    checks: Checks,
}

/// What a case of an allowance's class must show whatever the decisions:
/// an allowance forgives a difference in what it describes, never
/// something else hiding in the same class of input.
#[derive(Default)]
struct Checks {
    /// sockjs-node's decision is this: the one the allowance documents.
    node_is: Option<Decision>,
    /// sockjs-node's decision is the same as for the case at this index
    /// (the input it documents sockjs-node reads this one as).
    node_like: Option<usize>,
    /// Ours is this: our own decision for the canonical input of the class.
    ours_like: Option<Decision>,
}

/// How the WebSocket closes on a message that is refused.
fn broken_framing() -> Decision {
    Decision::Close(sockjs_proto::close_code::GO_AWAY, "Broken framing.".into())
}

/// sockjs-node's answer to a send whose payload it never sees.
fn payload_expected() -> Decision {
    refused(Rejection::PayloadExpected)
}

/// Appends `group` (a case, then the cases its checks point at, indices
/// relative to the group) to `into`, indices shifted by where it lands;
/// returns where it landed.
fn append(into: &mut Vec<Case>, group: Vec<Case>) -> usize {
    let at = into.len();
    for mut case in group {
        if let Some(i) = &mut case.checks.node_like {
            *i += at;
        }
        into.push(case);
    }
    at
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex from decide.js"))
        .collect()
}

fn strs(messages: Vec<String>) -> Decision {
    Decision::Ok(
        messages
            .into_iter()
            .map(|m| Msg::Str {
                bytes: m.into_bytes(),
                well_formed: true,
            })
            .collect(),
    )
}

fn refused(r: Rejection) -> Decision {
    Decision::Err(r.status().as_u16(), r.message().to_string())
}

fn shown(bytes: &[u8]) -> String {
    let s = format!("{:?}", String::from_utf8_lossy(bytes));
    if s.len() > 300 {
        let cut: String = s.chars().take(200).collect();
        format!("{cut}... ({} bytes)", bytes.len())
    } else {
        s
    }
}

/// sockjs-node's reading of a content type: `split(';')[0]`, exact.
fn node_type(ct: Option<&[u8]>) -> Vec<u8> {
    let ct = ct.unwrap_or(b"");
    ct.split(|b| *b == b';').next().unwrap_or(b"").to_vec()
}

/// How many `name=` fields a form / query has (sockjs-node reads at most
/// 1000 pairs; our inputs stay below that).
fn fields(form: &[u8], names: &[&str]) -> usize {
    form_urlencoded::parse(form)
        .filter(|(n, _)| names.contains(&n.as_ref()))
        .count()
}

/// Whether `body` is one JSON string (lone surrogate escapes allowed).
fn is_json_string(body: &[u8]) -> bool {
    std::str::from_utf8(body).is_ok_and(|text| {
        let text = text.trim_matches([' ', '\t', '\n', '\r']);
        text.starts_with('"') && parse_websocket_message(text).is_ok()
    })
}

/// The content types sockjs-node's `expect_xhr` reads a body with.
const NODE_XHR_TYPES: [&[u8]; 6] = [
    b"text/plain",
    b"T",
    b"application/json",
    b"application/xml",
    b"",
    b"text/xml",
];

/// An `xhr_send` case, then (for a type sockjs-node does not know) its
/// twin with `text/plain`, compared with sockjs-node like any case: we
/// parse the body whatever the type, so what we answer must be what
/// sockjs-node answers for the type it knows. That our server does ignore
/// the type is checked through the service itself
/// ([`xhr_send_through_our_server`]).
fn xhr_send_cases(ct: Option<Vec<u8>>, body: Vec<u8>) -> Vec<Case> {
    let ours = match parse_payload(&body) {
        Ok(m) => strs(m),
        Err(e) => refused(e.into()),
    };
    let unknown = !NODE_XHR_TYPES.contains(&node_type(ct.as_deref()).as_slice());
    let rule = if unknown {
        Some("content-type")
    } else if std::str::from_utf8(&body).is_err() {
        Some("invalid-utf8")
    } else {
        None
    };
    let mut group = vec![Case {
        kind: "xhr_send",
        input: json!({"k": "xhr_send", "ct": ct.as_deref().map(hex), "b": hex(&body)}),
        shown: format!(
            "content-type {:?}, body {}",
            ct.as_deref().map(shown),
            shown(&body)
        ),
        ours,
        rule,
        checks: Checks::default(),
    }];
    if unknown {
        group[0].checks.node_is = Some(payload_expected());
        append(
            &mut group,
            xhr_send_cases(Some(b"text/plain".to_vec()), body),
        );
    }
    group
}

/// The content type that reads a body as we read it with `ct`, as the
/// `content-type` allowance says: a form for a type that starts with
/// `application/x-www-form-urlencoded` (any case, after spaces), the JSON
/// body itself for any other (and for a header value hyper would refuse,
/// or one that is not visible ASCII).
fn our_canonical_send_type(ct: Option<&[u8]>) -> &'static [u8] {
    let form = b"application/x-www-form-urlencoded";
    let is_form = ct
        .filter(|v| http::HeaderValue::from_bytes(v).is_ok_and(|h| h.to_str().is_ok()))
        .is_some_and(|v| v.trim_ascii_start().to_ascii_lowercase().starts_with(form));
    if is_form {
        form
    } else {
        b"text/plain"
    }
}

/// A `jsonp_send` case, then the cases its checks point at: for a type
/// sockjs-node does not know, the same body with the type we read it as;
/// for a body that is one JSON string, the string's content as the body.
fn jsonp_send_cases(ct: Option<Vec<u8>>, body: Vec<u8>) -> Vec<Case> {
    let ours_for = |ct: Option<&[u8]>, body: &[u8]| match fuzzing::jsonp_send_body(ct, body) {
        Ok(m) => strs(m),
        Err(e) => refused(e),
    };
    let ours = ours_for(ct.as_deref(), &body);
    let form = b"application/x-www-form-urlencoded";
    let node_form = node_type(ct.as_deref()) == form;
    let node_raw = [&b"text/plain"[..], b""].contains(&node_type(ct.as_deref()).as_slice());
    let our_form = ct.as_deref().is_some_and(|v| {
        let v = v.trim_ascii_start().to_ascii_lowercase();
        v.starts_with(form)
    });
    let rule = if !(node_form && our_form || node_raw && !our_form) {
        Some("content-type")
    } else if node_form && fields(&body, &["d"]) > 1 {
        Some("repeated-field")
    } else if std::str::from_utf8(&body).is_err() && !node_form {
        Some("invalid-utf8")
    } else if !node_form && is_json_string(&body) {
        Some("jsonp-string-body")
    } else {
        None
    };
    let mut group = vec![Case {
        kind: "jsonp_send",
        input: json!({"k": "jsonp_send", "ct": ct.as_deref().map(hex), "b": hex(&body)}),
        shown: format!(
            "content-type {:?}, body {}",
            ct.as_deref().map(shown),
            shown(&body)
        ),
        ours,
        rule,
        checks: Checks::default(),
    }];
    match rule {
        // sockjs-node reads no payload from a type it does not know; we
        // read the body as we would with the type it is a variant of, and
        // that twin is compared with sockjs-node like any case.
        Some("content-type") => {
            let canonical = our_canonical_send_type(ct.as_deref());
            group[0].checks.node_is = Some(payload_expected());
            group[0].checks.ours_like = Some(ours_for(Some(canonical), &body));
            append(&mut group, jsonp_send_cases(Some(canonical.to_vec()), body));
        }
        // sockjs-node parses the string's content as JSON once more: its
        // answer is its answer for that content as the body. We refuse any
        // JSON string as we refuse `"x"`.
        Some("jsonp-string-body") => {
            group[0].checks.ours_like = Some(ours_for(ct.as_deref(), b"\"x\""));
            let text = std::str::from_utf8(&body).expect("a JSON string is UTF-8");
            let content = parse_websocket_message(text.trim_matches([' ', '\t', '\n', '\r']))
                .expect("a JSON string")
                .remove(0);
            let at = append(&mut group, jsonp_send_cases(ct, content.into_bytes()));
            group[0].checks.node_like = Some(at);
        }
        _ => {}
    }
    group
}

fn ws_case(text: String) -> Case {
    let ours = match parse_websocket_message(&text) {
        Ok(m) => strs(m),
        // The code and reason the server closes with on a refused message
        // (tests/server/websocket.rs `broken_json_closes_the_socket` checks
        // them on the wire).
        Err(_) => broken_framing(),
    };
    Case {
        kind: "ws",
        input: json!({"k": "ws", "s": hex(text.as_bytes())}),
        shown: format!("message {}", shown(text.as_bytes())),
        ours,
        rule: None,
        checks: Checks::default(),
    }
}

fn callback_case(kind: &'static str, query: Option<String>) -> Option<Case> {
    // Only queries a request can carry: http::Uri must take them unchanged.
    if let Some(q) = &query {
        let uri: http::Uri = format!("/p/a/b/{kind}?{q}").parse().ok()?;
        if uri.query() != Some(q.as_str()) {
            return None;
        }
    }
    let max = (kind == "jsonp").then_some(fuzzing::JSONP_MAX_CALLBACK);
    let ours = match fuzzing::callback(query.as_deref(), max) {
        Ok(cb) => Decision::Callback(cb.into_bytes()),
        Err(e) => refused(e),
    };
    let q = query.as_deref().unwrap_or("").as_bytes();
    let key = if fields(q, &["c"]) > 0 {
        "c"
    } else {
        "callback"
    };
    let rule = (fields(q, &[key]) > 1).then_some("repeated-field");
    Some(Case {
        kind,
        input: json!({"k": kind, "q": query.as_deref().map(|q| hex(q.as_bytes()))}),
        shown: format!("query {query:?}"),
        ours,
        rule,
        checks: Checks::default(),
    })
}

fn cookie_case(headers: Vec<Vec<u8>>) -> Case {
    // Only header values hyper accepts reach the server.
    let headers: Vec<Vec<u8>> = headers
        .into_iter()
        .filter(|h| http::HeaderValue::from_bytes(h).is_ok())
        .collect();
    let refs: Vec<&[u8]> = headers.iter().map(Vec::as_slice).collect();
    let ours = Decision::Cookie(
        fuzzing::jsessionid(&refs)
            .map(|v| v.as_bytes().to_vec())
            .unwrap_or_default(),
    );
    // The canonical input: one header with the one pair we read.
    let canonical = our_jsessionid(&refs).map(|v| {
        let mut h = b"JSESSIONID=".to_vec();
        h.extend_from_slice(v.as_bytes());
        h
    });
    let ours_like = Decision::Cookie(
        fuzzing::jsessionid(
            canonical
                .as_slice()
                .iter()
                .map(Vec::as_slice)
                .collect::<Vec<_>>()
                .as_slice(),
        )
        .map(|v| v.as_bytes().to_vec())
        .unwrap_or_default(),
    );
    Case {
        kind: "cookie",
        input: json!({"k": "cookie", "h": refs.iter().map(|h| hex(h)).collect::<Vec<_>>()}),
        shown: format!(
            "cookie headers {:?}",
            refs.iter().map(|h| shown(h)).collect::<Vec<_>>()
        ),
        ours,
        rule: None,
        // Every cookie case: the difference is allowed only as the
        // `cookie-syntax` allowance describes both sides.
        checks: Checks {
            node_is: Some(node_jsessionid(&refs)),
            node_like: None,
            ours_like: Some(ours_like),
        },
    }
}

/// The JSESSIONID value we echo, as the `cookie-syntax` allowance says:
/// the first `JSESSIONID` pair's whole value (after the `=`, up to the
/// `;`, spaces around the pair trimmed), from header values of visible
/// ASCII only; `None` for none.
fn our_jsessionid(headers: &[&[u8]]) -> Option<String> {
    headers
        .iter()
        .filter(|h| h.iter().all(|b| (0x20..0x7f).contains(b) || *b == b'\t'))
        .map(|h| String::from_utf8(h.to_vec()).expect("ASCII"))
        .flat_map(|h| h.split(';').map(str::to_owned).collect::<Vec<_>>())
        .find_map(|pair| {
            let (name, value) = pair.trim_matches([' ', '\t']).split_once('=')?;
            (name == "JSESSIONID").then(|| value.to_owned())
        })
}

/// sockjs-node's `Set-Cookie` as the `cookie-syntax` allowance says:
/// the header values (latin1) joined with `; `, the last `JSESSIONID`
/// pair (name trimmed), its value cut at a second `=` and trimmed, `dummy`
/// when that is empty or there is none.
fn node_jsessionid(headers: &[&[u8]]) -> Decision {
    // JavaScript's trim, on latin1 text: these are its whitespace.
    let space = [' ', '\t', '\n', '\u{b}', '\u{c}', '\r', '\u{a0}'];
    let joined: String = headers
        .iter()
        .map(|h| h.iter().map(|&b| char::from(b)).collect::<String>())
        .collect::<Vec<_>>()
        .join("; ");
    let mut value = String::new();
    if !headers.is_empty() {
        for pair in joined.split(';') {
            let mut parts = pair.split('=');
            let name = parts.next().unwrap_or("").trim_matches(space);
            if name == "JSESSIONID" {
                value = parts.next().unwrap_or("").trim_matches(space).to_owned();
            }
        }
    }
    if value.is_empty() {
        value = "dummy".into();
    }
    Decision::Cookie(
        format!("JSESSIONID={value}; path=/")
            .chars()
            .map(|c| u8::try_from(u32::from(c)).expect("latin1"))
            .collect(),
    )
}

fn json_case(messages: Vec<String>) -> Case {
    let frame = Frame::messages(&messages);
    let text = &frame.as_str()[1..];
    Case {
        kind: "json",
        input: json!({"k": "json", "s": hex(text.as_bytes())}),
        shown: format!("frame of {messages:?}"),
        ours: Decision::Json(Some(
            messages
                .into_iter()
                .map(|m| Msg::Str {
                    bytes: m.into_bytes(),
                    well_formed: true,
                })
                .collect(),
        )),
        rule: None,
        checks: Checks::default(),
    }
}

fn escape_case(s: String) -> Case {
    let text = format!("[{}]", escape_json_string(&s));
    Case {
        kind: "json",
        input: json!({"k": "json", "s": hex(text.as_bytes())}),
        shown: format!("escaped {s:?}"),
        ours: Decision::Json(Some(vec![Msg::Str {
            bytes: s.into_bytes(),
            well_formed: true,
        }])),
        rule: None,
        checks: Checks::default(),
    }
}

/// Our routing of `POST path` with a valid body: `Session not found.` when
/// the path is a session URL with valid segments, `Not found.` otherwise.
fn path_cases(paths: Vec<String>) -> Vec<Case> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let app = axum::Router::new().nest("/p", sockjs::router(|_session: sockjs::Session| async {}));
    paths
        .into_iter()
        .filter(|p| p.parse::<http::Uri>().is_ok_and(|u| u.path() == p))
        .map(|p| {
            let routed = rt.block_on(async {
                use tower::ServiceExt;
                let request = http::Request::post(&p)
                    .body(axum::body::Body::from("[\"x\"]"))
                    .unwrap();
                let response = app.clone().oneshot(request).await.unwrap();
                let body = axum::body::to_bytes(response.into_body(), 1 << 16)
                    .await
                    .unwrap();
                body == "Session not found."
            });
            let rule = p.ends_with("/xhr_send/").then_some("trailing-slash");
            Case {
                kind: "path",
                input: json!({"k": "path", "p": hex(p.as_bytes())}),
                shown: format!("path {p:?}"),
                ours: Decision::Route(routed),
                rule,
                checks: Checks::default(),
            }
        })
        .collect()
}

/// A message no generated body holds: sent after each send, it tells where
/// that send's messages end.
const MARKER: &str = "differential test: end of one send";

/// What our service answers to `xhr_send` with each (content type, body)
/// of `sends`, through the service itself, in-process, on one session:
/// the status and message of a refusal, or the messages the session got.
fn xhr_send_through_our_server(sends: &[(Option<Vec<u8>>, Vec<u8>)]) -> Vec<Decision> {
    use std::time::Duration;
    use tower::ServiceExt;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (delivered, mut received) = tokio::sync::mpsc::unbounded_channel::<String>();
    let service = sockjs::SockJsRouter::new(move |session: sockjs::Session| {
        let delivered = delivered.clone();
        async move {
            let (_tx, mut rx) = session.split();
            while let Some(message) = rx.recv().await {
                let _ = delivered.send(message);
            }
        }
    })
    .config(sockjs::Config::default().disconnect_delay(Duration::from_secs(600)))
    .into_router();
    let app = axum::Router::new().nest("/p", service);
    let post = |path: &str, ct: Option<&[u8]>, body: Vec<u8>| {
        let mut request = http::Request::post(path);
        // A value hyper would refuse never reaches the service.
        if let Some(value) = ct.and_then(|v| http::HeaderValue::from_bytes(v).ok()) {
            request = request.header(http::header::CONTENT_TYPE, value);
        }
        let request = request.body(axum::body::Body::from(body)).unwrap();
        let app = app.clone();
        async move {
            let response = tokio::time::timeout(Duration::from_secs(5), app.oneshot(request))
                .await
                .expect("an answer in time")
                .unwrap();
            let status = response.status().as_u16();
            let body = axum::body::to_bytes(response.into_body(), 1 << 16)
                .await
                .unwrap();
            (
                status,
                String::from_utf8(body.to_vec()).expect("UTF-8 answer"),
            )
        }
    };
    rt.block_on(async {
        assert_eq!(post("/p/0/diff/xhr", None, vec![]).await.1, "o\n");
        let marker = serde_json::to_vec(&[MARKER]).unwrap();
        let mut decisions = Vec::new();
        for (ct, body) in sends {
            let (status, answer) = post("/p/0/diff/xhr_send", ct.as_deref(), body.clone()).await;
            let sent = post("/p/0/diff/xhr_send", None, marker.clone()).await;
            assert_eq!(sent.0, 204, "the marker: {sent:?}");
            let mut got = Vec::new();
            loop {
                let message = tokio::time::timeout(Duration::from_secs(5), received.recv())
                    .await
                    .expect("the marker in time")
                    .expect("the session alive");
                if message == MARKER {
                    break;
                }
                got.push(message);
            }
            decisions.push(if status == 204 {
                strs(got)
            } else {
                assert!(got.is_empty(), "a refused send delivered {got:?}");
                Decision::Err(status, answer)
            });
        }
        decisions
    })
}

fn msgs(v: &Value) -> Vec<Msg> {
    v.as_array()
        .expect("message list")
        .iter()
        .map(|m| match m.get("s") {
            Some(s) => Msg::Str {
                bytes: unhex(s.as_str().unwrap()),
                well_formed: m["wf"].as_bool().unwrap(),
            },
            None => Msg::Other(m["t"].as_str().unwrap().to_string()),
        })
        .collect()
}

fn node_decision(v: &Value) -> Decision {
    if let Some(m) = v.get("ok") {
        Decision::Ok(msgs(m))
    } else if let Some(status) = v.get("err") {
        Decision::Err(
            status.as_u64().unwrap() as u16,
            v["msg"].as_str().unwrap_or("").to_string(),
        )
    } else if let Some(close) = v.get("close") {
        Decision::Close(
            close[0].as_u64().expect("a close code") as u16,
            close[1].as_str().expect("a close reason").to_string(),
        )
    } else if let Some(cb) = v.get("cb") {
        Decision::Callback(unhex(cb.as_str().unwrap()))
    } else if let Some(c) = v.get("cookie") {
        Decision::Cookie(unhex(c.as_str().unwrap()))
    } else if let Some(r) = v.get("route") {
        Decision::Route(r.as_bool().unwrap())
    } else if let Some(j) = v.get("json") {
        Decision::Json(j.as_array().map(|_| msgs(j)))
    } else {
        panic!("unknown decision {v}")
    }
}

/// What a case of an allowance's class fails to show, if anything.
fn broken_checks(case: &Case, node: &Decision, decisions: &[Decision]) -> Option<String> {
    let checks = &case.checks;
    if let Some(want) = checks.node_is.as_ref().filter(|want| *want != node) {
        return Some(format!(
            "sockjs-node does not answer as documented: {want:?}"
        ));
    }
    if let Some(i) = checks.node_like {
        // (A lone surrogate in the string's content reaches the twin as
        // U+FFFD: compare the bytes, not the well-formedness.)
        if loosely(node) != loosely(&decisions[i]) {
            return Some(format!(
                "sockjs-node does not answer as for the content of the string: {:?}",
                decisions[i]
            ));
        }
    }
    if let Some(want) = checks.ours_like.as_ref().filter(|want| **want != case.ours) {
        return Some(format!(
            "ours differs from ours for the canonical input of the class: {want:?}"
        ));
    }
    None
}

/// `decision` with every string message taken as well-formed.
fn loosely(decision: &Decision) -> Decision {
    match decision {
        Decision::Ok(m) => Decision::Ok(
            m.iter()
                .map(|m| match m {
                    Msg::Str { bytes, .. } => Msg::Str {
                        bytes: bytes.clone(),
                        well_formed: true,
                    },
                    other => other.clone(),
                })
                .collect(),
        ),
        other => other.clone(),
    }
}

/// The rule that explains a difference seen in the decisions themselves.
fn rule_for(case: &Case, node: &Decision) -> Option<&'static str> {
    let has_other = |m: &[Msg]| m.iter().any(|m| matches!(m, Msg::Other(_)));
    let ill_formed = |m: &[Msg]| {
        m.iter().any(|m| {
            matches!(
                m,
                Msg::Str {
                    well_formed: false,
                    ..
                }
            )
        })
    };
    match (node, &case.ours) {
        // sockjs-node delivered a non-string: we must refuse the payload.
        (Decision::Ok(m), Decision::Err(500, msg))
            if has_other(m) && msg == "Payload expected." =>
        {
            Some("non-string-message")
        }
        (Decision::Ok(m), close) if has_other(m) && *close == broken_framing() => {
            Some("non-string-message")
        }
        // A lone surrogate: the same messages, U+FFFD for the surrogate.
        (Decision::Ok(m), Decision::Ok(o)) if ill_formed(m) => {
            let same = m.len() == o.len()
                && m.iter().zip(o).all(|(a, b)| match (a, b) {
                    (Msg::Str { bytes: x, .. }, Msg::Str { bytes: y, .. }) => x == y,
                    _ => false,
                });
            same.then_some("lone-surrogate")
        }
        (Decision::Callback(cb), Decision::Err(500, msg))
            if cb.is_empty() && msg == Rejection::InvalidCallback.message() =>
        {
            Some("empty-callback")
        }
        (Decision::Cookie(_), Decision::Cookie(_)) => {
            let cookies = case.input["h"]
                .as_array()
                .unwrap()
                .iter()
                .map(|h| unhex(h.as_str().unwrap()))
                .collect::<Vec<_>>();
            let quirky = cookies.iter().any(|h| {
                let text = String::from_utf8_lossy(h);
                !h.iter().all(|b| (0x20..0x7f).contains(b) || *b == b'\t')
                    || text.matches("JSESSIONID").count() > 1
                    || text.split(';').any(|pair| {
                        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
                        name.trim() == "JSESSIONID"
                            && (name != name.trim_start()
                                || name != name.trim_end()
                                || value.contains('=')
                                || value.trim().is_empty()
                                || value != value.trim())
                    })
            }) || cookies.len() > 1;
            quirky.then_some("cookie-syntax")
        }
        _ => None,
    }
}

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target"))
}

/// A `node_modules` folder with sockjs 0.3.24, and `node`, or why not.
fn reference() -> Result<PathBuf, String> {
    let candidates: Vec<PathBuf> = match std::env::var_os("SOCKJS_DIFF_MODULES") {
        Some(dir) => vec![dir.into()],
        None => ["sockjs-decisions", "sockjs-node-server"]
            .iter()
            .map(|d| target_dir().join("xtask-node").join(d).join("node_modules"))
            .collect(),
    };
    let modules = candidates
        .iter()
        .find(|d| d.join("sockjs/package.json").exists())
        .ok_or_else(|| {
            format!("no npm install of sockjs 0.3.24 in {candidates:?} (run `cargo xtask fuzz`)")
        })?;
    match Command::new("node").arg("--version").output() {
        Ok(o) if o.status.success() => Ok(modules.clone()),
        _ => Err("`node` is not installed".into()),
    }
}

fn run_node(modules: &Path, cases: &[Case]) -> Vec<Decision> {
    let script =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../xtask/node/sockjs-decisions/decide.js");
    let mut child = Command::new("node")
        .arg("--no-deprecation")
        .arg(&script)
        .arg(modules)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start node");
    let mut input = String::new();
    for c in cases {
        input.push_str(&c.input.to_string());
        input.push('\n');
    }
    let mut stdin = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()));
    let out = child.wait_with_output().expect("node output");
    writer.join().unwrap().expect("write cases to node");
    assert!(out.status.success(), "decide.js failed ({})", out.status);
    let text = String::from_utf8(out.stdout).expect("UTF-8 from decide.js");
    let decisions: Vec<Decision> = text
        .lines()
        .map(|l| node_decision(&serde_json::from_str(l).expect("JSON from decide.js")))
        .collect();
    assert_eq!(decisions.len(), cases.len(), "one decision per case");
    decisions
}

fn seed() -> u64 {
    match std::env::var("SOCKJS_DIFF_SEED").as_deref() {
        Ok("random") => std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos() as u64,
        Ok(s) => s.parse().expect("SOCKJS_DIFF_SEED: a number or `random`"),
        Err(_) => 0x50c6_a5e5,
    }
}

fn cases(seed: u64, n: usize) -> Vec<Case> {
    let mut cases = Vec::new();
    let edge = inputs::edge_payloads();
    for body in &edge {
        append(&mut cases, xhr_send_cases(None, body.clone()));
        append(
            &mut cases,
            jsonp_send_cases(Some(b"text/plain".to_vec()), body.clone()),
        );
        if let Ok(text) = std::str::from_utf8(body) {
            cases.push(ws_case(text.to_string()));
        }
    }
    for (ct, body) in inputs::sample((inputs::content_type(), inputs::body()), seed, n) {
        append(&mut cases, xhr_send_cases(ct, body));
    }
    let form = Some(b"application/x-www-form-urlencoded".to_vec());
    for body in inputs::sample(inputs::form_body(), seed ^ 1, n) {
        append(&mut cases, jsonp_send_cases(form.clone(), body));
    }
    for (ct, body) in inputs::sample((inputs::content_type(), inputs::body()), seed ^ 2, n / 2) {
        append(&mut cases, jsonp_send_cases(ct, body));
    }
    for body in inputs::sample(inputs::body(), seed ^ 3, n) {
        cases.push(ws_case(String::from_utf8_lossy(&body).into_owned()));
    }
    for (i, q) in inputs::sample(inputs::callback_query(), seed ^ 4, n)
        .into_iter()
        .enumerate()
    {
        cases.extend(callback_case(
            if i % 2 == 0 { "jsonp" } else { "htmlfile" },
            q,
        ));
    }
    for h in inputs::sample(inputs::cookie_headers(), seed ^ 5, n) {
        cases.push(cookie_case(h));
    }
    cases.extend(path_cases(inputs::sample(
        inputs::session_path(),
        seed ^ 6,
        n,
    )));
    for m in inputs::sample(
        proptest::collection::vec(inputs::interesting_string(), 0..5),
        seed ^ 7,
        n,
    ) {
        cases.push(json_case(m));
    }
    for s in inputs::sample(proptest::prelude::any::<String>(), seed ^ 8, n) {
        cases.push(escape_case(s));
    }
    cases
}

#[test]
fn decisions_agree_with_sockjs_node() {
    let modules = match reference() {
        Ok(m) => m,
        Err(why) if std::env::var("SOCKJS_DIFF_REQUIRED").as_deref() != Ok("1") => {
            eprintln!("differential test against sockjs-node skipped: {why}");
            return;
        }
        Err(why) => panic!("SOCKJS_DIFF_REQUIRED=1 but {why}"),
    };
    let n: usize = std::env::var("SOCKJS_DIFF_CASES")
        .ok()
        .map(|s| s.parse().expect("SOCKJS_DIFF_CASES: a number"))
        .unwrap_or(1000);
    let seed = seed();
    let started = std::time::Instant::now();
    let cases = cases(seed, n);
    let generated = started.elapsed();
    let decisions = run_node(&modules, &cases);

    let mut per_kind: BTreeMap<&str, usize> = BTreeMap::new();
    let mut allowed: BTreeMap<&str, usize> = BTreeMap::new();
    let mut failures = Vec::new();
    for (case, node) in cases.iter().zip(&decisions) {
        *per_kind.entry(case.kind).or_default() += 1;
        if let Some(broken) = broken_checks(case, node, &decisions) {
            failures.push(format!(
                "{} {}\n    {broken}\n    sockjs-node: {node:?}\n    ours:        {:?}",
                case.kind, case.shown, case.ours
            ));
            continue;
        }
        if *node == case.ours {
            continue;
        }
        let rule = case.rule.or_else(|| rule_for(case, node));
        // Bodies that are not UTF-8 must still get `Broken JSON encoding.`.
        let kept = match rule {
            Some("invalid-utf8") => case.ours == refused(Rejection::BrokenJson),
            _ => true,
        };
        match rule.filter(|_| kept) {
            Some(rule) => *allowed.entry(rule).or_default() += 1,
            None => failures.push(format!(
                "{} {}\n    sockjs-node: {node:?}\n    ours:        {:?}",
                case.kind, case.shown, case.ours
            )),
        }
    }
    // The `content-type` allowance for xhr_send: our service answers as
    // for `text/plain` (whose twin case sockjs-node agreed with above),
    // which is what we computed as ours without looking at the type.
    let unknown_types: Vec<&Case> = cases
        .iter()
        .filter(|c| c.kind == "xhr_send" && c.rule == Some("content-type"))
        .collect();
    let sends: Vec<(Option<Vec<u8>>, Vec<u8>)> = unknown_types
        .iter()
        .flat_map(|c| {
            let ct = c.input["ct"].as_str().map(unhex);
            let body = unhex(c.input["b"].as_str().unwrap());
            [(ct, body.clone()), (Some(b"text/plain".to_vec()), body)]
        })
        .collect();
    let served = xhr_send_through_our_server(&sends);
    for (case, answers) in unknown_types.iter().zip(served.chunks(2)) {
        if answers[0] != answers[1] || answers[0] != case.ours {
            failures.push(format!(
                "xhr_send {}\n    our service answers {:?}, and {:?} with text/plain; \
                 our parser: {:?}",
                case.shown, answers[0], answers[1], case.ours
            ));
        }
    }
    eprintln!(
        "differential test against sockjs-node 0.3.24: {} cases (seed {seed}; {:.1?}, \
         {generated:.1?} of it generating ours): {per_kind:?}",
        cases.len(),
        started.elapsed()
    );
    for (rule, why) in ALLOWED {
        if let Some(count) = allowed.get(rule) {
            eprintln!("  allowed difference `{rule}` ({count} cases): {why}");
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases differ from sockjs-node (seed {seed}):\n{}",
        failures.len(),
        cases.len(),
        failures
            .iter()
            .take(25)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
}

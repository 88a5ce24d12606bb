//! An authenticated chat: who you are comes from your login, checked
//! before the session opens.
//!
//! - `POST /login` (a form with `name` and `password`; the demo accounts
//!   are alice/wonderland and bob/builder) sets an HttpOnly `session`
//!   cookie; `POST /logout` ends it; `GET /me` says who is logged in.
//! - The SockJS service at `/chat` has a **handshake hook**: it runs on the
//!   request that would open a session, before the session exists or the
//!   client gets `o`. Its arguments are axum extractors: the `CookieJar`
//!   (axum-extra) and the logins, an `Extension` a layer puts on every
//!   request. No valid cookie: `401 Log in first.` and no session. A valid
//!   one: the hook returns the `User`, which the handler reads from
//!   `session.extensions()`; the client never says its own name.
//! - `Config::allowed_origins` with the server's own public origin only
//!   (`PUBLIC_ORIGIN`, default `http://127.0.0.1:<PORT>`): only its own
//!   pages may open sessions (WebSocket upgrades included),
//!   so another site cannot use a visitor's cookie to chat in their name.
//!
//! ```text
//! cargo run --example auth_chat     # then open http://127.0.0.1:8080/ in two tabs
//! ```

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect};
use axum::routing::{get, post};
use axum::{Extension, Form, Json, Router};
use axum_extra::extract::cookie::{Cookie, CookieJar, SameSite};
use serde_json::json;
use sockjs::{Config, Session, SockJsRouter};

/// The demo accounts: name and password.
const ACCOUNTS: &[(&str, &str)] = &[("alice", "wonderland"), ("bob", "builder")];
const COOKIE: &str = "session";

/// Who a session belongs to, as the handshake hook decided.
#[derive(Clone, Debug)]
struct User(String);

/// Logged-in users by their cookie's token.
#[derive(Clone, Default)]
struct Logins(Arc<Mutex<HashMap<String, String>>>);

impl Logins {
    fn user(&self, jar: &CookieJar) -> Option<User> {
        let token = jar.get(COOKIE)?.value().to_owned();
        let logins = self.0.lock().unwrap();
        logins.get(&token).cloned().map(User)
    }
}

/// The handshake hook: a session opens only for a logged-in user.
async fn authenticate(
    jar: CookieJar,
    Extension(logins): Extension<Logins>,
) -> Result<User, (StatusCode, &'static str)> {
    logins
        .user(&jar)
        .ok_or((StatusCode::UNAUTHORIZED, "Log in first."))
}

/// One member's session: in the room `chat`, their lines out to it.
async fn member(session: Session) {
    let Some(User(name)) = session.extensions().get::<User>().cloned() else {
        return; // cannot happen: the hook admitted the session
    };
    let (tx, mut rx) = session.split();
    let rooms = tx.rooms().clone();
    tx.join("chat");
    rooms.send("chat", json!({ "type": "join", "user": name }).to_string());
    while let Some(text) = rx.recv().await {
        let text: String = text.chars().take(500).collect();
        rooms.send(
            "chat",
            json!({ "type": "message", "user": name, "text": text }).to_string(),
        );
    }
    rooms.send("chat", json!({ "type": "leave", "user": name }).to_string());
}

#[derive(serde::Deserialize)]
struct LoginForm {
    name: String,
    password: String,
}

async fn login(
    Extension(logins): Extension<Logins>,
    jar: CookieJar,
    Form(form): Form<LoginForm>,
) -> impl IntoResponse {
    let known = ACCOUNTS
        .iter()
        .any(|(name, password)| *name == form.name && *password == form.password);
    if !known {
        return Err((StatusCode::UNAUTHORIZED, "Wrong name or password."));
    }
    let token = uuid::Uuid::new_v4().to_string();
    logins.0.lock().unwrap().insert(token.clone(), form.name);
    let cookie = Cookie::build((COOKIE, token))
        .path("/")
        .http_only(true)
        .same_site(SameSite::Strict);
    Ok((jar.add(cookie), Redirect::to("/")))
}

async fn logout(Extension(logins): Extension<Logins>, jar: CookieJar) -> impl IntoResponse {
    if let Some(cookie) = jar.get(COOKIE) {
        logins.0.lock().unwrap().remove(cookie.value());
    }
    (
        jar.remove(Cookie::build(COOKIE).path("/")),
        Redirect::to("/"),
    )
}

async fn me(Extension(logins): Extension<Logins>, jar: CookieJar) -> Json<serde_json::Value> {
    Json(json!({ "user": logins.user(&jar).map(|u| u.0) }))
}

async fn page() -> Html<&'static str> {
    Html(include_str!("index.html"))
}

fn app(public_origin: &str) -> (Router, sockjs::Shutdown) {
    let chat = SockJsRouter::new(member)
        // Only this server's own pages. The library does not guess the
        // server's origin from `Host`, which the client chooses.
        .config(Config::default().allowed_origins([public_origin]))
        .handshake(authenticate);
    let shutdown = chat.shutdown_handle();
    let router = Router::new()
        .route("/", get(page))
        .route("/login", post(login))
        .route("/logout", post(logout))
        .route("/me", get(me))
        .nest("/chat", chat.into_router())
        .layer(Extension(Logins::default()));
    (router, shutdown)
}

fn main() {
    // A runtime that serves every session in turn when thousands are busy
    // at once (`#[tokio::main]` cannot be told to; see `sockjs::runtime`).
    sockjs::runtime()
        .build()
        .expect("a tokio runtime")
        .block_on(run());
}

async fn run() {
    let port: u16 = match std::env::var("PORT") {
        Ok(port) => port.parse().expect("PORT must be a port number"),
        Err(_) => 8080,
    };
    let public_origin =
        std::env::var("PUBLIC_ORIGIN").unwrap_or_else(|_| format!("http://127.0.0.1:{port}"));
    let (app, shutdown) = app(&public_origin);
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .unwrap_or_else(|e| panic!("cannot listen on {addr}: {e}"));
    println!("auth_chat example: open http://{addr}/ (alice/wonderland, bob/builder)");
    // TCP_NODELAY, ConnectInfo (`session.remote_addr()`), header and idle
    // timeouts; on SIGTERM or Ctrl-C the sessions get
    // `c[1001,"Server shutting down"]` while the server still serves their
    // last requests, then it stops (10 s at most).
    sockjs::serve(listener, app)
        .shutdown(shutdown)
        .shutdown_on_signal()
        .await
        .expect("server error");
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::http::{header, Request};
    use tower::ServiceExt;

    async fn call(app: &Router, request: Request<Body>) -> (StatusCode, String, Option<String>) {
        let response = app.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let cookie = response
            .headers()
            .get(header::SET_COOKIE)
            .map(|v| v.to_str().unwrap().split(';').next().unwrap().to_owned());
        let body = axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .unwrap();
        (status, String::from_utf8(body.to_vec()).unwrap(), cookie)
    }

    fn post(uri: &str, body: &str, cookie: Option<&str>) -> Request<Body> {
        let mut r =
            Request::post(uri).header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
        if let Some(cookie) = cookie {
            r = r.header(header::COOKIE, cookie);
        }
        r.body(Body::from(body.to_owned())).unwrap()
    }

    #[tokio::test]
    async fn sessions_open_only_after_login_and_know_who_they_are() {
        let (app, _) = app("http://127.0.0.1:8080");
        let (status, body, _) = call(&app, post("/chat/0/s/xhr", "", None)).await;
        assert_eq!(
            (status, body.as_str()),
            (StatusCode::UNAUTHORIZED, "Log in first.")
        );
        let (status, _, _) = call(&app, post("/login", "name=alice&password=nope", None)).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        let (_, _, cookie) =
            call(&app, post("/login", "name=alice&password=wonderland", None)).await;
        let cookie = cookie.expect("a session cookie");
        let (status, body, _) = call(&app, post("/chat/0/s/xhr", "", Some(&cookie))).await;
        assert_eq!((status, body.as_str()), (StatusCode::OK, "o\n"));
        let (_, body, _) = call(&app, post("/chat/0/s/xhr", "", None)).await;
        assert!(body.contains(r#"\"user\":\"alice\""#), "{body}");
        // Another site's page cannot use the cookie.
        let mut foreign = post("/chat/0/t/xhr", "", Some(&cookie));
        foreign
            .headers_mut()
            .insert(header::ORIGIN, "https://evil.example".parse().unwrap());
        let (status, _, _) = call(&app, foreign).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
    }
}

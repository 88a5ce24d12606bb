//! The handshake hook ([`SockJsRouter::handshake`](crate::SockJsRouter::handshake)):
//! decides, before a session exists, whether a request may open one.

use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::response::{IntoResponse, Response};
use http::request::Parts;
use http::Extensions;

type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// An async function run on the request that would open a session, on any
/// transport, before the session exists and before the client gets `o`.
/// Its arguments are axum extractors ([`FromRequestParts`] with state `()`:
/// `HeaderMap`, `Extension<T>` put there by a tower layer,
/// `ConnectInfo<SocketAddr>`, axum-extra's `CookieJar` or `TypedHeader`,
/// your own extractor, ...), one to eight of them, as in a handler.
///
/// It returns `Result<T, R>`: `Ok(data)` opens the session and puts `data`
/// in its [`extensions`](crate::Session::extensions), where the handler
/// finds it; `Err(response)` answers the request with `response` (a
/// `(StatusCode, &str)` such as `(StatusCode::UNAUTHORIZED, "Log in
/// first.")`, or any [`IntoResponse`]) and no session is created. An
/// extractor that fails answers with its own rejection.
///
/// Requests to an open session (sending, or receiving again) are not run
/// through the hook: the session was admitted once; unless
/// [`Config::bind_to_handshake`](crate::Config::bind_to_handshake) is on,
/// and then a request of the session that the hook refuses is answered
/// `404 Session not found.`.
///
/// ```
/// use axum::http::{header, HeaderMap, StatusCode};
/// use sockjs::{Session, SockJsRouter};
///
/// #[derive(Clone)]
/// struct User(String);
///
/// let service = SockJsRouter::new(|session: Session| async move {
///     let user = session.extensions().get::<User>().cloned();
///     let (tx, _rx) = session.split();
///     let _ = tx.send(format!("hello {}", user.map_or("?".into(), |u| u.0))).await;
/// })
/// .handshake(|headers: HeaderMap| async move {
///     match headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()) {
///         Some("Bearer secret-token") => Ok(User("alice".into())),
///         _ => Err((StatusCode::UNAUTHORIZED, "Log in first.")),
///     }
/// });
/// let _router: axum::Router = service.into_router();
/// ```
pub trait Handshake<Args>: Clone + Send + Sync + 'static {
    /// Runs the hook on the parts of the opening request: the extensions
    /// to add to the session's, or the answer that refuses it.
    ///
    /// The service calls it; a test can call it too, to try a hook on its own:
    ///
    /// ```
    /// use axum::http::{HeaderMap, Request, StatusCode};
    /// use sockjs::Handshake;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let hook = |headers: HeaderMap| async move {
    ///     match headers.get("x-api-key") {
    ///         Some(key) if key == "k1" => Ok("client-1"),
    ///         _ => Err(StatusCode::FORBIDDEN),
    ///     }
    /// };
    /// let (mut parts, ()) = Request::get("/chat/000/abc/websocket").body(()).unwrap().into_parts();
    /// let refusal = hook.call(&mut parts).await.unwrap_err();
    /// assert_eq!(refusal.status(), StatusCode::FORBIDDEN);
    ///
    /// parts.headers.insert("x-api-key", "k1".parse().unwrap());
    /// let extensions = hook.call(&mut parts).await.unwrap();
    /// assert_eq!(extensions.get::<&str>(), Some(&"client-1"));
    /// # }
    /// ```
    fn call<'a>(&'a self, parts: &'a mut Parts) -> BoxFuture<'a, Result<Extensions, Response>>;
}

macro_rules! impl_handshake {
    ($($arg:ident),+) => {
        impl<F, Fut, T, R, $($arg,)+> Handshake<($($arg,)+)> for F
        where
            F: Fn($($arg),+) -> Fut + Clone + Send + Sync + 'static,
            Fut: Future<Output = Result<T, R>> + Send,
            T: Clone + Send + Sync + 'static,
            R: IntoResponse,
            $($arg: FromRequestParts<()> + Send,)+
        {
            #[allow(non_snake_case)]
            fn call<'a>(&'a self, parts: &'a mut Parts) -> BoxFuture<'a, Result<Extensions, Response>> {
                Box::pin(async move {
                    $(
                        let $arg = match $arg::from_request_parts(parts, &()).await {
                            Ok(value) => value,
                            Err(rejection) => return Err(rejection.into_response()),
                        };
                    )+
                    match (self)($($arg),+).await {
                        Ok(data) => {
                            let mut extensions = Extensions::new();
                            extensions.insert(data);
                            Ok(extensions)
                        }
                        Err(refusal) => Err(refusal.into_response()),
                    }
                })
            }
        }
    };
}

impl_handshake!(A1);
impl_handshake!(A1, A2);
impl_handshake!(A1, A2, A3);
impl_handshake!(A1, A2, A3, A4);
impl_handshake!(A1, A2, A3, A4, A5);
impl_handshake!(A1, A2, A3, A4, A5, A6);
impl_handshake!(A1, A2, A3, A4, A5, A6, A7);
impl_handshake!(A1, A2, A3, A4, A5, A6, A7, A8);

/// A hook with its argument types erased, as the service keeps it.
pub(crate) type BoxHandshake = Arc<dyn ErasedHandshake>;

pub(crate) trait ErasedHandshake: Send + Sync {
    fn run<'a>(&'a self, parts: &'a mut Parts) -> BoxFuture<'a, Result<Extensions, Response>>;
}

struct Erased<H, Args>(H, PhantomData<fn() -> Args>);

impl<H, Args> ErasedHandshake for Erased<H, Args>
where
    H: Handshake<Args>,
    Args: 'static,
{
    fn run<'a>(&'a self, parts: &'a mut Parts) -> BoxFuture<'a, Result<Extensions, Response>> {
        self.0.call(parts)
    }
}

/// Erases `hook`'s argument types.
pub(crate) fn boxed<H, Args>(hook: H) -> BoxHandshake
where
    H: Handshake<Args>,
    Args: 'static,
{
    Arc::new(Erased(hook, PhantomData))
}

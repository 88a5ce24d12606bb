//! What the transports run on: a [`Connector`] that opens TCP connections,
//! or in-memory ones to a tower service served by hyper in this process;
//! and [`Http`], hyper-util's pooled client on top of it.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use bytes::Bytes;
use http::header::{CONTENT_TYPE, COOKIE, SET_COOKIE};
use http::{HeaderMap, HeaderValue, Method, Request, Response, Uri};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper_util::client::legacy::connect::{Connected, Connection};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite, DuplexStream, ReadBuf};
use tokio::net::TcpStream;

use crate::error::Error;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Serves the server end of one in-memory connection.
type Serve = Arc<dyn Fn(DuplexStream) + Send + Sync>;

/// Bytes each direction of an in-memory connection buffers.
const PIPE_CAPACITY: usize = 64 * 1024;

/// Opens the connections every request and WebSocket runs on.
#[derive(Clone)]
pub(crate) enum Connector {
    /// TCP to the URL's host and port, with `TCP_NODELAY` (frames are small).
    Tcp,
    /// A fresh in-memory pipe per connection, its other end served by hyper
    /// with the service, upgrades included.
    InProcess(Serve),
}

impl Connector {
    /// A connector to `service`, served in this process.
    pub(crate) fn in_process<S, B>(service: S) -> Connector
    where
        S: tower_service::Service<Request<Incoming>, Response = Response<B>>
            + Clone
            + Send
            + 'static,
        S::Future: Send + 'static,
        S::Error: Into<BoxError>,
        B: http_body::Body + Send + 'static,
        B::Data: Send,
        B::Error: Into<BoxError>,
    {
        // A mutex only to make the closure `Sync` for any `Send` service.
        let service = Mutex::new(service);
        Connector::InProcess(Arc::new(move |pipe: DuplexStream| {
            let service = service
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .clone();
            tokio::spawn(async move {
                // Errors end this connection only, as on a real server.
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(pipe), TowerToHyperService::new(service))
                    .with_upgrades()
                    .await;
            });
        }))
    }

    /// Whether connections stay in this process.
    pub(crate) fn is_in_process(&self) -> bool {
        matches!(self, Connector::InProcess(_))
    }

    /// A connection for `uri` (`http://` or `ws://`).
    pub(crate) async fn connect(&self, uri: &Uri) -> io::Result<Io> {
        match self {
            Connector::Tcp => {
                let host = uri
                    .host()
                    .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "no host"))?;
                let host = host.trim_start_matches('[').trim_end_matches(']');
                let tcp = TcpStream::connect((host, uri.port_u16().unwrap_or(80))).await?;
                tcp.set_nodelay(true)?;
                Ok(Io::Tcp(tcp))
            }
            Connector::InProcess(serve) => {
                let (client, server) = tokio::io::duplex(PIPE_CAPACITY);
                serve(server);
                Ok(Io::Pipe(client))
            }
        }
    }
}

impl tower_service::Service<Uri> for Connector {
    type Response = TokioIo<Io>;
    type Error = io::Error;
    type Future = Pin<Box<dyn Future<Output = io::Result<TokioIo<Io>>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        let connector = self.clone();
        Box::pin(async move { connector.connect(&uri).await.map(TokioIo::new) })
    }
}

/// One connection: TCP or an in-memory pipe.
#[derive(Debug)]
pub(crate) enum Io {
    Tcp(TcpStream),
    Pipe(DuplexStream),
}

impl AsyncRead for Io {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Io::Tcp(s) => Pin::new(s).poll_read(cx, buf),
            Io::Pipe(s) => Pin::new(s).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Io {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Io::Tcp(s) => Pin::new(s).poll_write(cx, buf),
            Io::Pipe(s) => Pin::new(s).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Io::Tcp(s) => Pin::new(s).poll_flush(cx),
            Io::Pipe(s) => Pin::new(s).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Io::Tcp(s) => Pin::new(s).poll_shutdown(cx),
            Io::Pipe(s) => Pin::new(s).poll_shutdown(cx),
        }
    }
}

impl Connection for Io {
    fn connected(&self) -> Connected {
        Connected::new()
    }
}

/// Cookies a session's responses set (`JSESSIONID` for sticky load
/// balancing), sent back on its later requests, as a browser would.
#[derive(Debug, Default)]
pub(crate) struct Jar(Mutex<Vec<(String, String)>>);

impl Jar {
    /// Remembers the `name=value` of every `Set-Cookie` (attributes ignored).
    pub(crate) fn store(&self, headers: &HeaderMap) {
        let mut cookies = self.0.lock().unwrap_or_else(|p| p.into_inner());
        for value in headers.get_all(SET_COOKIE) {
            let Some(pair) = value.to_str().ok().and_then(|v| v.split(';').next()) else {
                continue;
            };
            let Some((name, value)) = pair.split_once('=') else {
                continue;
            };
            let (name, value) = (name.trim().to_owned(), value.trim().to_owned());
            cookies.retain(|(n, _)| *n != name);
            cookies.push((name, value));
        }
    }

    /// The `Cookie` header: the caller's cookies, then the stored ones.
    pub(crate) fn header(&self, given: Option<&HeaderValue>) -> Option<HeaderValue> {
        let cookies = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if cookies.is_empty() {
            return given.cloned();
        }
        let mut line = given
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
            .unwrap_or_default();
        for (name, value) in cookies.iter() {
            if !line.is_empty() {
                line.push_str("; ");
            }
            line.push_str(name);
            line.push('=');
            line.push_str(value);
        }
        HeaderValue::from_str(&line).ok()
    }
}

/// The HTTP client of the HTTP transports and `/info`: hyper-util's pooled
/// client, so sends and polls reuse kept-alive connections.
#[derive(Clone)]
pub(crate) struct Http {
    connector: Connector,
    /// Shared by every clone: [`Http::forget_idle`] replaces it for all.
    client: Arc<Mutex<Pooled>>,
}

type Pooled = hyper_util::client::legacy::Client<Connector, Full<Bytes>>;

/// A request body with its `Content-Type`.
pub(crate) struct Body {
    pub(crate) content_type: &'static str,
    pub(crate) bytes: Bytes,
}

impl Http {
    pub(crate) fn new(connector: Connector) -> Http {
        let client = Arc::new(Mutex::new(pooled(connector.clone())));
        Http { connector, client }
    }

    /// Lets go of every kept-alive connection (requests under way finish
    /// on theirs): after a connection was found silent, the path may be
    /// dead for the pooled ones too, and a request on one would wait for
    /// its whole timeout.
    pub(crate) fn forget_idle(&self) {
        let fresh = pooled(self.connector.clone());
        *self.client.lock().unwrap_or_else(|e| e.into_inner()) = fresh;
    }

    /// Sends a request with the caller's `headers` (and the session's
    /// cookies from `jar`) and returns the response once its head arrived.
    pub(crate) async fn request(
        &self,
        method: Method,
        url: &str,
        headers: &HeaderMap,
        jar: Option<&Jar>,
        body: Option<Body>,
    ) -> Result<Response<Incoming>, Error> {
        let mut request = Request::builder()
            .method(method)
            .uri(url)
            .body(Full::new(
                body.as_ref().map(|b| b.bytes.clone()).unwrap_or_default(),
            ))
            .map_err(|e| Error::InvalidUrl(format!("{url}: {e}")))?;
        let out = request.headers_mut();
        for (name, value) in headers {
            out.append(name, value.clone());
        }
        if let Some(jar) = jar {
            match jar.header(headers.get(COOKIE)) {
                Some(cookie) => out.insert(COOKIE, cookie),
                None => out.remove(COOKIE),
            };
        }
        if let Some(body) = body {
            out.insert(CONTENT_TYPE, HeaderValue::from_static(body.content_type));
        }
        let client = self
            .client
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let response = client
            .request(request)
            .await
            .map_err(|e| Error::Io(format!("{url}: {}", chain(&e))))?;
        if let Some(jar) = jar {
            jar.store(response.headers());
        }
        Ok(response)
    }
}

/// A pooled client over `connector`.
fn pooled(connector: Connector) -> Pooled {
    hyper_util::client::legacy::Client::builder(TokioExecutor::new())
        .pool_timer(TokioTimer::new())
        .build(connector)
}

/// An error and its sources, `: `-separated.
pub(crate) fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(e) = source {
        text.push_str(": ");
        text.push_str(&e.to_string());
        source = e.source();
    }
    text
}

/// [`Error::Status`] for an unexpected answer, with the start of its body.
pub(crate) async fn status_error(response: Response<Incoming>) -> Error {
    let status = response.status();
    let body = match Limited::new(response.into_body(), 4096).collect().await {
        Ok(body) => String::from_utf8_lossy(&body.to_bytes()).into_owned(),
        Err(_) => String::new(),
    };
    Error::Status { status, body }
}

/// The whole body of a short response.
pub(crate) async fn read_all(response: Response<Incoming>, what: &str) -> Result<Bytes, Error> {
    Limited::new(response.into_body(), 1 << 20)
        .collect()
        .await
        .map(|body| body.to_bytes())
        .map_err(|e| Error::Io(format!("reading {what}: {}", chain(&*e))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jar_keeps_set_cookies_after_the_callers() {
        let jar = Jar::default();
        assert_eq!(jar.header(None), None);
        let mine = HeaderValue::from_static("user=alice");
        assert_eq!(jar.header(Some(&mine)), Some(mine.clone()));
        let mut set = HeaderMap::new();
        set.append(
            SET_COOKIE,
            HeaderValue::from_static("JSESSIONID=dummy; path=/"),
        );
        set.append(SET_COOKIE, HeaderValue::from_static("b=2"));
        jar.store(&set);
        let mut again = HeaderMap::new();
        again.append(
            SET_COOKIE,
            HeaderValue::from_static("JSESSIONID=x1; Path=/"),
        );
        jar.store(&again);
        assert_eq!(
            jar.header(Some(&mine)).unwrap(),
            "user=alice; b=2; JSESSIONID=x1"
        );
        assert_eq!(jar.header(None).unwrap(), "b=2; JSESSIONID=x1");
    }
}

//! Connections to the server, spread over several loopback source addresses
//! so that tens of thousands of them do not run out of ephemeral ports.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::net::{TcpSocket, TcpStream};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::WebSocketStream;

/// Where to connect and from where.
#[derive(Debug)]
pub(crate) struct Net {
    addr: SocketAddr,
    sources: u8,
    next: AtomicUsize,
}

/// A websocket client connection.
pub(crate) type Ws = WebSocketStream<TcpStream>;

impl Net {
    pub(crate) fn new(addr: SocketAddr, sources: u8) -> Self {
        Net {
            addr,
            sources,
            next: AtomicUsize::new(0),
        }
    }

    pub(crate) fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// A TCP connection with `TCP_NODELAY`, bound to the next source
    /// address when more than one is in use.
    pub(crate) async fn connect(&self) -> std::io::Result<TcpStream> {
        let stream = if self.sources <= 1 {
            TcpStream::connect(self.addr).await?
        } else {
            let n = self.next.fetch_add(1, Ordering::Relaxed) % usize::from(self.sources);
            let src = Ipv4Addr::new(127, 0, 0, 1 + n as u8);
            let socket = TcpSocket::new_v4()?;
            socket.set_reuseaddr(true)?;
            socket.bind((src, 0).into())?;
            socket.connect(self.addr).await?
        };
        stream.set_nodelay(true)?;
        Ok(stream)
    }

    /// A websocket client on `path`, with small buffers so that thousands of
    /// them fit (the default eagerly allocates 128 KiB per connection).
    pub(crate) async fn websocket(&self, path: &str) -> Result<Ws, String> {
        let stream = self
            .connect()
            .await
            .map_err(|e| format!("connect {}: {e}", self.addr))?;
        let url = format!("ws://{}{}", self.addr, path);
        let config = WebSocketConfig::default()
            .read_buffer_size(4096)
            .write_buffer_size(16 * 1024);
        let (ws, _) = tokio_tungstenite::client_async_with_config(url, stream, Some(config))
            .await
            .map_err(|e| format!("websocket handshake {path}: {e}"))?;
        Ok(ws)
    }
}

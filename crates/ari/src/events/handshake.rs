//! The WebSocket upgrade of the event stream, done here rather than by tungstenite.
//!
//! Why by hand: tungstenite logs the whole upgrade request at `trace` (`Request: "GET …
//! authorization: Basic …"`), and `log` records of dependencies reach starq's logs, so with
//! `RUST_LOG=trace` the ARI credentials would be written out on every (re)connect. Moving them
//! to ARI's `api_key=user:pass` query parameter does not help: the request line is in the
//! same log record. So tungstenite is never shown the request: this module writes it (with the
//! `Authorization` header), checks the `101` answer and its `Sec-WebSocket-Accept`, and hands
//! tungstenite an already-upgraded socket, from which on it only sees frames.

use reqwest::Url;
use reqwest::header::HeaderValue;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::handshake::client::generate_key;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::Role;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use super::item::DisconnectReason;

/// The socket of one connection.
pub(crate) type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// The largest upgrade answer read: ARI's is a few hundred bytes; a peer sending more without
/// ending its headers is not an ARI server.
const MAX_RESPONSE_HEAD: usize = 16 * 1024;

/// Connects to `url` (`ws://host[:port]/path?query`) and upgrades, sending `authorization`.
/// The caller bounds the time it may take.
pub(crate) async fn connect(
    url: &str,
    authorization: &HeaderValue,
) -> Result<Socket, DisconnectReason> {
    let failed = |reason: String| DisconnectReason::ConnectFailed(reason);
    let parsed = Url::parse(url).map_err(|e| failed(format!("invalid URL: {e}")))?;
    let host = parsed.host_str().ok_or_else(|| failed("URL has no host".into()))?;
    let port = parsed.port_or_known_default().unwrap_or(80);
    let mut stream = TcpStream::connect((host.trim_start_matches('[').trim_end_matches(']'), port))
        .await
        .map_err(|e| failed(e.to_string()))?;
    // Events are small and latency matters more than packet count.
    stream.set_nodelay(true).map_err(|e| failed(e.to_string()))?;

    let key = generate_key();
    let target = match parsed.query() {
        Some(query) => format!("{}?{query}", parsed.path()),
        None => parsed.path().to_owned(),
    };
    let authority = match parsed.port() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_owned(),
    };
    let mut request = format!(
        "GET {target} HTTP/1.1\r\nHost: {authority}\r\nConnection: Upgrade\r\n\
         Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: {key}\r\n\
         Authorization: "
    )
    .into_bytes();
    request.extend_from_slice(authorization.as_bytes());
    request.extend_from_slice(b"\r\n\r\n");
    stream.write_all(&request).await.map_err(|e| failed(e.to_string()))?;

    let (head, rest) = read_head(&mut stream).await?;
    check_answer(&head, &key)?;
    // Frames the node sent right behind its answer are in `rest`.
    Ok(WebSocketStream::from_partially_read(
        MaybeTlsStream::Plain(stream),
        rest,
        Role::Client,
        None,
    )
    .await)
}

/// Reads up to the end of the answer's headers: (the head, the bytes read past it).
async fn read_head(stream: &mut TcpStream) -> Result<(String, Vec<u8>), DisconnectReason> {
    let mut buffer = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    loop {
        let n = stream
            .read(&mut chunk)
            .await
            .map_err(|e| DisconnectReason::ConnectFailed(e.to_string()))?;
        if n == 0 {
            return Err(DisconnectReason::ConnectFailed(
                "connection closed during the upgrade".into(),
            ));
        }
        // Search from a little before the new bytes: the terminator may straddle two reads.
        let from = buffer.len().saturating_sub(3);
        buffer.extend_from_slice(&chunk[..n]);
        if let Some(end) = buffer[from..].windows(4).position(|w| w == b"\r\n\r\n") {
            let end = from + end + 4;
            let rest = buffer.split_off(end);
            return Ok((String::from_utf8_lossy(&buffer).into_owned(), rest));
        }
        if buffer.len() > MAX_RESPONSE_HEAD {
            return Err(DisconnectReason::ConnectFailed(format!(
                "upgrade answer headers longer than {MAX_RESPONSE_HEAD} bytes"
            )));
        }
    }
}

/// Checks the answer to an upgrade sent with `key`: `101`, `Upgrade: websocket` and the
/// accept key RFC 6455 derives from ours (proof that a WebSocket server answered).
fn check_answer(head: &str, key: &str) -> Result<(), DisconnectReason> {
    let failed = |reason: &str| Err(DisconnectReason::ConnectFailed(reason.to_owned()));
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status = status_line
        .strip_prefix("HTTP/1.1 ")
        .and_then(|s| s.get(..3))
        .and_then(|s| s.parse::<u16>().ok());
    match status {
        Some(101) => {}
        Some(status) => return Err(DisconnectReason::Rejected { status }),
        None => return failed("the upgrade answer is not HTTP/1.1"),
    }
    let header = |name: &str| {
        head.split("\r\n").skip(1).find_map(|line| {
            let (n, v) = line.split_once(':')?;
            n.trim().eq_ignore_ascii_case(name).then(|| v.trim())
        })
    };
    if !header("upgrade").is_some_and(|v| v.eq_ignore_ascii_case("websocket")) {
        return failed("the upgrade answer lacks `Upgrade: websocket`");
    }
    if header("sec-websocket-accept") != Some(derive_accept_key(key.as_bytes()).as_str()) {
        return failed("the upgrade answer has a wrong Sec-WebSocket-Accept");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    // RFC 6455 section 1.3's example key and accept value.
    const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";
    const ACCEPT: &str = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";

    #[test]
    fn answers_are_checked() {
        let ok = format!(
            "HTTP/1.1 101 Switching Protocols\r\nupgrade: WebSocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Accept: {ACCEPT}\r\n\r\n"
        );
        assert_eq!(check_answer(&ok, KEY), Ok(()));
        let rejected = "HTTP/1.1 401 Unauthorized\r\ncontent-length: 0\r\n\r\n";
        assert_eq!(check_answer(rejected, KEY), Err(DisconnectReason::Rejected { status: 401 }));
        let wrong = ok.replace(ACCEPT, "AAAAAAAAAAAAAAAAAAAAAAAAAAA=");
        assert!(matches!(check_answer(&wrong, KEY), Err(DisconnectReason::ConnectFailed(_))));
        let no_upgrade = ok.replace("upgrade: WebSocket\r\n", "");
        assert!(matches!(check_answer(&no_upgrade, KEY), Err(DisconnectReason::ConnectFailed(_))));
        for garbage in ["", "SSH-2.0-OpenSSH\r\n\r\n", "HTTP/1.1 1\r\n\r\n"] {
            assert!(matches!(check_answer(garbage, KEY), Err(DisconnectReason::ConnectFailed(_))));
        }
    }
}

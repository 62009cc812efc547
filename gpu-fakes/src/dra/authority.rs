//! The kubelet's plugin watcher dials a registration socket by its bare
//! path, so grpc-go sends that path as the HTTP/2 `:authority`
//! (kubernetes/kubernetes#109081; the device-plugin client sets `localhost`,
//! the plugin watcher does not). h2, under tonic, refuses such a request
//! with `PROTOCOL_ERROR` (hyperium/h2#487). This shim sits between the
//! socket and the tonic server: it reads the client's frames, decodes each
//! header block (HPACK), sets `:authority` to `localhost`, encodes it again
//! and passes every other frame on unchanged; the server's frames go back
//! untouched.
//!
//! The connection to tonic is an in-memory duplex stream, so there is no
//! second socket.

use fluke_hpack::{Decoder, Encoder};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, DuplexStream};
use tokio::sync::mpsc;

/// The client connection preface (RFC 9113, 3.4).
const PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
const HEADERS: u8 = 0x1;
const CONTINUATION: u8 = 0x9;
const END_STREAM: u8 = 0x1;
const END_HEADERS: u8 = 0x4;
const PADDED: u8 = 0x8;
const PRIORITY: u8 = 0x20;
/// The frame size every peer must accept (SETTINGS_MAX_FRAME_SIZE's default).
const MAX_FRAME: usize = 16_384;
/// Buffer of each in-memory connection.
const DUPLEX_BUFFER: usize = 64 * 1024;

/// Why a connection was dropped.
#[derive(Debug, thiserror::Error)]
pub enum ShimError {
    #[error("I/O: {0}")]
    Io(#[from] std::io::Error),
    #[error("not an HTTP/2 client (no connection preface)")]
    Preface,
    #[error("malformed HTTP/2 frame: {0}")]
    Frame(&'static str),
    #[error("HPACK: {0:?}")]
    Hpack(fluke_hpack::decoder::DecoderError),
}

/// One frame: type, flags, stream id and payload.
struct Frame {
    kind: u8,
    flags: u8,
    stream: u32,
    payload: Vec<u8>,
}

async fn read_frame<R: AsyncRead + Unpin>(r: &mut R) -> Result<Option<Frame>, ShimError> {
    let mut head = [0u8; 9];
    match r.read_exact(&mut head).await {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e.into()),
    }
    let len = usize::from(head[0]) << 16 | usize::from(head[1]) << 8 | usize::from(head[2]);
    if len > MAX_FRAME {
        return Err(ShimError::Frame(
            "larger than the default maximum frame size",
        ));
    }
    let mut payload = vec![0u8; len];
    r.read_exact(&mut payload).await?;
    Ok(Some(Frame {
        kind: head[3],
        flags: head[4],
        stream: u32::from_be_bytes([head[5], head[6], head[7], head[8]]) & 0x7fff_ffff,
        payload,
    }))
}

fn frame_bytes(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let len = payload.len();
    let mut out = Vec::with_capacity(9 + len);
    out.extend_from_slice(&[(len >> 16) as u8, (len >> 8) as u8, len as u8, kind, flags]);
    out.extend_from_slice(&stream.to_be_bytes());
    out.extend_from_slice(payload);
    out
}

/// The header block fragment of a HEADERS frame (padding and priority
/// fields removed).
fn fragment(f: &Frame) -> Result<&[u8], ShimError> {
    let mut p = f.payload.as_slice();
    let mut pad = 0usize;
    if f.flags & PADDED != 0 {
        let (&n, rest) = p.split_first().ok_or(ShimError::Frame("no pad length"))?;
        pad = usize::from(n);
        p = rest;
    }
    if f.flags & PRIORITY != 0 {
        p = p
            .get(5..)
            .ok_or(ShimError::Frame("short priority fields"))?;
    }
    let end = p
        .len()
        .checked_sub(pad)
        .ok_or(ShimError::Frame("padding longer than the frame"))?;
    Ok(&p[..end])
}

/// The header block with `:authority` set to `localhost`, in frames of at
/// most [`MAX_FRAME`] bytes (HEADERS, then CONTINUATIONs).
fn rewrite(
    block: &[u8],
    decoder: &mut Decoder<'_>,
    encoder: &mut Encoder<'_>,
    stream: u32,
    end_stream: bool,
) -> Result<Vec<u8>, ShimError> {
    let mut headers = decoder.decode(block).map_err(ShimError::Hpack)?;
    for (name, value) in &mut headers {
        if name.as_slice() == b":authority" {
            *value = b"localhost".to_vec();
        }
    }
    let encoded = encoder.encode(headers.iter().map(|(n, v)| (n.as_slice(), v.as_slice())));
    let chunks: Vec<&[u8]> = if encoded.is_empty() {
        vec![&[][..]]
    } else {
        encoded.chunks(MAX_FRAME).collect()
    };
    let last = chunks.len() - 1;
    let mut out = Vec::new();
    for (i, chunk) in chunks.into_iter().enumerate() {
        let kind = if i == 0 { HEADERS } else { CONTINUATION };
        let mut flags = if i == last { END_HEADERS } else { 0 };
        if i == 0 && end_stream {
            flags |= END_STREAM;
        }
        out.extend(frame_bytes(kind, flags, stream, chunk));
    }
    Ok(out)
}

/// Copies the client's frames to the server, header blocks rewritten.
async fn client_to_server<R, W>(mut from: R, mut to: W) -> Result<(), ShimError>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let mut preface = [0u8; 24];
    from.read_exact(&mut preface).await?;
    if &preface != PREFACE {
        return Err(ShimError::Preface);
    }
    to.write_all(&preface).await?;
    let (mut decoder, mut encoder) = (Decoder::new(), Encoder::new());
    while let Some(f) = read_frame(&mut from).await? {
        if f.kind != HEADERS {
            to.write_all(&frame_bytes(f.kind, f.flags, f.stream, &f.payload))
                .await?;
            to.flush().await?;
            continue;
        }
        let mut block = fragment(&f)?.to_vec();
        let mut done = f.flags & END_HEADERS != 0;
        while !done {
            let c = read_frame(&mut from)
                .await?
                .ok_or(ShimError::Frame("connection closed inside a header block"))?;
            if c.kind != CONTINUATION || c.stream != f.stream {
                return Err(ShimError::Frame(
                    "a header block continued by another frame",
                ));
            }
            block.extend_from_slice(&c.payload);
            done = c.flags & END_HEADERS != 0;
        }
        let out = rewrite(
            &block,
            &mut decoder,
            &mut encoder,
            f.stream,
            f.flags & END_STREAM != 0,
        )?;
        to.write_all(&out).await?;
        to.flush().await?;
    }
    to.shutdown().await?;
    Ok(())
}

/// Serves one accepted connection: frames to `server` through the shim,
/// its answers straight back.
pub async fn shim<S>(client: S, server: DuplexStream)
where
    S: AsyncRead + AsyncWrite + Send + 'static,
{
    let (client_read, mut client_write) = tokio::io::split(client);
    let (mut server_read, server_write) = tokio::io::split(server);
    let back = tokio::spawn(async move {
        let _ = tokio::io::copy(&mut server_read, &mut client_write).await;
        let _ = client_write.shutdown().await;
    });
    if let Err(e) = client_to_server(client_read, server_write).await {
        tracing::warn!(error = %e, "registration connection dropped");
        back.abort();
        return;
    }
    let _ = back.await;
}

/// Accepts on `listener` forever, handing each connection through the shim
/// to the server end `incoming` receives (feed it to
/// `Server::serve_with_incoming`).
pub async fn accept(
    listener: tokio::net::UnixListener,
    incoming: mpsc::Sender<Result<DuplexStream, std::io::Error>>,
) -> std::io::Result<()> {
    loop {
        let (conn, _) = listener.accept().await?;
        let (ours, theirs) = tokio::io::duplex(DUPLEX_BUFFER);
        if incoming.send(Ok(theirs)).await.is_err() {
            return Ok(());
        }
        tokio::spawn(shim(conn, ours));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_authority_becomes_localhost_and_the_rest_stays() {
        let mut client = Encoder::new();
        let headers: Vec<(&[u8], &[u8])> = vec![
            (b":method", b"POST"),
            (b":scheme", b"http"),
            (b":path", b"/pluginregistration.Registration/GetInfo"),
            (
                b":authority",
                b"var/lib/kubelet/plugins_registry/gpu.nvidia.com-reg.sock",
            ),
            (b"content-type", b"application/grpc"),
        ];
        let block = client.encode(headers.clone());
        let (mut d, mut e) = (Decoder::new(), Encoder::new());
        let frames = rewrite(&block, &mut d, &mut e, 1, false).expect("rewritten");
        assert_eq!(frames[3], HEADERS);
        assert_eq!(frames[4], END_HEADERS);
        let mut check = Decoder::new();
        let out = check.decode(&frames[9..]).expect("decodes");
        let authority = out
            .iter()
            .find(|(n, _)| n == b":authority")
            .expect("authority");
        assert_eq!(authority.1, b"localhost");
        assert_eq!(out.len(), headers.len());
        assert_eq!(out[2].1, b"/pluginregistration.Registration/GetInfo");
    }

    #[test]
    fn padding_and_priority_are_stripped() {
        let mut payload = vec![2u8]; // pad length
        payload.extend_from_slice(&[0, 0, 0, 0, 16]); // priority
        payload.extend_from_slice(b"abc");
        payload.extend_from_slice(&[0, 0]);
        let f = Frame {
            kind: HEADERS,
            flags: PADDED | PRIORITY | END_HEADERS,
            stream: 3,
            payload,
        };
        assert_eq!(fragment(&f).expect("fragment"), b"abc");
    }
}

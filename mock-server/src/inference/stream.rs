//! Server-sent events for streamed completions and chat completions.

use std::convert::Infallible;

use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;

use super::engine::Generation;

/// Streams a generation as server-sent events: an optional prelude chunk,
/// one chunk per token, a final chunk with the finish reason (and usage when
/// asked), then `[DONE]`. `chunk(text, finish)` shapes each event's JSON:
/// `(Some(token), None)` for tokens, `(prelude, None)` for the prelude,
/// `(None, Some(reason))` for the final chunk. If the client goes away the
/// generation stops and its slot is released.
pub(super) fn stream_events(
    mut gen_: Generation,
    include_usage: bool,
    prelude: Option<Option<String>>,
    chunk: impl Fn(Option<&str>, Option<&str>) -> serde_json::Value + Send + 'static,
) -> Response {
    let (tx, rx) = mpsc::channel::<Result<Event, Infallible>>(16);
    tokio::spawn(async move {
        let send = |v: serde_json::Value| tx.send(Ok(Event::default().data(v.to_string())));
        if let Some(p) = prelude
            && send(chunk(p.as_deref(), None)).await.is_err()
        {
            return;
        }
        while let Some(text) = gen_.next_token().await {
            if send(chunk(Some(&text), None)).await.is_err() {
                return; // client went away
            }
        }
        gen_.complete();
        let mut last = chunk(None, Some(gen_.finish_reason()));
        if include_usage {
            last["usage"] = gen_.usage();
        }
        let _ = send(last).await;
        let _ = tx.send(Ok(Event::default().data("[DONE]"))).await;
    });
    Sse::new(ReceiverStream::new(rx))
        .keep_alive(KeepAlive::default())
        .into_response()
}

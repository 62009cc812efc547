//! Server-sent events for streamed completions and chat completions.

use std::convert::Infallible;

use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;

use super::engine::Generation;
use super::pacing::token_text;

/// Streams a generation as server-sent events: an optional prelude chunk
/// per choice, one chunk per token of every choice, a final chunk per
/// choice with the finish reason (the last with usage when asked), then
/// `[DONE]`. `chunk(index, text, finish)` shapes each event's JSON:
/// `(i, Some(token), None)` for tokens, `(i, prelude, None)` for the
/// prelude, `(i, None, Some(reason))` for the final chunk. If the client
/// goes away the generation stops and its slot is released.
pub(super) fn stream_events(
    mut gen_: Generation,
    include_usage: bool,
    prelude: Option<Option<String>>,
    chunk: impl Fn(u32, Option<&str>, Option<&str>) -> serde_json::Value + Send + 'static,
) -> Response {
    let (tx, rx) = mpsc::channel::<Result<Event, Infallible>>(16);
    let n = gen_.choices();
    tokio::spawn(async move {
        let send = |v: serde_json::Value| tx.send(Ok(Event::default().data(v.to_string())));
        if let Some(p) = prelude {
            for i in 0..n {
                if send(chunk(i, p.as_deref(), None)).await.is_err() {
                    return;
                }
            }
        }
        while let Some(step) = gen_.next_token().await {
            for i in 0..n {
                if send(chunk(i, Some(&token_text(step, i)), None))
                    .await
                    .is_err()
                {
                    return; // client went away
                }
            }
        }
        gen_.complete();
        for i in 0..n {
            let mut last = chunk(i, None, Some(gen_.finish_reason()));
            if include_usage && i + 1 == n {
                last["usage"] = gen_.usage();
            }
            let _ = send(last).await;
        }
        let _ = tx.send(Ok(Event::default().data("[DONE]"))).await;
    });
    Sse::new(ReceiverStream::new(rx))
        .keep_alive(KeepAlive::default())
        .into_response()
}

//! The one server-sent-events encoder: a use case's stream of updates becomes
//! events, with keep-alives, and the client leaving drops the stream, which
//! cancels the work behind it.

use std::convert::Infallible;

use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures::stream::{self, Stream, StreamExt};

/// `prologue`, then each update encoded as zero or more events.
pub(super) fn respond<U, S, E, I>(prologue: Vec<Event>, updates: S, mut encode: E) -> Response
where
    S: Stream<Item = U> + Send + 'static,
    E: FnMut(U) -> I + Send + 'static,
    I: IntoIterator<Item = Event>,
    I::IntoIter: Send + 'static,
    U: 'static,
{
    let events = stream::iter(prologue)
        .chain(updates.flat_map(move |update| stream::iter(encode(update))))
        .map(Ok::<_, Infallible>);
    Sse::new(events)
        .keep_alive(KeepAlive::default())
        .into_response()
}

/// A named event whose data is `data` as JSON.
pub(super) fn json_event(name: &str, data: &impl serde::Serialize) -> Event {
    Event::default()
        .event(name)
        .data(serde_json::to_string(data).unwrap_or_default())
}

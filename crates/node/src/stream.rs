//! Event streams of users (`GET /api/v1/events`).

use std::sync::Arc;

use peer_proto::event::Event;
use peer_proto::limits;
use peer_proto::{ErrorCode, UserId};

use crate::Node;
use crate::auth::Caller;
use crate::error::{NodeError, Result};
use crate::events::{Resume, RoomFilter, Subscription};

/// A user's live event stream. Dropping it frees the user's stream slot.
#[derive(Debug)]
pub struct EventStream {
    sub: Subscription,
    resume: Resume,
    node: Node,
    user: UserId,
}

impl EventStream {
    /// How the `Last-Event-ID` was served.
    pub fn resume(&self) -> Resume {
        self.resume
    }

    /// The next event; `None` when the stream ended (a subscriber too slow
    /// to keep up gets a final `error` event first).
    pub async fn next(&mut self) -> Option<Arc<Event>> {
        let now = self.node.now();
        self.sub.next(now).await
    }
}

impl Drop for EventStream {
    fn drop(&mut self) {
        let mut streams = self
            .node
            .inner
            .streams
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if let Some(n) = streams.get_mut(&self.user) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                streams.remove(&self.user);
            }
        }
    }
}

impl Node {
    /// Opens an event stream for the caller: events of the rooms it belongs
    /// to, from after `last_event_id` when given. At most
    /// `max_streams_per_user` at once (`too_many_streams`).
    pub async fn subscribe(
        &self,
        caller: &Caller,
        last_event_id: Option<u64>,
    ) -> Result<EventStream> {
        {
            let mut streams = self.inner.streams.lock().unwrap_or_else(|e| e.into_inner());
            let n = streams.entry(caller.user_id).or_insert(0);
            if *n >= self.inner.config.max_streams_per_user {
                return Err(NodeError::new(
                    ErrorCode::TooManyStreams,
                    format!(
                        "at most {} event streams per user",
                        self.inner.config.max_streams_per_user
                    ),
                ));
            }
            *n += 1;
        }
        // From here on the slot is released by EventStream's Drop; build the
        // guard first so an error below frees it too.
        let guard = SlotGuard {
            node: self.clone(),
            user: caller.user_id,
            armed: true,
        };
        // Note the bus position before reading memberships, and replay from
        // there: a join published between the read and the subscription then
        // still reaches the filter.
        let mark = self.inner.bus.next_id().saturating_sub(1);
        let mut rooms = Vec::new();
        let mut cursor = None;
        loop {
            let page = self
                .inner
                .store
                .list_memberships(caller.user_id, limits::MAX_PAGE_LIMIT, cursor.as_ref())
                .await?;
            rooms.extend(page.items.iter().map(|m| m.room_id));
            match page.next_cursor {
                Some(c) => cursor = Some(c),
                None => break,
            }
        }
        let filter = Arc::new(RoomFilter::new(caller.user_id, rooms));
        let from = last_event_id.unwrap_or(mark);
        let (sub, resume) = self.inner.bus.subscribe(filter, Some(from));
        let resume = if last_event_id.is_none() {
            Resume::Fresh
        } else {
            resume
        };
        guard.disarm();
        Ok(EventStream {
            sub,
            resume,
            node: self.clone(),
            user: caller.user_id,
        })
    }
}

struct SlotGuard {
    node: Node,
    user: UserId,
    armed: bool,
}

impl SlotGuard {
    fn disarm(mut self) {
        self.armed = false;
    }
}

impl Drop for SlotGuard {
    fn drop(&mut self) {
        if self.armed {
            let mut streams = self
                .node
                .inner
                .streams
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            if let Some(n) = streams.get_mut(&self.user) {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    streams.remove(&self.user);
                }
            }
        }
    }
}

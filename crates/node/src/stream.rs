//! Event streams of users (`GET /api/v1/events`).

use std::sync::Arc;

use peer_proto::event::Event;
use peer_proto::limits;
use peer_proto::{ErrorCode, RoomId, UserId};

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

/// Where on the bus an event stream starts: taken before the stream's
/// rooms are read (from the store, or from the main peer), so that a join
/// published meanwhile still reaches the stream's filter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamMark(u64);

impl Node {
    /// Opens an event stream for the caller: events of the rooms it belongs
    /// to, from after `last_event_id` when given. At most
    /// `max_streams_per_user` at once (`too_many_streams`).
    pub async fn subscribe(
        &self,
        caller: &Caller,
        last_event_id: Option<u64>,
    ) -> Result<EventStream> {
        if caller.peer().is_some() {
            return Err(NodeError::forbidden(
                "a peer node's session has no event stream",
            ));
        }
        let guard = self.take_stream_slot(caller.user_id)?;
        let mark = self.stream_mark();
        let rooms = self.member_rooms(caller.user_id).await?;
        Ok(self.open_stream(guard, rooms, last_event_id, mark))
    }

    /// Opens an event stream on a follower, for a user the main peer
    /// authenticated and whose rooms it listed (a relayed stream): the
    /// events come from this node's bus, where the main peer's pushes land.
    /// Take `mark` with [`Node::stream_mark`] before asking the main peer.
    pub fn subscribe_relayed(
        &self,
        user: UserId,
        rooms: Vec<RoomId>,
        last_event_id: Option<u64>,
        mark: StreamMark,
    ) -> Result<EventStream> {
        let guard = self.take_stream_slot(user)?;
        Ok(self.open_stream(guard, rooms, last_event_id, mark))
    }

    /// The bus position a stream about to be opened starts after.
    pub fn stream_mark(&self) -> StreamMark {
        StreamMark(self.inner.bus.next_id().saturating_sub(1))
    }

    /// The rooms `user` is a member of now, all pages.
    pub(crate) async fn member_rooms(&self, user: UserId) -> Result<Vec<RoomId>> {
        let mut rooms = Vec::new();
        let mut cursor = None;
        loop {
            let page = self
                .inner
                .store
                .list_memberships(user, limits::MAX_PAGE_LIMIT, cursor.as_ref())
                .await?;
            rooms.extend(page.items.iter().map(|m| m.room_id));
            match page.next_cursor {
                Some(c) => cursor = Some(c),
                None => break,
            }
        }
        Ok(rooms)
    }

    /// Counts a stream of `user` against its limit; the guard gives the
    /// slot back unless a stream takes it over.
    fn take_stream_slot(&self, user: UserId) -> Result<SlotGuard> {
        let mut streams = self.inner.streams.lock().unwrap_or_else(|e| e.into_inner());
        let n = streams.entry(user).or_insert(0);
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
        Ok(SlotGuard {
            node: self.clone(),
            user,
            armed: true,
        })
    }

    fn open_stream(
        &self,
        guard: SlotGuard,
        rooms: Vec<RoomId>,
        last_event_id: Option<u64>,
        mark: StreamMark,
    ) -> EventStream {
        let user = guard.user;
        let filter = Arc::new(RoomFilter::new(user, rooms));
        let from = last_event_id.unwrap_or(mark.0);
        let (sub, resume) = self.inner.bus.subscribe(filter, Some(from));
        let resume = if last_event_id.is_none() {
            Resume::Fresh
        } else {
            resume
        };
        // From here on the slot is released by EventStream's Drop.
        guard.disarm();
        EventStream {
            sub,
            resume,
            node: self.clone(),
            user,
        }
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

//! "Last seen" times, buffered: every check-in would otherwise be a write.
//! Losing a few seconds of them on a crash only makes a host look briefly older.

use crate::workers::StopSignal;
use flotilla_core::HostId;
use flotilla_store::Store;
use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(Clone)]
pub struct SeenBuffer {
    pending: Arc<Mutex<HashSet<HostId>>>,
    store: Store,
}

impl SeenBuffer {
    pub fn new(store: Store) -> SeenBuffer {
        SeenBuffer {
            pending: Arc::default(),
            store,
        }
    }

    pub fn mark(&self, host: HostId) {
        if let Ok(mut pending) = self.pending.lock() {
            pending.insert(host);
        }
    }

    pub async fn flush(&self) {
        let hosts: Vec<HostId> = match self.pending.lock() {
            Ok(mut pending) => pending.drain().collect(),
            Err(_) => return,
        };
        if hosts.is_empty() {
            return;
        }
        if let Err(err) = self.store.mark_seen(&hosts, self.store.now()).await {
            tracing::warn!(error = %err, hosts = hosts.len(), "could not record last-seen times");
        }
    }
}

/// Writes the buffered times every `every` until stopped (a last write is the
/// caller's, once every worker has stopped).
pub async fn run_flusher(buffer: SeenBuffer, every: Duration, mut stop: StopSignal) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = stop.stopped() => break,
            _ = tick.tick() => buffer.flush().await,
        }
    }
}

//! "Last seen" times, buffered: every check-in would otherwise be a write.
//! Losing a few seconds of them on a crash only makes a host look briefly older.

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
    pub fn start(store: Store, every: Duration) -> SeenBuffer {
        let buffer = SeenBuffer {
            pending: Arc::default(),
            store,
        };
        let writer = buffer.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                writer.flush().await;
            }
        });
        buffer
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
        if let Err(err) = self.store.mark_seen(&hosts, flotilla_store::now()).await {
            tracing::warn!(error = %err, hosts = hosts.len(), "could not record last-seen times");
        }
    }
}

//! Background work, each a loop that `flotilla serve` starts once with
//! [`Workers::start`] and stops with [`Workers::stop`]:
//! - [`dirty_hosts`]: re-decides the hosts a change marked dirty;
//! - [`reporter`]: delivers queued verdicts to Microsoft;
//! - the "last seen" flusher: writes buffered check-in times.
//!
//! A worker reads its input from the database (claim and lease), so every
//! replica runs the same set and none is lost on a restart.

pub mod dirty_hosts;
pub mod reporter;

use crate::AppState;
use std::future::Future;
use tokio::sync::watch;
use tokio::task::JoinSet;

/// Tells a worker loop to finish: resolves once stopping was asked for.
#[derive(Clone)]
pub struct StopSignal(watch::Receiver<bool>);

impl StopSignal {
    pub async fn stopped(&mut self) {
        let _ = self.0.wait_for(|stop| *stop).await;
    }

    pub fn is_stopped(&self) -> bool {
        *self.0.borrow()
    }
}

/// The running workers of one server.
pub struct Workers {
    stop: watch::Sender<bool>,
    tasks: JoinSet<()>,
    state: AppState,
}

impl Workers {
    pub fn start(state: &AppState) -> Workers {
        let (stop, signal) = watch::channel(false);
        let mut workers = Workers {
            stop,
            tasks: JoinSet::new(),
            state: state.clone(),
        };
        let signal = StopSignal(signal);
        workers.spawn(dirty_hosts::run(state.clone(), signal.clone()));
        workers.spawn(reporter::run(state.clone(), signal.clone()));
        workers.spawn(crate::seen::run_flusher(
            state.seen.clone(),
            state.settings.seen_flush_interval,
            signal,
        ));
        workers
    }

    fn spawn(&mut self, work: impl Future<Output = ()> + Send + 'static) {
        self.tasks.spawn(work);
    }

    /// Asks every worker to finish, waits for them, and writes what is still buffered.
    pub async fn stop(mut self) {
        let _ = self.stop.send(true);
        while self.tasks.join_next().await.is_some() {}
        self.state.seen.flush().await;
    }
}

//! The Microsoft emulator: the login, Graph and Intune partner-sync calls a
//! compliance partner makes, with state, asynchronous upload processing and
//! fault injection, so that the whole conditional-access flow runs and is
//! tested without Microsoft.
//!
//! - `POST /{tenant}/oauth2/v2.0/token`, `GET /{tenant}/adminconsent`
//! - Graph under `/v1.0/`: servicePrincipals (+ endPoints), users, groups, devices
//! - Intune under `/intune/{tenant}/tenant-sync/` and `/intune/{tenant}/device-sync/`
//! - `GET /_emulator/state`, `POST /_emulator/faults`

mod faults;
mod graph;
mod intune;
mod login;
mod state;

pub use faults::Faults;
pub use state::{EmulatorConfig, TenantsFile};

use axum::routing::{get, post};
use axum::Router;
use state::Emulator;
use std::sync::Arc;

/// The emulator's HTTP surface. `base_url` is where it is reachable, for the
/// endpoint URIs it hands out.
pub fn router(config: EmulatorConfig, base_url: String) -> Router {
    let emulator = Arc::new(Emulator::new(config, base_url));
    Router::new()
        .route("/{tenant}/oauth2/v2.0/token", post(login::token))
        .route("/{tenant}/adminconsent", get(login::admin_consent))
        .route("/v1.0/{*rest}", get(graph::get).patch(graph::patch))
        .route(
            "/intune/{tenant}/{service}/{*rest}",
            get(intune::get).put(intune::put).post(intune::post),
        )
        .route("/_emulator/state", get(state::inspect))
        .route("/_emulator/faults", post(faults::set).get(faults::get))
        .layer(axum::middleware::from_fn_with_state(
            emulator.clone(),
            faults::inject,
        ))
        .with_state(emulator)
}

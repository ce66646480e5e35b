//! The admin REST API, Fleet-compatible, served under `/api/v1/fleet` and `/api/latest/fleet`.

mod carves;
mod conditional_access;
mod config;
mod gitops;
mod hosts;
mod labels;
mod policies;
mod profiles;
mod queries;
mod session;
mod software;
mod teams;
mod users;

use crate::AppState;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use axum::Router;

/// Admin requests are small JSON documents and keep axum's default limit
/// (2 MiB). Installers are large; an upload is held in memory while it is hashed and read.
const SOFTWARE_BODY: usize = 512 * 1024 * 1024;
/// A GitOps run carries every profile of every team it names.
const GITOPS_BODY: usize = 64 * 1024 * 1024;

pub fn router() -> Router<AppState> {
    let fleet = Router::new()
        .route("/login", post(session::login))
        .route("/logout", post(session::logout))
        .route("/me", get(session::me))
        .route("/users", get(users::list))
        .route("/users/admin", post(users::create))
        .route(
            "/users/{id}",
            get(users::get).patch(users::modify).delete(users::delete),
        )
        .route("/config", get(config::get).patch(config::modify))
        .route("/teams", get(teams::list).post(teams::create))
        .route(
            "/teams/{id}",
            get(teams::get).patch(teams::modify).delete(teams::delete),
        )
        .route(
            "/teams/{id}/secrets",
            get(teams::secrets).patch(teams::replace_secrets),
        )
        .route("/teams/{id}/agent_options", post(teams::set_agent_options))
        .route(
            "/spec/enroll_secret",
            get(teams::global_secrets).post(teams::replace_global_secrets),
        )
        .route("/hosts", get(hosts::list))
        .route("/hosts/count", get(hosts::count))
        .route("/hosts/transfer", post(hosts::transfer))
        .route(
            "/hosts/identifier/{identifier}",
            get(hosts::get_by_identifier),
        )
        .route("/hosts/{id}", get(hosts::get).delete(hosts::delete))
        .route("/hosts/{id}/refetch", post(hosts::refetch))
        .route("/hosts/{id}/device_mapping", get(hosts::device_mapping))
        .route("/carves", get(carves::list))
        .route("/carves/{id}", get(carves::get))
        .route("/carves/{id}/block/{block_id}", get(carves::block))
        .route("/labels", get(labels::list).post(labels::create))
        .route(
            "/labels/{id}",
            get(labels::get)
                .patch(labels::modify)
                .delete(labels::delete_by_name),
        )
        .route(
            "/labels/id/{id}",
            axum::routing::delete(labels::delete_by_id),
        )
        .route("/labels/{id}/hosts", get(labels::hosts))
        .route(
            "/global/policies",
            get(policies::list_global).post(policies::create_global),
        )
        .route("/global/policies/delete", post(policies::delete_global))
        .route(
            "/global/policies/{id}",
            get(policies::get_global).patch(policies::modify_global),
        )
        .route(
            "/teams/{id}/policies",
            get(policies::list_team).post(policies::create_team),
        )
        .route("/teams/{id}/policies/delete", post(policies::delete_team))
        .route(
            "/teams/{id}/policies/{policy_id}",
            get(policies::get_team).patch(policies::modify_team),
        )
        .route("/activities", get(config::activities))
        .route(
            "/software/package",
            post(software::upload).layer(DefaultBodyLimit::max(SOFTWARE_BODY)),
        )
        .route("/queries", get(queries::list))
        .route("/queries/{id}/report", get(queries::report))
        .route("/software/titles", get(software::titles))
        .route(
            "/gitops",
            post(gitops::apply).layer(DefaultBodyLimit::max(GITOPS_BODY)),
        )
        .route(
            "/gitops/installers/{sha256}",
            get(gitops::installer_exists)
                .put(gitops::put_installer)
                .layer(DefaultBodyLimit::max(SOFTWARE_BODY)),
        )
        .route(
            "/software/titles/{id}/available_for_install",
            axum::routing::delete(software::remove),
        )
        .route(
            "/configuration_profiles",
            get(profiles::list).post(profiles::upload),
        )
        .route(
            "/configuration_profiles/{uuid}",
            get(profiles::get).delete(profiles::delete),
        )
        .route(
            "/conditional-access/microsoft",
            post(conditional_access::connect).delete(conditional_access::disconnect),
        )
        .route(
            "/conditional-access/microsoft/confirm",
            post(conditional_access::confirm),
        )
        .route(
            "/conditional-access/microsoft/consent",
            get(conditional_access::consent_return),
        );
    Router::new()
        .route("/api/v1/setup", post(session::setup))
        .route("/api/latest/setup", post(session::setup))
        .nest("/api/v1/fleet", fleet.clone())
        .nest("/api/latest/fleet", fleet)
        .route_layer(axum::middleware::map_response(crate::headers::no_store))
}

/// Admin answers carry tokens and secrets: never cache them.
use crate::wire::requests::{PageParams, TeamParams};

//! GitOps apply: a whole run (what `flotilla gitops` sends), validated with
//! the same rules as every other door and applied in one transaction.

use super::{config, profiles, software, Caller, ServiceError, ServiceResult};
use crate::AppState;
use flotilla_core::gitops::{validate_request, ApplyOutcome, ApplyRequest, ProfileDef};
use flotilla_core::profile::validate_mobileconfig;
use flotilla_core::ValidationErrors;
use flotilla_store::{DesiredPackage, DesiredProfile, DesiredState, DesiredTeam};

fn desired_profile(profile: &ProfileDef) -> ServiceResult<DesiredProfile> {
    let summary = validate_mobileconfig(&profile.content)?;
    Ok(DesiredProfile {
        new_uuid: profiles::new_profile_uuid(),
        identifier: summary.identifier,
        name: summary.name,
        content: profile.content.clone(),
        checksum: profiles::checksum(&profile.content),
        labels: profile.labels.clone(),
    })
}

pub async fn apply(
    state: &AppState,
    caller: &Caller,
    mut request: ApplyRequest,
) -> ServiceResult<ApplyOutcome> {
    caller.require_global_admin()?;
    // Profiles are plists and the run carries many: check and read them off
    // the async workers.
    let (request, checked) = super::parse_off_the_workers("profiles", move || {
        let checked = validate_request(&mut request)
            .map_err(ServiceError::from)
            .and_then(|()| {
                request
                    .teams
                    .iter()
                    .map(|team| {
                        team.profiles
                            .iter()
                            .map(desired_profile)
                            .collect::<ServiceResult<Vec<_>>>()
                    })
                    .collect::<ServiceResult<Vec<_>>>()
            });
        (request, checked)
    })
    .await?;
    let mut team_profiles = checked?.into_iter();
    let server_url = request
        .global
        .as_ref()
        .and_then(|g| g.org_settings.server_settings.as_ref())
        .and_then(|s| s.get("server_url"));
    if let Some(url) = server_url {
        let url = url.as_str().unwrap_or_default();
        config::check_server_url(url).map_err(|reason| {
            ServiceError::invalid("org_settings.server_settings.server_url", reason)
        })?;
    }
    let mut teams = Vec::with_capacity(request.teams.len());
    let mut missing = ValidationErrors::default();
    for team in &request.teams {
        let profiles = team_profiles.next().unwrap_or_default();
        let mut packages = Vec::new();
        for def in &team.packages {
            match software::facts_by_sha256(state, &def.hash_sha256, def.file_name.as_deref()).await? {
                Some(facts) => packages.push(DesiredPackage { facts, def: def.clone() }),
                // A dry run isn't sent the installers the client holds: plan with what it says.
                None if request.dry_run && def.file_name.is_some() => packages.push(DesiredPackage {
                    facts: software::facts_from_name(def.file_name.as_deref().unwrap_or_default()),
                    def: def.clone(),
                }),
                None => missing.add(
                    &format!("team \"{}\" software", team.name),
                    format!(
                        "no package with SHA-256 {} is on the server; upload it (to any team) or give its url",
                        def.hash_sha256
                    ),
                ),
            }
        }
        teams.push(DesiredTeam {
            config: team,
            profiles,
            packages,
            new_secret: crate::secrets::random_token(24),
        });
    }
    missing.into_result()?;
    let desired = DesiredState {
        dry_run: request.dry_run,
        delete_other_teams: request.delete_other_teams,
        global: request.global.as_ref(),
        teams,
    };
    Ok(state
        .store
        .apply_gitops(&desired, caller.actor.clone())
        .await?)
}

//! The audit log's activity types, as Fleet names them.

/// What an audit-log entry records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ActivityType {
    AddedSoftware,
    AppliedGitops,
    ChangedEntraIdentity,
    ChangedUserRole,
    ClaimedEntraDevice,
    CreatedLabel,
    CreatedMacosProfile,
    CreatedPolicy,
    CreatedTeam,
    CreatedUser,
    DeletedHost,
    DeletedLabel,
    DeletedMacosProfile,
    DeletedPolicy,
    DeletedSoftware,
    DeletedTeam,
    DeletedUser,
    DisabledConditionalAccessAutomations,
    EditedAgentOptions,
    EditedEnrollSecrets,
    EditedLabel,
    EditedOrgSettings,
    EditedPolicy,
    EditedTeam,
    EnabledConditionalAccessAutomations,
    EnrolledDuplicateHost,
    TransferredHosts,
}

impl ActivityType {
    /// Fleet's name for it, as stored and as the API shows it.
    pub fn as_str(self) -> &'static str {
        match self {
            ActivityType::AddedSoftware => "added_software",
            ActivityType::AppliedGitops => "applied_gitops",
            ActivityType::ChangedEntraIdentity => "changed_entra_identity",
            ActivityType::ChangedUserRole => "changed_user_role",
            ActivityType::ClaimedEntraDevice => "claimed_entra_device",
            ActivityType::CreatedLabel => "created_label",
            ActivityType::CreatedMacosProfile => "created_macos_profile",
            ActivityType::CreatedPolicy => "created_policy",
            ActivityType::CreatedTeam => "created_team",
            ActivityType::CreatedUser => "created_user",
            ActivityType::DeletedHost => "deleted_host",
            ActivityType::DeletedLabel => "deleted_label",
            ActivityType::DeletedMacosProfile => "deleted_macos_profile",
            ActivityType::DeletedPolicy => "deleted_policy",
            ActivityType::DeletedSoftware => "deleted_software",
            ActivityType::DeletedTeam => "deleted_team",
            ActivityType::DeletedUser => "deleted_user",
            ActivityType::DisabledConditionalAccessAutomations => {
                "disabled_conditional_access_automations"
            }
            ActivityType::EditedAgentOptions => "edited_agent_options",
            ActivityType::EditedEnrollSecrets => "edited_enroll_secrets",
            ActivityType::EditedLabel => "edited_label",
            ActivityType::EditedOrgSettings => "edited_org_settings",
            ActivityType::EditedPolicy => "edited_policy",
            ActivityType::EditedTeam => "edited_team",
            ActivityType::EnabledConditionalAccessAutomations => {
                "enabled_conditional_access_automations"
            }
            ActivityType::EnrolledDuplicateHost => "enrolled_duplicate_host",
            ActivityType::TransferredHosts => "transferred_hosts",
        }
    }
}

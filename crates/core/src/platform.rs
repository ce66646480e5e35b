//! Platforms as osquery reports them, and the platform lists policies and
//! labels are targeted with.

use serde::{Deserialize, Serialize};

/// The platform families Fleet targets policies and labels at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Platform {
    Darwin,
    Windows,
    Linux,
    Chrome,
}

/// osquery's `os_version.platform` values that belong to the Linux family.
const LINUX_DISTRIBUTIONS: &[&str] = &[
    "linux",
    "ubuntu",
    "debian",
    "rhel",
    "centos",
    "fedora",
    "amzn",
    "arch",
    "manjaro",
    "gentoo",
    "opensuse",
    "suse",
    "sles",
    "kali",
    "pop",
    "linuxmint",
    "nixos",
    "rocky",
    "almalinux",
];

impl Platform {
    pub const ALL: [Platform; 4] = [
        Platform::Darwin,
        Platform::Windows,
        Platform::Linux,
        Platform::Chrome,
    ];

    /// The name used in API fields (`platform: "darwin"`).
    pub fn as_str(self) -> &'static str {
        match self {
            Platform::Darwin => "darwin",
            Platform::Windows => "windows",
            Platform::Linux => "linux",
            Platform::Chrome => "chrome",
        }
    }

    /// Parses a targeting name as admins write it (`darwin`, `windows`, `linux`, `chrome`).
    pub fn from_target_name(name: &str) -> Option<Platform> {
        match name.trim().to_ascii_lowercase().as_str() {
            "darwin" | "macos" => Some(Platform::Darwin),
            "windows" => Some(Platform::Windows),
            "linux" => Some(Platform::Linux),
            "chrome" => Some(Platform::Chrome),
            _ => None,
        }
    }

    /// The family of a host platform as osquery reports it (`darwin`, `ubuntu`, `windows`...).
    pub fn of_host(host_platform: &str) -> Option<Platform> {
        let p = host_platform.trim().to_ascii_lowercase();
        match p.as_str() {
            "darwin" => Some(Platform::Darwin),
            "windows" => Some(Platform::Windows),
            "chrome" => Some(Platform::Chrome),
            other if LINUX_DISTRIBUTIONS.contains(&other) => Some(Platform::Linux),
            _ => None,
        }
    }
}

/// A host's platform exactly as osquery reports it (`darwin`, `ubuntu`,
/// `windows`…), with the family it belongs to worked out once.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct HostPlatform {
    name: String,
    family: Option<Platform>,
}

impl HostPlatform {
    pub fn new(name: impl Into<String>) -> HostPlatform {
        let name = name.into();
        let family = Platform::of_host(&name);
        HostPlatform { name, family }
    }

    /// osquery's value, as stored and shown (`""` before the host reported it).
    pub fn as_str(&self) -> &str {
        &self.name
    }

    /// The family policies and labels target; `None` for an unknown platform.
    pub fn family(&self) -> Option<Platform> {
        self.family
    }

    pub fn is_unknown(&self) -> bool {
        self.name.is_empty()
    }
}

impl From<&str> for HostPlatform {
    fn from(name: &str) -> HostPlatform {
        HostPlatform::new(name)
    }
}

impl Serialize for HostPlatform {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.name)
    }
}

/// A comma-separated platform list (`"darwin,windows"`); empty means every platform.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PlatformSet(Vec<Platform>);

impl PlatformSet {
    /// Parses Fleet's comma-separated form; the error names the first unknown entry.
    pub fn parse(list: &str) -> Result<PlatformSet, String> {
        let mut platforms = Vec::new();
        for entry in list.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            let platform = Platform::from_target_name(entry).ok_or_else(|| entry.to_string())?;
            if !platforms.contains(&platform) {
                platforms.push(platform);
            }
        }
        Ok(PlatformSet(platforms))
    }

    pub fn is_all(&self) -> bool {
        self.0.is_empty()
    }

    /// Only `platform`.
    pub fn single(platform: Platform) -> PlatformSet {
        PlatformSet(vec![platform])
    }

    pub fn contains(&self, platform: Platform) -> bool {
        self.0.contains(&platform)
    }

    /// Whether something targeted at this set runs on `host`.
    pub fn targets_host(&self, host: &HostPlatform) -> bool {
        self.is_all() || host.family().is_some_and(|p| self.contains(p))
    }

    /// The canonical comma-separated form, as stored and returned.
    pub fn to_list_string(&self) -> String {
        self.0
            .iter()
            .map(|p| p.as_str())
            .collect::<Vec<_>>()
            .join(",")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_list_targets_every_host() {
        let all = PlatformSet::parse("").unwrap();
        assert!(all.targets_host(&"darwin".into()));
        assert!(all.targets_host(&"ubuntu".into()));
        assert!(all.targets_host(&"windows".into()));
        assert!(all.targets_host(&"".into()));
    }

    #[test]
    fn linux_family_covers_distributions() {
        let linux = PlatformSet::parse("linux").unwrap();
        assert!(linux.targets_host(&"ubuntu".into()));
        assert!(linux.targets_host(&"rhel".into()));
        assert!(!linux.targets_host(&"darwin".into()));
        assert!(!linux.targets_host(&"".into()));
    }

    #[test]
    fn list_is_normalised_and_unknown_entries_named() {
        let set = PlatformSet::parse(" windows, darwin ,darwin").unwrap();
        assert_eq!(set.to_list_string(), "windows,darwin");
        assert_eq!(PlatformSet::parse("darwin,beos").unwrap_err(), "beos");
    }
}

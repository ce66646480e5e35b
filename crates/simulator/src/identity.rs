//! A simulated Mac's identity: realistic, and fixed by the seed and its index.

use crate::scenario::mix;

const OWNERS: &[&str] = &[
    "alex", "sam", "jordan", "taylor", "morgan", "casey", "riley", "jamie", "avery", "quinn",
    "drew", "robin",
];
const MODELS: &[(&str, &str)] = &[
    ("macbook-pro", "Mac15,3"),
    ("macbook-air", "Mac14,2"),
    ("imac", "Mac15,5"),
    ("mac-mini", "Mac14,3"),
    ("macbook-pro", "MacBookPro18,3"),
];
/// (version, build), recent macOS releases.
const MACOS: &[(&str, &str)] = &[
    ("15.1.1", "24B91"),
    ("15.2", "24C101"),
    ("14.7.1", "23H222"),
    ("14.6.1", "23G93"),
    ("13.7.1", "22H221"),
];
const SERIAL_ALPHABET: &[u8] = b"0123456789CDFGHJKLMNPQRTVWXY";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub index: u64,
    pub uuid: String,
    pub serial: String,
    pub hostname: String,
    pub computer_name: String,
    pub hardware_model: String,
    pub macos_version: String,
    pub macos_build: String,
}

impl Identity {
    pub fn new(seed: u64, index: u64) -> Identity {
        let pick = |what: &str, len: usize| (mix(seed, index, what) % len as u64) as usize;
        let a = mix(seed, index, "uuid-a");
        let b = mix(seed, index, "uuid-b");
        let uuid = format!(
            "{:08X}-{:04X}-{:04X}-{:04X}-{:012X}",
            a >> 32,
            (a >> 16) & 0xFFFF,
            0x4000 | (a & 0x0FFF),
            0x8000 | ((b >> 48) & 0x3FFF),
            b & 0xFFFF_FFFF_FFFF
        );
        let mut serial_bits = mix(seed, index, "serial");
        let serial: String = (0..10)
            .map(|_| {
                let c =
                    SERIAL_ALPHABET[(serial_bits % SERIAL_ALPHABET.len() as u64) as usize] as char;
                serial_bits /= SERIAL_ALPHABET.len() as u64;
                c
            })
            .collect();
        let owner = OWNERS[pick("owner", OWNERS.len())];
        let (model_name, model) = MODELS[pick("model", MODELS.len())];
        let (version, build) = MACOS[pick("macos", MACOS.len())];
        Identity {
            index,
            uuid,
            hostname: format!("{owner}-{model_name}-{index:05}.local"),
            computer_name: format!("{}'s Mac {index}", capitalise(owner)),
            serial,
            hardware_model: model.to_string(),
            macos_version: version.to_string(),
            macos_build: build.to_string(),
        }
    }
}

fn capitalise(word: &str) -> String {
    let mut chars = word.chars();
    chars
        .next()
        .map(|first| first.to_ascii_uppercase().to_string() + chars.as_str())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identities_are_deterministic_and_distinct() {
        assert_eq!(Identity::new(7, 3), Identity::new(7, 3));
        let ids: std::collections::HashSet<String> =
            (0..5000).map(|i| Identity::new(7, i).uuid).collect();
        assert_eq!(ids.len(), 5000);
        let serials: std::collections::HashSet<String> =
            (0..5000).map(|i| Identity::new(7, i).serial).collect();
        assert_eq!(serials.len(), 5000);
        assert_ne!(Identity::new(7, 3).uuid, Identity::new(8, 3).uuid);
    }

    #[test]
    fn identities_look_like_macs() {
        let id = Identity::new(1, 42);
        assert_eq!(id.uuid.len(), 36);
        assert_eq!(id.serial.len(), 10);
        assert!(id.hostname.ends_with("-00042.local"));
        assert!(id.hardware_model.starts_with("Mac"));
    }
}

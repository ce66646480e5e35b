//! The scenario file: which simulated hosts pass, fail or error which
//! policies, which labels they match, and timed changes. Every choice is a
//! pure function of the seed and the host's index, so a run can be repeated.

use serde::Deserialize;
use std::time::Duration;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// First matching rule wins; unmatched policies pass.
    #[serde(default)]
    pub policies: Vec<PolicyRule>,
    /// Unmatched labels don't match.
    #[serde(default)]
    pub labels: Vec<LabelRule>,
    #[serde(default)]
    pub flips: Vec<Flip>,
    #[serde(default)]
    pub entra: Option<EntraIdentity>,
    #[serde(default)]
    pub mdm: Option<MdmShare>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyRule {
    pub name: Option<String>,
    pub query_contains: Option<String>,
    #[serde(default)]
    pub pass: f64,
    #[serde(default)]
    pub fail: f64,
    #[serde(default)]
    pub error: f64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LabelRule {
    pub query_contains: String,
    #[serde(rename = "match")]
    pub share: f64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Flip {
    #[serde(with = "humantime_serde_compat")]
    pub at: Duration,
    pub policy: String,
    pub fraction: f64,
    pub to: Answer,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EntraIdentity {
    /// `{n}` is replaced by the host's number, from 1.
    pub upn_pattern: String,
    #[serde(default = "one")]
    pub registered: f64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MdmShare {
    #[serde(default = "one")]
    pub enrolled: f64,
}

fn one() -> f64 {
    1.0
}

/// How a simulated host answers a policy query.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Answer {
    Pass,
    Fail,
    Error,
}

/// Durations written as `30s`, `5m`, `1h`.
mod humantime_serde_compat {
    use serde::{Deserialize, Deserializer};
    use std::time::Duration;

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let text = String::deserialize(d)?;
        super::parse_duration(&text).map_err(serde::de::Error::custom)
    }
}

/// Parses `500ms`, `30s`, `5m`, `2h`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    humantime::parse_duration(text.trim())
        .map_err(|e| format!("\"{text}\" is not a duration like 30s: {e}"))
}

#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    #[error("{0}")]
    Parse(#[from] serde_norway::Error),
    #[error("{0}")]
    Invalid(String),
}

impl Scenario {
    pub fn from_yaml(text: &str) -> Result<Scenario, ScenarioError> {
        let scenario: Scenario = serde_norway::from_str(text)?;
        scenario.validate()?;
        Ok(scenario)
    }

    fn validate(&self) -> Result<(), ScenarioError> {
        let fraction = |what: String, v: f64| {
            if (0.0..=1.0).contains(&v) {
                Ok(())
            } else {
                Err(ScenarioError::Invalid(format!(
                    "{what}: {v} is not a fraction between 0 and 1"
                )))
            }
        };
        for (i, rule) in self.policies.iter().enumerate() {
            if rule.name.is_none() == rule.query_contains.is_none() {
                return Err(ScenarioError::Invalid(format!(
                    "policies[{i}]: give either name or query_contains"
                )));
            }
            fraction(format!("policies[{i}].pass"), rule.pass)?;
            fraction(format!("policies[{i}].fail"), rule.fail)?;
            fraction(format!("policies[{i}].error"), rule.error)?;
            if rule.pass + rule.fail + rule.error > 1.0 + 1e-9 {
                return Err(ScenarioError::Invalid(format!(
                    "policies[{i}]: pass + fail + error exceeds 1"
                )));
            }
        }
        for (i, rule) in self.labels.iter().enumerate() {
            fraction(format!("labels[{i}].match"), rule.share)?;
        }
        for (i, flip) in self.flips.iter().enumerate() {
            fraction(format!("flips[{i}].fraction"), flip.fraction)?;
        }
        if let Some(entra) = &self.entra {
            fraction("entra.registered".into(), entra.registered)?;
            if !entra.upn_pattern.contains("{n}") {
                return Err(ScenarioError::Invalid(
                    "entra.upn_pattern must contain {n}".into(),
                ));
            }
        }
        if let Some(mdm) = &self.mdm {
            fraction("mdm.enrolled".into(), mdm.enrolled)?;
        }
        Ok(())
    }

    /// A host's answer to a policy, `elapsed` into the run.
    pub fn policy_answer(
        &self,
        seed: u64,
        host: u64,
        name: Option<&str>,
        query: &str,
        elapsed: Duration,
    ) -> Answer {
        let key = name.unwrap_or(query);
        let mut answer = self.base_answer(seed, host, name, query, key);
        for (i, flip) in self.flips.iter().enumerate() {
            if elapsed >= flip.at
                && name == Some(flip.policy.as_str())
                && unit(seed, host, &format!("flip:{i}:{}", flip.policy)) < flip.fraction
            {
                answer = flip.to;
            }
        }
        answer
    }

    fn base_answer(
        &self,
        seed: u64,
        host: u64,
        name: Option<&str>,
        query: &str,
        key: &str,
    ) -> Answer {
        let rule = self
            .policies
            .iter()
            .find(|rule| match (&rule.name, &rule.query_contains) {
                (Some(rule_name), _) => name == Some(rule_name.as_str()),
                (None, Some(fragment)) => query.contains(fragment.as_str()),
                (None, None) => false,
            });
        let Some(rule) = rule else {
            return Answer::Pass;
        };
        let total = rule.pass + rule.fail + rule.error;
        if total <= 0.0 {
            return Answer::Pass;
        }
        // Scale so that a remainder below 1.0 is split in the same proportions.
        let point = unit(seed, host, &format!("policy:{key}")) * total;
        if point < rule.pass {
            Answer::Pass
        } else if point < rule.pass + rule.fail {
            Answer::Fail
        } else {
            Answer::Error
        }
    }

    /// Whether a host matches a dynamic label.
    pub fn label_matches(&self, seed: u64, host: u64, query: &str) -> bool {
        self.labels
            .iter()
            .find(|rule| query.contains(rule.query_contains.as_str()))
            .is_some_and(|rule| {
                unit(seed, host, &format!("label:{}", rule.query_contains)) < rule.share
            })
    }

    /// Which flips have come due at `elapsed`, for hosts to ask for a refetch.
    pub fn flips_due(&self, before: Duration, now: Duration) -> impl Iterator<Item = &Flip> {
        self.flips
            .iter()
            .filter(move |f| f.at > before && f.at <= now)
    }

    /// The host's Entra identity (UPN), or `None` when it is not registered.
    pub fn entra_upn(&self, seed: u64, host: u64) -> Option<String> {
        let entra = self.entra.as_ref()?;
        (unit(seed, host, "entra") < entra.registered)
            .then(|| entra.upn_pattern.replace("{n}", &(host + 1).to_string()))
    }

    pub fn mdm_enrolled(&self, seed: u64, host: u64) -> bool {
        self.mdm
            .as_ref()
            .is_none_or(|m| unit(seed, host, "mdm") < m.enrolled)
    }
}

/// A number in [0, 1) fixed by the seed, the host and what is being decided.
pub fn unit(seed: u64, host: u64, what: &str) -> f64 {
    (mix(seed, host, what) >> 11) as f64 / (1u64 << 53) as f64
}

/// A 64-bit hash of the seed, the host and a label (FNV-1a, then SplitMix64).
pub fn mix(seed: u64, host: u64, what: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in what
        .bytes()
        .chain(seed.to_le_bytes())
        .chain(host.to_le_bytes())
    {
        h ^= u64::from(byte);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    let mut z = h.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    const YAML: &str = r#"
policies:
  - name: "Disk encryption"
    pass: 0.7
    fail: 0.25
    error: 0.05
  - query_contains: "osquery_info"
    pass: 1.0
labels:
  - query_contains: "CompanyPortal"
    match: 0.4
flips:
  - at: 30s
    policy: "Disk encryption"
    fraction: 0.2
    to: fail
"#;

    #[test]
    fn answers_follow_the_fractions() {
        let s = Scenario::from_yaml(YAML).unwrap();
        let answers: Vec<Answer> = (0..10_000)
            .map(|h| s.policy_answer(7, h, Some("Disk encryption"), "SELECT 1", Duration::ZERO))
            .collect();
        let share = |a| answers.iter().filter(|x| **x == a).count() as f64 / 10_000.0;
        assert!((share(Answer::Pass) - 0.7).abs() < 0.02);
        assert!((share(Answer::Fail) - 0.25).abs() < 0.02);
        assert!((share(Answer::Error) - 0.05).abs() < 0.01);
        let matches = (0..10_000)
            .filter(|h| s.label_matches(7, *h, "SELECT 1 FROM apps WHERE x = 'CompanyPortal'"))
            .count();
        assert!((matches as f64 / 10_000.0 - 0.4).abs() < 0.02);
    }

    #[test]
    fn answers_are_fixed_by_the_seed() {
        let s = Scenario::from_yaml(YAML).unwrap();
        let run = |seed| -> Vec<Answer> {
            (0..200)
                .map(|h| s.policy_answer(seed, h, Some("Disk encryption"), "", Duration::ZERO))
                .collect()
        };
        assert_eq!(run(7), run(7));
        assert_ne!(run(7), run(8));
    }

    #[test]
    fn unmatched_policies_pass_and_unmatched_labels_do_not_match() {
        let s = Scenario::from_yaml(YAML).unwrap();
        assert_eq!(
            s.policy_answer(1, 1, Some("Firewall"), "SELECT 2", Duration::ZERO),
            Answer::Pass
        );
        assert!(!s.label_matches(1, 1, "SELECT 1 FROM somewhere"));
    }

    #[test]
    fn flips_change_a_share_of_hosts_after_their_time() {
        let s = Scenario::from_yaml(YAML).unwrap();
        let fails = |at| {
            (0..10_000)
                .filter(|h| s.policy_answer(3, *h, Some("Disk encryption"), "", at) == Answer::Fail)
                .count()
        };
        let before = fails(Duration::from_secs(29));
        let after = fails(Duration::from_secs(30));
        // 20% of all hosts now fail; of them about 25% failed already.
        let expected_gain = 10_000.0 * 0.2 * 0.75;
        assert!(
            ((after - before) as f64 - expected_gain).abs() < 200.0,
            "{before} -> {after}"
        );
    }

    #[test]
    fn bad_scenarios_are_refused() {
        assert!(
            Scenario::from_yaml("policies:\n  - name: x\n    pass: 0.8\n    fail: 0.5\n").is_err()
        );
        assert!(Scenario::from_yaml("policies:\n  - pass: 1.0\n").is_err());
        assert!(Scenario::from_yaml("polices: []\n").is_err());
    }

    #[test]
    fn durations_parse() {
        assert_eq!(parse_duration("30s").unwrap(), Duration::from_secs(30));
        assert_eq!(parse_duration("2m").unwrap(), Duration::from_secs(120));
        assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
        assert!(parse_duration("soon").is_err());
    }
}

//! Where each issuer's tokens say who the caller is. Identity providers name their claims as
//! they like: Pro Santé Connect puts the professional's national identifier in
//! `SubjectNameID` and their profession in `SubjectRefPro.exercices[].codeProfession`; a
//! workforce directory says who is an operator in `groups`. Each issuer of `JWT_ISSUERS` maps
//! them with JSON pointers (RFC 6901), as Hasura's `claims_map` does with paths; an issuer that
//! maps nothing is read with this API's own names (`sub`, `role`, `name`, `profession`,
//! `profession_code`), as the development issuer is.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;

use super::ActorRole;

/// The claim mapping of one issuer. Every field is optional: what is not mapped is read where
/// this API's own tokens carry it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClaimMap {
    /// Where the role is, and how the issuer's values read as ours. Unmapped: `/role`, with
    /// our names (`PATIENT`, `PRACTITIONER`, `OPERATOR`); an issuer granting a single role
    /// needs none.
    #[serde(default)]
    pub role: Option<RoleClaim>,
    /// Where the subject is: the RPPS number of a practitioner, the agent id of an operator
    /// (a patient signs in with the provider's own `sub`, bound to an INS at activation).
    /// Unmapped: `/sub`.
    #[serde(default)]
    pub subject: Option<SubjectClaim>,
    /// Where a practitioner's profession code (RPPS nomenclature) is. Unmapped:
    /// `/profession_code`.
    #[serde(default)]
    pub profession_code: Option<String>,
    /// Where the display name is: one pointer, or several whose values are joined with a
    /// space (`["/given_name", "/family_name"]`). Unmapped: `/name`.
    #[serde(default)]
    pub name: Option<Vec<String>>,
    /// Where the profession's display name is. Unmapped: `/profession` (and, when absent, the
    /// nomenclature's name of the code).
    #[serde(default)]
    pub profession: Option<String>,
}

/// The role claim: where, and the issuer's values that mean each role. A pointer to an array
/// (`groups`) takes the first value the map knows.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoleClaim {
    pub path: String,
    /// The issuer's value → our role; empty: the values are our role names.
    #[serde(default)]
    pub values: BTreeMap<String, ActorRole>,
}

/// The subject claim, and a prefix to strip from its value (Pro Santé Connect's national
/// identifier is the RPPS number after the type digit `8`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubjectClaim {
    pub path: String,
    /// Required at the start of the value, then removed; a value without it is refused.
    #[serde(default)]
    pub strip_prefix: Option<String>,
}

/// Ready-made mappings of the providers people use, named by `preset` in `JWT_ISSUERS`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Preset {
    /// Pro Santé Connect (Agence du numérique en santé): practitioners. Its userinfo and
    /// tokens carry `SubjectNameID` (the national identifier of the professional, `8` then the
    /// RPPS number for those in the RPPS), `SubjectRefPro.exercices[]` (one per practice, each
    /// with its `codeProfession`), `given_name` and `family_name`. Read in ANS's PSC
    /// documentation (industriels.esante.gouv.fr, "Pro Santé Connect", "userinfo") and in the
    /// userinfo of its sandbox as integrators publish it.
    ProSanteConnect,
}

impl Preset {
    /// The mapping it stands for.
    pub fn claims(self) -> ClaimMap {
        match self {
            Self::ProSanteConnect => ClaimMap {
                role: None,
                subject: Some(SubjectClaim {
                    path: "/SubjectNameID".to_owned(),
                    strip_prefix: Some("8".to_owned()),
                }),
                // The first practice: a professional with several picks it at PSC's sign-in.
                profession_code: Some("/SubjectRefPro/exercices/0/codeProfession".to_owned()),
                name: Some(vec!["/given_name".to_owned(), "/family_name".to_owned()]),
                profession: None,
            },
        }
    }
}

impl ClaimMap {
    /// This mapping, with what it leaves unmapped taken from `preset`'s.
    pub fn over(self, preset: Option<Preset>) -> Self {
        let Some(preset) = preset else {
            return self;
        };
        let base = preset.claims();
        Self {
            role: self.role.or(base.role),
            subject: self.subject.or(base.subject),
            profession_code: self.profession_code.or(base.profession_code),
            name: self.name.or(base.name),
            profession: self.profession.or(base.profession),
        }
    }

    /// Checks the pointers (each starts with `/`, or is empty for the whole document).
    pub fn check(&self, issuer: &str) -> Result<(), String> {
        let pointers = self
            .role
            .iter()
            .map(|r| &r.path)
            .chain(self.subject.iter().map(|s| &s.path))
            .chain(&self.profession_code)
            .chain(self.name.iter().flatten())
            .chain(&self.profession);
        for pointer in pointers {
            if !pointer.starts_with('/') {
                return Err(format!(
                    "issuer {issuer}: claim pointer {pointer:?} must start with '/' (RFC 6901)"
                ));
            }
        }
        Ok(())
    }

    /// Reads a token's claims through the mapping. A claim that is mapped but absent is named
    /// by its pointer, never quoted from the token.
    pub fn read(&self, claims: &Value) -> Result<MappedClaims, String> {
        let role = match &self.role {
            Some(role) => Some(read_role(claims, role)?),
            None => match claims.get("role") {
                None | Some(Value::Null) => None,
                Some(value) => Some(
                    serde_json::from_value(value.clone())
                        .map_err(|_| "the token's 'role' is not a role of this API".to_owned())?,
                ),
            },
        };
        let account = text(claims, "/sub")?
            .ok_or_else(|| "the token lacks the required claim 'sub'".to_owned())?;
        let subject = match &self.subject {
            None => account.clone(),
            Some(mapped) => {
                let value = text(claims, &mapped.path)?.ok_or_else(|| {
                    format!(
                        "the token lacks the claim {} (this issuer's subject)",
                        mapped.path
                    )
                })?;
                match &mapped.strip_prefix {
                    None => value,
                    Some(prefix) => value.strip_prefix(prefix.as_str()).map(str::to_owned).ok_or_else(|| {
                        format!(
                            "the token's {} does not start with {prefix:?}: not an identifier this \
                             API reads (an RPPS-based national identifier starts with 8)",
                            mapped.path
                        )
                    })?,
                }
            }
        };
        let name = match &self.name {
            None => text(claims, "/name")?,
            Some(pointers) => {
                let mut parts = Vec::new();
                for pointer in pointers {
                    if let Some(part) = text(claims, pointer)? {
                        parts.push(part);
                    }
                }
                (!parts.is_empty()).then(|| parts.join(" "))
            }
        };
        let profession_code = text(
            claims,
            self.profession_code
                .as_deref()
                .unwrap_or("/profession_code"),
        )?;
        if self.profession_code.is_some() && profession_code.is_none() && role_needs_code(role) {
            // Named now: the generic message would name our claim, not the issuer's.
            return Err(format!(
                "the token lacks the claim {} (this issuer's profession code)",
                self.profession_code.as_deref().unwrap_or_default()
            ));
        }
        Ok(MappedClaims {
            role,
            account,
            subject,
            name,
            profession: text(claims, self.profession.as_deref().unwrap_or("/profession"))?,
            profession_code,
        })
    }
}

fn role_needs_code(role: Option<ActorRole>) -> bool {
    matches!(role, None | Some(ActorRole::Practitioner))
}

/// What a token says of its holder, read through its issuer's mapping.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MappedClaims {
    /// The role the token claims, if it names one.
    pub role: Option<ActorRole>,
    /// The token's own `sub`: the account at the provider (what a patient's binding names).
    pub account: String,
    /// The subject as mapped: RPPS number, agent id, or INS for an issuer that says it.
    pub subject: String,
    pub name: Option<String>,
    pub profession: Option<String>,
    pub profession_code: Option<String>,
}

/// The string at `pointer`; a number is read as its digits (a profession code sent as 10).
fn text(claims: &Value, pointer: &str) -> Result<Option<String>, String> {
    match claims.pointer(pointer) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(Value::Number(n)) => Ok(Some(n.to_string())),
        Some(_) => Err(format!(
            "the token's claim {pointer} is not a string: this issuer's mapping cannot read it"
        )),
    }
}

fn read_role(claims: &Value, role: &RoleClaim) -> Result<ActorRole, String> {
    let values: Vec<&str> = match claims.pointer(&role.path) {
        Some(Value::String(s)) => vec![s.as_str()],
        Some(Value::Array(items)) => items.iter().filter_map(Value::as_str).collect(),
        _ => {
            return Err(format!(
                "the token lacks the claim {} (this issuer's role)",
                role.path
            ));
        }
    };
    values
        .iter()
        .find_map(|value| {
            if role.values.is_empty() {
                serde_json::from_value(Value::String((*value).to_owned())).ok()
            } else {
                role.values.get(*value).copied()
            }
        })
        .ok_or_else(|| {
            format!(
                "the token's {} names no role this issuer's mapping grants",
                role.path
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn psc() -> ClaimMap {
        ClaimMap::default().over(Some(Preset::ProSanteConnect))
    }

    #[test]
    fn the_psc_preset_reads_the_rpps_from_the_national_identifier_and_the_first_practice() {
        let claims = json!({
            "sub": "f:550dc1c8-d97b-4b1e-ac8c-8eb4471cf9dd:810001234567",
            "SubjectNameID": "810001234567",
            "given_name": "Claire",
            "family_name": "Martin",
            "SubjectRefPro": { "exercices": [{ "codeProfession": "10" }, { "codeProfession": "21" }] },
        });
        let read = psc().read(&claims).unwrap();
        assert_eq!(read.subject, "10001234567");
        assert_eq!(read.profession_code.as_deref(), Some("10"));
        assert_eq!(read.name.as_deref(), Some("Claire Martin"));
        assert_eq!(
            read.account,
            "f:550dc1c8-d97b-4b1e-ac8c-8eb4471cf9dd:810001234567"
        );
    }

    #[test]
    fn a_missing_or_foreign_claim_is_named_by_its_pointer_never_quoted() {
        let no_practice = json!({ "sub": "x", "SubjectNameID": "810001234567" });
        let err = psc().read(&no_practice).unwrap_err();
        assert!(
            err.contains("/SubjectRefPro/exercices/0/codeProfession"),
            "{err}"
        );

        let adeli = json!({ "sub": "x", "SubjectNameID": "0123456789", "SubjectRefPro": { "exercices": [{ "codeProfession": "60" }] } });
        let err = psc().read(&adeli).unwrap_err();
        assert!(
            err.contains("/SubjectNameID") && !err.contains("0123456789"),
            "{err}"
        );

        let shaped = json!({ "sub": "x", "SubjectNameID": ["8100"] });
        let err = psc().read(&shaped).unwrap_err();
        assert!(err.contains("not a string"), "{err}");
    }

    #[test]
    fn a_role_is_read_from_a_group_list_through_the_value_map() {
        let map = ClaimMap {
            role: Some(RoleClaim {
                path: "/groups".to_owned(),
                values: BTreeMap::from([(
                    "espace-sante-operateurs".to_owned(),
                    ActorRole::Operator,
                )]),
            }),
            ..ClaimMap::default()
        };
        let claims = json!({ "sub": "agent-7", "groups": ["staff", "espace-sante-operateurs"] });
        assert_eq!(map.read(&claims).unwrap().role, Some(ActorRole::Operator));
        let outsider = json!({ "sub": "agent-8", "groups": ["staff"] });
        assert!(map.read(&outsider).unwrap_err().contains("/groups"));
    }

    #[test]
    fn without_a_mapping_the_apis_own_claim_names_are_read() {
        let claims = json!({ "sub": "10003456789", "role": "PRACTITIONER", "name": "Dr A", "profession_code": "10" });
        let read = ClaimMap::default().read(&claims).unwrap();
        assert_eq!(read.role, Some(ActorRole::Practitioner));
        assert_eq!(read.subject, "10003456789");
        assert_eq!(read.profession_code.as_deref(), Some("10"));
    }
}

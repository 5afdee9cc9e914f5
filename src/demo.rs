//! `espace-sante demo`: a small population in every status, loaded through the real services
//! (so the ledger and the outbox are as real as the rest), and tokens to try every flow.

use std::sync::Arc;

use chrono::{Duration, NaiveDate, Utc};

use crate::clock::{ManualClock, SharedClock};
use crate::config::{AuthSettings, DatabaseSettings, RuleSettings};
use crate::domain::Ins;
use crate::domain::{ActorRef, ActorRole};
use crate::services::profiles::{ActivationInput, BeneficiaryRow, OppositionChannel};
use crate::services::{ServiceError, Services};
use crate::startup::StartupError;

struct DemoPatient {
    ins: &'static str,
    first_names: &'static str,
    birth_name: &'static str,
    birth_date: (i32, u32, u32),
    serial: &'static str,
    insurer_email: Option<&'static str>,
    address: [&'static str; 2],
    /// What the demo makes of them.
    fate: Fate,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Fate {
    Announced,
    Opposed,
    Created,
    Activated,
}

const PATIENTS: [DemoPatient; 5] = [
    DemoPatient {
        ins: "285037512304514",
        first_names: "Camille",
        birth_name: "DURAND",
        birth_date: (1985, 3, 14),
        serial: "CV1000000001",
        insurer_email: Some("camille.durand@example.org"),
        address: ["4 rue des Lilas", "75011 PARIS"],
        fate: Fate::Announced,
    },
    DemoPatient {
        ins: "179063345601222",
        first_names: "Louis",
        birth_name: "PETIT",
        birth_date: (1979, 6, 2),
        serial: "CV1000000002",
        insurer_email: None,
        address: ["12 avenue Foch", "33000 BORDEAUX"],
        fate: Fate::Opposed,
    },
    DemoPatient {
        ins: "292016987654390",
        first_names: "Jeanne",
        birth_name: "MARTIN",
        birth_date: (1992, 1, 20),
        serial: "CV1000000003",
        insurer_email: Some("jeanne.martin@example.org"),
        address: ["3 place Bellecour", "69002 LYON"],
        fate: Fate::Created,
    },
    DemoPatient {
        ins: "155121357902472",
        first_names: "Marcel",
        birth_name: "BERNARD",
        birth_date: (1955, 12, 1),
        serial: "CV1000000004",
        insurer_email: None,
        address: ["8 chemin du Moulin", "13100 AIX-EN-PROVENCE"],
        fate: Fate::Created,
    },
    DemoPatient {
        ins: "288021598700139",
        first_names: "Sophie",
        birth_name: "LEROY",
        birth_date: (1988, 2, 9),
        serial: "CV1000000005",
        insurer_email: Some("sophie.leroy@example.org"),
        address: ["21 quai de la Fosse", "44000 NANTES"],
        fate: Fate::Activated,
    },
];

/// RPPS number, name, profession and its code of the RPPS nomenclature.
const PRACTITIONERS: [(&str, &str, &str, &str); 3] = [
    ("10003456786", "Dr Anne MOREAU", "Médecin généraliste", "10"),
    ("10009876540", "Paul GIRARD", "Infirmier", "60"),
    ("10005555551", "Claire FONTAINE", "Pharmacien", "21"),
];

const OPERATOR: (&str, &str) = ("agent-cpam-75", "Agent CPAM de Paris");

fn row(p: &DemoPatient) -> BeneficiaryRow {
    let (y, m, d) = p.birth_date;
    BeneficiaryRow {
        ins: p.ins.to_owned(),
        birth_name: p.birth_name.to_owned(),
        first_names: p.first_names.to_owned(),
        birth_date: NaiveDate::from_ymd_opt(y, m, d).unwrap_or_default(),
        carte_vitale_serial: p.serial.to_owned(),
        insurer_email: p.insurer_email.map(str::to_owned),
        address_lines: p.address.iter().map(|l| (*l).to_owned()).collect(),
        legal_representatives: Vec::new(),
    }
}

fn demo_error(err: ServiceError) -> StartupError {
    err.message().into()
}

/// Loads the demo population (idempotent: a second run loads nothing new) and prints tokens.
pub async fn load(
    database: &DatabaseSettings,
    auth: &AuthSettings,
    rules: &RuleSettings,
    clock: SharedClock,
) -> Result<(), StartupError> {
    let db = database.connect(None).await?;
    crate::db::migrate(&db).await?;
    let now = clock.now();
    let policy = rules.policy();
    // Those who must be past their opposition window are enrolled that long ago.
    let past = Arc::new(ManualClock::new(
        now - policy.opposition_window - Duration::days(1),
    ));
    let contents = database.contents()?;
    let in_the_past = Services::new(db.clone(), past, policy.clone(), contents.clone());
    let today = Services::new(db, clock, policy, contents);
    let operator = ActorRef {
        role: ActorRole::Operator,
        id: OPERATOR.0.to_owned(),
        name: OPERATOR.1.to_owned(),
        profession: None,
    };

    let (old, new): (Vec<&DemoPatient>, Vec<&DemoPatient>) =
        PATIENTS.iter().partition(|p| p.fate != Fate::Announced);
    let enrolled_old = in_the_past
        .enrol(&operator, &old.iter().map(|p| row(p)).collect::<Vec<_>>())
        .await
        .map_err(demo_error)?;
    today
        .enrol(&operator, &new.iter().map(|p| row(p)).collect::<Vec<_>>())
        .await
        .map_err(demo_error)?;

    let mut codes = Vec::new();
    if !enrolled_old.enrolled.is_empty() {
        for p in PATIENTS.iter().filter(|p| p.fate == Fate::Opposed) {
            let ins = Ins::parse(p.ins)?;
            in_the_past
                .oppose(&operator, &ins, OppositionChannel::Phone)
                .await
                .map_err(demo_error)?;
        }
        for created in today.create_due_profiles().await.map_err(demo_error)? {
            let Some(p) = PATIENTS.iter().find(|p| p.ins == created.ins.as_str()) else {
                continue;
            };
            if p.fate == Fate::Activated {
                let me = ActorRef {
                    role: ActorRole::Patient,
                    id: p.ins.to_owned(),
                    name: format!("{} {}", p.first_names, p.birth_name),
                    profession: None,
                };
                let input = ActivationInput {
                    activation_code: created.activation_code.display(),
                    carte_vitale_serial: p.serial.to_owned(),
                    personal_email: format!("{}.perso@example.org", p.first_names.to_lowercase()),
                };
                today
                    .activate(&me, &created.ins, &input, None)
                    .await
                    .map_err(demo_error)?;
            } else {
                codes.push((p, created.activation_code.display()));
            }
        }
    }

    print_tour(&database.database_url, auth, now, &codes);
    Ok(())
}

fn print_tour(
    database_url: &str,
    auth: &AuthSettings,
    now: chrono::DateTime<Utc>,
    codes: &[(&DemoPatient, String)],
) {
    let auth = auth.authenticator(std::sync::Arc::new(crate::clock::SystemClock));
    let mint = |role, sub: &str, name: &str, profession: Option<(&str, &str)>| {
        auth.as_ref()
            .map_err(String::clone)
            .and_then(|auth| {
                auth.mint_development_token(
                    role,
                    sub,
                    crate::auth::TokenNames {
                        name: Some(name.to_owned()),
                        profession: profession.map(|(name, _)| name.to_owned()),
                        profession_code: profession.map(|(_, code)| code.to_owned()),
                    },
                    now,
                    Duration::hours(24),
                )
            })
            .unwrap_or_else(|e| format!("(no token: {e})"))
    };
    println!("Demo population loaded in {database_url}.\n");
    println!("Tokens (24 h), to send as 'Authorization: Bearer <token>':\n");
    let status = |f: Fate| match f {
        Fate::Announced => "ANNOUNCED",
        Fate::Opposed => "OPPOSED",
        Fate::Created => "CREATED",
        Fate::Activated => "ACTIVATED",
    };
    for p in &PATIENTS {
        let email = if p.insurer_email.is_some() {
            "insurer email"
        } else {
            "no email: post"
        };
        println!(
            "PATIENT {} {} ({}, {email}), INS {}, Carte Vitale {}:",
            p.first_names,
            p.birth_name,
            status(p.fate),
            p.ins,
            p.serial
        );
        println!(
            "  {}\n",
            mint(
                ActorRole::Patient,
                p.ins,
                &format!("{} {}", p.first_names, p.birth_name),
                None
            )
        );
    }
    for (rpps, name, profession, code) in PRACTITIONERS {
        println!("PRACTITIONER {name} ({profession}, profession code {code}), RPPS {rpps}:");
        println!(
            "  {}\n",
            mint(
                ActorRole::Practitioner,
                rpps,
                name,
                Some((profession, code))
            )
        );
    }
    println!("OPERATOR {}:", OPERATOR.1);
    println!(
        "  {}\n",
        mint(ActorRole::Operator, OPERATOR.0, OPERATOR.1, None)
    );
    if codes.is_empty() {
        println!("Activation codes were issued on the first run (see that run's output).");
    }
    for (p, code) in codes {
        println!(
            "Activation code of {} {} (as in the creation notice): {code}",
            p.first_names, p.birth_name
        );
    }
}

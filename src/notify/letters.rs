//! Postal activity statements (*relevés d'activité*): every pending postal notice of a patient
//! goes into one A4 letter for the period, as a PDF, listed in a manifest for the print
//! provider; the notices are then marked sent, so a second run for the period makes nothing.

use std::path::PathBuf;

use chrono::{DateTime, Datelike, Utc};
use entity::{notification, postal_letter, profile};
use sea_orm::{
    ActiveValue::{NotSet, Set},
    ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
    TransactionTrait,
    sea_query::{Expr, ExprTrait},
};

use super::pdf::{Page, render, wrap};
use crate::clock::SharedClock;
use entity::values::DeliveryStatus;

use crate::domain::{AddressLines, Channel, Ins, ProfileStatus, may_be_notified};
use crate::services::ServiceError;
pub use crate::services::delivery::{LetterOut, StatementRun};
use crate::services::profiles::lock_profile;

/// Writes the statements.
#[derive(Debug, Clone)]
pub struct Statements {
    pub db: DatabaseConnection,
    pub clock: SharedClock,
    /// Where the PDFs and manifests go.
    pub dir: PathBuf,
}

/// The most characters of a line in La Poste's address block.
const ADDRESS_WIDTH: usize = 38;
/// Characters per line of body text (10 pt Helvetica over 170 mm, with margin to spare).
const TEXT_WIDTH: usize = 92;
/// Where a page's text ends, in mm from the top; the footer is below.
const PAGE_BOTTOM: f32 = 272.0;

impl Statements {
    /// Writes one letter per patient with pending postal notices.
    pub async fn run(&self) -> Result<StatementRun, ServiceError> {
        let now = self.clock.now();
        let patients: Vec<String> = notification::Entity::find()
            .select_only()
            .column(notification::Column::PatientIns)
            .distinct()
            .filter(notification::Column::Channel.eq(Channel::Postal))
            .filter(notification::Column::Status.eq(DeliveryStatus::Pending))
            .order_by_asc(notification::Column::PatientIns)
            .into_tuple()
            .all(&self.db)
            .await?;
        // One manifest per run, one JSON line per letter, written before the letter's notices
        // are marked sent: a letter marked sent is always in a manifest.
        let manifest = self.dir.join(format!(
            "manifest-{}.jsonl",
            now.format("%Y%m%dT%H%M%S%.6f")
        ));
        let mut run = StatementRun::default();
        for ins in patients {
            if let Some(letter) = self.letter_for(&ins, now, &manifest).await? {
                run.letters.push(letter);
            }
        }
        if !run.letters.is_empty() {
            tracing::info!(letters = run.letters.len(), manifest = %manifest.display(), "postal statements written");
            run.manifest = Some(manifest);
        }
        Ok(run)
    }

    /// One patient's letter, in one transaction: the letter row, the PDF, the notices marked.
    async fn letter_for(
        &self,
        ins: &str,
        now: DateTime<Utc>,
        manifest: &std::path::Path,
    ) -> Result<Option<LetterOut>, ServiceError> {
        let ins =
            Ins::parse(ins).map_err(|e| ServiceError::internal_from("stored INS is invalid", e))?;
        let txn = self.db.begin().await?;
        let Some(profile) = lock_profile(&txn, &ins).await? else {
            return Ok(None);
        };
        let notices = notification::Entity::find()
            .filter(notification::Column::PatientIns.eq(ins.as_str()))
            .filter(notification::Column::Channel.eq(Channel::Postal))
            .filter(notification::Column::Status.eq(DeliveryStatus::Pending))
            .order_by_asc(notification::Column::Id)
            .all(&txn)
            .await?;
        let Some(first) = notices.first() else {
            return Ok(None);
        };
        let status = profile.status;
        if !may_be_notified(status) {
            // SPEC's routing: an opposed or closed person gets nothing, even what was queued
            // before. The notices are closed, with the reason, for the operator to see.
            notification::Entity::update_many()
                .col_expr(
                    notification::Column::Status,
                    Expr::value(DeliveryStatus::Failed.as_str()),
                )
                .col_expr(
                    notification::Column::LastError,
                    Expr::value(format!(
                        "cancelled: the profile is {status}, no letter is sent"
                    )),
                )
                .filter(notification::Column::Id.is_in(notices.iter().map(|n| n.id)))
                .exec(&txn)
                .await?;
            txn.commit().await?;
            return Ok(None);
        }
        let letter = postal_letter::Entity::insert(postal_letter::ActiveModel {
            id: NotSet,
            patient_ins: Set(ins.clone()),
            period_start: Set(first.created_at),
            period_end: Set(now),
            file_name: Set(String::new()),
            pages: Set(0),
            notification_count: Set(i32::try_from(notices.len()).unwrap_or(i32::MAX)),
            created_at: Set(now),
        })
        .exec_with_returning(&txn)
        .await?;
        let file = format!("releve-{}-{:06}.pdf", now.format("%Y%m%d"), letter.id);
        let how = how_to_read(status, &profile);
        let address_block = address_block(&profile);
        let pages = layout(
            letter.id,
            &address_block,
            &how,
            first.created_at,
            now,
            &notices,
        );
        let pdf = render(&pages, "Relevé d'activité Mon espace santé");
        tokio::fs::create_dir_all(&self.dir)
            .await
            .and(tokio::fs::write(self.dir.join(&file), pdf).await)
            .map_err(|e| ServiceError::internal_from("cannot write the letter", e))?;
        postal_letter::Entity::update_many()
            .col_expr(postal_letter::Column::FileName, Expr::value(file.clone()))
            .col_expr(
                postal_letter::Column::Pages,
                Expr::value(i32::try_from(pages.len()).unwrap_or(i32::MAX)),
            )
            .filter(postal_letter::Column::Id.eq(letter.id))
            .exec(&txn)
            .await?;
        notification::Entity::update_many()
            .col_expr(
                notification::Column::Status,
                Expr::value(DeliveryStatus::Sent.as_str()),
            )
            .col_expr(notification::Column::SentAt, Expr::value(now))
            .col_expr(notification::Column::LetterId, Expr::value(letter.id))
            .col_expr(
                notification::Column::Attempts,
                Expr::col(notification::Column::Attempts).add(1),
            )
            .filter(notification::Column::Id.is_in(notices.iter().map(|n| n.id)))
            .exec(&txn)
            .await?;
        let out = LetterOut {
            letter_id: letter.id,
            file,
            pages: pages.len(),
            notifications: notices.len(),
            address_block,
        };
        append_to_manifest(manifest, &out).await?;
        txn.commit().await?;
        Ok(Some(out))
    }
}

/// Adds a letter to the run's manifest (JSON Lines: one letter per line).
async fn append_to_manifest(
    manifest: &std::path::Path,
    letter: &LetterOut,
) -> Result<(), ServiceError> {
    use tokio::io::AsyncWriteExt;
    let mut line =
        serde_json::to_vec(letter).map_err(|e| ServiceError::internal_from("manifest line", e))?;
    line.push(b'\n');
    let write = async {
        let mut file = tokio::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(manifest)
            .await?;
        file.write_all(&line).await?;
        file.sync_data().await
    };
    write
        .await
        .map_err(|e| ServiceError::internal_from("cannot write the manifest", e))
}

/// The recipient's name and address, at most 6 lines of 38 characters (norme AFNOR
/// NF Z10-011); the address lines were checked at enrolment, the name is cut if it must be.
pub fn address_block(profile: &profile::Model) -> Vec<String> {
    let name: String = format!(
        "{} {}",
        profile.first_names,
        profile.birth_name.to_uppercase()
    )
    .chars()
    .take(ADDRESS_WIDTH)
    .collect();
    std::iter::once(name)
        .chain(
            AddressLines::from_stored(&profile.postal_address)
                .lines()
                .iter()
                .cloned(),
        )
        .take(6)
        .collect()
}

fn french_date(date: DateTime<Utc>) -> String {
    const MONTHS: [&str; 12] = [
        "janvier",
        "février",
        "mars",
        "avril",
        "mai",
        "juin",
        "juillet",
        "août",
        "septembre",
        "octobre",
        "novembre",
        "décembre",
    ];
    let month = MONTHS.get(date.month0() as usize).copied().unwrap_or("");
    format!("{} {month} {}", date.day(), date.year())
}

/// The closing paragraph: what the patient can do now.
fn how_to_read(status: ProfileStatus, profile: &profile::Model) -> String {
    match status {
        ProfileStatus::Activated => {
            "Connectez-vous à Mon espace santé (https://www.monespacesante.fr ou l'application) \
            pour consulter vos documents, vos messages et l'historique de votre profil."
                .to_owned()
        }
        ProfileStatus::Announced => format!(
            "Votre profil sera créé après le {}, sauf si vous vous y opposez d'ici là ; vous recevrez \
             alors votre code d'activation.",
            profile.opposition_deadline.format("%d/%m/%Y")
        ),
        _ => "Pour consulter vos documents et vos messages, activez votre profil sur \
            https://www.monespacesante.fr/activation avec le code d'activation reçu lors de sa \
            création et votre carte Vitale. Sans code, appelez le 3422."
            .to_owned(),
    }
}

/// Lays the letter out on as many pages as it needs.
fn layout(
    letter_id: i64,
    address: &[String],
    how: &str,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    notices: &[notification::Model],
) -> Vec<Page> {
    let mut pages = vec![Page::default()];
    let page = &mut pages[0];
    page.text(20.0, 22.0, 16.0, true, "Assurance Maladie");
    page.text(20.0, 29.0, 11.0, false, "Mon espace santé");
    page.text(
        20.0,
        34.0,
        9.0,
        false,
        "Service Mon espace santé — 3422 (service gratuit + prix d'un appel)",
    );
    // The address window of a DL envelope: 110 mm from the left, from 50 mm down.
    for (i, line) in address.iter().enumerate() {
        page.text(110.0, 55.0 + 5.0 * i as f32, 10.0, false, line);
    }
    page.text(110.0, 95.0, 10.0, false, &format!("Le {}", french_date(to)));
    page.text(
        20.0,
        110.0,
        13.0,
        true,
        "Votre relevé d'activité Mon espace santé",
    );
    page.text(
        20.0,
        116.0,
        9.0,
        false,
        &format!("Référence {letter_id:06}"),
    );
    page.rule(20.0, 190.0, 119.0);

    let mut body: Vec<(bool, String)> = vec![
        (
            false,
            format!(
                "Période du {} au {}",
                from.format("%d/%m/%Y"),
                to.format("%d/%m/%Y")
            ),
        ),
        (false, String::new()),
        (false, "Madame, Monsieur,".to_owned()),
        (false, String::new()),
        (
            false,
            "Voici ce qui s'est passé sur votre profil Mon espace santé pendant cette période :"
                .to_owned(),
        ),
        (false, String::new()),
    ];
    for notice in notices {
        let summary = if notice.summary.is_empty() {
            &notice.subject
        } else {
            &notice.summary
        };
        let item = format!("• {} — {summary}", notice.created_at.format("%d/%m/%Y"));
        body.extend(wrap(&item, TEXT_WIDTH).into_iter().map(|l| (false, l)));
    }
    // The announcement and the creation notice travel whole: they carry the opposition
    // deadline and the activation code.
    for notice in notices
        .iter()
        .filter(|n| n.kind == "ANNOUNCEMENT" || n.kind == "PROFILE_CREATED")
    {
        body.push((false, String::new()));
        body.push((true, notice.subject.clone()));
        body.extend(
            wrap(&notice.body, TEXT_WIDTH)
                .into_iter()
                .map(|l| (false, l)),
        );
    }
    body.push((false, String::new()));
    body.push((true, "Pour en savoir plus".to_owned()));
    body.extend(wrap(how, TEXT_WIDTH).into_iter().map(|l| (false, l)));

    let mut y = 127.0;
    for (bold, line) in body {
        if y > PAGE_BOTTOM {
            let mut next = Page::default();
            next.text(
                20.0,
                20.0,
                10.0,
                true,
                "Relevé d'activité Mon espace santé (suite)",
            );
            pages.push(next);
            y = 32.0;
        }
        if let Some(page) = pages.last_mut() {
            page.text(20.0, y, 10.0, bold, &line);
        }
        y += 5.0;
    }
    let count = pages.len();
    for (i, page) in pages.iter_mut().enumerate() {
        page.text(
            20.0,
            287.0,
            8.0,
            false,
            "Ce courrier ne contient aucune donnée médicale.",
        );
        page.text(
            175.0,
            287.0,
            8.0,
            false,
            &format!("Page {} / {count}", i + 1),
        );
    }
    pages
}

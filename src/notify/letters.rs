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

use crate::domain::notices::NoticeKind;
use crate::domain::{AddressLines, Channel, Ins, ProfileStatus, may_be_notified};
pub use crate::ports::delivery::{DeliveryError, LetterOut, StatementRun};

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
/// Baseline of the first body line on the first page (below the heading) and on the next.
const FIRST_PAGE_TOP: f32 = 127.0;
const NEXT_PAGE_TOP: f32 = 32.0;
/// Distance between two baselines of body text.
const LINE_HEIGHT: f32 = 5.0;

impl Statements {
    /// Writes one letter per patient with pending postal notices.
    pub async fn run(&self) -> Result<StatementRun, DeliveryError> {
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
    ) -> Result<Option<LetterOut>, DeliveryError> {
        let ins = Ins::parse(ins).map_err(|e| format!("stored INS is invalid: {e}"))?;
        let txn = self.db.begin().await?;
        // Under the profile's lock, as every status change: an opposition or a closure cannot
        // land between the check below and the letter.
        let Some(profile) = profile::Entity::find_by_id(ins.clone())
            .lock_exclusive()
            .one(&txn)
            .await?
        else {
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
            .map_err(|e| format!("cannot write the letter: {e}"))?;
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
) -> Result<(), DeliveryError> {
    use tokio::io::AsyncWriteExt;
    let mut line = serde_json::to_vec(letter).map_err(|e| format!("manifest line: {e}"))?;
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
        .map_err(|e| format!("cannot write the manifest: {e}").into())
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
    for notice in notices.iter().filter(|n| {
        matches!(
            n.kind,
            NoticeKind::Announcement | NoticeKind::ProfileCreated
        )
    }) {
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

    for ((bold, line), (page, y)) in body.iter().zip(place(&body)) {
        while pages.len() <= page {
            let mut next = Page::default();
            next.text(
                20.0,
                20.0,
                10.0,
                true,
                "Relevé d'activité Mon espace santé (suite)",
            );
            pages.push(next);
        }
        pages[page].text(20.0, y, 10.0, *bold, line);
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

/// Where each body line goes: its page (0 for the first) and its baseline, in mm from the top.
/// Lines follow each other down to `PAGE_BOTTOM`, then continue on a new page; a run of lines
/// that must stay together (see [`kept_with_next`]) starts a new page rather than being cut,
/// unless it would not fit on a page of its own anyway.
fn place(body: &[(bool, String)]) -> Vec<(usize, f32)> {
    let keep = kept_with_next(body);
    let mut placed = Vec::with_capacity(body.len());
    let (mut page, mut y) = (0, FIRST_PAGE_TOP);
    for i in 0..body.len() {
        let starts_a_run = i == 0 || !keep[i - 1];
        let run = if starts_a_run {
            (keep[i..].iter().take_while(|k| **k).count() + 1).min(body.len() - i)
        } else {
            1
        };
        let run_height = LINE_HEIGHT * (run - 1) as f32;
        let top = if page == 0 {
            FIRST_PAGE_TOP
        } else {
            NEXT_PAGE_TOP
        };
        let run_is_cut = y + run_height > PAGE_BOTTOM && y > top;
        if y > PAGE_BOTTOM || (run_is_cut && NEXT_PAGE_TOP + run_height <= PAGE_BOTTOM) {
            page += 1;
            y = NEXT_PAGE_TOP;
        }
        placed.push((page, y));
        y += LINE_HEIGHT;
    }
    placed
}

/// Whether each line must share its page with the line after it. A paragraph that ends with a
/// colon introduces what follows it (the creation notice's "ce code d'activation :" and the
/// code): the paragraph and the blank lines after it stay with the next line, so that the code
/// never starts a page away from the sentence that introduces it.
fn kept_with_next(body: &[(bool, String)]) -> Vec<bool> {
    let mut keep = vec![false; body.len()];
    for (i, (_, line)) in body.iter().enumerate() {
        if !line.trim_end().ends_with(':') {
            continue;
        }
        let paragraph_start = body[..i]
            .iter()
            .rposition(|(_, l)| l.trim().is_empty())
            .map_or(0, |blank| blank + 1);
        let blanks_after = body[i + 1..]
            .iter()
            .take_while(|(_, l)| l.trim().is_empty())
            .count();
        keep[paragraph_start..=i + blanks_after]
            .iter_mut()
            .for_each(|k| *k = true);
    }
    keep
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::notices::profile_created;

    const CODE: &str = "K7PX-3QMA-9TZC";

    /// The creation notice as the letter lays it out, after `before` lines of other text.
    fn body_with_creation_notice(before: usize) -> Vec<(bool, String)> {
        let notice = profile_created("Marcel", "BERNARD", CODE);
        let mut body: Vec<(bool, String)> = (0..before)
            .map(|i| (false, format!("• 14/12/2026 — événement {i}")))
            .collect();
        body.push((false, String::new()));
        body.push((true, notice.subject));
        body.extend(
            wrap(&notice.body, TEXT_WIDTH)
                .into_iter()
                .map(|l| (false, l)),
        );
        body
    }

    #[test]
    fn activation_code_never_starts_a_page_away_from_its_introduction() {
        let mut moved = 0;
        // Enough positions for the code to cross the foot of the first and second pages.
        for before in 0..90 {
            let body = body_with_creation_notice(before);
            let placed = place(&body);
            let code = body.iter().position(|(_, l)| l == CODE).unwrap();
            let colon = body.iter().position(|(_, l)| l.ends_with(':')).unwrap();
            let intro = body[..colon]
                .iter()
                .rposition(|(_, l)| l.is_empty())
                .unwrap()
                + 1;
            assert!(
                (intro..=code).all(|i| placed[i].0 == placed[code].0),
                "{before} lines before: the introduction and the code are on pages {:?}",
                &placed[intro..=code]
            );
            assert!(placed.iter().all(|(_, y)| *y <= PAGE_BOTTOM));
            if placed[intro - 1].0 < placed[intro].0 && placed[intro - 1].1 < PAGE_BOTTOM {
                moved += 1;
            }
        }
        assert!(
            moved >= 2,
            "the page broke early to keep them together ({moved} times)"
        );
    }

    #[test]
    fn lines_without_an_introduction_fill_each_page() {
        let body: Vec<(bool, String)> = (0..100).map(|i| (false, format!("ligne {i}"))).collect();
        let placed = place(&body);
        let first_page = placed.iter().filter(|(p, _)| *p == 0).count();
        assert_eq!(first_page, 30, "127 mm to 272 mm, every 5 mm");
        assert_eq!(placed.iter().filter(|(p, _)| *p == 1).count(), 49);
        assert_eq!(placed[30], (1, NEXT_PAGE_TOP));
    }
}

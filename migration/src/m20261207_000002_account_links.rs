//! Patients' sign-in accounts at identity providers that do not know their INS (FranceConnect
//! and the like): activation binds an account (`issuer`, `subject`) to the profile it proved,
//! and the patient may unlink it later (`unlinked_at`). While linked, an account names one
//! profile, and a profile has at most one account per issuer.

use sea_orm_migration::{prelude::*, schema::*};

use crate::run_script;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Profiles {
    Table,
    Ins,
}

#[derive(DeriveIden)]
enum AccountLinks {
    Table,
    PatientIns,
    Issuer,
    Subject,
    LinkedAt,
    UnlinkedAt,
}

/// Partial unique indexes: written the same for both databases, which sea-query cannot say.
const UP: &[&str] = &[
    r#"CREATE UNIQUE INDEX "account_links_one_profile_per_account" ON "account_links" ("issuer", "subject") WHERE "unlinked_at" IS NULL"#,
    r#"CREATE UNIQUE INDEX "account_links_one_account_per_issuer" ON "account_links" ("patient_ins", "issuer") WHERE "unlinked_at" IS NULL"#,
    r#"CREATE INDEX "account_links_by_account" ON "account_links" ("issuer", "subject")"#,
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(AccountLinks::Table)
                    .col(text(AccountLinks::PatientIns))
                    .col(text(AccountLinks::Issuer))
                    .col(text(AccountLinks::Subject))
                    .col(timestamp_with_time_zone(AccountLinks::LinkedAt))
                    .col(timestamp_with_time_zone_null(AccountLinks::UnlinkedAt))
                    .primary_key(
                        Index::create()
                            .col(AccountLinks::PatientIns)
                            .col(AccountLinks::Issuer)
                            .col(AccountLinks::LinkedAt),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(AccountLinks::Table, AccountLinks::PatientIns)
                            .to(Profiles::Table, Profiles::Ins),
                    )
                    .to_owned(),
            )
            .await?;
        run_script(manager, UP, UP).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(AccountLinks::Table).to_owned())
            .await
    }
}

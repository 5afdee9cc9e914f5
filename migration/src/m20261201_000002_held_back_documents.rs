//! Documents held back from the patient until an announcement consultation: `held_back` while
//! the patient may not see it, and when its author released it.
//!
//! One column per statement: SQLite alters a table one column at a time.

use sea_orm_migration::{prelude::*, schema::*};

use crate::{add_column, drop_column};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Documents {
    Table,
    HeldBack,
    ReleasedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        add_column(
            manager,
            Documents::Table,
            boolean(Documents::HeldBack).default(false),
        )
        .await?;
        add_column(
            manager,
            Documents::Table,
            timestamp_with_time_zone_null(Documents::ReleasedAt),
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop_column(manager, Documents::Table, Documents::ReleasedAt).await?;
        drop_column(manager, Documents::Table, Documents::HeldBack).await
    }
}

-- What the API's role, espace_sante_api, may do: run by the owner role after every
-- `espace-sante migrate` (psql "$OWNER_DATABASE_URL" -v ON_ERROR_STOP=1 -f docs/sql/grant-api-role.sql).
-- It starts from nothing and grants table by table what the code does, so running it again is
-- harmless; a table a migration adds is added here in the same change (tests check both).
BEGIN;

REVOKE ALL ON ALL TABLES IN SCHEMA public FROM espace_sante_api;
REVOKE ALL ON ALL SEQUENCES IN SCHEMA public FROM espace_sante_api;
GRANT USAGE ON SCHEMA public TO espace_sante_api;

-- The ledger: read and append. No UPDATE, DELETE or TRUNCATE, and as a non-owner the role can
-- neither disable nor drop the triggers that refuse them to everyone else.
GRANT SELECT, INSERT ON ledger_events TO espace_sante_api;

-- Signed checkpoints of the ledger, the heads they cover (versions 1 and 2) and the log of
-- heads with its subtrees (version 3): read and append, the same way.
GRANT SELECT, INSERT ON ledger_checkpoints, ledger_checkpoint_heads, ledger_log_leaves,
    ledger_log_nodes TO espace_sante_api;

-- The chains that moved since the last checkpoint: a trigger notes each ledger append (as the
-- role that appends), the next checkpoint takes the notes and deletes them.
GRANT SELECT, INSERT, DELETE ON ledger_moves TO espace_sante_api;

-- Written once, never changed (but by the purge at the end of a closed profile's retention,
-- which deletes stored bodies and attachments, and empties message bodies and subjects and
-- emergency reasons): first accesses, emergency accesses, stored bodies, messages.
GRANT SELECT, INSERT ON practitioner_accesses, emergency_accesses TO espace_sante_api;
GRANT UPDATE (reason) ON emergency_accesses TO espace_sante_api;
GRANT SELECT, INSERT, DELETE ON document_contents, message_attachments TO espace_sante_api;
GRANT SELECT, INSERT, UPDATE ON messages TO espace_sante_api;

-- Projections the services update (UPDATE also covers the row locks, SELECT … FOR UPDATE).
GRANT SELECT, INSERT, UPDATE ON profiles, documents, threads, notifications,
    postal_letters, legal_representatives, account_links, account_subjects TO espace_sante_api;

-- Projections with rows that go away: a lifted block, a removed medical-profile entry.
GRANT SELECT, INSERT, DELETE ON practitioner_blocks TO espace_sante_api;
GRANT SELECT, INSERT, UPDATE, DELETE ON medical_profile_entries TO espace_sante_api;

-- The migration history, read at startup to refuse a schema behind the build.
GRANT SELECT ON seaql_migrations TO espace_sante_api;

-- The ids of new rows (bigserial columns): nextval needs USAGE.
GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO espace_sante_api;

COMMIT;

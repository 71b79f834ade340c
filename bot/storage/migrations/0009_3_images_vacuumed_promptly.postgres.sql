-- Autovacuum makes the space of deleted images reusable within a minute or so, rather than
-- once a fifth of the table is dead (its default): a database that stays within its budget.
-- The images' bytes live in the table's TOAST, counted in chunks of about 2 kB. (SQLite gives
-- freed pages back with the storage sweep's incremental vacuum instead.)
ALTER TABLE images SET (
    autovacuum_vacuum_scale_factor = 0,
    autovacuum_vacuum_threshold = 50,
    toast.autovacuum_vacuum_scale_factor = 0,
    toast.autovacuum_vacuum_threshold = 2000
);

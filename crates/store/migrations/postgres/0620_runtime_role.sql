-- The running hub's role, which owns nothing it must not alter (deploy/README.md, "Database
-- roles"). Migrations run as the owner of the tables (`migration_database_url`); the hub
-- connects (`database_url`) as a login role that is a member of `vawg_hub_runtime`, which may:
--   * read and write the working tables (records, aggregates, registry, exchange, ...);
--   * only INSERT and SELECT on the audit log and its signed heads: no UPDATE, DELETE or
--     TRUNCATE, and, not being their owner, no ALTER, DROP or DISABLE TRIGGER either;
--   * only SELECT the migrations ledger.
-- Without CREATEROLE the role is not created (a notice says so) and the grants are skipped:
-- a hub whose single role owns the tables keeps working, with the triggers as its only guard.
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'vawg_hub_runtime') THEN
        BEGIN
            CREATE ROLE vawg_hub_runtime NOLOGIN;
        EXCEPTION
            WHEN duplicate_object OR unique_violation THEN
                NULL; -- created meanwhile by a migration of another database on this server
            WHEN insufficient_privilege THEN
                RAISE NOTICE 'role vawg_hub_runtime not created (needs CREATEROLE); see deploy/README.md';
                RETURN;
        END;
    END IF;
    EXECUTE format('GRANT USAGE ON SCHEMA %I TO vawg_hub_runtime', current_schema());
    EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA %I '
                   'TO vawg_hub_runtime', current_schema());
    EXECUTE format('GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA %I TO vawg_hub_runtime',
                   current_schema());
    -- Tables later migrations create get the same working rights; an append-only one must
    -- revoke UPDATE and DELETE in its own migration, as here.
    EXECUTE format('ALTER DEFAULT PRIVILEGES IN SCHEMA %I GRANT SELECT, INSERT, UPDATE, DELETE '
                   'ON TABLES TO vawg_hub_runtime', current_schema());
    EXECUTE format('ALTER DEFAULT PRIVILEGES IN SCHEMA %I GRANT USAGE, SELECT ON SEQUENCES '
                   'TO vawg_hub_runtime', current_schema());
    REVOKE UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER ON audit_log, audit_heads
        FROM vawg_hub_runtime;
    REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON _sqlx_migrations FROM vawg_hub_runtime;
END
$$;

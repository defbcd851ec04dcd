-- `REPLACE INTO` / `INSERT OR REPLACE` delete the row in the way without firing DELETE
-- triggers (unless `PRAGMA recursive_triggers` is on), so the triggers of 0101 alone do not stop
-- them. These refuse any insert onto a key already taken, whatever the connection's pragmas,
-- before conflict resolution runs: REPLACE, and UPSERT (`ON CONFLICT DO UPDATE`), are refused
-- with the plain conflicting INSERT. The hub's own appends never reuse a key (a replica that
-- loses a race gets this error, recognised by its text, and retries at the new end), and the
-- head insert skips an existing size with `WHERE NOT EXISTS` rather than `ON CONFLICT`.
CREATE TRIGGER audit_log_no_replace BEFORE INSERT ON audit_log
WHEN EXISTS (SELECT 1 FROM audit_log WHERE idx = NEW.idx)
BEGIN SELECT RAISE(ABORT, 'audit index taken: the audit log is append-only'); END;

CREATE TRIGGER audit_heads_no_replace BEFORE INSERT ON audit_heads
WHEN EXISTS (SELECT 1 FROM audit_heads WHERE tree_size = NEW.tree_size)
BEGIN SELECT RAISE(ABORT, 'signed tree heads are append-only'); END;

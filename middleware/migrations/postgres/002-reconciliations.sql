-- Reconciliations: one running at a time among all the replicas (the partial unique index), the
-- walk's position and counts saved as it goes, and held by one replica until its lease ends.
CREATE TABLE reconciliations (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  status text NOT NULL CHECK (status IN ('running', 'done', 'failed')),
  from_id bigint NOT NULL,
  to_id bigint NOT NULL,
  repair boolean NOT NULL,
  open_ended boolean NOT NULL,
  position bigint NOT NULL,
  missing bigint NOT NULL DEFAULT 0,
  mismatched bigint NOT NULL DEFAULT 0,
  orphaned bigint NOT NULL DEFAULT 0,
  repaired bigint NOT NULL DEFAULT 0,
  findings text NOT NULL DEFAULT '[]',
  error text,
  owner text NOT NULL,
  lease_until text NOT NULL,
  started_at text NOT NULL,
  updated_at text NOT NULL,
  finished_at text
);
CREATE UNIQUE INDEX one_running_reconciliation ON reconciliations (status) WHERE status = 'running';

-- certbridge schema, version 5: Watch reads a per-change history instead of a per-tenant
-- counter (docs/architecture.md §4.8).
--
-- Before: every write of a request incremented tenant.change_seq, holding the tenant row
-- until commit, so all of a tenant's writes queued on one row lock. Now every INSERT or
-- UPDATE of a certificate_request appends a request_change row (a copy of the request's
-- mutable fields at that change), numbered from a global sequence, with the writing
-- transaction's id. A reader returns only changes of transactions older than the oldest
-- transaction still in progress (pg_snapshot_xmin), in (xid, change_id) order: a
-- transaction that could still add a change sorts after everything returned, so a cursor
-- never skips one. Per request the order is the order of its writes: a transaction that
-- finds the request last written by a transaction with a larger xid fails with
-- serialization_failure and is retried by the store with a new, larger xid.

CREATE SEQUENCE request_change_id;
SELECT setval('request_change_id', greatest(1, (SELECT max(change_seq) FROM certificate_request)));

CREATE TABLE request_change (
  change_id           bigint PRIMARY KEY,
  xid                 xid8 NOT NULL,
  tenant_id           text NOT NULL REFERENCES tenant (tenant_id) ON DELETE CASCADE,
  request_name        text NOT NULL,
  -- The request's update_time at this change; retention is counted from it.
  update_time         timestamptz NOT NULL,
  state               text NOT NULL,
  ca_request_id       bigint NOT NULL,
  disposition         integer NOT NULL,
  hresult             bigint NOT NULL,
  disposition_message text NOT NULL,
  error_code          text NOT NULL,
  error_message       text NOT NULL,
  remedy              text NOT NULL,
  waiting_reason      text NOT NULL,
  connector_id        text NOT NULL,
  ca_identity         text NOT NULL,
  certificate_pem     text NOT NULL,
  chain_pem           text NOT NULL,
  serial_hex          text NOT NULL,
  not_after           timestamptz NOT NULL,
  pkcs12              bytea NOT NULL,
  enveloped_password  bytea NOT NULL,
  revocation_reason   integer NOT NULL,
  revoke_time         timestamptz NOT NULL
);
-- Watch: a tenant's changes in (xid, change_id) order from a cursor.
CREATE INDEX request_change_order ON request_change (tenant_id, xid, change_id);
-- The retention sweep: rows are appended in roughly update_time order, which a BRIN index
-- covers for a fraction of a B-tree's upkeep per insert.
CREATE INDEX request_change_time ON request_change USING brin (update_time);

-- The transaction that wrote the request last (the per-request order check).
ALTER TABLE certificate_request ADD COLUMN last_change_xid xid8 NOT NULL DEFAULT '0';

CREATE FUNCTION certificate_request_number_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'UPDATE' AND OLD.last_change_xid > pg_current_xact_id() THEN
    RAISE EXCEPTION 'certificate request "%" was changed by a newer transaction', NEW.name
      USING ERRCODE = 'serialization_failure';
  END IF;
  NEW.change_seq := nextval('request_change_id');
  NEW.last_change_xid := pg_current_xact_id();
  RETURN NEW;
END $$;

CREATE FUNCTION certificate_request_append_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO request_change VALUES (
    NEW.change_seq, NEW.last_change_xid, NEW.tenant_id, NEW.name, NEW.update_time, NEW.state,
    NEW.ca_request_id, NEW.disposition, NEW.hresult, NEW.disposition_message, NEW.error_code,
    NEW.error_message, NEW.remedy, NEW.waiting_reason, NEW.connector_id, NEW.ca_identity,
    NEW.certificate_pem, NEW.chain_pem, NEW.serial_hex, NEW.not_after, NEW.pkcs12,
    NEW.enveloped_password, NEW.revocation_reason, NEW.revoke_time);
  RETURN NULL;
END $$;

CREATE TRIGGER certificate_request_number_change BEFORE INSERT OR UPDATE ON certificate_request
  FOR EACH ROW EXECUTE FUNCTION certificate_request_number_change();
CREATE TRIGGER certificate_request_append_change AFTER INSERT OR UPDATE ON certificate_request
  FOR EACH ROW EXECUTE FUNCTION certificate_request_append_change();

-- The history starts with every request as it is now; cursors of the old counter are
-- unknown to it (a Watch from one is told to re-list).
UPDATE certificate_request SET change_seq = change_seq;

DROP INDEX certificate_request_changes;
ALTER TABLE tenant DROP COLUMN change_seq;

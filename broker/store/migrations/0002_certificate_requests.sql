-- certbridge schema, version 2: certificate requests and the jobs that carry them to
-- agents (broker/store/certificate_store.h).
--
-- Lock order, kept by every transaction of PostgresStore so that none can deadlock:
-- per-CA advisory lock (claims only) -> job rows -> tenant row -> certificate_request rows.

-- The tenant's delivery certificate (key-generation mode) and its change counter: every
-- write of one of its requests increments change_seq in the same transaction, which
-- holds the tenant row until commit, so change_seq order is commit order per tenant.
ALTER TABLE tenant
  ADD COLUMN delivery_certificate_pem text NOT NULL DEFAULT '',
  ADD COLUMN change_seq bigint NOT NULL DEFAULT 0;

CREATE TABLE certificate_request (
  name                text PRIMARY KEY,
  tenant_id           text NOT NULL REFERENCES tenant (tenant_id) ON DELETE CASCADE,
  request_id          text NOT NULL,
  ca_id               text NOT NULL,
  template_name       text NOT NULL,
  params_fingerprint  text NOT NULL,
  csr_pem             text NOT NULL,
  key_type            text NOT NULL,
  subject             text NOT NULL,
  subject_alt_names   text[] NOT NULL,
  pkcs12_profile      text NOT NULL,
  sid                 text NOT NULL,
  device_id           text NOT NULL,
  labels              jsonb NOT NULL,
  attributes          text NOT NULL,
  create_time         timestamptz NOT NULL,
  queue_deadline      timestamptz NOT NULL,
  state               text NOT NULL
                      CONSTRAINT certificate_request_state_check
                      CHECK (state IN ('QUEUED', 'DISPATCHED', 'PENDING_APPROVAL', 'ISSUED',
                                       'DENIED', 'FAILED', 'REVOKED', 'EXPIRED', 'CANCELLED')),
  update_time         timestamptz NOT NULL,
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
  revoke_time         timestamptz NOT NULL,
  seq                 bigint GENERATED ALWAYS AS IDENTITY,
  change_seq          bigint NOT NULL,
  CONSTRAINT certificate_request_tenant_key UNIQUE (tenant_id, name),
  CONSTRAINT certificate_request_request_id UNIQUE (tenant_id, request_id)
);
CREATE INDEX certificate_request_changes ON certificate_request (tenant_id, change_seq);
CREATE INDEX certificate_request_seq ON certificate_request (tenant_id, seq);
CREATE INDEX certificate_request_serial ON certificate_request (tenant_id, ca_id, serial_hex)
  WHERE serial_hex <> '';
-- The sweeper's scan for QUEUED requests past their queue_deadline.
CREATE INDEX certificate_request_queued_deadline ON certificate_request (queue_deadline)
  WHERE state = 'QUEUED';

CREATE TABLE job (
  job_id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  tenant_id         text NOT NULL,
  request_name      text NOT NULL,
  ca_id             text NOT NULL,
  kind              text NOT NULL
                    CONSTRAINT job_kind_check CHECK (kind IN ('SUBMIT', 'RETRIEVE', 'REVOKE')),
  state             text NOT NULL
                    CONSTRAINT job_state_check
                    CHECK (state IN ('READY', 'LEASED', 'DONE', 'FAILED')),
  required_identity text NOT NULL,
  connector_id      text NOT NULL,
  lease_until       timestamptz NOT NULL,
  not_before        timestamptz NOT NULL,
  attempts          integer NOT NULL,
  serial_hex        text NOT NULL,
  revocation_reason integer NOT NULL,
  create_time       timestamptz NOT NULL,
  CONSTRAINT job_request_fkey FOREIGN KEY (tenant_id, request_name)
    REFERENCES certificate_request (tenant_id, name) ON DELETE CASCADE
);
CREATE INDEX job_request ON job (tenant_id, request_name);
-- ClaimJobs: a CA's READY jobs oldest first (job_id order, so a claim reads only as many
-- index entries as it takes, not_before being filtered on the way; an index led by
-- not_before would need a sort of the whole backlog on every claim).
CREATE INDEX job_ready ON job (tenant_id, ca_id, job_id) WHERE state = 'READY';
-- ExpireLeases, the per-CA count of leases, and ListLeasedJobs.
CREATE INDEX job_leased_until ON job (lease_until) WHERE state = 'LEASED';
CREATE INDEX job_leased_ca ON job (tenant_id, ca_id) WHERE state = 'LEASED';
CREATE INDEX job_leased_connector ON job (tenant_id, connector_id) WHERE state = 'LEASED';

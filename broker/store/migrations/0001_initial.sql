-- certbridge schema, version 1: tenants, API keys, enrollment tokens, connectors,
-- certificate authorities and their assignments, connector sessions, audit events.
-- Every tenant-owned row carries tenant_id; composite foreign keys on
-- (tenant_id, id) make a cross-tenant reference impossible, not merely unchecked.

CREATE TABLE tenant (
  tenant_id    text PRIMARY KEY,
  display_name text NOT NULL,
  create_time  timestamptz NOT NULL
);

CREATE TABLE api_key (
  key_id       text PRIMARY KEY,
  tenant_id    text NOT NULL REFERENCES tenant (tenant_id) ON DELETE CASCADE,
  display_name text NOT NULL,
  scopes       text[] NOT NULL,
  secret_hash  text NOT NULL,
  create_time  timestamptz NOT NULL
);
CREATE INDEX api_key_tenant ON api_key (tenant_id);

CREATE TABLE enrollment_token (
  token_hash   text PRIMARY KEY,
  tenant_id    text NOT NULL REFERENCES tenant (tenant_id) ON DELETE CASCADE,
  description  text NOT NULL,
  created_by   text NOT NULL,
  create_time  timestamptz NOT NULL,
  expire_time  timestamptz NOT NULL,
  -- Set once, when a connector registers with the token: tokens are single use.
  use_time     timestamptz,
  used_by_connector_id text
);
CREATE INDEX enrollment_token_tenant ON enrollment_token (tenant_id);

CREATE TABLE connector (
  connector_id   text PRIMARY KEY,
  tenant_id      text NOT NULL REFERENCES tenant (tenant_id) ON DELETE CASCADE,
  state          text NOT NULL
                 CONSTRAINT connector_state_check
                 CHECK (state IN ('PENDING', 'ACTIVE', 'DISABLED', 'REJECTED')),
  host           text NOT NULL,
  os             text NOT NULL,
  agent_version  text NOT NULL,
  ca_identity    text NOT NULL,
  csr_pem        text NOT NULL,
  -- NULL once the connector leaves PENDING.
  registration_code_hash        text,
  registration_code_expire_time timestamptz NOT NULL,
  poll_secret_hash              text NOT NULL,
  certificate_chain_pem         text NOT NULL,
  certificate_serial            text NOT NULL,
  certificate_expire_time       timestamptz NOT NULL,
  create_time                   timestamptz NOT NULL,
  approve_time                  timestamptz NOT NULL,
  -- The heartbeat of the last session deleted on disconnect.
  last_seen_time                timestamptz,
  CONSTRAINT connector_code_only_pending
    CHECK (registration_code_hash IS NULL OR state = 'PENDING'),
  CONSTRAINT connector_tenant_key UNIQUE (tenant_id, connector_id)
);
CREATE INDEX connector_registration_code ON connector (tenant_id, registration_code_hash)
  WHERE registration_code_hash IS NOT NULL;

CREATE TABLE certificate_authority (
  ca_id        text PRIMARY KEY,
  tenant_id    text NOT NULL REFERENCES tenant (tenant_id) ON DELETE CASCADE,
  host         text NOT NULL,
  ca_name      text NOT NULL,
  display_name text NOT NULL,
  create_time  timestamptz NOT NULL,
  CONSTRAINT certificate_authority_tenant_key UNIQUE (tenant_id, ca_id)
);
-- The config string host\ca_name is unique per tenant, case-insensitively.
CREATE UNIQUE INDEX certificate_authority_config
  ON certificate_authority (tenant_id, lower(host), lower(ca_name));

CREATE TABLE ca_assignment (
  tenant_id    text NOT NULL,
  ca_id        text NOT NULL,
  connector_id text NOT NULL,
  PRIMARY KEY (ca_id, connector_id),
  CONSTRAINT ca_assignment_ca_fkey FOREIGN KEY (tenant_id, ca_id)
    REFERENCES certificate_authority (tenant_id, ca_id) ON DELETE CASCADE,
  CONSTRAINT ca_assignment_connector_fkey FOREIGN KEY (tenant_id, connector_id)
    REFERENCES connector (tenant_id, connector_id) ON DELETE CASCADE
);
CREATE INDEX ca_assignment_connector ON ca_assignment (connector_id);
CREATE INDEX ca_assignment_tenant_connector ON ca_assignment (tenant_id, connector_id);

-- One row per connected agent stream; at most one per connector (the newest wins).
CREATE TABLE connector_session (
  connector_id   text PRIMARY KEY,
  tenant_id      text NOT NULL,
  replica_id     text NOT NULL,
  connect_time   timestamptz NOT NULL,
  heartbeat_time timestamptz NOT NULL,
  CONSTRAINT connector_session_connector_fkey FOREIGN KEY (tenant_id, connector_id)
    REFERENCES connector (tenant_id, connector_id) ON DELETE CASCADE
);
CREATE INDEX connector_session_replica ON connector_session (replica_id);

-- Append-only. tenant_id is '' for operator-level events; no foreign key, so that the
-- trail outlives what it describes.
CREATE TABLE audit_event (
  event_id  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  tenant_id text NOT NULL,
  time      timestamptz NOT NULL,
  actor     text NOT NULL,
  action    text NOT NULL,
  object_id text NOT NULL,
  details   text NOT NULL
);
CREATE INDEX audit_event_tenant ON audit_event (tenant_id, event_id DESC);

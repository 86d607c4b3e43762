-- certbridge schema, version 6: SCEP profiles and dynamic challenges (docs/scep.md;
-- broker/scep/scep_store.h). A SCEP transaction needs no table: its certificate request's
-- request_id is derived from (profile, transactionID), so certificate_request's unique
-- (tenant_id, request_id) makes a transaction idempotent.

CREATE TABLE scep_profile (
  -- The URL's <profile> segment, unique across tenants.
  profile_id            text PRIMARY KEY,
  tenant_id             text NOT NULL REFERENCES tenant (tenant_id) ON DELETE CASCADE,
  display_name          text NOT NULL,
  ca_id                 text NOT NULL,
  template_name         text NOT NULL,
  ra_template_name      text NOT NULL,
  -- Policy: patterns one per line (they cannot hold control characters).
  subject_patterns      text NOT NULL,
  san_patterns          text NOT NULL,
  allow_rsa             boolean NOT NULL,
  min_rsa_bits          integer NOT NULL,
  allow_ec              boolean NOT NULL,
  min_ec_bits           integer NOT NULL,
  challenge_mode        text NOT NULL
                        CONSTRAINT scep_profile_challenge_mode_check
                        CHECK (challenge_mode IN ('DYNAMIC', 'STATIC', 'INTUNE')),
  static_challenge_hash text NOT NULL,
  challenge_ttl_seconds bigint NOT NULL,
  disabled              boolean NOT NULL DEFAULT false,
  create_time           timestamptz NOT NULL,
  update_time           timestamptz NOT NULL,
  -- The RA certificate; its key PKCS#8-encrypted under a key derived from the operator's
  -- secret (broker/scep/ra_key_vault.h), never in clear.
  ra_certificate_pem    text NOT NULL DEFAULT '',
  ra_chain_pem          text NOT NULL DEFAULT '',
  ra_key_encrypted_pem  text NOT NULL DEFAULT '',
  ra_not_after          timestamptz NOT NULL DEFAULT '-infinity',
  ra_pending_request_name text NOT NULL DEFAULT '',
  ra_pending_key_encrypted_pem text NOT NULL DEFAULT ''
  -- No foreign key to the CA: deleting a CA must not fail or silently delete profiles;
  -- a profile whose CA is gone gets requests that fail with NOT_FOUND, naming the CA.
);
CREATE INDEX scep_profile_tenant ON scep_profile (tenant_id);

CREATE TABLE scep_challenge (
  profile_id        text NOT NULL REFERENCES scep_profile (profile_id) ON DELETE CASCADE,
  -- SHA-256 hex of the challenge; the challenge itself is never stored.
  challenge_hash    text NOT NULL,
  tenant_id         text NOT NULL REFERENCES tenant (tenant_id) ON DELETE CASCADE,
  device_id         text NOT NULL,
  subject           text NOT NULL,
  subject_alt_names text NOT NULL,  -- "dns:..." one per line, sorted
  sid               text NOT NULL,
  created_by        text NOT NULL,
  create_time       timestamptz NOT NULL,
  expire_time       timestamptz NOT NULL,
  consume_time      timestamptz,
  consumed_by       text NOT NULL DEFAULT '',
  PRIMARY KEY (profile_id, challenge_hash)
);
CREATE INDEX scep_challenge_expire ON scep_challenge (expire_time);

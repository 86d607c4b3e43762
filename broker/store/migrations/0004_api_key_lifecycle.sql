-- API keys can expire (set at creation), be revoked (kept, for the audit trail and so that
-- the key id is never reused), and show when they were last used (updated at most once a
-- minute per key, so a busy key does not cost a write per call).
ALTER TABLE api_key
  ADD COLUMN expire_time timestamptz,
  ADD COLUMN revoke_time timestamptz,
  ADD COLUMN last_use_time timestamptz;

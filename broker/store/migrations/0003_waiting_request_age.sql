-- Requests that wait at the CA (DISPATCHED: an agent took them; PENDING_APPROVAL: a CA
-- officer must act) are expired by age once they are older than the broker's limits; the
-- sweep finds them through this index.
CREATE INDEX certificate_request_waiting_age ON certificate_request (state, create_time)
  WHERE state IN ('DISPATCHED', 'PENDING_APPROVAL');

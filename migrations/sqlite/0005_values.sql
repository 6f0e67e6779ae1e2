-- Values people can trust: sustained KRs, per-KR guards, held check-ins.
-- The same text for both backends.

-- A sustain KR's rule (JSON: comparison, window, required, aggregate);
-- NULL for every other kind.
ALTER TABLE key_results ADD COLUMN sustain TEXT;
-- The KR's own guard against implausible fetched values (JSON: min, max,
-- max_change, confirm_after); NULL = the source's guard, or the defaults.
ALTER TABLE key_results ADD COLUMN guard TEXT;

-- Why a fetched check-in does not count, or how it came to count after
-- being held. NULL = counted as fetched. held: outside the guard, waiting;
-- superseded: a value inside the guard came after it; dismissed: a leader
-- or admin rejected it; confirmed: the same level persisted for
-- confirm_after fetches; accepted: a leader or admin accepted it. The last
-- two count like NULL.
ALTER TABLE check_ins ADD COLUMN hold TEXT;

-- The KRs with a value waiting in `held`: few rows, looked up on every
-- fetch of such a KR and at every load.
CREATE INDEX check_ins_held_idx ON check_ins (key_result_id, observed_at) WHERE hold = 'held';

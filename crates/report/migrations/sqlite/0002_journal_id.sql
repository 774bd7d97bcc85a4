-- report_progress.journal: the journal (its id, the time of its first record) whose seqs
-- last_seq counts; NULL for a journal without an id (positions written before journals had
-- one). A journal that starts anew (the embedded store of a restarted process starts at seq 1
-- again) is written from its start instead of being skipped up to the old last_seq.
ALTER TABLE report_progress ADD COLUMN journal BIGINT NULL;

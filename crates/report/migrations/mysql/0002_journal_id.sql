-- report_progress.journal: the journal (its id, the time of its first record) whose seqs
-- last_seq counts; NULL for a journal without an id (positions written before journals had
-- one). A journal that starts anew (the embedded store of a restarted process starts at seq 1
-- again) is written from its start instead of being skipped up to the old last_seq.
--
-- Safe to run again, as every MySQL migration here must be (see 0001): MySQL, unlike MariaDB,
-- has no ADD COLUMN IF NOT EXISTS, so the column is added only when information_schema lacks it.
SET @starq_ddl = IF(
    (SELECT COUNT(*) FROM information_schema.columns
     WHERE table_schema = DATABASE() AND table_name = 'report_progress'
       AND column_name = 'journal') = 0,
    'ALTER TABLE report_progress ADD COLUMN journal BIGINT NULL',
    'DO 0');
PREPARE starq_add_journal FROM @starq_ddl;
EXECUTE starq_add_journal;
DEALLOCATE PREPARE starq_add_journal;

"""The database below the ORM: the hot path's SQL (`statements`), the claim of runnable
executions (`claims`), the reads every request makes (`reads`), SQLite's group commit on a
connection of the store's own (`sqlite`) and SQLite's WAL checkpoints (`checkpoints`)."""

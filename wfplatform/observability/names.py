"""Every metric's name and help text, shared by the single-process collectors
(`metrics`) and the multiprocess recorders (`multiprocess`), so both expose the same."""

from __future__ import annotations

HTTP_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
HELP = {
    "wf_http_requests": "HTTP requests answered, by method, URL rule and status.",
    "wf_http_request_duration_seconds": "Time to answer an HTTP request, by method, URL "
    "rule and status.",
    "wf_credential_seals": "Credential data sealed by this process, by key id (keep each key "
    "well under 2**32 seals: rotate long before AES-GCM's limits).",
    "wf_credential_open_failures": "Stored credentials this process could not open with the "
    "key ring (a key missing from the ring, or a changed value).",
    "wf_executions": "Executions this process finished, by status (a crash is counted by "
    "the sweeper that found it).",
    "wf_node_executions": "Node attempts this process finished, by node type and status.",
    "wf_execution_data_truncated": "Node inputs and outputs stored cut to "
    "WF_EXECUTION_MAX_OUTPUT_BYTES or WF_EXECUTION_MAX_DATA_BYTES.",
    "wf_migration_runs": "Migration runs finished in this process, by kind and outcome "
    "(ok: a report came back; error: it raised, a guard refusal included).",
    "wf_migration_running": "1 while this process runs a migration.",
    "wf_migration_records_done": "Records the current (or last) migration run has walked.",
    "wf_migration_records": "Records the current (or last) migration run walks in all.",
    "wf_storage_operations": "Adapter operations run on a backend, by kind (read or write).",
    "wf_storage_operation_duration_seconds": "Time of adapter operations on a backend.",
    "wf_storage_mode": "1 for the mode and read source each repository runs now (join on "
    "`repository`).",
    "wf_storage_shadow_rate_ratio": "Share of reads shadow-compared.",
    "wf_storage_last_verify_differences": "Differences the last verify of this process found.",
    "wf_storage_journal_entries": "Changes waiting in the sync journal for the database.",
    "wf_storage_journal_damaged_lines": "Damaged sync-journal lines kept aside, not replayed "
    "(until an operator moves the file away; see GET /admin/migration).",
    "wf_storage_database_up": "0 while the adapter treats the database as down (it skips it "
    "for a moment).",
}
BACKEND_COUNTERS = {
    "errors": "Infrastructure faults of a backend (domain errors are not counted).",
    "fallbacks": "Faults of a backend that were served by the other backend instead.",
}
COUNTER_HELP = {
    "shadow_compares": "Shadow reads compared with the other backend.",
    "shadow_skipped": "Shadow reads skipped because the record changed meanwhile.",
    "shadow_dropped": "Shadow reads dropped because the comparison queue was full.",
    "shadow_missing": "Shadow reads of a record the other backend does not have yet "
    "(not backfilled or not loaded): counted apart from mismatches.",
    "mismatches": "Shadow reads or dual writes whose backends disagreed.",
    "journaled": "Changes written to the sync journal instead of the database.",
    "replayed": "Journaled changes replayed into the database.",
    "lazy_synced": "Records copied to the database when read or needed as a parent.",
    "secondary_conflicts": "Dual writes the secondary backend refused (it now differs).",
    "secondary_errors": "Dual writes the secondary backend failed on with an unexpected "
    "error, e.g. a driver's (it now differs).",
    "cache_hits": "Reads by key the record cache answered (no backend read them); see "
    "WF_READ_CACHE_RECORDS.",
}

-- Query reports: the newest rows each host logged for a scheduled saved
-- query (from osquery's result logs), capped per query.
CREATE TABLE query_results (
    id BIGSERIAL PRIMARY KEY,
    query_id BIGINT NOT NULL REFERENCES saved_queries(id) ON DELETE CASCADE,
    host_id BIGINT NOT NULL REFERENCES hosts(id) ON DELETE CASCADE,
    columns TEXT NOT NULL,
    fetched_at BIGINT NOT NULL
);
CREATE INDEX query_results_query ON query_results(query_id, host_id);

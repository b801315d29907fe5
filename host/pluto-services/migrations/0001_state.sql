-- Pluto's state: sessions and their events, memory, the artifact index.
CREATE TABLE pluto_sessions (
    tenant      text   NOT NULL,
    id          text   NOT NULL,
    agent       text   NOT NULL,
    created_ms  bigint NOT NULL,
    updated_ms  bigint NOT NULL,
    last_seq    bigint NOT NULL DEFAULT 0,
    metadata    jsonb,
    PRIMARY KEY (tenant, id)
);
CREATE INDEX pluto_sessions_by_agent ON pluto_sessions (tenant, agent, id DESC);

CREATE TABLE pluto_events (
    tenant      text   NOT NULL,
    session_id  text   NOT NULL,
    seq         bigint NOT NULL,
    at_ms       bigint NOT NULL,
    data        jsonb  NOT NULL,
    PRIMARY KEY (tenant, session_id, seq),
    FOREIGN KEY (tenant, session_id) REFERENCES pluto_sessions (tenant, id) ON DELETE CASCADE
);

CREATE TABLE pluto_memory (
    tenant      text   NOT NULL,
    id          text   NOT NULL,
    scope       text   NOT NULL,
    text        text   NOT NULL,
    metadata    jsonb,
    created_ms  bigint NOT NULL,
    search      tsvector GENERATED ALWAYS AS (to_tsvector('english', text)) STORED,
    PRIMARY KEY (tenant, id)
);
CREATE INDEX pluto_memory_by_scope ON pluto_memory (tenant, scope, id DESC);
CREATE INDEX pluto_memory_search ON pluto_memory USING gin (search);

CREATE TABLE pluto_artifacts (
    tenant        text    NOT NULL,
    session_id    text    NOT NULL,
    name          text    NOT NULL,
    version       integer NOT NULL,
    size          bigint  NOT NULL,
    content_type  text    NOT NULL,
    created_ms    bigint  NOT NULL,
    blob          text    NOT NULL,
    PRIMARY KEY (tenant, session_id, name, version)
);
CREATE TABLE pluto_artifact_usage (
    tenant  text   PRIMARY KEY,
    bytes   bigint NOT NULL DEFAULT 0
);

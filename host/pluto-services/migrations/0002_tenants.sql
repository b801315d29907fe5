-- Tenants, their API keys (stored hashed) and the agents deployed through the admin API.
CREATE TABLE pluto_tenants (
    tenant      text   PRIMARY KEY,
    created_ms  bigint NOT NULL
);
CREATE TABLE pluto_keys (
    id          text   PRIMARY KEY,
    tenant      text   NOT NULL REFERENCES pluto_tenants (tenant) ON DELETE CASCADE,
    hash        text   NOT NULL UNIQUE,
    created_ms  bigint NOT NULL,
    revoked_ms  bigint
);
CREATE TABLE pluto_agents (
    tenant      text   NOT NULL REFERENCES pluto_tenants (tenant) ON DELETE CASCADE,
    name        text   NOT NULL,
    files       jsonb  NOT NULL,
    updated_ms  bigint NOT NULL,
    PRIMARY KEY (tenant, name)
);

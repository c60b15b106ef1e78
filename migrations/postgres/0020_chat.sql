-- The end-user chat (issue #5 point 5), and tool rules that allow a call only after the
-- user confirms it.
ALTER TABLE tool_policies ADD COLUMN confirm BOOLEAN NOT NULL DEFAULT FALSE;

-- One conversation per row, owned by one user. `status` is `idle`, `answering` (a turn
-- runs; `turn_until` is its lease, renewed while it runs, so a turn whose replica died
-- frees the conversation) or `waiting` (tool calls wait for the user's decision).
CREATE TABLE conversations (
    id          UUID PRIMARY KEY,
    tenant_id   UUID NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    user_id     UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    title       TEXT NOT NULL,
    provider    TEXT,
    instructions TEXT,
    workflow_id     UUID,
    status      TEXT NOT NULL CHECK (status IN ('idle', 'answering', 'waiting')),
    turn_until  TIMESTAMPTZ,
    created_at  TIMESTAMPTZ NOT NULL,
    updated_at  TIMESTAMPTZ NOT NULL
);
CREATE INDEX conversations_user_updated ON conversations (tenant_id, user_id, updated_at DESC);

-- Its messages in order: the user's, the assistant's, and one `tool` message per call,
-- whose card says what was called, with what, and how it went (or that it waits for the
-- user's approval). `detail`: a user message's `{"tool"}` (the tool they asked to be used),
-- an assistant message's `{"tool_calls"}` (as the model asked for them) or `{"error"}`.
CREATE TABLE chat_messages (
    id              UUID PRIMARY KEY,
    tenant_id       UUID NOT NULL,
    conversation_id UUID NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    seq             BIGINT NOT NULL,
    role            TEXT NOT NULL CHECK (role IN ('user', 'assistant', 'tool')),
    content         TEXT NOT NULL,
    detail          JSONB,
    card            JSONB,
    created_at      TIMESTAMPTZ NOT NULL,
    UNIQUE (conversation_id, seq)
);

-- The second tenant wall, as for every tenant-owned table (0006_row_level_security.sql).
ALTER TABLE conversations ENABLE ROW LEVEL SECURITY;
ALTER TABLE conversations FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_wall ON conversations USING (
    tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid
    OR current_setting('app.platform', true) = 'on');
ALTER TABLE chat_messages ENABLE ROW LEVEL SECURITY;
ALTER TABLE chat_messages FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_wall ON chat_messages USING (
    tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid
    OR current_setting('app.platform', true) = 'on');

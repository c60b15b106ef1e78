-- The end-user chat (issue #5 point 5), and tool rules that allow a call only after the
-- user confirms it.
ALTER TABLE tool_policies ADD COLUMN confirm INTEGER NOT NULL DEFAULT 0;

-- One conversation per row, owned by one user. `status` is `idle`, `answering` (a turn
-- runs; `turn_until` is its lease, renewed while it runs, so a turn whose replica died
-- frees the conversation) or `waiting` (tool calls wait for the user's decision).
CREATE TABLE conversations (
    id          BLOB PRIMARY KEY NOT NULL,
    tenant_id   BLOB NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    user_id     BLOB NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    title       TEXT NOT NULL,
    provider    TEXT,
    instructions TEXT,
    -- The agent workflow that answers, in place of the built-in agent (no foreign key: a
    -- deleted workflow fails the next turn with its reason).
    workflow_id BLOB,
    status      TEXT NOT NULL CHECK (status IN ('idle', 'answering', 'waiting')),
    turn_until  TEXT,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL
);
CREATE INDEX conversations_user_updated ON conversations (tenant_id, user_id, updated_at DESC);

-- Its messages in order: the user's, the assistant's, and one `tool` message per call,
-- whose card says what was called, with what, and how it went (or that it waits for the
-- user's approval). `detail`: a user message's `{"tool"}` (the tool they asked to be used),
-- an assistant message's `{"tool_calls"}` (as the model asked for them) or `{"error"}`.
CREATE TABLE chat_messages (
    id              BLOB PRIMARY KEY NOT NULL,
    tenant_id       BLOB NOT NULL,
    conversation_id BLOB NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    seq             INTEGER NOT NULL,
    role            TEXT NOT NULL CHECK (role IN ('user', 'assistant', 'tool')),
    content         TEXT NOT NULL,
    detail          TEXT,
    card            TEXT,
    created_at      TEXT NOT NULL,
    UNIQUE (conversation_id, seq)
);

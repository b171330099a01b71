-- The embedded default storage. Times are UTC ISO-8601 text with microseconds, so text order is time order.
CREATE TABLE IF NOT EXISTS categories (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL,
    builtin_key TEXT,
    hidden INTEGER NOT NULL DEFAULT 0,
    photo_required INTEGER NOT NULL DEFAULT 1,
    answer_hours REAL NOT NULL,
    staff_chat_id INTEGER,
    take_hours REAL NOT NULL DEFAULT 4,
    resolve_days INTEGER NOT NULL DEFAULT 8
);
CREATE TABLE IF NOT EXISTS residents (
    key TEXT PRIMARY KEY,
    display_name TEXT NOT NULL,
    language TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS drafts (
    resident TEXT PRIMARY KEY,
    body TEXT NOT NULL,
    updated_at TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS reports (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    resident TEXT NOT NULL,
    resident_name TEXT NOT NULL,
    category_id INTEGER NOT NULL REFERENCES categories(id),
    description TEXT NOT NULL,
    latitude REAL,
    longitude REAL,
    address TEXT,
    photos TEXT NOT NULL,
    status TEXT NOT NULL,
    created_at TEXT NOT NULL,
    answer_due_at TEXT NOT NULL,
    draft_key TEXT,
    -- The staff chat holding its card (`tg:-100...`); NULL for reports kept before it was recorded: the default.
    staff_chat TEXT,
    assignee TEXT,
    assignee_name TEXT,
    duplicate_of INTEGER REFERENCES reports(id),
    follow_ups INTEGER NOT NULL DEFAULT 0,
    version INTEGER NOT NULL DEFAULT 0,
    -- When it was last closed (NULL while open): personal data go RETENTION_DAYS after it.
    closed_at TEXT,
    -- Its terms (computed when filed, moved or reopened) and what of them is done and reminded.
    terms_from TEXT,
    take_due_at TEXT,
    resolve_due_at TEXT,
    remind_at REAL NOT NULL DEFAULT 0.75,
    taken_at TEXT,
    answered_at TEXT,
    reminded INTEGER NOT NULL DEFAULT 0,
    -- When the next reminder about it falls due (NULL: none): the reminder look reads an index, not the table.
    next_alert_at TEXT,
    verdict TEXT,
    rating INTEGER
);
CREATE INDEX IF NOT EXISTS reports_by_resident ON reports (resident, id);
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    report_id INTEGER NOT NULL REFERENCES reports(id),
    kind TEXT NOT NULL,
    at TEXT NOT NULL,
    author TEXT NOT NULL,
    status_after TEXT NOT NULL,
    text TEXT,
    source TEXT,
    author_name TEXT,
    photos TEXT,
    -- The due times this event set (JSON), as computed then.
    dues TEXT
);
CREATE INDEX IF NOT EXISTS events_by_report ON events (report_id, id);
-- The bot's messages that show a report (cards, posts in staff chats; confirmations and answers to residents), so a
-- reply to one of them finds its report.
CREATE TABLE IF NOT EXISTS message_links (
    messenger TEXT NOT NULL,
    chat_id INTEGER NOT NULL,
    message_id INTEGER NOT NULL,
    report_id INTEGER NOT NULL REFERENCES reports(id),
    PRIMARY KEY (messenger, chat_id, message_id)
) WITHOUT ROWID;
-- A report's card in a staff chat, edited as the report changes (caption: 1 a photo's caption, 0 a text, NULL unknown).
CREATE TABLE IF NOT EXISTS cards (
    messenger TEXT NOT NULL,
    chat_id INTEGER NOT NULL,
    report_id INTEGER NOT NULL REFERENCES reports(id),
    message_id INTEGER NOT NULL,
    caption INTEGER,
    PRIMARY KEY (messenger, chat_id, report_id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS pending_resolutions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    report_id INTEGER NOT NULL REFERENCES reports(id),
    author TEXT NOT NULL,
    text TEXT NOT NULL,
    created_at TEXT NOT NULL,
    chat TEXT,
    author_name TEXT
);
-- Staff chats that refused the bot for good or moved (a group upgraded to a supergroup).
CREATE TABLE IF NOT EXISTS broken_chats (
    chat TEXT PRIMARY KEY,
    reason TEXT NOT NULL,
    at TEXT NOT NULL,
    moved_to TEXT
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    messenger TEXT NOT NULL,
    chat_id INTEGER NOT NULL,
    kind TEXT NOT NULL,
    body TEXT NOT NULL,
    report_id INTEGER,
    link INTEGER NOT NULL,
    priority INTEGER NOT NULL,
    status TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TEXT NOT NULL,
    last_error TEXT,
    lane INTEGER NOT NULL DEFAULT 0
);
-- When messages went out, per chat: the send budgets re-read the last minute after a restart (a group's window
-- is 60 s; a process that forgot it drew 429s). Rows older than two minutes are pruned.
CREATE TABLE IF NOT EXISTS sent_log (
    messenger TEXT NOT NULL,
    chat_id INTEGER NOT NULL,
    cost INTEGER NOT NULL,
    at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS sent_log_at ON sent_log (at);
-- Residents' consent to the personal-data notice: which version, and when.
CREATE TABLE IF NOT EXISTS consents (
    resident TEXT PRIMARY KEY,
    version INTEGER NOT NULL,
    at TEXT NOT NULL
) WITHOUT ROWID;
-- Residents kept out by officials (kept after /forget: a ban must not be lifted by erasing oneself).
CREATE TABLE IF NOT EXISTS bans (
    resident TEXT PRIMARY KEY,
    at TEXT NOT NULL,
    author TEXT NOT NULL,
    author_name TEXT,
    report_id INTEGER,
    noticed INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;
-- Each resident's messages per minute (minutes since the epoch), for MESSAGES_PER_MINUTE; past minutes are pruned.
CREATE TABLE IF NOT EXISTS flood (
    resident TEXT NOT NULL,
    minute INTEGER NOT NULL,
    count INTEGER NOT NULL,
    PRIMARY KEY (resident, minute)
) WITHOUT ROWID;
-- Which reports use which archived photo: a photo is deleted only when no report uses it any more.
CREATE TABLE IF NOT EXISTS photo_uses (
    digest TEXT NOT NULL,
    report_id INTEGER NOT NULL,
    PRIMARY KEY (digest, report_id)
) WITHOUT ROWID;
-- Jobs done once per slot across every process (the daily summary of each day): the last slot done.
CREATE TABLE IF NOT EXISTS schedule (
    name TEXT PRIMARY KEY,
    slot TEXT NOT NULL
) WITHOUT ROWID;
-- What the figures need of each report, folded from its history in the same transaction as its events
-- (bot/core/facts.py): a year's figures are a few walks of narrow covering indexes, not a replay of the events.
CREATE TABLE IF NOT EXISTS report_facts (
    report_id INTEGER PRIMARY KEY,
    created_at TEXT NOT NULL,
    messenger TEXT NOT NULL,
    category_id INTEGER NOT NULL,
    status TEXT NOT NULL,
    -- The due times set when it was filed.
    take_due_at TEXT NOT NULL,
    answer_due_at TEXT NOT NULL,
    resolve_due_at TEXT NOT NULL,
    -- When each first happened, and (for medians) how many seconds after the filing.
    taken_at TEXT,
    answered_at TEXT,
    resolved_at TEXT,
    rejected_at TEXT,
    take_s REAL,
    answer_s REAL,
    resolve_s REAL,
    -- Taken (answered) after its due time: 1, in time: 0, not yet: NULL.
    take_late INTEGER,
    answer_late INTEGER,
    reopened INTEGER NOT NULL DEFAULT 0,
    verdict TEXT,
    rating INTEGER,
    follow_ups INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS report_facts_by_time ON report_facts (created_at);
-- The medians are read by walking these in order (never sorting a year); the few reports not yet taken or answered
-- are judged against `now` from the partial ones.
CREATE INDEX IF NOT EXISTS report_facts_take ON report_facts (take_s, created_at) WHERE take_s IS NOT NULL;
CREATE INDEX IF NOT EXISTS report_facts_answer ON report_facts (answer_s, created_at) WHERE answer_s IS NOT NULL;
CREATE INDEX IF NOT EXISTS report_facts_resolve ON report_facts (resolve_s, created_at) WHERE resolve_s IS NOT NULL;
CREATE INDEX IF NOT EXISTS report_facts_untaken ON report_facts (created_at, take_due_at) WHERE taken_at IS NULL;
CREATE INDEX IF NOT EXISTS report_facts_unanswered
    ON report_facts (created_at, answer_due_at) WHERE answered_at IS NULL;
-- The facts counted per hour of filing (hours since the epoch, UTC), category, messenger, status and verdict ('' for
-- none), kept with each change: a year's counts and sums are a read of some thousands of rows, not a million.
CREATE TABLE IF NOT EXISTS report_counts (
    hour INTEGER NOT NULL,
    category_id INTEGER NOT NULL,
    messenger TEXT NOT NULL,
    status TEXT NOT NULL,
    verdict TEXT NOT NULL,
    reports INTEGER NOT NULL,
    take_late INTEGER NOT NULL,
    taken INTEGER NOT NULL,
    answer_late INTEGER NOT NULL,
    answered INTEGER NOT NULL,
    resolved INTEGER NOT NULL,
    reopened INTEGER NOT NULL,
    rated INTEGER NOT NULL,
    rating_sum INTEGER NOT NULL,
    -- In this order a period's counts are summed as they are read, with no sort; the days walk the index below.
    PRIMARY KEY (status, category_id, messenger, verdict, hour)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS report_counts_by_hour
    ON report_counts (hour, category_id, reports, take_late, taken, answer_late, answered);
-- The open reports by filing time: what "overdue now" counts.
CREATE INDEX IF NOT EXISTS reports_open ON reports (created_at) WHERE status IN ('new', 'in_progress', 'reopened');

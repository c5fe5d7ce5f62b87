"""Schema migrations, applied in order and recorded in PRAGMA user_version.

Append new versions; never edit one that has shipped. Instants are UTC text
'YYYY-MM-DD HH:MM:SS'; dates 'YYYY-MM-DD'.
"""

V1_FOUNDATION = """
CREATE TABLE cohorts (
    id INTEGER PRIMARY KEY,
    code TEXT NOT NULL UNIQUE COLLATE NOCASE,
    name TEXT NOT NULL,
    timezone TEXT NOT NULL,
    arrives TEXT NOT NULL,
    departs TEXT NOT NULL,
    home_institution TEXT NOT NULL DEFAULT '',
    host_institution TEXT NOT NULL DEFAULT ''
);
CREATE TABLE sessions (
    id INTEGER PRIMARY KEY,
    cohort_id INTEGER NOT NULL REFERENCES cohorts(id) ON DELETE CASCADE,
    external_id TEXT NOT NULL,
    starts_at TEXT NOT NULL,
    ends_at TEXT NOT NULL,
    title_en TEXT NOT NULL DEFAULT '',
    title_ru TEXT NOT NULL DEFAULT '',
    title_uz TEXT NOT NULL DEFAULT '',
    department_en TEXT NOT NULL DEFAULT '',
    department_ru TEXT NOT NULL DEFAULT '',
    department_uz TEXT NOT NULL DEFAULT '',
    location TEXT NOT NULL DEFAULT '',
    host TEXT NOT NULL DEFAULT '',
    notes TEXT NOT NULL DEFAULT '',
    latitude REAL,
    longitude REAL,
    cancelled INTEGER NOT NULL DEFAULT 0,
    cancel_reason TEXT NOT NULL DEFAULT '',
    UNIQUE (cohort_id, external_id)
);
CREATE INDEX sessions_by_cohort_start ON sessions (cohort_id, starts_at);
CREATE TABLE contacts (
    id INTEGER PRIMARY KEY,
    cohort_id INTEGER REFERENCES cohorts(id) ON DELETE CASCADE,
    position INTEGER NOT NULL DEFAULT 0,
    name TEXT NOT NULL,
    role_en TEXT NOT NULL DEFAULT '',
    role_ru TEXT NOT NULL DEFAULT '',
    role_uz TEXT NOT NULL DEFAULT '',
    phone TEXT NOT NULL DEFAULT '',
    email TEXT NOT NULL DEFAULT '',
    telegram TEXT NOT NULL DEFAULT ''
);
CREATE INDEX contacts_by_cohort ON contacts (cohort_id, position);
CREATE TABLE users (
    telegram_id INTEGER PRIMARY KEY,
    first_name TEXT NOT NULL DEFAULT '',
    last_name TEXT NOT NULL DEFAULT '',
    username TEXT NOT NULL DEFAULT '',
    language TEXT CHECK (language IN ('en', 'ru', 'uz')),
    telegram_language TEXT,
    is_coordinator INTEGER NOT NULL DEFAULT 0,
    cohort_id INTEGER REFERENCES cohorts(id) ON DELETE SET NULL,
    reachable INTEGER NOT NULL DEFAULT 1,
    created_at TEXT NOT NULL,
    last_seen TEXT
);
CREATE TABLE memberships (
    user_id INTEGER NOT NULL REFERENCES users(telegram_id) ON DELETE CASCADE,
    cohort_id INTEGER NOT NULL REFERENCES cohorts(id) ON DELETE CASCADE,
    role TEXT NOT NULL CHECK (role IN ('student', 'supervisor')),
    joined_at TEXT NOT NULL,
    PRIMARY KEY (user_id, cohort_id)
);
CREATE INDEX memberships_by_cohort ON memberships (cohort_id);
CREATE TABLE invites (
    code TEXT PRIMARY KEY,
    cohort_id INTEGER NOT NULL REFERENCES cohorts(id) ON DELETE CASCADE,
    role TEXT NOT NULL CHECK (role IN ('student', 'supervisor')),
    created_by INTEGER,
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    max_uses INTEGER,
    uses INTEGER NOT NULL DEFAULT 0,
    revoked INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX invites_by_cohort ON invites (cohort_id)
"""

V2_REMINDERS = """
ALTER TABLE users ADD COLUMN reminders_on INTEGER NOT NULL DEFAULT 1;
ALTER TABLE users ADD COLUMN digest_on INTEGER NOT NULL DEFAULT 1;
ALTER TABLE users ADD COLUMN reminder_leads TEXT;
ALTER TABLE sessions ADD COLUMN revision INTEGER NOT NULL DEFAULT 0;
CREATE TABLE deliveries (
    kind TEXT NOT NULL,
    ref TEXT NOT NULL,
    user_id INTEGER NOT NULL REFERENCES users(telegram_id) ON DELETE CASCADE,
    status TEXT NOT NULL CHECK (status IN ('sending', 'sent', 'unreachable', 'failed', 'skipped')),
    attempts INTEGER NOT NULL DEFAULT 0,
    error TEXT NOT NULL DEFAULT '',
    updated_at TEXT NOT NULL,
    PRIMARY KEY (kind, ref, user_id)
);
CREATE INDEX deliveries_by_status ON deliveries (status, kind);
CREATE TABLE session_changes (
    id INTEGER PRIMARY KEY,
    session_id INTEGER NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
    kind TEXT NOT NULL CHECK (kind IN ('added', 'changed', 'cancelled')),
    old_starts_at TEXT,
    old_ends_at TEXT,
    old_location TEXT,
    created_at TEXT NOT NULL,
    processed INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX session_changes_pending ON session_changes (processed, id)
"""

V3_STAFF = """
CREATE TABLE announcements (
    id INTEGER PRIMARY KEY,
    cohort_id INTEGER REFERENCES cohorts(id) ON DELETE CASCADE,
    sender_id INTEGER NOT NULL,
    text TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('draft', 'sending', 'done', 'cancelled')),
    created_at TEXT NOT NULL,
    sent_at TEXT,
    reported INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX announcements_by_sender ON announcements (sender_id, id);
CREATE TABLE announcement_deliveries (
    announcement_id INTEGER NOT NULL REFERENCES announcements(id) ON DELETE CASCADE,
    user_id INTEGER NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('pending', 'sending', 'sent', 'unreachable', 'failed')),
    message_id INTEGER,
    attempts INTEGER NOT NULL DEFAULT 0,
    error TEXT NOT NULL DEFAULT '',
    acked_at TEXT,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (announcement_id, user_id)
);
CREATE INDEX announcement_deliveries_pending ON announcement_deliveries (status, announcement_id);
CREATE TABLE audit (
    id INTEGER PRIMARY KEY,
    at TEXT NOT NULL,
    actor_id INTEGER,
    cohort_id INTEGER REFERENCES cohorts(id) ON DELETE SET NULL,
    action TEXT NOT NULL,
    target TEXT NOT NULL DEFAULT '',
    before TEXT NOT NULL DEFAULT '',
    after TEXT NOT NULL DEFAULT ''
);
CREATE INDEX audit_by_cohort ON audit (cohort_id, id);
CREATE TABLE pending_imports (
    id INTEGER PRIMARY KEY,
    user_id INTEGER NOT NULL,
    filename TEXT NOT NULL,
    content BLOB NOT NULL,
    created_at TEXT NOT NULL
)
"""

V4_OPERATIONS = """
CREATE TABLE cohort_archive (
    cohort_id INTEGER PRIMARY KEY REFERENCES cohorts(id) ON DELETE CASCADE,
    purged_at TEXT NOT NULL,
    members INTEGER NOT NULL,
    reminders_sent INTEGER NOT NULL,
    announcements INTEGER NOT NULL,
    announcement_copies INTEGER NOT NULL
);
CREATE TABLE errors (
    id INTEGER PRIMARY KEY,
    at TEXT NOT NULL,
    kind TEXT NOT NULL,
    detail TEXT NOT NULL
)
"""

# What students read, in three languages: the existing column stays the base (English) value,
# an empty translation falls back like titles do (models.Localized).
V5_LANGUAGES = """
ALTER TABLE cohorts ADD COLUMN name_ru TEXT NOT NULL DEFAULT '';
ALTER TABLE cohorts ADD COLUMN name_uz TEXT NOT NULL DEFAULT '';
ALTER TABLE sessions ADD COLUMN location_ru TEXT NOT NULL DEFAULT '';
ALTER TABLE sessions ADD COLUMN location_uz TEXT NOT NULL DEFAULT '';
ALTER TABLE sessions ADD COLUMN host_ru TEXT NOT NULL DEFAULT '';
ALTER TABLE sessions ADD COLUMN host_uz TEXT NOT NULL DEFAULT '';
ALTER TABLE sessions ADD COLUMN notes_ru TEXT NOT NULL DEFAULT '';
ALTER TABLE sessions ADD COLUMN notes_uz TEXT NOT NULL DEFAULT '';
ALTER TABLE contacts ADD COLUMN name_ru TEXT NOT NULL DEFAULT '';
ALTER TABLE contacts ADD COLUMN name_uz TEXT NOT NULL DEFAULT '';
ALTER TABLE session_changes ADD COLUMN old_location_ru TEXT;
ALTER TABLE session_changes ADD COLUMN old_location_uz TEXT
"""

# Instants written before the fixed-width format: a year below 1000 lost its leading zeros
# ('26-11-28 05:00:00'), which sorted after every real date and failed every reader. Pad them
# back; they are then plain past instants. Coordinators get a source: BOT_COORDINATORS ('env',
# added and removed at each start) or a grant in chat ('chat', listed and revocable).
_INSTANT_COLUMNS = (
    ("sessions", "starts_at"), ("sessions", "ends_at"), ("session_changes", "old_starts_at"),
    ("session_changes", "old_ends_at"), ("session_changes", "created_at"),
    ("invites", "created_at"), ("invites", "expires_at"), ("memberships", "joined_at"),
    ("users", "created_at"), ("users", "last_seen"), ("deliveries", "updated_at"),
    ("announcements", "created_at"), ("announcements", "sent_at"),
    ("announcement_deliveries", "acked_at"), ("announcement_deliveries", "updated_at"),
    ("audit", "at"), ("pending_imports", "created_at"), ("errors", "at"),
)  # fmt: skip
_PAD_YEAR = (
    "UPDATE {table} SET {column} = substr('0000' || {column}, -19)"
    " WHERE length({column}) BETWEEN 15 AND 18"
    " AND {column} GLOB '*[0-9]-[0-9][0-9]-[0-9][0-9] [0-9][0-9]:[0-9][0-9]:[0-9][0-9]';\n"
)

V6_TRUST = (
    "".join(_PAD_YEAR.format(table=t, column=c) for t, c in _INSTANT_COLUMNS)
    + """
ALTER TABLE users ADD COLUMN coordinator_source TEXT
    CHECK (coordinator_source IN ('env', 'chat'));
ALTER TABLE users ADD COLUMN coordinator_granted_by INTEGER;
UPDATE users SET coordinator_source = CASE WHEN EXISTS (SELECT 1 FROM audit a
    WHERE a.action = 'grant' AND a.target = 'user ' || users.telegram_id) THEN 'chat' ELSE 'env'
    END WHERE is_coordinator = 1
"""
)

# Whether a changed session was cancelled before the change: a restore (cancelled, then not)
# is announced, and a change to a session that stays cancelled is not. NULL on older rows.
V7_CHANGE_WAS_CANCELLED = """
ALTER TABLE session_changes ADD COLUMN old_cancelled INTEGER
"""

# Each change names its session's cohort, so a cohort's plans are cached until a change to
# THAT cohort (an import elsewhere leaves them alone): `load_user` reads the cohort's latest
# change id through this index.
V8_CHANGES_BY_COHORT = """
ALTER TABLE session_changes ADD COLUMN cohort_id INTEGER;
UPDATE session_changes
   SET cohort_id = (SELECT s.cohort_id FROM sessions s WHERE s.id = session_changes.session_id);
CREATE INDEX session_changes_cohort ON session_changes (cohort_id, id)
"""

# Issue 11: the question desk (questions, their messages both ways, which bot message in which
# chat belongs to which question, a person's pending "next message is..." step), the cohort's
# FAQ, feedback after sessions (anonymous to staff; the user id only keeps one rating a person)
# and the end-of-programme survey.
V9_QUESTIONS = """
CREATE TABLE questions (
    id INTEGER PRIMARY KEY,
    cohort_id INTEGER NOT NULL REFERENCES cohorts(id) ON DELETE CASCADE,
    student_id INTEGER NOT NULL REFERENCES users(telegram_id) ON DELETE CASCADE,
    text TEXT NOT NULL DEFAULT '',
    source_message INTEGER,
    has_media INTEGER NOT NULL DEFAULT 0,
    status TEXT NOT NULL CHECK (status IN ('open', 'answered', 'closed')),
    owner_id INTEGER,
    created_at TEXT NOT NULL,
    escalate_at TEXT NOT NULL,
    escalated_at TEXT,
    answered_at TEXT,
    closed_at TEXT
);
CREATE INDEX questions_by_cohort ON questions (cohort_id, status, id);
CREATE INDEX questions_by_student ON questions (student_id, created_at);
CREATE TABLE question_messages (
    id INTEGER PRIMARY KEY,
    question_id INTEGER NOT NULL REFERENCES questions(id) ON DELETE CASCADE,
    author_id INTEGER NOT NULL,
    from_staff INTEGER NOT NULL,
    text TEXT NOT NULL DEFAULT '',
    source_chat INTEGER NOT NULL,
    source_message INTEGER NOT NULL,
    has_media INTEGER NOT NULL DEFAULT 0,
    delivered INTEGER NOT NULL DEFAULT 1,
    created_at TEXT NOT NULL
);
CREATE INDEX question_messages_by_question ON question_messages (question_id, id);
CREATE TABLE reply_targets (
    chat_id INTEGER NOT NULL,
    message_id INTEGER NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('question', 'feedback')),
    ref_id INTEGER NOT NULL,
    PRIMARY KEY (chat_id, message_id)
);
CREATE INDEX reply_targets_by_ref ON reply_targets (kind, ref_id);
CREATE TABLE pending_steps (
    user_id INTEGER PRIMARY KEY REFERENCES users(telegram_id) ON DELETE CASCADE,
    step TEXT NOT NULL,
    ref_id INTEGER,
    text TEXT NOT NULL DEFAULT '',
    source_message INTEGER,
    has_media INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL
);
CREATE TABLE faq (
    id INTEGER PRIMARY KEY,
    cohort_id INTEGER NOT NULL REFERENCES cohorts(id) ON DELETE CASCADE,
    question_en TEXT NOT NULL DEFAULT '',
    question_ru TEXT NOT NULL DEFAULT '',
    question_uz TEXT NOT NULL DEFAULT '',
    answer_en TEXT NOT NULL DEFAULT '',
    answer_ru TEXT NOT NULL DEFAULT '',
    answer_uz TEXT NOT NULL DEFAULT '',
    from_question INTEGER UNIQUE,
    created_by INTEGER,
    created_at TEXT NOT NULL
);
CREATE INDEX faq_by_cohort ON faq (cohort_id, id);
CREATE TABLE feedback (
    id INTEGER PRIMARY KEY,
    session_id INTEGER NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
    user_id INTEGER REFERENCES users(telegram_id) ON DELETE CASCADE,
    rating INTEGER NOT NULL CHECK (rating BETWEEN 1 AND 5),
    comment TEXT NOT NULL DEFAULT '',
    created_at TEXT NOT NULL,
    UNIQUE (session_id, user_id)
);
CREATE TABLE feedback_optout (
    user_id INTEGER PRIMARY KEY REFERENCES users(telegram_id) ON DELETE CASCADE
);
CREATE TABLE survey_questions (
    cohort_id INTEGER NOT NULL REFERENCES cohorts(id) ON DELETE CASCADE,
    qid TEXT NOT NULL,
    position INTEGER NOT NULL,
    text_en TEXT NOT NULL DEFAULT '',
    text_ru TEXT NOT NULL DEFAULT '',
    text_uz TEXT NOT NULL DEFAULT '',
    type TEXT NOT NULL CHECK (type IN ('rating', 'yesno', 'text')),
    PRIMARY KEY (cohort_id, qid)
);
CREATE TABLE survey_answers (
    cohort_id INTEGER NOT NULL REFERENCES cohorts(id) ON DELETE CASCADE,
    qid TEXT NOT NULL,
    user_id INTEGER NOT NULL REFERENCES users(telegram_id) ON DELETE CASCADE,
    answer TEXT NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (cohort_id, qid, user_id)
);
"""

# The arrival checklist (issue 12). A task's due date is kept as written ("2026-09-18",
# "arrival+3d", "departure-2d") and resolved against the cohort's dates when read, so a cohort
# whose arrival moves takes its checklist along. Tasks left out of a later import are marked
# removed (kept with their progress), never deleted. `task_waits`: a student asked to send a
# proof; their next photo or document is the proof (survives a restart).
V10_TASKS = """
CREATE TABLE tasks (
    id INTEGER PRIMARY KEY,
    cohort_id INTEGER NOT NULL REFERENCES cohorts(id) ON DELETE CASCADE,
    external_id TEXT NOT NULL,
    position INTEGER NOT NULL DEFAULT 0,
    title_en TEXT NOT NULL DEFAULT '',
    title_ru TEXT NOT NULL DEFAULT '',
    title_uz TEXT NOT NULL DEFAULT '',
    details_en TEXT NOT NULL DEFAULT '',
    details_ru TEXT NOT NULL DEFAULT '',
    details_uz TEXT NOT NULL DEFAULT '',
    link TEXT NOT NULL DEFAULT '',
    due TEXT NOT NULL,
    needs_proof INTEGER NOT NULL DEFAULT 0,
    removed INTEGER NOT NULL DEFAULT 0,
    UNIQUE (cohort_id, external_id)
);
CREATE TABLE task_progress (
    task_id INTEGER NOT NULL REFERENCES tasks(id) ON DELETE CASCADE,
    user_id INTEGER NOT NULL REFERENCES users(telegram_id) ON DELETE CASCADE,
    status TEXT NOT NULL CHECK (status IN ('proof_sent', 'rejected', 'done')),
    done_at TEXT,
    marked_by INTEGER,
    reason TEXT NOT NULL DEFAULT '',
    proof_message INTEGER,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (task_id, user_id)
);
CREATE INDEX task_progress_by_user ON task_progress (user_id);
CREATE TABLE task_waits (
    user_id INTEGER PRIMARY KEY REFERENCES users(telegram_id) ON DELETE CASCADE,
    task_id INTEGER NOT NULL REFERENCES tasks(id) ON DELETE CASCADE,
    created_at TEXT NOT NULL
)
"""

# Attendance (issue 10): each cohort's check-in rules, one row per student and session (the
# latest word: a check-in, a reported absence or a staff mark), the audit of staff marks, a
# location check-in waiting for the phone's location, and anonymous counts kept after a purge.
# Locations are never stored: only the verdict and a distance bucket (upper bound, metres).
V11_ATTENDANCE = """
CREATE TABLE cohort_attendance_settings (
    cohort_id INTEGER PRIMARY KEY REFERENCES cohorts(id) ON DELETE CASCADE,
    opens_before INTEGER NOT NULL DEFAULT 15,
    closes_after INTEGER NOT NULL DEFAULT 30,
    nudge_after INTEGER NOT NULL DEFAULT 10,
    missing_after INTEGER NOT NULL DEFAULT 20,
    attendance_location INTEGER NOT NULL DEFAULT 0,
    radius_m INTEGER NOT NULL DEFAULT 300
);
CREATE TABLE attendance (
    session_id INTEGER NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
    user_id INTEGER NOT NULL REFERENCES users(telegram_id) ON DELETE CASCADE,
    status TEXT NOT NULL CHECK (status IN ('present', 'late', 'excused', 'absent')),
    source TEXT NOT NULL CHECK (source IN ('checkin', 'report', 'staff')),
    verdict TEXT NOT NULL DEFAULT '' CHECK (verdict IN ('', 'verified', 'self')),
    distance_bucket INTEGER,
    reason TEXT NOT NULL DEFAULT '',
    late_minutes INTEGER,
    note TEXT NOT NULL DEFAULT '',
    at TEXT NOT NULL,
    marked_by INTEGER,
    PRIMARY KEY (session_id, user_id)
);
CREATE INDEX attendance_by_user ON attendance (user_id);
CREATE TABLE attendance_marks (
    id INTEGER PRIMARY KEY,
    cohort_id INTEGER NOT NULL REFERENCES cohorts(id) ON DELETE CASCADE,
    session_id INTEGER NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
    user_id INTEGER NOT NULL REFERENCES users(telegram_id) ON DELETE CASCADE,
    before TEXT NOT NULL,
    after TEXT NOT NULL,
    by_id INTEGER,
    at TEXT NOT NULL
);
CREATE INDEX attendance_marks_by_cohort ON attendance_marks (cohort_id, id);
CREATE TABLE attendance_pending (
    user_id INTEGER PRIMARY KEY REFERENCES users(telegram_id) ON DELETE CASCADE,
    session_id INTEGER NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
    asked_at TEXT NOT NULL
);
CREATE TABLE attendance_archive (
    session_id INTEGER PRIMARY KEY,
    cohort_id INTEGER NOT NULL,
    present INTEGER NOT NULL,
    late INTEGER NOT NULL,
    excused INTEGER NOT NULL,
    absent INTEGER NOT NULL
)
"""

# The cohort's group chats (issue 9): a group bound to one cohort (a forum group to one topic),
# what the bot posted there (the day's card, change notices, announcements: claimed before the
# send, so a restart neither repeats nor forgets one) and join requests waiting for a
# supervisor. Posts follow a group's new id when it becomes a supergroup (ON UPDATE CASCADE).
V12_GROUPS = """
CREATE TABLE group_chats (
    chat_id INTEGER PRIMARY KEY,
    cohort_id INTEGER NOT NULL REFERENCES cohorts(id) ON DELETE CASCADE,
    thread_id INTEGER,
    title TEXT NOT NULL DEFAULT '',
    language TEXT NOT NULL DEFAULT 'en',
    linked_by INTEGER,
    linked_at TEXT NOT NULL,
    card_time TEXT,
    join_approval INTEGER NOT NULL DEFAULT 0,
    pin_warned INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX group_chats_by_cohort ON group_chats (cohort_id);
CREATE TABLE group_posts (
    chat_id INTEGER NOT NULL REFERENCES group_chats(chat_id)
        ON DELETE CASCADE ON UPDATE CASCADE,
    kind TEXT NOT NULL,
    ref TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('sending', 'sent', 'failed')),
    message_id INTEGER,
    text TEXT NOT NULL DEFAULT '',
    pinned INTEGER NOT NULL DEFAULT 0,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (chat_id, kind, ref)
);
CREATE TABLE group_join_requests (
    id INTEGER PRIMARY KEY,
    chat_id INTEGER NOT NULL REFERENCES group_chats(chat_id)
        ON DELETE CASCADE ON UPDATE CASCADE,
    user_id INTEGER NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('pending', 'approved', 'declined')),
    requested_at TEXT NOT NULL,
    UNIQUE (chat_id, user_id)
)
"""

MIGRATIONS: list[str] = [
    V1_FOUNDATION,
    V2_REMINDERS,
    V3_STAFF,
    V4_OPERATIONS,
    V5_LANGUAGES,
    V6_TRUST,
    V7_CHANGE_WAS_CANCELLED,
    V8_CHANGES_BY_COHORT,
    V9_QUESTIONS,
    V10_TASKS,
    V11_ATTENDANCE,
    V12_GROUPS,
]

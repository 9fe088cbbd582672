-- When the member was told that their job is taking far longer than usual (told once).
ALTER TABLE jobs ADD COLUMN late_notified_at TEXT;

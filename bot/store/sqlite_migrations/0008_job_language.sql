-- The language a job was asked in (a catalogue code such as 'en' or 'de'): its card and its
-- outcome are written in it, after a restart too.
ALTER TABLE jobs ADD COLUMN language TEXT NOT NULL DEFAULT 'en';

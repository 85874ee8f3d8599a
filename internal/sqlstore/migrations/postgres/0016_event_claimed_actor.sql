-- The actor an outside event names itself (the CloudEvents actor
-- extension), kept apart from actor, which is always the server's word:
-- the credential that sent the event or the component that acted.
-- Existing rows keep their actor; outside events stored before this
-- migration may carry a claimed actor there.

ALTER TABLE events ADD COLUMN claimed_actor TEXT;

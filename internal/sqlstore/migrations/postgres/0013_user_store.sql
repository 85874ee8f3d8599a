-- A console user of the stores department may work in one store (its
-- code): the console then shows her that store's queue and service
-- requests. Checked against the locations when the user is created.

ALTER TABLE users ADD COLUMN store TEXT;

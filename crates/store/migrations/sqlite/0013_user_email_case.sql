-- Sign-in finds a user by email whatever its case, so two users may not
-- differ by case alone; the index makes that hold under concurrent creates.
CREATE UNIQUE INDEX users_email_lower ON users (LOWER(email));

-- +goose Up
-- zhsj_today(): today's date in Beijing as YYYY-MM-DD (the form dates are stored in), for
-- quality rules comparing with today; CURRENT_DATE follows the session's time zone. SQLite has
-- the same function registered by the application.
CREATE FUNCTION zhsj_today() RETURNS text LANGUAGE sql STABLE PARALLEL SAFE AS $fn$
    SELECT to_char(now() AT TIME ZONE 'Asia/Shanghai', 'YYYY-MM-DD')
$fn$;

-- +goose Down
DROP FUNCTION zhsj_today();

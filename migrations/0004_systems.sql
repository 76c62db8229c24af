-- 0004_systems: es.xml versions per system (the engineeredSystem name). A system's row is the
-- lock that serialises changes to its versions (load, merge, deploy: SELECT ... FOR UPDATE);
-- system_machines holds the guests and KVM hosts each system's newest loaded es.xml names, one
-- system per name in any case (guest and host names compare case-insensitively: names.c allows
-- ASCII only, so lower() is esxml_name_equal's rule). Jobs record their system, and the one
-- active job per guest is enforced on the canonical (lower-case) name.

CREATE TABLE systems (
    name       text PRIMARY KEY,
    created_at timestamptz NOT NULL DEFAULT now()
);
INSERT INTO systems (name) SELECT DISTINCT system_name FROM configs;
ALTER TABLE configs ADD CONSTRAINT configs_system_fk FOREIGN KEY (system_name) REFERENCES systems (name);
CREATE INDEX configs_by_system ON configs (system_name, version);

CREATE TABLE system_machines (
    name      text PRIMARY KEY,            -- lower(hostname): one system per name, any case
    system    text NOT NULL REFERENCES systems (name) ON DELETE CASCADE,
    hostname  text NOT NULL,               -- as es.xml spells it (the canonical spelling)
    kind      text NOT NULL CHECK (kind IN ('guest', 'kvm_host')),
    memory_mb bigint NOT NULL DEFAULT 0,   -- a guest's size (what its job reserves)
    cores     integer NOT NULL DEFAULT 0,
    CHECK (name = lower(hostname))
);
CREATE INDEX system_machines_by_system ON system_machines (system);

-- The names of what is stored already: each system's newest version (a document that does not
-- parse, or a name two systems claim, is left out with a warning; the next load fills it in).
DO $$
DECLARE
    r record;
BEGIN
    FOR r IN SELECT DISTINCT ON (system_name) system_name, document FROM configs
             ORDER BY system_name, version DESC LOOP
        BEGIN
            INSERT INTO system_machines (name, system, hostname, kind, memory_mb, cores)
            SELECT lower(h), r.system_name, h, CASE WHEN os = 'LinuxKVM' THEN 'kvm_host' ELSE 'guest' END,
                   CASE WHEN mem ~ '^[0-9]+$' THEN mem::bigint ELSE 0 END,
                   CASE WHEN cores ~ '^[0-9]+$' THEN cores::integer ELSE 0 END
            FROM (SELECT (xpath('string(/machine/hostName)', m))[1]::text AS h,
                         (xpath('string(/machine/osType)', m))[1]::text AS os,
                         (xpath('string(/machine/guestMemory)', m))[1]::text AS mem,
                         (xpath('string(/machine/guestCores)', m))[1]::text AS cores
                  FROM unnest(xpath('/engineeredSystem/machines/machine', r.document::xml)) AS m) x
            WHERE os IN ('LinuxKVM', 'LinuxKVMGuest') AND h <> ''
            ON CONFLICT (name) DO NOTHING;
        EXCEPTION WHEN others THEN
            RAISE WARNING 'es.xml of system % not indexed (load it again): %', r.system_name, SQLERRM;
        END;
    END LOOP;
END
$$;

ALTER TABLE jobs ADD COLUMN system_name text REFERENCES systems (name);

DROP INDEX jobs_one_active_per_guest;
CREATE UNIQUE INDEX jobs_one_active_per_guest ON jobs (lower(guest)) WHERE status IN ('queued', 'running');
DROP INDEX jobs_by_guest;
CREATE INDEX jobs_by_guest ON jobs (lower(guest), created_at);
DROP INDEX host_cleanups_pending;
CREATE INDEX host_cleanups_pending ON host_cleanups (lower(host)) WHERE status = 'pending';

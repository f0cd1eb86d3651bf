-- The demo's own bookkeeping, apart from the shop data: install marker, fault switches,
-- and the undo log of planted data defects.
CREATE SCHEMA demo_admin;

CREATE TABLE demo_admin.schema_version (
    version      integer     PRIMARY KEY,
    installed_at timestamptz NOT NULL DEFAULT now()
);

-- Read by both services (cached <= 0.5 s) and the worker (each tick), written by the CLI
-- or POST /admin/faults, so every writer and reader agrees without talking to each other.
-- The slow-index fault has no row: it drops an index, and is on exactly while the index
-- is missing (demo/slow_index.py).
-- The names and seed rows follow demo/config.py (FAULTS, FAULT_DEFAULTS); a database
-- installed before a switch existed gets its row from demo.db.install (sync_faults).
CREATE TABLE demo_admin.faults (
    name       text             PRIMARY KEY CONSTRAINT faults_name_check CHECK (name IN (
        'errors', 'latency', 'inventory-down', 'tenant-leak', 'duplicate-ids', 'stuck',
        'feed-drop')),
    enabled    boolean          NOT NULL DEFAULT false,
    -- errors: share of requests answering 500 (0..1); latency: added delay in ms.
    value      double precision CHECK (value >= 0),
    updated_at timestamptz      NOT NULL DEFAULT now()
);
INSERT INTO demo_admin.faults (name, enabled, value) VALUES
    ('errors', false, 0.5), ('latency', false, 300), ('inventory-down', false, NULL),
    ('tenant-leak', false, NULL), ('duplicate-ids', false, NULL), ('stuck', false, NULL),
    ('feed-drop', false, NULL);

-- One row per planted defect, holding what `restore` needs to undo it exactly.
CREATE TABLE demo_admin.defects (
    name       text        PRIMARY KEY,
    undo       jsonb       NOT NULL,
    planted_at timestamptz NOT NULL DEFAULT now()
);

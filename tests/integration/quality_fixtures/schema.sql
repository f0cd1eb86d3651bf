-- A small shop schema for the data-quality tests: 500 customers, 4,000 orders, 8,000 items.
-- Every order's total is the sum of its two items, so the clean data passes every check.
-- `orders` has no primary key on purpose (think replica or staging copy): uniqueness and
-- referential integrity are for the suite to check, so the tests can plant violations.
CREATE TABLE customers (
    id bigint PRIMARY KEY,
    email text NOT NULL UNIQUE
);
INSERT INTO customers
SELECT g, 'customer' || g || '@example.com' FROM generate_series(1, 500) g;

CREATE TABLE orders (
    id bigint,
    customer_id bigint,
    status text NOT NULL DEFAULT 'new',
    total_amount numeric(12, 2),
    currency char(3) NOT NULL DEFAULT 'EUR',
    created_at timestamptz NOT NULL,
    CONSTRAINT orders_status_not_empty CHECK (status <> '')
);
CREATE INDEX orders_id_idx ON orders (id);
CREATE INDEX orders_customer_idx ON orders (customer_id);

CREATE TABLE order_items (
    id bigint PRIMARY KEY,
    order_id bigint NOT NULL,
    sku text NOT NULL,
    quantity integer NOT NULL CHECK (quantity > 0),
    unit_price numeric(12, 2) NOT NULL
);
-- Order o owns items 2o-1 and 2o.
INSERT INTO order_items
SELECT g, (g + 1) / 2, 'SKU-' || (g % 97), 1 + g % 3, (g % 50) + 0.99
FROM generate_series(1, 8000) g;

INSERT INTO orders
SELECT g, 1 + g % 500, (ARRAY['new', 'paid', 'shipped', 'cancelled'])[1 + g % 4],
       0, (ARRAY['EUR', 'USD', 'GBP'])[1 + g % 3],
       timestamptz '2026-01-01 00:00:00+00' + g * interval '1 minute'
FROM generate_series(1, 4000) g;
UPDATE orders o SET total_amount = i.items_total
FROM (SELECT order_id, sum(quantity * unit_price) AS items_total
      FROM order_items GROUP BY order_id) i
WHERE i.order_id = o.id;
ANALYZE;

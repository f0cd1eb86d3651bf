-- Deterministic seed data, generated set-based (no row-by-row inserts, no random()):
-- the same rows, ids and timestamps on every install, so checksums are reproducible.
-- Shapes (documented in demo/db.py): 5 tenants; per tenant 600 customers, 400 products
-- (SKU-0001..SKU-0400, the same SKUs in every tenant); 5000 orders, all in final states
-- (shipped or cancelled) so the worker never touches seed data.

INSERT INTO tenants (id, slug, name, plan, created_at, updated_at)
SELECT t, slug, initcap(slug) || ' Corp', plan, ts, ts
FROM unnest(ARRAY['acme', 'globex', 'initech', 'umbrella', 'hooli'],
            ARRAY['enterprise', 'pro', 'pro', 'free', 'free']) WITH ORDINALITY AS x(slug, plan, t),
     LATERAL (SELECT timestamptz '2024-01-01 00:00:00+00' + t * interval '1 day' AS ts) s;

-- Customer c belongs to tenant ((c-1) % 5) + 1 and is that tenant's customer number k+1.
INSERT INTO customers (id, tenant_id, email, name, country, created_at, updated_at, loyalty_tier)
SELECT c, tn.id, 'customer' || (k + 1) || '@' || tn.slug || '.example',
       'Customer ' || (k + 1), (ARRAY['DE', 'FR', 'US', 'GB', 'NL', 'ES', 'IT', 'SE'])[1 + c % 8],
       ts, ts, (ARRAY['standard', 'standard', 'standard', 'silver', 'gold'])[1 + (c * 7) % 5]
FROM generate_series(1, 3000) AS c,
     LATERAL (SELECT (c - 1) / 5 AS k, (c - 1) % 5 + 1 AS t) g
     JOIN tenants tn ON tn.id = g.t,
     LATERAL (SELECT timestamptz '2024-02-01 00:00:00+00' + c * interval '1 hour' AS ts) s;

-- Product p belongs to tenant ((p-1) % 5) + 1 and is SKU number k+1 of that tenant.
INSERT INTO products (id, tenant_id, sku, name, price, active, created_at, updated_at)
SELECT p, g.t, 'SKU-' || lpad((k + 1)::text, 4, '0'), 'Product ' || (k + 1),
       (1 + ((p * 7919) % 49900)::numeric / 100)::numeric(12,2), p % 41 <> 0, ts, ts
FROM generate_series(1, 2000) AS p,
     LATERAL (SELECT (p - 1) / 5 AS k, (p - 1) % 5 + 1 AS t) g,
     LATERAL (SELECT timestamptz '2024-03-01 00:00:00+00' + p * interval '10 minutes' AS ts) s;

-- Every 97th product is out of stock; nothing is reserved since no seed order is open.
INSERT INTO inventory (product_id, quantity_on_hand, quantity_reserved, updated_at)
SELECT p, CASE WHEN p % 97 = 0 THEN 0 ELSE 50 + (p * 31) % 451 END, 0,
       timestamptz '2024-04-01 00:00:00+00' + p * interval '1 minute'
FROM generate_series(1, 2000) AS p;

-- Order o: tenant ((o-1) % 5) + 1, 1-4 lines of distinct products of that tenant.
CREATE TEMPORARY TABLE seed_lines ON COMMIT DROP AS
SELECT o, l, (((o * 13 + l * 101) % 400) * 5 + (o - 1) % 5 + 1)::bigint AS product_id,
       1 + (o + l) % 5 AS quantity
FROM generate_series(1, 5000) AS o, generate_series(1, 4) AS l
WHERE l <= 1 + o % 4;

CREATE TEMPORARY TABLE seed_totals ON COMMIT DROP AS
SELECT sl.o, sum(sl.quantity * pr.price)::numeric(12,2) AS total
FROM seed_lines sl JOIN products pr ON pr.id = sl.product_id
GROUP BY sl.o;

INSERT INTO orders (id, tenant_id, customer_id, status, total, currency, idempotency_key,
                    cancel_reason, created_at, updated_at, shipped_at, cancelled_at)
SELECT st.o, g.t, ((st.o * 37) % 600) * 5 + g.t, g.status, st.total,
       (ARRAY['EUR', 'USD', 'GBP', 'EUR', 'USD'])[g.t], NULL,
       CASE WHEN g.status = 'cancelled' THEN 'customer_request' END,
       g.ts, g.ts + g.age, CASE WHEN g.status = 'shipped' THEN g.ts + g.age END,
       CASE WHEN g.status = 'cancelled' THEN g.ts + g.age END
FROM seed_totals st,
     LATERAL (SELECT (st.o - 1) % 5 + 1 AS t,
                     timestamptz '2025-01-01 00:00:00+00' + st.o * interval '97 minutes' AS ts,
                     CASE WHEN st.o % 10 = 0 OR st.o % 50 = 5 THEN 'cancelled'
                          ELSE 'shipped' END AS status,
                     CASE WHEN st.o % 10 = 0 OR st.o % 50 = 5 THEN interval '3 hours'
                          ELSE interval '2 days' END AS age) g
ORDER BY st.o;

INSERT INTO order_items (id, order_id, product_id, quantity, unit_price)
SELECT row_number() OVER (ORDER BY sl.o, sl.l), sl.o, sl.product_id, sl.quantity, pr.price
FROM seed_lines sl JOIN products pr ON pr.id = sl.product_id;

-- Shipped orders have a captured payment; orders cancelled after paying (o % 50 = 5) a
-- refunded one; orders cancelled earlier (o % 10 = 0) none.
INSERT INTO payments (id, order_id, amount, currency, status, provider_ref, created_at, updated_at)
SELECT row_number() OVER (ORDER BY od.id), od.id, od.total, od.currency,
       CASE WHEN od.status = 'shipped' THEN 'captured' ELSE 'refunded' END,
       'pay_' || substr(md5('demo-payment-' || od.id), 1, 16),
       od.created_at + interval '1 hour', od.updated_at
FROM orders od
WHERE od.id % 10 <> 0;

SELECT setval(pg_get_serial_sequence('tenants', 'id'), (SELECT max(id) FROM tenants));
SELECT setval(pg_get_serial_sequence('customers', 'id'), (SELECT max(id) FROM customers));
SELECT setval(pg_get_serial_sequence('products', 'id'), (SELECT max(id) FROM products));
SELECT setval(pg_get_serial_sequence('orders', 'id'), (SELECT max(id) FROM orders));
SELECT setval(pg_get_serial_sequence('order_items', 'id'), (SELECT max(id) FROM order_items));
SELECT setval(pg_get_serial_sequence('payments', 'id'), (SELECT max(id) FROM payments));

ANALYZE;

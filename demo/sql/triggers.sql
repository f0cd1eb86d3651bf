-- Triggers are created after the seed is loaded: seed rows carry their own fixed
-- timestamps (so checksums are reproducible) and need no notifications.

CREATE FUNCTION set_updated_at() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.updated_at := now();
    RETURN NEW;
END $$;

CREATE TRIGGER tenants_updated_at BEFORE UPDATE ON tenants
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();
CREATE TRIGGER customers_updated_at BEFORE UPDATE ON customers
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();
CREATE TRIGGER products_updated_at BEFORE UPDATE ON products
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();
CREATE TRIGGER inventory_updated_at BEFORE UPDATE ON inventory
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();
CREATE TRIGGER orders_updated_at BEFORE UPDATE ON orders
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();
CREATE TRIGGER payments_updated_at BEFORE UPDATE ON payments
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

-- Feeds orders-api's WebSocket: one notification per status change, sent at commit.
CREATE FUNCTION notify_order_status() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('order_status', json_build_object(
        'order_id', NEW.id,
        'tenant_id', NEW.tenant_id,
        'status', NEW.status,
        'previous_status', CASE WHEN TG_OP = 'UPDATE' THEN OLD.status END,
        'at', NEW.updated_at
    )::text);
    RETURN NULL;
END $$;

CREATE TRIGGER orders_status_notify AFTER INSERT OR UPDATE OF status ON orders
    FOR EACH ROW EXECUTE FUNCTION notify_order_status();

-- Later evaluations re-claim notices left `sending` by a dead sender and resolves that
-- failed to send, across the environment's runs: a partial index keeps that claim cheap
-- as the notification log grows (only the few rows in these states are indexed).
CREATE INDEX alert_notifications_retry_idx
    ON vigil.alert_notifications (status)
    WHERE status IN ('sending', 'failed');

"""Hospital webhooks: endpoints, events, HMAC-signed deliveries with retries, delivery log and replay."""

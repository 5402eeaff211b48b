"""Standard Webhooks delivery of change events: signing, address checks, the dispatcher
(events → deliveries) and the sender (deliveries → HTTP), run by the workers."""

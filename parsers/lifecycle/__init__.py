"""Install lifecycle: classification rules and the per-site attempt state machine."""

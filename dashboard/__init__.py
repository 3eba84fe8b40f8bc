"""dashboard: cost and routes at a glance, policy approval, chargeback."""

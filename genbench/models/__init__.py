"""Model families: each owns its networks and its update rule; the trainer owns the loop."""

"""The model contract: card, preprocessing, fingerprint, reef decision and class lookups."""

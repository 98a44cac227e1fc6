"""Sightline core: event schema, masking, insights, envelopes, collector."""

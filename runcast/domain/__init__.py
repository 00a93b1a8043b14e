"""The service's vocabulary, below every other layer: enums, the clock and event payloads.

Nothing here imports from the rest of `runcast`; every other package may import from here.
"""

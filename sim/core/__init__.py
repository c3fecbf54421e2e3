"""Layer 0: errors, parameter metadata and its checker, registries, the seed tree, atomic file
writes and package paths.  Imports nothing from the rest of :mod:`sim`."""

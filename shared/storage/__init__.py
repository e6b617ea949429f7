"""Storage: the key layout of the one Table partition, the repository, and the unit of work.

Only this package (and the Table adapter under it) names a key, builds a write or calls the store;
services speak of incidents, events and messages.
"""

"""The crisis cell: a crisis, its rooms, its members and functions, and its main courante.

- ``models``: the tables (the main courante is append-only in the store itself);
- ``chain``: the hash chain that makes the main courante tamper-evident;
- ``store``: reading and writing crises and entries (one transaction each, numbered and chained);
- ``export``: the main courante as CSV, JSON and PDF;
- ``cell``: what the commands do (open, assign, join, log), whatever the way in.
"""

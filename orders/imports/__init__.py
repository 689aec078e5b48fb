"""Order CSV imports: an order CSV in the files bucket becomes orders, in chunks run as jobs.

Part of the orders app (its models are registered under ``orders``). The file arrives
through S3: the media app, which owns uploads and S3 events, hands a new object under
``incoming/orders/`` to ``services.csv_object_received``. From there on imports are
orders' own: ``plan`` splits the file, ``bulk`` checks each chunk's rows and creates its
orders (PostgreSQL: ``bulk_postgres``; other databases: ``bulk_generic``), ``services``
runs the import's state changes, ``tasks`` are its jobs.
"""

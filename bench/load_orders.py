"""Load N orders (default 1,000,000) into the benchmark database, fast, with set-based SQL.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/ops_bench_orders python -m bench.load_orders [--orders N]

Migrates the database, empties the order tables, and writes orders, two items each and an
``OrderCreated`` event each (version 1, as the services write it, already published) with
``INSERT ... SELECT FROM generate_series``; the order indexes are built after the rows
and foreign-key triggers are off while loading (rows are consistent by construction), then
the tables are analysed. Ids are deterministic (md5 of the row number), creation times one
every 60 ms back from now (distinct), customers 50,000, statuses spread as in a running
shop (most delivered, ~1% awaiting approval). Prints the time each step took.
"""

import argparse
import os
import time

from bench.common import record

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings")

# The share of orders in each status, per 10,000.
STATUS_SHARES = [
    ("DELIVERED", 6000),
    ("COMPLETED", 1500),
    ("SHIPPED", 500),
    ("PAID", 300),
    ("APPROVED", 200),
    ("AWAITING_APPROVAL", 100),
    ("VALIDATED", 100),
    ("CREATED", 100),
    ("REJECTED", 400),
    ("FAILED", 300),
    ("CANCELLED", 500),
]


def status_case(column: str) -> str:
    """A CASE that gives each row number its status by the shares above."""
    parts, upper = [], 0
    for status, share in STATUS_SHARES:
        upper += share
        parts.append(f"WHEN ({column} * 7919) % 10000 < {upper} THEN '{status}'")
    return "CASE " + " ".join(parts) + " END"


PRICE_1 = "(1 + ((i * 7) % 10000) / 100.0)::numeric(12,2)"
PRICE_2 = "(1 + ((i * 13) % 5000) / 100.0)::numeric(12,2)"
QTY_1 = "(1 + i % 3)"
QTY_2 = "(1 + i % 2)"
ORDER_ID = "md5('order-' || i)::uuid"
CREATED = "(now() - (i * interval '60 milliseconds'))"


def load(orders: int) -> dict[str, float]:
    from django.core.management import call_command
    from django.db import connection

    from orders.models import Order

    timings: dict[str, float] = {}

    def step(name: str, sql: str) -> None:
        started = time.perf_counter()
        with connection.cursor() as cursor:
            cursor.execute(sql)
        timings[name] = time.perf_counter() - started
        print(f"  {name:<34} {timings[name]:7.1f} s", flush=True)

    if connection.vendor != "postgresql":
        raise SystemExit("The benchmarks need PostgreSQL: set DATABASE_URL=postgres://...")
    call_command("migrate", verbosity=0)
    index_names = [index.name for index in Order._meta.indexes]
    print(f"Loading {orders:,} orders into {connection.settings_dict['NAME']}", flush=True)
    step(
        "empty the order tables",
        "TRUNCATE orders_order, orders_orderitem, orders_orderevent, workflows_execution, "
        "workflows_steprun, workflows_approval CASCADE",
    )
    for name in index_names:
        step(f"drop index {name}", f"DROP INDEX IF EXISTS {name}")
    # The rows reference each other by construction: skip the per-row foreign key checks
    # while loading (needs a superuser, as the local postgres user is).
    step("foreign key checks off", "SET session_replication_role = replica")
    step(
        "orders",
        f"""
        INSERT INTO orders_order (id, user_id, total, status, status_reason, version, created_at, updated_at)
        SELECT {ORDER_ID}, 'customer-' || (i % 50000), {PRICE_1} * {QTY_1} + {PRICE_2} * {QTY_2},
               {status_case("i")}, '', 1, {CREATED}, {CREATED}
        FROM generate_series(1::bigint, {orders}) AS i
        """,
    )
    step(
        "items",
        f"""
        INSERT INTO orders_orderitem (order_id, product_id, name, quantity, price)
        SELECT {ORDER_ID}, 'sku-' || (i % 997), 'Widget ' || (i % 997), {QTY_1}, {PRICE_1}
        FROM generate_series(1::bigint, {orders}) AS i
        UNION ALL
        SELECT {ORDER_ID}, 'sku-cable', 'USB-C cable', {QTY_2}, {PRICE_2}
        FROM generate_series(1::bigint, {orders}) AS i
        """,
    )
    step(
        "events (OrderCreated)",
        f"""
        INSERT INTO orders_orderevent (id, order_id, version, event_type, data, correlation_id, causation_id,
                                       actor_name, created_at, published_at)
        SELECT md5('event-' || i)::uuid, {ORDER_ID}, 1, 'OrderCreated',
               jsonb_build_object(
                 'status', {status_case("i")}, 'userId', 'customer-' || (i % 50000),
                 'total', ({PRICE_1} * {QTY_1} + {PRICE_2} * {QTY_2})::text,
                 'items', jsonb_build_array(
                   jsonb_build_object('productId', 'sku-' || (i % 997), 'name', 'Widget ' || (i % 997),
                                      'quantity', {QTY_1}, 'price', {PRICE_1}::text),
                   jsonb_build_object('productId', 'sku-cable', 'name', 'USB-C cable',
                                      'quantity', {QTY_2}, 'price', {PRICE_2}::text))),
               ({ORDER_ID})::text, '', 'bench', {CREATED}, {CREATED}
        FROM generate_series(1::bigint, {orders}) AS i
        """,
    )
    started = time.perf_counter()
    with connection.schema_editor() as editor:
        for index in Order._meta.indexes:
            editor.add_index(Order, index)
    timings["indexes"] = time.perf_counter() - started
    print(f"  {'indexes':<34} {timings['indexes']:7.1f} s", flush=True)
    step("foreign key checks on", "SET session_replication_role = DEFAULT")
    # As autovacuum would: statistics for the planner, and the visibility map that lets
    # index-only scans (the bounded counts) skip the table.
    step("vacuum and analyse", "VACUUM ANALYZE orders_order, orders_orderitem, orders_orderevent")
    print(f"Done in {sum(timings.values()):.1f} s", flush=True)
    return timings


def create_database_if_missing() -> None:
    """CREATE DATABASE for DATABASE_URL's database when the server lacks it."""
    import dj_database_url
    import psycopg

    config = dj_database_url.parse(os.environ.get("DATABASE_URL", ""))
    if config.get("ENGINE") != "django.db.backends.postgresql":
        raise SystemExit("The benchmarks need PostgreSQL: set DATABASE_URL=postgres://...")
    server = psycopg.connect(
        host=config["HOST"] or "127.0.0.1",
        port=config["PORT"] or 5432,
        user=config["USER"] or "postgres",
        password=config["PASSWORD"] or None,
        dbname="postgres",
        autocommit=True,
    )
    with server:
        if not server.execute("SELECT 1 FROM pg_database WHERE datname = %s", [config["NAME"]]).fetchone():
            server.execute(f'CREATE DATABASE "{config["NAME"]}"')
            print(f"Created database {config['NAME']}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=1_000_000)
    args = parser.parse_args()
    create_database_if_missing()
    import django

    django.setup()
    timings = load(args.orders)
    record(
        "load_orders",
        "Loading the orders",
        [["Step", "Seconds"]]
        + [[name, f"{seconds:.1f}"] for name, seconds in timings.items()]
        + [[f"**{args.orders:,} orders, in all**", f"**{sum(timings.values()):.1f}**"]],
    )


if __name__ == "__main__":
    main()

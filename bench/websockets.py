"""WebSocket pushes: clients connected to the local gateway of the WebSocket API, each
receiving the status changes of its own orders and none of the others'.

    .venv/bin/python -m bench.websockets [--clients 200] [--orders-per-client 2] [--database-url URL]

Runs its own local stack (moto server, the consumer playing the stage's functions) and the
WebSocket API's gateway (console/devtools/websocket_gateway.py) on a scratch database. Each
client is an API client of its own, connected with its token (one connection each, all at
once, from one process). Each makes its orders and moves each to VALIDATED, in the services
as the API does: two status changes per order, each published to SNS after its commit, fed
to the realtime-pushes queue, pushed by the API function with PostToConnection through the
gateway. A push's delay runs from its event's commit time (the ``timestamp`` it carries) to
its arrival. Prints the pushes expected, received, repeated (at least once) and misdelivered,
and the median and p95 delay."""

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

# Run as a file, this module's folder would come first on the path and stand in for the
# websockets package it uses.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.common import record  # noqa: E402
from bench.stack import ROOT, local_stack, percentile  # noqa: E402

ITEMS = [{"product_id": "bench", "name": "Bench item", "quantity": 1, "price": 10}]


async def listen(address: str, token: str, connected: asyncio.Event, stop: asyncio.Event, inbox: list) -> None:
    from websockets.asyncio.client import connect

    async with connect(f"{address}/?token={token}", open_timeout=60, ping_interval=None) as ws:
        connected.set()
        while not stop.is_set():
            try:
                frame = await asyncio.wait_for(ws.recv(), timeout=0.5)
            except TimeoutError:
                continue
            inbox.append((time.time(), json.loads(frame)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=200)
    parser.add_argument("--orders-per-client", type=int, default=2)
    parser.add_argument("--timeout", type=float, default=300)
    parser.add_argument("--database-url", default=f"sqlite:///{ROOT / '.local' / 'bench' / 'websockets.sqlite3'}")
    args = parser.parse_args()

    with local_stack(args.database_url) as endpoint:
        from django.conf import settings
        from django.contrib.auth import get_user_model
        from django.contrib.auth.models import Group
        from knox.models import AuthToken

        from console.devtools import websocket_gateway as gateway
        from console.devtools.devstack import free_port, stop_process, wait_for_port
        from console.platform import roles
        from orders import services
        from orders.lifecycle import OrderStatus
        from realtime.models import Connection

        port, management_port = free_port(), free_port()
        api_id = gateway.websocket_api_id(
            endpoint_url=endpoint, name=f"{settings.RESOURCE_PREFIX}-{settings.STAGE}-websocket"
        )
        log = open(ROOT / ".local" / "bench" / "websocket-gateway.log", "w")
        process = subprocess.Popen(
            gateway.gateway_command(port=port, management_port=management_port, api_id=api_id, stage=settings.STAGE),
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            wait_for_port(port, process=process)
            wait_for_port(management_port, process=process)
            group = Group.objects.get(name=roles.API_CLIENT)
            users, tokens = [], []
            for index in range(args.clients):
                user = get_user_model().objects.create_user(f"bench-ws-{index}", password=None)
                user.groups.add(group)
                users.append(user)
                tokens.append(AuthToken.objects.create(user=user)[1])

            async def run() -> tuple[list[list], float]:
                stop = asyncio.Event()
                inboxes: list[list] = [[] for _ in users]
                events = [asyncio.Event() for _ in users]
                address = f"ws://127.0.0.1:{port}"
                started = time.monotonic()
                listeners = [
                    asyncio.create_task(listen(address, token, event, stop, inbox))
                    for token, event, inbox in zip(tokens, events, inboxes, strict=True)
                ]
                await asyncio.gather(*(event.wait() for event in events))
                connect_seconds = time.monotonic() - started
                while await asyncio.to_thread(Connection.objects.count) < len(users):  # every $connect committed
                    await asyncio.sleep(0.1)
                print(f"{len(users)} clients connected in {connect_seconds:.1f}s; changing orders...", flush=True)

                def change_orders() -> dict[str, int]:
                    owner = {}
                    for index, user in enumerate(users):
                        for _ in range(args.orders_per_client):
                            order = services.order_create(
                                user_id=f"customer-{index}", items=ITEMS, created_by=user, start_workflow=False
                            )
                            services.order_transition(order_id=order.pk, to_status=OrderStatus.VALIDATED)
                            owner[str(order.pk)] = index
                    return owner

                owner = await asyncio.to_thread(change_orders)
                expected = 2 * len(owner)
                deadline = time.monotonic() + args.timeout
                while time.monotonic() < deadline:
                    got = {m["eventId"] for inbox in inboxes for _, m in inbox}
                    if len(got) >= expected:
                        break
                    await asyncio.sleep(0.5)
                await asyncio.sleep(2)  # late repeats and strays
                stop.set()
                await asyncio.gather(*listeners)
                return inboxes, owner, connect_seconds

            inboxes, owner, connect_seconds = asyncio.run(run())
        finally:
            stop_process(process)
            log.close()

    expected = 2 * len(owner)
    delays, unique, repeated, foreign = [], set(), 0, 0
    for index, inbox in enumerate(inboxes):
        for arrived, message in inbox:
            if owner.get(message["orderId"]) != index:
                foreign += 1
                continue
            if message["eventId"] in unique:
                repeated += 1
                continue
            unique.add(message["eventId"])
            delays.append((arrived - datetime.fromisoformat(message["timestamp"]).timestamp()) * 1000)
    missing = expected - len(unique)
    median, p95 = statistics.median(delays), percentile(delays, 0.95)
    print(f"clients {len(inboxes)}, orders {len(owner)}, status changes {expected}")
    print(f"pushes received {len(unique)} (missing {missing}, repeated {repeated}), to the wrong client {foreign}")
    print(f"push delay, commit -> client (ms): median {median:.1f}  p95 {p95:.1f}  max {max(delays):.1f}")
    record(
        "websockets",
        "WebSocket pushes",
        [
            ["Figure", "Measured"],
            ["Clients connected to the local gateway (all at once)", f"{len(inboxes)} in {connect_seconds:.1f} s"],
            ["Status changes (2 per order)", f"{expected} over {len(owner)} orders"],
            ["Pushes received by the order's owner", f"{len(unique)} (missing {missing}, repeated {repeated})"],
            ["Pushes received by any other client", str(foreign)],
            ["Push delay, commit → client", f"median {median:.1f} ms, p95 {p95:.1f} ms (max {max(delays):.1f})"],
        ],
        note=f"On {args.database_url.split(':', 1)[0]}, the consumer playing the API function two invocations "
        "at a time (LOCAL_LAMBDA_CONCURRENCY)",
    )
    if missing or foreign:
        raise SystemExit("pushes were lost or misdelivered")


if __name__ == "__main__":
    main()
